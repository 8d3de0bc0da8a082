"""The editor workflow: `panel rerun`, `edit`, `stability`, and the prompts of `run --review`."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from panel.cli.common import (
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
from panel.errors import PanelError

# The engine, the editor and rich's tables load when a command runs, not for `panel --help`.
if TYPE_CHECKING:
    from panel.editor.changes import Choice
    from panel.engine.runner import PanelResult
    from panel.records.transcript import PanelTranscript
    from panel.records.verdicts import PersonaReview
    from panel.settings import Settings
    from panel.store.revisions import RevisionResult

# --- editor workflow: rerun, edit, review, stability -----------------------------------------

PersonaIdOption = Annotated[str, typer.Option("--persona", metavar="ID", help="The persona's id, e.g. dx.")]
NoteOption = Annotated[str | None, typer.Option("--note", metavar="TEXT", help="Why; kept in the revision.")]
REVIEW_ANSWERS = {"a": "accept", "l": "lock", "r": "rerun", "e": "edit"}


def print_revision(result: RevisionResult, as_json: bool) -> None:
    from panel.cli import display
    from panel.store.revisions import history
    from panel.store.transcripts import summarize_panel

    if as_json:
        summary = summarize_panel(result.transcript, result.path)
        summary["revision"] = history(result.transcript)[-1].model_dump(mode="json", exclude={"reviews"})
        print_json(summary)
    else:
        display.print_panel(stdout, result.transcript, result.path)
    raise typer.Exit(EXIT_INCOMPLETE if result.transcript.aggregate.incomplete else EXIT_OK)


@app.command()
@settings_flags("backend", "host", "timeout", "prompts", "gguf")
def rerun(
    transcript: Annotated[
        Path, typer.Argument(metavar="TRANSCRIPT", help="A panel transcript written by run.")
    ],
    persona: PersonaIdOption,
    model: Annotated[
        str | None,
        typer.Option("--model", metavar="MODEL", help="Model for this persona [default: the one recorded]."),
    ] = None,
    seed: Annotated[
        int | None, typer.Option("--seed", metavar="N", help="Sampling seed [default: a fresh one].")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace the verdict even if it is locked.")] = False,
    personas: Annotated[
        Path | None,
        typer.Option(
            "--personas",
            metavar="DIR",
            help="Use this folder's current persona file, not the one recorded.",
        ),
    ] = None,
    note: NoteOption = None,
    flags: SettingsFlags = NO_FLAGS,
    as_json: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Sample one persona again, keep the others, tally again.

    Saved in the transcript as a new revision. On a terminal, the reviewer's progress shows on
    stderr as it happens.
    """
    from panel.cli.progress_display import ReviewerProgressView
    from panel.editor.changes import rerun_persona_async

    with reporting_errors():
        settings = flags.settings()
        with ReviewerProgressView(stderr, quiet=quiet) as view:
            result = asyncio.run(
                rerun_persona_async(
                    transcript,
                    persona,
                    settings,
                    model=model,
                    seed=seed,
                    force=force,
                    personas_dir=personas,
                    note=note,
                    notice=quiet_notice if quiet else notice,
                    on_progress=view.update,
                )
            )
    print_revision(result, as_json)


@app.command()
def edit(
    transcript: Annotated[
        Path, typer.Argument(metavar="TRANSCRIPT", help="A panel transcript written by run.")
    ],
    persona: PersonaIdOption,
    lock: Annotated[
        bool,
        typer.Option(
            "--lock",
            help="Lock the verdict: rerun and batch leave it alone (add --no-edit to only lock).",
        ),
    ] = False,
    unlock: Annotated[bool, typer.Option("--unlock", help="Remove the lock.")] = False,
    no_edit: Annotated[
        bool,
        typer.Option(
            "--no-edit", help="Open no editor: only lock or unlock (for scripts, no $EDITOR needed)."
        ),
    ] = False,
    by: ByOption = None,
    note: NoteOption = None,
    as_json: JsonOption = False,
) -> None:
    """Hand-edit one verdict in $VISUAL or $EDITOR, or lock it.

    The edit is checked against the persona's schema and saved as a new revision.
    """
    from panel.editor.changes import edit_verdict

    with reporting_errors():
        if no_edit and not (lock or unlock):
            raise PanelError("--no-edit leaves only a lock change: add --lock or --unlock.")
        editor = {"open_editor": leave_unedited} if no_edit else {}
        result = edit_verdict(transcript, persona, lock=lock, unlock=unlock, by=by, note=note, **editor)
    if result.review is None:
        stderr.print(f"No change to {persona}; the transcript was not touched.", highlight=False)
        raise typer.Exit(EXIT_OK)
    print_revision(result, as_json)


def leave_unedited(path: Path) -> None:
    """The editor of `edit --no-edit`: it leaves the verdict file as it is."""


def choose_in_terminal(reviews: list[PersonaReview], open_ids: list[str]) -> dict[str, Choice]:
    """Show the verdicts, then each open persona's verdict in full before asking: accept, lock,
    rerun or edit."""
    from panel.cli import display

    stderr.print(display.reviews_table("Before the tally: accept, lock, rerun or edit", reviews))
    by_persona = {review.persona: review for review in reviews}
    choices: dict[str, Choice] = {}
    for persona_id in open_ids:
        stderr.print(display.verdict_card(by_persona[persona_id]))
        while True:
            try:
                answer = typer.prompt(
                    f"{persona_id}: [a]ccept, [l]ock, [r]erun, [e]dit", default="a", err=True
                )
            except typer.Abort:
                raise PanelError(
                    "The review ended before every verdict had an answer (no more input); nothing was saved."
                ) from None
            choice = REVIEW_ANSWERS.get(answer.strip().lower()[:1])
            if choice:
                choices[persona_id] = choice  # type: ignore[assignment]
                break
            stderr.print("Answer a (accept), l (accept and lock), r (rerun) or e (edit).", highlight=False)
    return choices


async def review_in_terminal(card: Path, settings: Settings, by: str | None) -> PanelResult:
    from panel.editor.review_mode import review_panel_async

    return await review_panel_async(
        card, settings, choose_in_terminal, by=by, interactive=sys.stdin.isatty(), notice=notice
    )


@app.command()
@settings_flags(
    "backend",
    "host",
    "model",
    "persona_model",
    "temperature",
    "timeout",
    "personas",
    "prompts",
    "out",
    "gguf",
)
def stability(
    target: Annotated[
        Path,
        typer.Argument(metavar="CARD|DIR", help="A tool card, or a folder of one tool's transcripts."),
    ],
    samples: Annotated[int, typer.Option("--samples", metavar="N", help="How many panels to sample.")] = 5,
    seed: Annotated[
        int | None,
        typer.Option("--seed", metavar="N", help="First seed; samples use seed, seed+1, … [default: 1]."),
    ] = None,
    flags: SettingsFlags = NO_FLAGS,
    cache: CacheOption = None,
    no_cache: NoCacheOption = False,
    as_json: JsonOption = False,
) -> None:
    """Measure how much the panel moves between samples.

    Ship and flip rates per reviewer, the ship % with its interval, the fields whose wording varies.
    """
    from panel.cli import display
    from panel.measure.stability import sample_stability_async, stability_of_folder
    from panel.records.aggregate import percent_text

    with reporting_errors():
        if target.is_dir():
            report, path = stability_of_folder(target)
        else:
            settings = flags.settings()
            cache_path = chosen_cache(settings, cache, no_cache)

            def progress(number: int, sample: PanelTranscript) -> None:
                notice(
                    f"Sample {number}/{samples} (seed {sample.seed}): ships {percent_text(sample.aggregate.ship_pct)}"
                )

            report, path = asyncio.run(
                sample_stability_async(
                    target,
                    settings,
                    samples,
                    base_seed=seed,
                    cache_path=cache_path,
                    notice=notice,
                    progress=progress,
                )
            )
    if as_json:
        print_json({**report.model_dump(mode="json"), "report": str(path) if path else None})
    else:
        display.print_stability(stdout, report, path)
    raise typer.Exit(EXIT_INCOMPLETE if report.incomplete_samples else EXIT_OK)
