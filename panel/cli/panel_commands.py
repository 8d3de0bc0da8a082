"""`panel run`, `compare`, `show`, `personas` and `doctor`."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from panel.cli.common import (
    EXIT_BACKEND,
    EXIT_INCOMPLETE,
    EXIT_OK,
    ByOption,
    CacheOption,
    JsonOption,
    NoCacheOption,
    QuietOption,
    app,
    chosen_cache,
    notice,
    print_json,
    quiet_notice,
    reporting_errors,
    stderr,
    stdout,
)
from panel.cli.settings_flags import NO_FLAGS, SettingsFlags, settings_flags
from panel.errors import ConfigError, PanelError

# The engine (LangGraph), the records and rich's tables load when a command runs, not for --help.
if TYPE_CHECKING:
    from panel.records.personas import LoadedPersona
    from panel.records.transcript import ComparisonTranscript


@app.command()
@settings_flags(
    "backend",
    "host",
    "model",
    "persona_model",
    "seed",
    "temperature",
    "timeout",
    "personas",
    "prompts",
    "out",
    "gguf",
)
def run(
    card: Annotated[Path, typer.Argument(metavar="CARD", help="Tool card: .toml, .yaml or .json.")],
    flags: SettingsFlags = NO_FLAGS,
    as_json: JsonOption = False,
    review: Annotated[
        bool,
        typer.Option("--review", help="Pause before the tally to accept, lock, rerun or edit each verdict."),
    ] = False,
    by: ByOption = None,
    quiet: QuietOption = False,
    cache: CacheOption = None,
    no_cache: NoCacheOption = False,
) -> None:
    """Run the panel on one tool card and write its transcript.

    On a terminal, each reviewer's progress shows on stderr as it happens. Replies go through
    the response cache (as in batch), so the same card, seed and model cost no second call.
    """
    from panel.cli import display
    from panel.engine.runner import run_panel_async
    from panel.store.transcripts import summarize_panel

    with reporting_errors():
        settings = flags.settings()
        if review:
            from panel.cli.editor_commands import review_in_terminal

            result = asyncio.run(review_in_terminal(card, settings, by))
        else:
            from panel.cli.progress_display import ReviewerProgressView

            with ReviewerProgressView(stderr, quiet=quiet) as view:
                told = quiet_notice if quiet else notice
                result = asyncio.run(
                    run_panel_async(
                        card,
                        settings,
                        notice=told,
                        on_progress=view.update,
                        cache_path=chosen_cache(settings, cache, no_cache),
                    )
                )
    if as_json:
        print_json(summarize_panel(result.transcript, result.path))
    else:
        display.print_panel(stdout, result.transcript, result.path)
    raise typer.Exit(EXIT_INCOMPLETE if result.transcript.aggregate.incomplete else EXIT_OK)


@app.command()
@settings_flags(
    "backend",
    "host",
    "model",
    "persona_model",
    "seed",
    "temperature",
    "timeout",
    "personas",
    "prompts",
    "out",
    "gguf",
)
def compare(
    card_a: Annotated[Path, typer.Argument(metavar="CARD_A", help="First tool card.")],
    card_b: Annotated[Path, typer.Argument(metavar="CARD_B", help="Second tool card.")],
    flags: SettingsFlags = NO_FLAGS,
    as_json: JsonOption = False,
    quiet: QuietOption = False,
    cache: CacheOption = None,
    no_cache: NoCacheOption = False,
) -> None:
    """Run the panel on two tools and say which one to ship with.

    On a terminal, each reviewer's progress on both tools shows on stderr as it happens.
    """
    from panel.cli import display
    from panel.engine.runner import compare_tools_async
    from panel.store.transcripts import summarize_comparison, summarize_panel

    with reporting_errors():
        settings = flags.settings()
        from panel.cli.progress_display import ReviewerProgressView

        with ReviewerProgressView(stderr, quiet=quiet, show_tool=True) as view:
            told = quiet_notice if quiet else notice
            result = asyncio.run(
                compare_tools_async(
                    card_a,
                    card_b,
                    settings,
                    notice=told,
                    on_progress=view.update,
                    cache_path=chosen_cache(settings, cache, no_cache),
                )
            )
    if as_json:
        a = summarize_panel(result.a.transcript, result.a.path)
        b = summarize_panel(result.b.transcript, result.b.path)
        print_json(summarize_comparison(result.transcript, a, b, result.path))
    else:
        display.print_panel(stdout, result.a.transcript, result.a.path)
        display.print_panel(stdout, result.b.transcript, result.b.path)
        display.print_comparison(stdout, result.transcript, result.path)
    incomplete = result.a.transcript.aggregate.incomplete or result.b.transcript.aggregate.incomplete
    raise typer.Exit(EXIT_INCOMPLETE if incomplete else EXIT_OK)


@app.command()
@settings_flags("out")
def show(
    transcript: Annotated[
        Path | None,
        typer.Argument(metavar="TRANSCRIPT", help="A transcript written by run or compare."),
    ] = None,
    latest: Annotated[
        bool, typer.Option("--latest", help="The transcript written last in the --out folder.")
    ] = False,
    flags: SettingsFlags = NO_FLAGS,
    as_json: JsonOption = False,
) -> None:
    """Show a saved panel or comparison: its table, then the quotes."""
    from panel.cli import display
    from panel.records.transcript import PanelTranscript
    from panel.store.transcripts import load_transcript, summarize_panel

    with reporting_errors():
        if (transcript is None) == (not latest):
            raise ConfigError("Give a TRANSCRIPT, or --latest for the newest one in the --out folder.")
        transcript = transcript or latest_transcript(flags.settings().out_dir)
        loaded = load_transcript(transcript)
        if isinstance(loaded, PanelTranscript):
            if as_json:
                print_json(summarize_panel(loaded, transcript))
            else:
                display.print_panel(stdout, loaded, transcript)
            return
        show_comparison(loaded, transcript, as_json)


def latest_transcript(folder: Path) -> Path:
    """The transcript (panel or comparison) written last in `folder`; other JSON is passed over."""
    from panel.errors import TranscriptError
    from panel.store.transcripts import load_transcript

    candidates = sorted(folder.glob("*.json"), key=lambda path: path.stat().st_mtime_ns, reverse=True)
    for path in candidates:
        try:
            load_transcript(path)
        except TranscriptError:
            continue
        return path
    raise TranscriptError(
        f"No transcript in {folder}.", hint="Run a panel first, or name the folder with {out_dir}."
    )


def show_comparison(loaded: ComparisonTranscript, path: Path, as_json: bool) -> None:
    """Both panels as they are now (an editor may have changed one since), and the call again."""
    from panel.cli import display
    from panel.records.aggregate import compare_aggregates
    from panel.records.transcript import PanelTranscript
    from panel.store.transcripts import load_transcript, resolve_side, summarize_comparison, summarize_panel

    sides = [resolve_side(side, path) for side in (loaded.a_transcript, loaded.b_transcript)]
    panels = []
    for side in sides:
        side_transcript = load_transcript(side)
        if not isinstance(side_transcript, PanelTranscript):
            raise PanelError(f"{side} should be a panel transcript, but it is a {side_transcript.kind}.")
        panels.append(side_transcript)
    a_panel, b_panel = panels
    loaded = loaded.model_copy(
        update={
            "a_transcript": str(sides[0]),  # where the panels are now: the rerun commands name them
            "b_transcript": str(sides[1]),
            "a_aggregate": a_panel.aggregate,
            "b_aggregate": b_panel.aggregate,
            "comparison": compare_aggregates(
                a_panel.aggregate,
                b_panel.aggregate,
                a_panel.card.name,
                b_panel.card.name,
                prices=(a_panel.card.pricing, b_panel.card.pricing),
            ),
        }
    )
    if as_json:
        a, b = (summarize_panel(panel, side) for panel, side in zip(panels, sides, strict=True))
        print_json(summarize_comparison(loaded, a, b, path))
        return
    for panel, side in zip(panels, sides, strict=True):
        display.print_panel(stdout, panel, side)
    display.print_comparison(stdout, loaded, path)


def persona_summary(loaded: LoadedPersona, model: str) -> dict[str, Any]:
    """A persona for --json: its file's fields, with `model` the one a run would use."""
    return {
        **loaded.persona.model_dump(mode="json"),
        "model": model,
        "file_model": loaded.persona.model,
        "path": loaded.path,
        "sha256": loaded.sha256,
    }


@app.command("personas")
@settings_flags("personas", "model", "persona_model")
def list_personas(
    persona_id: Annotated[str | None, typer.Argument(metavar="ID", help="Show this persona in full.")] = None,
    flags: SettingsFlags = NO_FLAGS,
    as_json: JsonOption = False,
) -> None:
    """List the reviewers and their models, or show one in full.

    The model is the one a run would use after flags, PANEL_MODEL and panel.toml.
    """
    from panel.cli import display
    from panel.records.personas import load_personas

    with reporting_errors():
        settings = flags.settings()
        loaded = load_personas(settings.personas_dir)
        models = {item.persona.id: settings.model_for(item.persona.id, item.persona.model) for item in loaded}
        if persona_id is not None:
            match = next((item for item in loaded if item.persona.id == persona_id), None)
            if match is None:
                raise PanelError(
                    f"No persona {persona_id!r}; the panel has {', '.join(item.persona.id for item in loaded)}."
                )
            loaded = [match]
    if as_json:
        summaries = [persona_summary(item, models[item.persona.id]) for item in loaded]
        print_json(summaries[0] if persona_id is not None else {"personas": summaries})
    elif persona_id is None:
        display.print_personas(stdout, loaded, models)
    else:
        display.print_persona(stdout, loaded[0], models[persona_id])


@app.command()
@settings_flags("backend", "host", "model", "persona_model", "personas", "gguf")
def doctor(
    flags: SettingsFlags = NO_FLAGS,
    as_json: JsonOption = False,
) -> None:
    """Check that a panel can run here, and say what to fix.

    Checks Ollama, each distinct model of the panel (as `run` does) and the embedded model;
    exit 0 when the backend a panel would use can run it, 3 otherwise.
    """
    from rich.markup import escape
    from rich.table import Table

    from panel.backends.doctor import diagnose

    with reporting_errors():
        settings = flags.settings()
        report = diagnose(settings)
    if as_json:
        print_json(report.model_dump(mode="json"))
    else:
        table = Table(show_header=False, box=None, pad_edge=False)
        for _ in range(2):
            table.add_column(no_wrap=True)
        table.add_column(overflow="fold")
        marks = {
            "ok": "[green]ok[/]",
            "missing": "[red]missing[/]",
            "skipped": "[dim]skipped[/]",
            "warn": "[yellow]warn[/]",
        }
        for check in report.checks:
            fix = f"\n[bold]fix:[/] {escape(check.fix)}" if check.fix else ""
            table.add_row(marks[check.status], check.name, escape(check.detail) + fix)
        stdout.print(table)
        stdout.print(
            escape(report.summary), style="green" if report.ready else "red", highlight=False, soft_wrap=True
        )
    raise typer.Exit(EXIT_OK if report.ready else EXIT_BACKEND)
