"""`panel init`, `panel models` and `panel cache info|clear`: getting started and housekeeping."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from panel.cli.common import (
    EXIT_OK,
    CacheOption,
    JsonOption,
    PanelTyper,
    app,
    print_json,
    reporting_errors,
    stderr,
    stdout,
)
from panel.cli.settings_flags import NO_FLAGS, SettingsFlags, settings_flags
from panel.errors import ConfigError

STARTER_CARD = "my-tool.toml"
STARTER_CARD_TEXT = '''# A tool card: what the panel reads. `panel run my-tool.toml` reviews it.
# Required: name, tagline, description. Everything else helps the reviewers.
name = "My Tool"
tagline = "One line that says what it does"
category = "Developer tool"
maker = "Who makes it"
license = "MIT"
pricing = "Free"
description = """
Two to five sentences: what it is, who it is for, and what it replaces. The reviewers judge
what is written here, so say what a newcomer would need to know."""
facts = [
    "One checkable fact per line: a number, a limit, a platform.",
]

[[links]]
label = "Home page"
url = "https://example.com"
'''
SETTINGS_FILE_TEXT = """# panel.toml: settings for every `panel` command run in this folder.
# A flag beats an environment variable (PANEL_*), which beats this file. See `panel run -h`.

# backend = "ollama"               # auto (Ollama when it answers, else the embedded model), ollama, openai, embedded
# host = "http://localhost:11434"  # the Ollama server, or an OpenAI-compatible base URL
# model = "qwen3:8b"               # one model for every persona
# seed = 42                        # the same seed and model give the same panel
out = "transcripts"                # where transcripts are written

# [persona_models]                 # a model for one persona
# dx = "qwen3:8b"
"""


@app.command()
def init(
    folder: Annotated[
        Path, typer.Argument(metavar="DIR", help="Folder to write into [default: the current folder].")
    ] = Path("."),
    force: Annotated[bool, typer.Option("--force", help="Overwrite files that are already there.")] = False,
) -> None:
    """Write a starter tool card and a panel.toml to start from.

    Refuses to overwrite either file unless --force; prints what it wrote and what to run next.
    """
    from panel.store.transcripts import write_file

    files = {folder / STARTER_CARD: STARTER_CARD_TEXT, folder / "panel.toml": SETTINGS_FILE_TEXT}
    with reporting_errors():
        existing = [str(path) for path in files if path.exists() or path.is_symlink()]
        if existing and not force:
            raise ConfigError(
                f"{' and '.join(existing)} already {'exists' if len(existing) == 1 else 'exist'}; "
                "nothing was written. Pass --force to overwrite, or give another folder."
            )
        folder.mkdir(parents=True, exist_ok=True)
        for path, text in files.items():
            write_file(path, text, f"Cannot write {path}", hint="Give another folder.")
    for path in files:
        stdout.print(f"Wrote {path}", highlight=False, soft_wrap=True)
    card = next(iter(files))
    stdout.print(
        f"Next: edit {card}, check the setup with `panel doctor`, then `panel run {card}`.",
        highlight=False,
        soft_wrap=True,
    )


@app.command()
@settings_flags("backend", "host", "model", "persona_model", "personas", "gguf")
def models(flags: SettingsFlags = NO_FLAGS, as_json: JsonOption = False) -> None:
    """List what each backend offers, and which model each persona would use.

    Ollama: the models pulled on --host; an OpenAI-compatible server (with --backend openai): its
    /v1/models; embedded: the bundled GGUF or --gguf. A backend that does not answer is a line
    that says so.
    """
    from panel.backends.catalog import list_models
    from panel.cli.setup_display import print_models

    with reporting_errors():
        report = list_models(flags.settings())
    if as_json:
        print_json(report.model_dump(mode="json"))
    else:
        print_models(stdout, report)


cache_app = PanelTyper(
    name="cache",
    help="The response cache: what it holds (info), and emptying it (clear).",
    no_args_is_help=True,
)
app.add_typer(cache_app)


def chosen_cache_path(cache: Path | None) -> Path:
    from panel.settings import response_cache_path

    return cache or response_cache_path(SettingsFlags().settings())


@cache_app.command("info")
def cache_info_command(cache: CacheOption = None, as_json: JsonOption = False) -> None:
    """Where the response cache is, its size and how many replies it holds."""
    from panel.backends.cache_admin import cache_info
    from panel.cli.setup_display import print_cache_info

    with reporting_errors():
        info = cache_info(chosen_cache_path(cache))
    if as_json:
        print_json(info.model_dump(mode="json"))
    else:
        print_cache_info(stdout, info)


def confirmed(question: str) -> bool:
    """Yes or no on the terminal; no answer (input closed) is no."""
    try:
        return typer.confirm(question, err=True)
    except typer.Abort:
        return False


@cache_app.command("clear")
def cache_clear_command(
    cache: CacheOption = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask first.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Delete every reply in the response cache (asks first unless --yes)."""
    from panel.backends.cache_admin import cache_info, clear_cache

    with reporting_errors():
        path = chosen_cache_path(cache)
        entries = cache_info(path).entries
        if entries and not yes and not confirmed(f"Delete {entries} cached replies from {path}?"):
            stderr.print("Nothing was deleted (pass --yes to clear without asking).", highlight=False)
            raise typer.Exit(EXIT_OK)
        deleted = clear_cache(path)
    if as_json:
        print_json({"path": str(path), "deleted": deleted})
    else:
        stdout.print(f"Deleted {deleted} cached replies from {path}.", highlight=False, soft_wrap=True)
