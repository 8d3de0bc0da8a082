"""A verdict's history, the transcript with one more revision, the locked check, and the guarded
save that every change to a saved panel goes through.

The guarded save: a change is worked out from the transcript as it was read (its revision
number is the base), then saved under an exclusive lock on the transcript after reading the
file again. When another writer changed the same persona since the base (a second tab, a
`panel rerun` beside a `panel edit`), the save is refused with RevisionConflict and nothing is
written; a change to other personas is kept and the new revision goes on top of it.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from panel.errors import PanelError, PersonaError, TranscriptError, describe_validation_error
from panel.records.aggregate import tally_reviews
from panel.records.personas import COMMON_VERDICT_FIELDS, Persona, verdict_model
from panel.records.plain_errors import plain_problem
from panel.records.transcript import PanelTranscript, Revision
from panel.records.verdicts import PersonaReview, Verdict
from panel.store.transcripts import load_panel_transcript, now_utc, write_file

try:  # POSIX; elsewhere the revision compare alone guards the save
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

# A save reads, checks and writes under the lock in milliseconds: a lock held this long belongs
# to a writer that is stuck (or stopped), and waiting longer would only hang the caller.
LOCK_WAIT_SECONDS = 10.0
LOCK_POLL_SECONDS = 0.05


class RevisionConflict(TranscriptError):
    """Someone else saved a change to the same verdict after this change read the transcript."""

    exit_code = 4

    def __init__(self, message: str, newer: Revision, transcript: PanelTranscript) -> None:
        super().__init__(message)
        self.newer = newer
        self.transcript = transcript


class TranscriptBusy(TranscriptError):
    """Another writer held the transcript's lock for longer than a save waits."""

    exit_code = 4


class InvalidVerdict(PanelError):
    """Verdict values that do not fit the persona's schema; `problems` maps each field to what
    is wrong with it in plain words, for a form to show beside the field."""

    def __init__(self, message: str, problems: dict[str, str]) -> None:
        super().__init__(message)
        self.problems = problems


@dataclass
class RevisionResult:
    """The transcript after a rerun or an edit, where it was saved, and the changed review
    (None when nothing changed and nothing was saved)."""

    transcript: PanelTranscript
    path: Path
    review: PersonaReview | None


def is_locked(review: PersonaReview) -> bool:
    """True when a person locked this verdict: rerun and batch must leave it alone unless forced."""
    return review.locked


def history(transcript: PanelTranscript) -> list[Revision]:
    """Every revision, oldest first. A panel run only once stores none: its top level is revision 1."""
    if transcript.revisions:
        return list(transcript.revisions)
    return [
        Revision(
            number=1,
            created_at=transcript.created_at,
            by="panel run",
            action="run",
            seed=transcript.seed,
            reviews=list(transcript.reviews),
            aggregate=transcript.aggregate,
        )
    ]


def revision_number(transcript: PanelTranscript) -> int:
    """The number of the latest revision: the base a change names when it is saved."""
    return history(transcript)[-1].number


def with_revision(
    transcript: PanelTranscript,
    changed: list[PersonaReview],
    *,
    by: str,
    action: Literal["rerun", "edit", "review"],
    persona: str | None = None,
    note: str | None = None,
    seed: int | None = None,
    **updates: Any,
) -> PanelTranscript:
    """The transcript with `changed` replacing the reviews of the same personas, tallied again,
    and one more revision recording who did it and why. Other reviews are kept as they are."""
    replacing = {review.persona: review for review in changed}
    reviews = [replacing.get(review.persona, review) for review in transcript.reviews]
    aggregate = tally_reviews(reviews)
    past = history(transcript)
    revision = Revision(
        number=past[-1].number + 1,
        created_at=now_utc(),
        by=by,
        action=action,
        persona=persona,
        note=note,
        seed=seed,
        reviews=changed,
        aggregate=aggregate,
    )
    return transcript.model_copy(
        update={"reviews": reviews, "aggregate": aggregate, "revisions": [*past, revision], **updates}
    )


def find_review(transcript: PanelTranscript, persona_id: str) -> PersonaReview:
    review = next((review for review in transcript.reviews if review.persona == persona_id), None)
    if review is None:
        known = ", ".join(review.persona for review in transcript.reviews)
        raise PersonaError(f"The panel has no persona {persona_id!r}; its personas are {known}.")
    return review


def review_at(transcript: PanelTranscript, persona_id: str, number: int) -> PersonaReview | None:
    """The persona's review as it stood at revision `number` (None if it had none yet)."""
    found = None
    for revision in history(transcript):
        if revision.number > number:
            break
        found = next((r for r in revision.reviews_in_force() if r.persona == persona_id), found)
    return found


def at_revision(transcript: PanelTranscript, number: int) -> PanelTranscript:
    """The panel as it stood after revision `number`."""
    latest = {review.persona: review for review in transcript.reviews}
    steps = [revision for revision in history(transcript) if revision.number <= number]
    if not steps:
        raise PanelError(f"The panel has no revision {number}.")
    for revision in steps:
        latest.update({review.persona: review for review in revision.reviews_in_force()})
    reviews = [latest[review.persona] for review in transcript.reviews]
    return transcript.model_copy(
        update={"reviews": reviews, "aggregate": steps[-1].aggregate, "revisions": steps}
    )


def newer_change(transcript: PanelTranscript, persona_id: str, base: int) -> Revision | None:
    """The latest revision after `base` that changed this persona's review, if any."""
    touched = [
        revision
        for revision in history(transcript)
        if revision.number > base and any(review.persona == persona_id for review in revision.reviews)
    ]
    return touched[-1] if touched else None


def save_in_place(transcript: PanelTranscript, path: Path) -> None:
    write_file(path, transcript.model_dump_json(indent=2) + "\n", f"Cannot rewrite the transcript {path}")


def lock_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.lock")


def wait_for_lock(handle: int, path: Path, wait: float) -> None:
    """Take the exclusive lock, trying again until `wait` seconds have passed; TranscriptBusy then."""
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise TranscriptBusy(
                    f"The transcript {path} is being saved by another process, which has held its "
                    f"lock ({lock_path(path).name}) for over {wait:g} seconds; nothing was saved. "
                    "Try again in a moment; if it stays busy, look for a stuck process working "
                    "on that panel."
                ) from None
            time.sleep(LOCK_POLL_SECONDS)


@contextlib.contextmanager
def transcript_lock(path: Path, wait: float | None = None) -> Iterator[None]:
    """Hold an exclusive lock on the transcript (a sidecar lock file, so the atomic rename of
    the transcript itself does not drop it) for one read-check-write; wait at most `wait`
    seconds (LOCK_WAIT_SECONDS) for another writer to let go."""
    if fcntl is None:  # pragma: no cover
        yield
        return
    try:
        handle = os.open(lock_path(path), os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as error:
        raise TranscriptError(f"Cannot lock the transcript {path} for writing: {error}.") from None
    try:
        wait_for_lock(handle, path, LOCK_WAIT_SECONDS if wait is None else wait)
        yield
    finally:
        os.close(handle)


def guarded_update(
    path: str | Path,
    persona_id: str,
    base: int,
    change: Callable[[PanelTranscript], PanelTranscript],
) -> PanelTranscript:
    """Apply `change` to the transcript as it is now on disk and save it, unless someone changed
    this persona's review after revision `base`: then raise RevisionConflict, writing nothing.
    A symlink is followed first: the real file takes the lock and the new revision, and the link
    stays a link (an atomic rewrite of the link's name would replace it with a copy)."""
    path = Path(path).resolve()
    with transcript_lock(path):
        latest = load_panel_transcript(path, "rerun and edit")
        newer = newer_change(latest, persona_id, base)
        if newer is not None or revision_number(latest) < base:
            newer = newer or history(latest)[-1]
            raise RevisionConflict(
                f"The verdict of {persona_id} in {path} changed after you read it: revision "
                f"{newer.number} ({newer.action} by {newer.by.removeprefix('person:')}, "
                f"{newer.created_at:%Y-%m-%d %H:%M} UTC). Nothing was saved; read the newer "
                "revision and make the change again.",
                newer,
                latest,
            )
        updated = change(latest)
        save_in_place(updated, path)
    return updated


def verdict_from_values(persona: Persona, values: dict[str, Any]) -> Verdict:
    """A verdict from form values, checked against the persona's schema; InvalidVerdict says
    which field is wrong and why."""
    data = {key: value.strip() if isinstance(value, str) else value for key, value in values.items()}
    confidence = data.get("confidence")
    if isinstance(confidence, str | int) and not isinstance(confidence, bool):
        with contextlib.suppress(ValueError):
            data["confidence"] = float(confidence)  # a form sends text; the schema wants a number
    try:
        checked = verdict_model(persona).model_validate(data).model_dump()
    except ValidationError as error:
        problems = {
            ".".join(str(part) for part in item["loc"]) or "verdict": plain_problem(item)
            for item in error.errors()
        }
        raise InvalidVerdict(describe_validation_error(error), problems) from None
    return Verdict(
        persona=persona.id,
        fields={key: value for key, value in checked.items() if key not in COMMON_VERDICT_FIELDS},
        **{key: checked[key] for key in COMMON_VERDICT_FIELDS},
    )


def change_verdict(
    path: str | Path,
    persona_id: str,
    *,
    base: int,
    verdict: Verdict | None = None,
    locked: bool | None = None,
    by: str,
    note: str | None = None,
) -> RevisionResult:
    """A person's change to one verdict, read at revision `base`: a new text (`verdict`), a lock
    or an unlock, or both, saved as one revision through the guarded save. A change that
    changes nothing saves nothing; a newer change to the same verdict raises RevisionConflict."""
    path = Path(path)
    outcome: dict[str, PersonaReview | None] = {"review": None}

    def apply(latest: PanelTranscript) -> PanelTranscript:
        current = find_review(latest, persona_id)
        edited = verdict is not None and verdict != current.verdict
        wanted = current.locked if locked is None else locked
        if not edited and wanted == current.locked:
            return latest
        changed = current.model_copy(update={"locked": wanted})
        if edited:
            changed = PersonaReview(
                persona=persona_id,
                model=current.model,
                status="ok",
                verdict=verdict,
                written_by=f"person:{by}",
                locked=wanted,
            )
        actions = ["edited"] if edited else []
        if wanted != current.locked:
            actions.append("locked" if wanted else "unlocked")
        outcome["review"] = changed
        return with_revision(
            latest,
            [changed],
            by=f"person:{by}",
            action="edit",
            persona=persona_id,
            note=note or " and ".join(actions),
        )

    updated = guarded_update(path, persona_id, base, apply)
    return RevisionResult(transcript=updated, path=path, review=outcome["review"])
