"""What every `panel` command shares: the Typer app, consoles, option types, settings from
flags, and the one place a PanelError becomes a message and an exit code."""

from __future__ import annotations

import json
import re
import shlex
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from typer._click.exceptions import UsageError  # Typer bundles its own Click since 0.2x
from typer.core import TyperCommand, TyperGroup

from panel.cli.terminal import TerminalConsole
from panel.errors import PanelError
from panel.settings import Settings
from panel.version import panel_version

EXIT_OK, EXIT_INCOMPLETE, EXIT_BAD_INPUT, EXIT_BACKEND = 0, 1, 2, 3
EXIT_INTERRUPTED = 130


class PanelCommand(TyperCommand):
    """Help a stranger can read: the usage line names arguments as they are (`CARD`, `[ID]`),
    argument help carries no Python type labels, and a number's range is said in words."""

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if param.param_type_name == "argument":
                name = argument_name(param)
                pieces.append(name if param.required else f"[{name}]")
        return pieces

    def format_options(self, ctx: Any, formatter: Any) -> None:
        arguments, options = [], []
        for param in self.get_params(ctx):
            if param.param_type_name == "argument":
                help_text = getattr(param, "help", None) or ""
                arguments.append(
                    (argument_name(param), help_text + ("  [required]" if param.required else ""))
                )
                continue
            record = param.get_help_record(ctx)
            if record is not None:
                options.append((record[0], readable_range(record[1])))
        for title, rows in (("Arguments", arguments), ("Options", options)):
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)


# Click writes a lower bound as `x>=1`.
RANGE_LABEL = re.compile(r"x>=(\d+)")
BOUNDED_LABEL = re.compile(r"(\d+)<=x<=(\d+)")


def readable_range(help_text: str) -> str:
    """Click writes ranges as `x>=1` and `1<=x<=20`; say them in words."""
    return RANGE_LABEL.sub(r"at least \1", BOUNDED_LABEL.sub(r"\1 to \2", help_text))


def argument_name(param: Any) -> str:
    return param.metavar or (param.name or "").upper()


class PanelTyper(typer.Typer):
    """Every command of `panel` (and of whatever module registers one later) uses PanelCommand."""

    def command(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("cls", PanelCommand)
        return super().command(*args, **kwargs)


class PanelGroup(TyperGroup):
    """`panel` itself: notes whether the command line asks for JSON (before any parameter is
    parsed, so that a usage error can be JSON too), and reports a usage error in that form."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        state["json"] = wants_json(args)
        state["args"] = list(args)
        return super().parse_args(ctx, args)

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except UsageError as error:
            if not state["json"]:
                raise
            print_json_error(error.format_message(), "UsageError", error.exit_code)
            raise typer.Exit(error.exit_code) from None


def wants_json(args: list[str]) -> bool:
    """`--json`, `--format json` or `--format=json` anywhere on the command line."""
    pairs = zip(args, args[1:], strict=False)
    return "--json" in args or "--format=json" in args or ("--format", "json") in pairs


app = PanelTyper(
    name="panel",
    help="A panel of reviewer personas, backed by self-hosted models, judges a software or AI tool.",
    cls=PanelGroup,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    rich_markup_mode=None,  # help text shows [env: ...] literally
)
# Every string a card or a model wrote passes through these two: see panel.cli.terminal.
stdout = TerminalConsole(soft_wrap=False)
stderr = TerminalConsole(stderr=True)
state: dict[str, Any] = {"debug": False, "json": False, "args": []}


# The settings a library error's hint names, as the CLI's flags (see PanelError.hint).
FLAG_NAMES = {
    "out_dir": "--out",
    "personas_dir": "--personas",
    "prompts_dir": "--prompts",
    "persona_models": "--persona-model",
    "model": "--model",
    "host": "--host",
    "gguf": "--gguf",
    "cache": "--cache",
    "no_cache": "--no-cache",
    "force": "--force",
    "lock": "--lock",
    "unlock": "--unlock",
    "unlock_edit": "`panel edit --unlock`",
    "samples": "--samples",
    "backend": "--backend",
}


def error_message(error: PanelError) -> str:
    """A library error in the CLI's words: its hint names flags."""
    return error.phrased(FLAG_NAMES)


@contextmanager
def reporting_errors() -> Iterator[None]:
    """The one place a PanelError becomes a message and an exit code (`--debug` re-raises)."""
    try:
        yield
    except PanelError as error:
        if state["debug"]:
            raise
        print_error(error_message(error), type(error).__name__, error.exit_code)
        raise typer.Exit(error.exit_code) from None
    except KeyboardInterrupt:
        print_error("Interrupted; finished transcripts are kept.", "Interrupted", EXIT_INTERRUPTED)
        raise typer.Exit(EXIT_INTERRUPTED) from None


def print_error(message: str, kind: str, exit_code: int) -> None:
    """An error as one paragraph on stderr, or, when the command line asked for JSON, as
    `{"error": {...}}` on stdout (where a script reads the JSON either way)."""
    if state["json"]:
        print_json_error(message, kind, exit_code)
        return
    from panel.cli import display

    display.print_error(stderr, message)


def resume_command() -> str:
    """The command line this run was started with, to run again (a batch resumes where it stopped)."""
    return shlex.join(["panel", *state["args"]])


def print_json_error(message: str, kind: str, exit_code: int) -> None:
    print_json({"error": {"message": message, "type": kind, "exit_code": exit_code}})


def notice(message: str) -> None:
    stderr.print(message, style="dim", highlight=False, soft_wrap=True)  # one line, greppable


def quiet_notice(message: str) -> None:
    """--quiet: nothing on stderr; warnings still reach --json, in the CLI's words."""


# A library warning sent to these notices names settings as the CLI does (panel/cache.py).
notice.setting_names = quiet_notice.setting_names = FLAG_NAMES  # type: ignore[attr-defined]


def print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False))


ByOption = Annotated[
    str | None,
    typer.Option("--by", metavar="NAME", help="Who is editing [default: git user.name, else the OS user]."),
]
CacheOption = Annotated[
    Path | None,
    typer.Option(
        "--cache",
        metavar="FILE",
        help="Response cache file [default: ~/.cache/reviewer-panel/panel-cache.sqlite, or under "
        "$XDG_CACHE_HOME] [env: PANEL_CACHE].",
    ),
]
NoCacheOption = Annotated[bool, typer.Option("--no-cache", help="Neither read nor write the cache.")]


def chosen_cache(settings: Settings, cache: Path | None, no_cache: bool) -> Path | None:
    """The response cache file from --cache and --no-cache over the settings (PANEL_CACHE,
    panel.toml), None for no cache."""
    from panel.settings import response_cache_path

    return None if no_cache else cache or response_cache_path(settings)


JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of tables.")]
QuietOption = Annotated[
    bool, typer.Option("--quiet", "-q", help="No live progress and no notices on stderr (errors still show).")
]


@app.callback(invoke_without_command=True)
def main_options(
    debug: Annotated[
        bool, typer.Option("--debug", help="Show tracebacks instead of short messages.")
    ] = False,
    show_version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False,
) -> None:
    state["debug"] = debug
    if show_version:
        typer.echo(f"reviewer-panel {panel_version()}")
        raise typer.Exit(EXIT_OK)


def main() -> None:
    """Console-script entry point."""
    try:
        app(prog_name="panel")
    except PanelError as error:  # raised from a callback before reporting_errors runs
        if state["debug"]:
            raise
        print_error(error_message(error), type(error).__name__, error.exit_code)
        sys.exit(error.exit_code)
