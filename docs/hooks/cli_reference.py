"""MkDocs hook: the CLI reference page, written at build time from the Typer app itself.

It walks `panel.cli.app` as Click sees it (`typer.main.get_command`): every command and
subcommand, its help, its usage line, its arguments and options with their help text. Nothing
on the page is copied by hand, so a new flag or command shows up on the next build.
"""

from __future__ import annotations

import inspect
from typing import Any

PAGE = "cli.md"

INTRO = """# CLI reference

Generated from the commands themselves (`panel.cli.app`) each time the site is built, so it
says what `panel COMMAND --help` says. `python -m panel …` is the same command, for a virtual
environment whose `bin/` is not on PATH. Exit codes, settings precedence and the shape of
`--json` output are on the [Settings and exit codes](settings.md) page.
"""


def plain_text(text: str) -> str:
    """Help text as Markdown that shows it literally (`<`, `*` are not markup here)."""
    return text.replace("<", "&lt;").replace("*", "\\*")


def table_cell(text: str) -> str:
    """One Markdown table cell: a single line, pipes escaped."""
    return " ".join(text.split()).replace("|", "\\|")


def code_cell(text: str) -> str:
    """Code in a table cell (`|` inside backticks still splits a cell, so it is escaped)."""
    return "`" + table_cell(text) + "`"


def parameter_rows(command: Any, context: Any) -> list[tuple[str, str]]:
    rows = []
    for param in command.get_params(context):
        if param.param_type_name == "argument":
            name = param.metavar or (param.name or "").upper()
            help_text = getattr(param, "help", None) or ""
            if param.required:
                help_text += " [required]"
            rows.append((name, help_text))
            continue
        record = param.get_help_record(context)
        if record is not None:
            rows.append(record)
    return rows


def subcommands(command: Any, context: Any) -> list[tuple[str, Any]]:
    if not hasattr(command, "list_commands"):
        return []
    found = []
    for name in command.list_commands(context):
        sub = command.get_command(context, name)
        if sub is not None and not getattr(sub, "hidden", False):
            found.append((name, sub))
    return found


def command_markdown(command: Any, context: Any, path: list[str], depth: int) -> list[str]:
    """Sections for a command and, below it, each of its subcommands."""
    lines = [f"{'#' * depth} `{' '.join(path)}`", ""]
    help_text = inspect.cleandoc(command.help or "")
    if help_text:
        lines += [plain_text(help_text), ""]
    usage = " ".join([*path, *command.collect_usage_pieces(context)])
    lines += ["```text", f"Usage: {usage}", "```", ""]
    rows = parameter_rows(command, context)
    if rows:
        lines += ["| argument or option | meaning |", "| --- | --- |"]
        lines += [f"| {code_cell(name)} | {table_cell(plain_text(text))} |" for name, text in rows]
        lines.append("")
    children = subcommands(command, context)
    if children and depth == 2:
        lines += ["| command | what it does |", "| --- | --- |"]
        for name, sub in children:
            summary = sub.get_short_help_str(limit=200)
            lines.append(
                f"| [`{' '.join([*path, name])}`](#{'-'.join([*path, name])}) | {table_cell(plain_text(summary))} |"
            )
        lines.append("")
    for name, sub in children:
        sub_context = sub.context_class(sub, info_name=name, parent=context)
        lines += command_markdown(sub, sub_context, [*path, name], min(depth + 1, 4))
    return lines


def cli_reference_markdown() -> str:
    """The whole page, from the app as it is now."""
    import typer

    from panel.cli import app

    group = typer.main.get_command(app)
    context = group.context_class(group, info_name="panel")
    return INTRO + "\n" + "\n".join(command_markdown(group, context, ["panel"], 2))


def on_files(files: Any, config: Any) -> Any:
    """Add the generated page to the site (it has no source file under docs/)."""
    from mkdocs.structure.files import File

    files.append(File.generated(config, PAGE, content=cli_reference_markdown()))
    return files
