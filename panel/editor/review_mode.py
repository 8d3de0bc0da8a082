"""`panel run --review`: the graph pauses before the tally (panel.engine.graph.review_verdicts) and the
editor accepts, locks, reruns or edits each verdict; every step becomes a revision."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from panel.backends.registry import opened_backend
from panel.editor.changes import Choice, OpenEditor, edit_review, open_in_editor, person_name
from panel.engine.runner import Notice, PanelResult, as_card, review_tool
from panel.records.aggregate import tally_reviews
from panel.records.cards import ToolCard
from panel.records.personas import Persona, load_personas
from panel.records.transcript import PanelTranscript
from panel.records.verdicts import PersonaReview
from panel.settings import Settings, resolve_seed
from panel.store.revisions import with_revision
from panel.store.transcripts import save_transcript

# Shown the latest reviews and the personas still waiting for a decision.
Chooser = Callable[[list[PersonaReview], list[str]], dict[str, Choice]]


@dataclass
class ReviewSession:
    """The Reviewer that `panel run --review` hands to the graph: it asks the chooser about each
    persona still open, opens the editor for edits, and records every step as a revision."""

    personas: dict[str, Persona]
    tool: str
    choose: Chooser
    author: str
    interactive: bool
    open_editor: OpenEditor = open_in_editor
    initial: list[PersonaReview] | None = None
    steps: list[tuple[Literal["rerun", "edit"], PersonaReview, int | None]] = field(default_factory=list)
    seeds: dict[str, int] = field(default_factory=dict)
    open_ids: list[str] = field(default_factory=list)
    accepted: list[str] = field(default_factory=list)
    locked: list[str] = field(default_factory=list)

    async def __call__(self, reviews: list[PersonaReview]) -> dict[str, Any]:
        if self.initial is None:
            self.initial = list(reviews)
            self.open_ids = [review.persona for review in reviews]
        else:
            self.steps.extend(
                ("rerun", review, self.seeds[review.persona])
                for review in reviews
                if review.persona in self.open_ids
            )
        choices = self.choose(reviews, list(self.open_ids))
        by_persona = {review.persona: review for review in reviews}
        rerun: dict[str, int] = {}
        edited: list[dict[str, Any]] = []
        for persona_id in self.open_ids:
            choice = choices.get(persona_id, "accept")
            if choice == "rerun":
                rerun[persona_id] = self.seeds[persona_id] = resolve_seed()
                continue
            if choice == "edit":
                review = edit_review(
                    self.personas[persona_id],
                    by_persona[persona_id],
                    self.tool,
                    author=self.author,
                    interactive=self.interactive,
                    open_editor=self.open_editor,
                )
                if review is not None:
                    self.steps.append(("edit", review, None))
                    edited.append(review.model_dump(mode="json"))
            (self.locked if choice == "lock" else self.accepted).append(persona_id)
        self.open_ids = list(rerun)
        return {"rerun": rerun, "edited": edited}


def record_review(session: ReviewSession, transcript: PanelTranscript) -> PanelTranscript:
    """Rebuild the reviewed panel's history: the first samples as revision 1, each rerun and
    edit in order, then the review itself with the locks it set."""
    initial = session.initial or list(transcript.reviews)
    # No revisions yet: history() makes the first samples revision 1.
    staged = transcript.model_copy(
        update={"reviews": initial, "aggregate": tally_reviews(initial), "revisions": []}
    )
    for action, review, seed in session.steps:
        by = f"model:{review.model}" if action == "rerun" else f"person:{session.author}"
        updates: dict[str, Any] = {}
        if seed is not None:
            updates["options"] = {
                **staged.options,
                review.persona: {**staged.options[review.persona], "seed": seed},
            }
        staged = with_revision(
            staged, [review], by=by, action=action, persona=review.persona, seed=seed, **updates
        )
    locked = [
        review.model_copy(update={"locked": True})
        for review in staged.reviews
        if review.persona in session.locked
    ]
    parts = [f"accepted: {', '.join(session.accepted) or '—'}"]
    if session.locked:
        parts.append(f"accepted and locked: {', '.join(session.locked)}")
    return with_revision(
        staged, locked, by=f"person:{session.author}", action="review", note="; ".join(parts)
    )


async def review_panel_async(
    card: ToolCard | str | Path,
    settings: Settings,
    choose: Chooser,
    *,
    by: str | None = None,
    interactive: bool = False,
    open_editor: OpenEditor = open_in_editor,
    notice: Notice | None = None,
) -> PanelResult:
    """Run the panel, pause before the tally for the editor's accept / lock / rerun / edit on
    each persona, then tally and save the transcript with every step as a revision."""
    tool, source = as_card(card, settings)
    loaded = load_personas(settings.personas_dir)
    session = ReviewSession(
        personas={item.persona.id: item.persona for item in loaded},
        tool=tool.name,
        choose=choose,
        author=person_name(by),
        interactive=interactive,
        open_editor=open_editor,
    )
    async with opened_backend(settings, notice) as backend:
        result = await review_tool(
            backend, tool, loaded, settings, card_source=source, save=False, reviewer=session
        )
    transcript = record_review(session, result.transcript)
    return PanelResult(
        transcript=transcript, path=save_transcript(transcript, settings.out_dir, transcript.tool_slug)
    )
