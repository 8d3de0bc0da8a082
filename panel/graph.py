"""The LangGraph workflow: one review branch per persona, in parallel, joined by the tally."""

from __future__ import annotations

import logging
import operator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Annotated, Any, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime
from langgraph.types import Send

from panel.aggregate import Aggregate, tally_reviews
from panel.backends import Backend
from panel.cards import ToolCard
from panel.personas import Persona
from panel.prompts import render_messages
from panel.structured import review_persona
from panel.verdicts import PersonaReview

log = logging.getLogger(__name__)


class ReviewTask(TypedDict):
    """What one branch needs: the persona, the model that speaks for it, its options."""

    persona: Persona
    model: str
    options: dict[str, Any]


class PanelState(TypedDict, total=False):
    card: ToolCard
    tasks: list[ReviewTask]
    # Parallel branches each add one review; the reducer concatenates them.
    reviews: Annotated[list[PersonaReview], operator.add]
    aggregate: Aggregate


class BranchState(TypedDict):
    card: ToolCard
    task: ReviewTask


@dataclass(frozen=True)
class PanelContext:
    """Run-time dependencies, kept out of the state: the backend and retry limits."""

    backend: Backend
    max_attempts: int
    transport_retries: int
    prompts_dir: Path | None = None


def send_to_reviewers(state: PanelState) -> list[Send]:
    return [Send("review_card", {"card": state["card"], "task": task}) for task in state["tasks"]]


async def review_card(state: BranchState, runtime: Runtime[PanelContext]) -> dict[str, Any]:
    """One persona reviews the card. Any failure becomes a failed review, so that an exception
    here never cancels the sibling branches."""
    task, context = state["task"], runtime.context
    persona = task["persona"]
    try:
        messages = render_messages(persona, state["card"], context.prompts_dir)
        review = await review_persona(
            context.backend,
            persona,
            task["model"],
            messages,
            task["options"],
            max_attempts=context.max_attempts,
            transport_retries=context.transport_retries,
            prompts_dir=context.prompts_dir,
        )
    except Exception as error:  # noqa: BLE001 - recorded in the transcript, never lost
        log.exception("persona %s failed unexpectedly", persona.id)
        review = PersonaReview(
            persona=persona.id,
            model=task["model"],
            status="failed",
            error=f"{type(error).__name__}: {error}",
        )
    return {"reviews": [review]}


def tally_verdicts(state: PanelState) -> dict[str, Any]:
    order = [task["persona"].id for task in state["tasks"]]
    reviews = sorted(state["reviews"], key=lambda review: order.index(review.persona))
    return {"reviews": [], "aggregate": tally_reviews(reviews)}


@cache
def compiled_graph() -> CompiledStateGraph:
    """The panel graph, compiled once per process: a compiled graph keeps no state between
    invocations, and compiling costs about a millisecond per panel in a batch."""
    return build_graph()


def build_graph() -> CompiledStateGraph:
    """Compile the panel graph: START -> review_card × N (parallel) -> tally_verdicts -> END."""
    graph = StateGraph(PanelState, context_schema=PanelContext)
    graph.add_node("review_card", review_card)
    graph.add_node("tally_verdicts", tally_verdicts)
    graph.add_conditional_edges(START, send_to_reviewers, ["review_card"])
    graph.add_edge("review_card", "tally_verdicts")
    graph.add_edge("tally_verdicts", END)
    return graph.compile()
