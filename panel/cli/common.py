"""What every `panel` command shares: the Typer app, consoles, option types, settings from
flags, and the one place a PanelError becomes a message and an exit code."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from panel import display
from panel.config import Settings, resolve_settings
from panel.errors import ConfigError, PanelError
from panel.runner import panel_version

EXIT_OK, EXIT_INCOMPLETE, EXIT_BAD_INPUT, EXIT_BACKEND = 0, 1, 2, 3

app = typer.Typer(
    name="panel",
    help="A panel of reviewer personas, backed by self-hosted models, judges a software or AI tool.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,  # help text shows [env: ...] literally
)
stdout = Console(soft_wrap=False)
stderr = Console(stderr=True)
state = {"debug": False}


@contextmanager
def reporting_errors() -> Iterator[None]:
    """The one place a PanelError becomes a message and an exit code (`--debug` re-raises)."""
    try:
        yield
    except PanelError as error:
        if state["debug"]:
            raise
        display.print_error(stderr, str(error))
        raise typer.Exit(error.exit_code) from None
    except KeyboardInterrupt:
        stderr.print("Interrupted; finished transcripts are kept.")
        raise typer.Exit(130) from None


def notice(message: str) -> None:
    stderr.print(message, style="dim", highlight=False, soft_wrap=True)  # one line, greppable


def print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False))


def parse_persona_models(pairs: list[str] | None) -> dict[str, str] | None:
    if not pairs:
        return None
    models = {}
    for pair in pairs:
        persona_id, sep, model = pair.partition("=")
        if not sep or not persona_id.strip() or not model.strip():
            raise ConfigError(f"--persona-model {pair!r} must look like ID=MODEL, e.g. dx=qwen3:8b.")
        models[persona_id.strip()] = model.strip()
    return models


BackendOption = Annotated[
    str | None,
    typer.Option("--backend", help="auto (Ollama if it answers, else embedded), ollama, openai or embedded."),
]
HostOption = Annotated[
    str | None,
    typer.Option("--host", help="Ollama server URL, or an OpenAI-compatible base URL [env: OLLAMA_HOST]."),
]
ModelOption = Annotated[
    str | None, typer.Option("--model", help="One model for every persona [env: PANEL_MODEL].")
]
PersonaModelOption = Annotated[
    list[str] | None, typer.Option("--persona-model", help="ID=MODEL for one persona; repeatable.")
]
SeedOption = Annotated[
    int | None, typer.Option("--seed", help="Sampling seed (random and recorded if unset).")
]
TemperatureOption = Annotated[
    float | None, typer.Option("--temperature", help="Override every persona's temperature.")
]
TimeoutOption = Annotated[float | None, typer.Option("--timeout", help="Seconds one model call may take.")]
PersonasOption = Annotated[Path | None, typer.Option("--personas", help="Folder of persona .toml files.")]
OutOption = Annotated[
    Path | None, typer.Option("--out", help="Folder for transcripts [default: transcripts].")
]
GgufOption = Annotated[
    Path | None,
    typer.Option("--gguf", help="GGUF file for the embedded backend [env: PANEL_GGUF]."),
]
ByOption = Annotated[
    str | None, typer.Option("--by", help="Who is editing [default: git user.name, else the OS user].")
]
CacheOption = Annotated[
    Path | None,
    typer.Option("--cache", help="Response cache file [default: panel-cache.sqlite beside --out]."),
]
NoCacheOption = Annotated[bool, typer.Option("--no-cache", help="Neither read nor write the cache.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of tables.")]


def settings_from_flags(
    *,
    persona_model: list[str] | None = None,
    personas: Path | None = None,
    out: Path | None = None,
    **flags: Any,
) -> Settings:
    """Settings from the flags a command was given (None = not given), over the environment
    and panel.toml. Takes the CLI's names: persona_model, personas, out, backend, host, …"""
    flags.update(persona_models=parse_persona_models(persona_model), personas_dir=personas, out_dir=out)
    return resolve_settings({key: value for key, value in flags.items() if value is not None})


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


@contextmanager
def nullstatus() -> Iterator[None]:
    yield


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except PanelError as error:  # raised from a callback before reporting_errors runs
        if state["debug"]:
            raise
        display.print_error(stderr, str(error))
        sys.exit(error.exit_code)
