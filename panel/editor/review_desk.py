"""Review mode driven by id, for callers that cannot block on a prompt (the studio): start a
review, read where it stands, answer its pause, again until it is saved.

Each review runs `review_panel_async` (the same code as `panel run --review`) in a worker
thread with its own event loop; at each pause its chooser publishes the latest reviews and
waits for `resume(id, ...)`. An edit arrives as verdict values and is handed to the review's
editor step as the verdict file it would have written, so it is validated the same way.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from panel.editor.changes import Choice, verdict_document
from panel.editor.review_mode import review_panel_async
from panel.errors import PanelError
from panel.records.cards import ToolCard
from panel.records.personas import Persona, load_personas
from panel.records.verdicts import PersonaReview
from panel.settings import Settings
from panel.store.revisions import verdict_from_values

Stage = Literal["running", "paused", "saved", "failed"]
ANSWER_WAIT_SECONDS = 6 * 3600  # a review left alone this long gives up; nothing is saved


class UnknownReview(PanelError):
    """No review with that id on this desk (or it already ended)."""


@dataclass
class ReviewState:
    """Where one review stands: reviewing, paused for answers, saved, or failed."""

    id: str
    tool: str
    stage: Stage = "running"
    reviews: list[PersonaReview] = field(default_factory=list)
    open_ids: list[str] = field(default_factory=list)
    path: Path | None = None
    error: str | None = None


@dataclass
class Answer:
    choices: dict[str, Choice]
    edits: dict[str, dict[str, Any]]


class ReviewDesk:
    """Reviews in progress, by id."""

    def __init__(self) -> None:
        self.states: dict[str, ReviewState] = {}
        self.personas: dict[str, dict[str, Persona]] = {}
        self.answers: dict[str, queue.Queue[Answer]] = {}
        self.changed = threading.Condition()

    def start(self, card: ToolCard, settings: Settings, *, by: str) -> str:
        """Start reviewing `card`; returns the review's id at once."""
        review_id = uuid.uuid4().hex
        personas = {loaded.persona.id: loaded.persona for loaded in load_personas(settings.personas_dir)}
        self.states[review_id] = ReviewState(id=review_id, tool=card.name)
        self.personas[review_id] = personas
        self.answers[review_id] = queue.Queue()
        thread = threading.Thread(
            target=self.run, args=(review_id, card, settings, by, personas), daemon=True
        )
        thread.start()
        return review_id

    def state(self, review_id: str) -> ReviewState:
        if review_id not in self.states:
            raise UnknownReview(f"No review {review_id!r} here; it may have ended with the server.")
        return self.states[review_id]

    def wait(self, review_id: str, timeout: float) -> ReviewState:
        """The review's state once it is no longer running (or after `timeout` seconds)."""
        with self.changed:
            self.changed.wait_for(lambda: self.state(review_id).stage != "running", timeout)
        return self.state(review_id)

    def resume(
        self,
        review_id: str,
        choices: dict[str, Choice],
        edits: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        """Answer a paused review: accept, lock, rerun or edit (with values) each open persona.
        Edit values are checked first: InvalidVerdict leaves the review paused."""
        state = self.state(review_id)
        if state.stage != "paused":
            raise PanelError(f"The review of {state.tool} is {state.stage}, not waiting for answers.")
        for persona_id, choice in choices.items():
            if choice == "edit":
                verdict_from_values(self.personas[review_id][persona_id], (edits or {}).get(persona_id, {}))
        self.update(review_id, stage="running")
        self.answers[review_id].put(Answer(choices=choices, edits=edits or {}))

    def update(self, review_id: str, **changes: Any) -> None:
        with self.changed:
            for key, value in changes.items():
                setattr(self.states[review_id], key, value)
            self.changed.notify_all()

    def run(
        self, review_id: str, card: ToolCard, settings: Settings, by: str, personas: dict[str, Persona]
    ) -> None:
        edits: dict[str, dict[str, Any]] = {}

        def choose(reviews: list[PersonaReview], open_ids: list[str]) -> dict[str, Choice]:
            self.update(review_id, stage="paused", reviews=list(reviews), open_ids=list(open_ids))
            try:
                answer = self.answers[review_id].get(timeout=ANSWER_WAIT_SECONDS)
            except queue.Empty:
                raise PanelError("The review waited too long for answers; nothing was saved.") from None
            edits.clear()
            edits.update(answer.edits)
            return answer.choices

        def write_edit(document: Path) -> None:
            persona_id = document.name.removesuffix("-verdict.toml")
            persona = personas[persona_id]
            verdict = verdict_from_values(persona, edits.get(persona_id, {}))
            shown = PersonaReview(persona=persona_id, model="", status="ok", verdict=verdict)
            document.write_text(verdict_document(persona, shown, card.name), encoding="utf-8")

        try:
            result = asyncio.run(
                review_panel_async(card, settings, choose, by=by, interactive=False, open_editor=write_edit)
            )
        except PanelError as error:
            self.update(review_id, stage="failed", error=str(error))
        except Exception as error:  # noqa: BLE001 - the desk reports it; the thread must not die silently
            self.update(review_id, stage="failed", error=f"{type(error).__name__}: {error}")
        else:
            self.update(review_id, stage="saved", path=result.path, reviews=list(result.transcript.reviews))
