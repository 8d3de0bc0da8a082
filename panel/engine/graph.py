"""The LangGraph workflow: one review branch per persona, in parallel, joined by the tally."""

from __future__ import annotations

import logging
import operator
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Annotated, Any, TypedDict

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime
from langgraph.types import Command, Overwrite, Send, interrupt

from panel.backends import Backend
from panel.engine.prompts import render_messages
from panel.engine.quality import verdict_gate
from panel.engine.verdict_loop import review_persona
from panel.errors import KeyRefused
from panel.records.aggregate import Aggregate, tally_reviews
from panel.records.cards import ToolCard
from panel.records.personas import Persona
from panel.records.progress import ProgressCallback, finished_event, for_tool, report_progress
from panel.records.verdicts import PersonaReview
from panel.settings import QualityGates

log = logging.getLogger(__name__)

# Shown the latest reviews at each pause of a review-mode run; answers {"rerun": {id: seed},
# "edited": [review dicts]}, and an empty answer to go on to the tally.
Reviewer = Callable[[list[PersonaReview]], Awaitable[dict[str, Any]]]
# The state types a review checkpoint may restore: LangGraph warns on (and will block) others.
CHECKPOINT_TYPES = [
    ("panel.records.cards", "ToolCard"),
    ("panel.records.cards", "Link"),
    ("panel.records.personas", "Persona"),
    ("panel.records.personas", "PersonaExample"),
    ("panel.records.verdicts", "PersonaReview"),
    ("panel.records.verdicts", "Verdict"),
    ("panel.records.verdicts", "Attempt"),
    ("panel.records.aggregate", "Aggregate"),
]


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
    # Review mode only: persona id -> seed of the new sample the editor asked for.
    rerun: dict[str, int]
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
    max_quote_chars: int | None = None
    # Told of each review as it lands (the studio's live progress); must not raise.
    on_review: Callable[[PersonaReview], None] | None = None
    quality: QualityGates | None = None
    # Told of each reviewer's steps as they happen (panel.records.progress); None costs nothing.
    on_progress: ProgressCallback | None = None
    # The prompt set's folder (panel.engine.prompt_sets); None: the bundled prompts.
    prompts_dir: Path | None = None


def send_to_reviewers(state: PanelState) -> list[Send]:
    return [Send("review_card", {"card": state["card"], "task": task}) for task in state["tasks"]]


async def review_card(state: BranchState, runtime: Runtime[PanelContext]) -> dict[str, Any]:
    """One persona reviews the card (the graph's branch node)."""
    return {"reviews": [await review_task(state["card"], state["task"], runtime.context)]}


async def review_task(card: ToolCard, task: ReviewTask, context: PanelContext) -> PersonaReview:
    """One persona's review of the card, in a panel or on its own (a rerun). Any failure becomes
    a failed review, so that an exception here never cancels the sibling branches."""
    persona = task["persona"]
    on_progress = for_tool(context.on_progress, card.name)
    try:
        messages = render_messages(persona, card, context.prompts_dir)
        review = await review_persona(
            context.backend,
            persona,
            task["model"],
            messages,
            task["options"],
            max_attempts=context.max_attempts,
            transport_retries=context.transport_retries,
            max_quote_chars=context.max_quote_chars,
            quality_gate=(
                verdict_gate(persona, card, context.quality, context.prompts_dir) if context.quality else None
            ),
            prompts_dir=context.prompts_dir,
            on_progress=on_progress,
        )
    except KeyRefused:
        raise  # every call would be refused: the run stops (exit 3), not one reviewer
    except Exception as error:  # noqa: BLE001 - recorded in the transcript, never lost
        log.exception("persona %s failed unexpectedly", persona.id)
        review = PersonaReview(
            persona=persona.id,
            model=task["model"],
            status="failed",
            error=f"{type(error).__name__}: {error}",
        )
    report_progress(on_progress, finished_event(review, context.max_attempts))
    if context.on_review is not None:
        context.on_review(review)
    return review


def latest_reviews(state: PanelState) -> list[PersonaReview]:
    """One review per persona, in task order: the last one written wins, since in review mode
    a rerun or a hand edit is appended after the review it replaces."""
    order = [task["persona"].id for task in state["tasks"]]
    latest = {review.persona: review for review in state["reviews"]}
    return sorted(latest.values(), key=lambda review: order.index(review.persona))


def tally_verdicts(state: PanelState) -> dict[str, Any]:
    reviews = latest_reviews(state)
    return {"reviews": Overwrite(reviews), "aggregate": tally_reviews(reviews)}


def review_verdicts(state: PanelState) -> dict[str, Any]:
    """Pause for the editor before the tally (`panel run --review`). The resume value says which
    personas to sample again (`rerun`: id -> seed) and which reviews a person rewrote (`edited`)."""
    answer = interrupt({"reviews": [review.model_dump(mode="json") for review in latest_reviews(state)]})
    edited = [PersonaReview.model_validate(review) for review in answer.get("edited", [])]
    return {"reviews": edited, "rerun": dict(answer.get("rerun", {}))}


def send_reruns(state: PanelState) -> list[Send] | str:
    rerun = state.get("rerun") or {}
    if not rerun:
        return "tally_verdicts"
    return [
        Send(
            "review_card",
            {
                "card": state["card"],
                "task": {**task, "options": {**task["options"], "seed": rerun[task["persona"].id]}},
            },
        )
        for task in state["tasks"]
        if task["persona"].id in rerun
    ]


@cache
def compiled_graph() -> CompiledStateGraph:
    """The panel graph, compiled once per process: a compiled graph keeps no state between
    invocations, and compiling costs about a millisecond per panel in a batch."""
    return build_graph()


def build_graph(review: bool = False, checkpointer: BaseCheckpointSaver | None = None) -> CompiledStateGraph:
    """Compile the panel graph: START -> review_card × N (parallel) -> tally_verdicts -> END.

    With `review`, review_verdicts sits before the tally and pauses (interrupt) for the editor,
    sending reruns back to review_card; pausing needs a `checkpointer`."""
    graph = StateGraph(PanelState, context_schema=PanelContext)
    graph.add_node("review_card", review_card)
    graph.add_node("tally_verdicts", tally_verdicts)
    graph.add_conditional_edges(START, send_to_reviewers, ["review_card"])
    if review:
        graph.add_node("review_verdicts", review_verdicts)
        graph.add_edge("review_card", "review_verdicts")
        graph.add_conditional_edges("review_verdicts", send_reruns, ["review_card", "tally_verdicts"])
    else:
        graph.add_edge("review_card", "tally_verdicts")
    graph.add_edge("tally_verdicts", END)
    return graph.compile(checkpointer=checkpointer)


async def invoke_with_review(
    graph_input: PanelState, context: PanelContext, reviewer: Reviewer
) -> dict[str, Any]:
    """Run the review-mode graph with an in-memory checkpoint: at each pause the reviewer sees
    the latest reviews, and its answer resumes the graph, until it answers with no rerun."""
    checkpointer = InMemorySaver(serde=JsonPlusSerializer(allowed_msgpack_modules=CHECKPOINT_TYPES))
    graph = build_graph(review=True, checkpointer=checkpointer)
    config: Any = {"configurable": {"thread_id": uuid.uuid4().hex}}
    state = await graph.ainvoke(graph_input, config, context=context)
    while state.get("__interrupt__"):
        pause = state["__interrupt__"][0]
        answer = await reviewer([PersonaReview.model_validate(review) for review in pause.value["reviews"]])
        # Resume by interrupt id: a bare dict would be read as an id -> value mapping.
        state = await graph.ainvoke(Command(resume={pause.id: answer}), config, context=context)
    return state
