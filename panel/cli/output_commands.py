"""`panel diff` and `panel render`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from panel import diff_display
from panel.cli.common import (
    EXIT_OK,
    app,
    notice,
    reporting_errors,
    stdout,
)
from panel.diff import FAIL_ON_CHOICES, diff_paths, diff_to_json, should_fail
from panel.errors import ConfigError, PanelError
from panel.render import load_for_render, load_votes, render_diff, render_page
from panel.terminal import strip_control_sequences
from panel.transcripts import (
    write_atomic,
)

# --- diff and render -------------------------------------------------------------------------

EXIT_DIFFERENT = 1
FORMAT_BY_SUFFIX = {".json": "json", ".md": "md", ".markdown": "md", ".html": "html", ".htm": "html"}
OutputFileOption = Annotated[
    Path | None, typer.Option("-o", "--output", help="Write to this file (atomically) instead of stdout.")
]


def pick_format(
    requested: str | None, out: Path | None, choices: tuple[str, ...], default: str | None
) -> str | None:
    """--format if given, else the -o file's suffix, else the default (None: the terminal view)."""
    chosen = requested or (FORMAT_BY_SUFFIX.get(out.suffix.lower()) if out else None) or default
    if requested is not None and requested not in choices:
        raise ConfigError(f"--format {requested!r} is not one of {', '.join(choices)}.")
    if chosen not in choices and (chosen is not None or out is not None):
        raise ConfigError(
            f"Cannot tell which format to write {out} in; pass --format ({', '.join(choices)})."
        )
    return chosen


def emit(text: str, out: Path | None) -> None:
    """Print to stdout, or write the file atomically."""
    if out is None:
        typer.echo(strip_control_sequences(text), nl=not text.endswith("\n"))
        return
    try:
        write_atomic(out, text)
    except OSError as error:
        raise PanelError(f"Cannot write {out}: {error}. Choose another -o path.") from None
    notice(f"Wrote {out}")


@app.command("diff")
def diff_runs(
    run_a: Annotated[Path, typer.Argument(help="Transcript, or batch output folder, of run A.")],
    run_b: Annotated[Path, typer.Argument(help="Transcript, or batch output folder, of run B.")],
    fail_on: Annotated[
        str,
        typer.Option(
            "--fail-on",
            help="none, flip (a decision flipped) or any (any verdict changed): when to exit 1.",
        ),
    ] = "flip",
    output_format: Annotated[
        str | None,
        typer.Option(
            "--format",
            help="json, md or html (default: side by side in the terminal, or the -o file's suffix).",
        ),
    ] = None,
    out: OutputFileOption = None,
) -> None:
    """Diff persona outputs between two runs: decisions, confidence, fields, quotes, provenance."""
    with reporting_errors():
        if fail_on not in FAIL_ON_CHOICES:
            raise ConfigError(f"--fail-on {fail_on!r} is not one of {', '.join(FAIL_ON_CHOICES)}.")
        chosen = pick_format(output_format, out, ("json", "md", "html"), default=None)
        result = diff_paths(run_a, run_b)
        if chosen is None:
            diff_display.print_diff(stdout, result)
        elif chosen == "json":
            emit(json.dumps(diff_to_json(result), indent=2, ensure_ascii=False) + "\n", out)
        else:
            emit(render_diff(result, chosen), out)
    raise typer.Exit(EXIT_DIFFERENT if should_fail(result, fail_on) else EXIT_OK)


@app.command("render")
def render_command(
    transcript: Annotated[Path, typer.Argument(help="Panel transcript (or a comparison transcript).")],
    transcript_b: Annotated[
        Path | None, typer.Argument(help="A second panel transcript, shown side by side.")
    ] = None,
    output_format: Annotated[
        str | None, typer.Option("--format", help="html or md (default: the -o file's suffix, else html).")
    ] = None,
    out: OutputFileOption = None,
    votes: Annotated[
        Path | None,
        typer.Option("--votes", help="Community votes: CSV `tool,up,down` or JSON (see README)."),
    ] = None,
) -> None:
    """Render the page editors publish: one tool, or two side by side, as HTML or Markdown."""
    with reporting_errors():
        chosen = pick_format(output_format, out, ("html", "md"), default="html")
        panels = load_for_render([transcript] + ([transcript_b] if transcript_b else []))
        community = load_votes(votes) if votes else None
        emit(render_page(panels, chosen, community), out)
