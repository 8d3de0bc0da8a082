"""Revert a saved panel to an earlier revision: the verdicts as they stood then come back as one
new revision on top (nothing is deleted, so the revert itself can be diffed or reverted)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from panel.errors import PanelError
from panel.records.transcript import PanelTranscript
from panel.store.revisions import (
    RevisionConflict,
    RevisionResult,
    at_revision,
    history,
    revision_number,
    save_in_place,
    transcript_lock,
    with_revision,
)
from panel.store.transcripts import load_panel_transcript


class NothingToRevert(PanelError):
    """The panel already stands as it did at that revision."""


def reverted(transcript: PanelTranscript, number: int, by: str, note: str | None) -> PanelTranscript:
    """The transcript with the reviews of revision `number` back on top, as a new revision."""
    if number == revision_number(transcript):
        raise NothingToRevert(f"Revision {number} is the latest: there is nothing to revert.")
    then = at_revision(transcript, number)  # PanelError for a revision the panel does not have
    now = {review.persona: review for review in transcript.reviews}
    changed = [review for review in then.reviews if review != now.get(review.persona)]
    if not changed:
        raise NothingToRevert(
            f"The verdicts already stand as they did at revision {number}: nothing was saved."
        )
    return with_revision(
        transcript,
        changed,
        by=f"person:{by}",
        action="edit",
        persona=changed[0].persona if len(changed) == 1 else None,
        note=note or f"reverted to revision {number}",
    )


def revert_panel(
    path: str | Path, number: int, *, base: int, by: str, note: str | None = None
) -> RevisionResult:
    """Put the panel's verdicts back as they stood at revision `number`, read at revision `base`;
    any change saved after `base` (to any verdict) raises RevisionConflict and nothing is written."""
    path = Path(path).resolve()
    with transcript_lock(path):
        latest = load_panel_transcript(path, "revert")
        if revision_number(latest) != base:
            newer = history(latest)[-1]
            raise RevisionConflict(
                f"The panel changed after you read it: revision {newer.number} ({newer.action} by "
                f"{newer.by.removeprefix('person:')}). Nothing was reverted; read the newer "
                "revision and choose again.",
                newer,
                latest,
            )
        updated = reverted(latest, number, by, note)
        save_in_place(updated, path)
    return RevisionResult(transcript=updated, path=path, review=None)


async def revert_panel_async(path: str | Path, number: int, **kwargs: object) -> RevisionResult:
    """revert_panel in a thread: waiting for another writer's lock must not stall an event loop."""
    return await asyncio.to_thread(revert_panel, path, number, **kwargs)  # type: ignore[arg-type]
