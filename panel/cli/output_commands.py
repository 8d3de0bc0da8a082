"""`panel diff` and `panel render`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal, get_args

import typer

from panel.cli.common import EXIT_OK, app, notice, reporting_errors, stdout
from panel.cli.settings_flags import SettingsFlags
from panel.cli.terminal import strip_control_sequences
from panel.errors import ConfigError

# --- diff and render -------------------------------------------------------------------------

EXIT_DIFFERENT = 1
FORMAT_BY_SUFFIX = {".json": "json", ".md": "md", ".markdown": "md", ".html": "html", ".htm": "html"}
OutputFileOption = Annotated[
    Path | None,
    typer.Option("-o", "--output", metavar="FILE", help="Write to this file (atomically) instead of stdout."),
]
FailOn = Literal["none", "flip", "any"]  # panel.publish.diff's, without importing it for --help
DiffFormat = Literal["json", "md", "html"]
RenderFormat = Literal["html", "md"]
DIFF_FORMATS: tuple[str, ...] = get_args(DiffFormat)
RENDER_FORMATS: tuple[str, ...] = get_args(RenderFormat)


def pick_format(
    requested: str | None, out: Path | None, choices: tuple[str, ...], default: str | None
) -> str | None:
    """--format if given, else the -o file's suffix (a suffix it cannot tell is an error), else
    the default (None: the terminal view)."""
    chosen = requested or (FORMAT_BY_SUFFIX.get(out.suffix.lower()) if out else default)
    if requested is not None and requested not in choices:
        raise ConfigError(f"--format {requested!r} is not one of {', '.join(choices)}.")
    if chosen not in choices and (chosen is not None or out is not None):
        raise ConfigError(
            f"Cannot tell which format to write {out} in; pass --format ({', '.join(choices)})."
        )
    return chosen


def emit(text: str, out: Path | None) -> None:
    """Print to stdout, or write the file atomically."""
    from panel.store.transcripts import write_file

    if out is None:
        typer.echo(strip_control_sequences(text), nl=not text.endswith("\n"))
        return
    write_file(out, text, f"Cannot write {out}", hint="Choose another -o path.")
    notice(f"Wrote {out}")


@app.command("diff")
def diff_runs(
    run_a: Annotated[Path, typer.Argument(metavar="A", help="Transcript, or batch output folder, of run A.")],
    run_b: Annotated[Path, typer.Argument(metavar="B", help="Transcript, or batch output folder, of run B.")],
    fail_on: Annotated[
        FailOn,
        typer.Option(
            "--fail-on",
            help="When to exit 1: none, flip (a decision flipped) or any (any verdict changed).",
        ),
    ] = "flip",
    output_format: Annotated[
        DiffFormat | None,
        typer.Option(
            "--format",
            help="Report format [default: side by side in the terminal, or the -o file's suffix].",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="The same as --format json.")] = False,
    out: OutputFileOption = None,
) -> None:
    """Diff persona outputs between two runs or two batch folders.

    Decisions, confidence, fields, quotes, and what went in differently (provenance).
    """
    from panel.cli import diff_display
    from panel.publish.diff import diff_to_json, should_fail
    from panel.publish.diff_folders import diff_paths
    from panel.publish.render import render_diff

    with reporting_errors():
        if as_json and output_format not in (None, "json"):
            raise ConfigError(f"--json asks for JSON but --format asks for {output_format}; choose one.")
        chosen = pick_format("json" if as_json else output_format, out, DIFF_FORMATS, default=None)
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
    transcript: Annotated[
        Path, typer.Argument(metavar="TRANSCRIPT", help="Panel transcript (or a comparison transcript).")
    ],
    transcript_b: Annotated[
        Path | None,
        typer.Argument(metavar="TRANSCRIPT_B", help="A second panel transcript, shown side by side."),
    ] = None,
    output_format: Annotated[
        RenderFormat | None,
        typer.Option(
            "--format",
            help="Page format [default: the -o file's suffix, else html].",
        ),
    ] = None,
    out: OutputFileOption = None,
    votes: Annotated[
        Path | None,
        typer.Option(
            "--votes", metavar="FILE", help="Community votes: CSV `tool,up,down` or JSON (see README)."
        ),
    ] = None,
    allow_incomplete: Annotated[
        bool,
        typer.Option(
            "--allow-incomplete",
            help="Render a panel in which a reviewer gave no verdict (the page says '3 of 4 reviewers').",
        ),
    ] = False,
    no_draft_mark: Annotated[
        bool,
        typer.Option(
            "--no-draft-mark",
            help="Leave off the 'draft — test model' mark on pages written by the bundled test model.",
        ),
    ] = False,
) -> None:
    """Render the page editors publish, as HTML or Markdown.

    One tool, or two side by side. An incomplete panel exits 1 and writes nothing unless
    --allow-incomplete.
    """
    from panel.publish.page_facts import IncompletePanel, check_complete
    from panel.publish.render import load_for_render, load_votes, render_page

    with reporting_errors():
        chosen = pick_format(output_format, out, RENDER_FORMATS, default="html")
        panels = load_for_render([transcript] + ([transcript_b] if transcript_b else []))
        if not allow_incomplete:
            try:
                check_complete(panels)
            except IncompletePanel as error:
                raise IncompletePanel(
                    f"{error} Rerun the missing reviewer (`panel rerun TRANSCRIPT --persona ID`), or "
                    "pass --allow-incomplete to render the page with an incomplete notice."
                ) from None
        community = load_votes(votes) if votes else None
        draft_models = SettingsFlags().settings().draft_models
        emit(
            render_page(panels, chosen, community, draft_mark=not no_draft_mark, draft_models=draft_models),
            out,
        )
