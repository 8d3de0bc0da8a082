"""Live progress of a panel run: what each reviewer is doing now, as the engine reports it.

The engine calls an optional `on_progress(event)` as things happen; the CLI draws one line per
reviewer from these events and the studio streams them to the browser. No callback, no events.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal

from panel.records.verdicts import Attempt, PersonaReview

log = logging.getLogger(__name__)

# waiting: the reviewer's model is being readied, no request sent yet; attempt: attempt n was
# sent (the first ask); re_ask: attempt n was sent because the last reply was refused (detail
# says why); retrying: a transport error (connection, timeout, 5xx), the same attempt is sent
# again; done: a valid verdict (detail: the decision); failed: no verdict (detail: the reason).
ProgressKind = Literal["waiting", "attempt", "re_ask", "retrying", "done", "failed"]
FINISHED_KINDS = ("done", "failed")
# A reason is shown on one line; the transcript keeps it whole.
DETAIL_CHARS = 160


@dataclass(frozen=True)
class ProgressEvent:
    """One step of one reviewer. `tool` names the card (two in a comparison); `attempt` of
    `attempts` is the attempt this step belongs to (0 before the first); `tokens` counts the
    completion tokens of the reviewer's finished attempts, when the backend reports them."""

    persona: str
    kind: ProgressKind
    tool: str = ""
    attempt: int = 0
    attempts: int = 0
    detail: str = ""
    tokens: int | None = None

    @property
    def finished(self) -> bool:
        return self.kind in FINISHED_KINDS


ProgressCallback = Callable[[ProgressEvent], None]


def one_line(text: str, limit: int = DETAIL_CHARS) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def progress_text(event: ProgressEvent) -> str:
    """The event in words, as both faces show it: "attempt 2 of 3 · 120 tokens — re-asked: the
    reply is not valid JSON", "done: ship · attempt 2 of 3 · 240 tokens". A reason comes last,
    since a line too long for the terminal is cut at its end."""
    of = f"attempt {event.attempt} of {event.attempts}"
    detail = one_line(event.detail)
    tokens = f" · {event.tokens} tokens" if event.tokens else ""
    if event.kind == "waiting":
        return f"waiting for {detail}" if detail else "waiting for the model"
    if event.kind == "attempt":
        return of + tokens
    if event.kind == "re_ask":
        return f"{of}{tokens} — re-asked: {detail}"
    if event.kind == "retrying":
        return f"{of}{tokens} — retrying: {detail}"
    if event.kind == "done":
        return f"done: {detail} · {of}{tokens}"
    return f"failed: {detail}{tokens}"


def report_progress(on_progress: ProgressCallback | None, event: ProgressEvent) -> None:
    """Tell the callback, if there is one. A callback that raises is logged: a display must
    never fail a review."""
    if on_progress is None:
        return
    try:
        on_progress(event)
    except Exception:  # noqa: BLE001 - the run goes on without its display
        log.exception("the progress callback failed on %s", event)


def spent_tokens(attempts: list[Attempt]) -> int | None:
    """Completion tokens of the finished attempts, or None when the backend reported none."""
    counts = [attempt.completion_tokens for attempt in attempts if attempt.completion_tokens is not None]
    return sum(counts) if counts else None


def attempt_started(
    persona: str, attempt: int, attempts: int, last_problem: str, finished: list[Attempt]
) -> ProgressEvent:
    """Attempt `attempt` is being sent: the first ask, or a re-ask because of `last_problem`."""
    kind: ProgressKind = "attempt" if attempt == 1 else "re_ask"
    detail = last_problem if kind == "re_ask" else ""
    return ProgressEvent(
        persona, kind, attempt=attempt, attempts=attempts, detail=detail, tokens=spent_tokens(finished)
    )


def transport_retry(
    on_progress: ProgressCallback | None, step: ProgressEvent
) -> Callable[[str], None] | None:
    """What the verdict loop calls before it sends `step`'s request again after a transport error."""
    if on_progress is None:
        return None
    return lambda problem: report_progress(on_progress, replace(step, kind="retrying", detail=problem))


def finished_event(review: PersonaReview, attempts: int) -> ProgressEvent:
    """The reviewer's last step: done with its decision, or failed with the reason."""
    tokens = spent_tokens(review.attempts)
    sent = sum(1 for attempt in review.attempts if attempt.outcome != "transport_error")
    if review.status == "ok" and review.verdict is not None:
        return ProgressEvent(
            review.persona,
            "done",
            attempt=sent,
            attempts=attempts,
            detail=review.verdict.decision,
            tokens=tokens,
        )
    return ProgressEvent(
        review.persona,
        "failed",
        attempt=sent,
        attempts=attempts,
        detail=review.error or "no verdict",
        tokens=tokens,
    )


def for_tool(on_progress: ProgressCallback | None, tool: str) -> ProgressCallback | None:
    """The callback with each event marked as the review of `tool` (a comparison runs two)."""
    if on_progress is None:
        return None
    return lambda event: on_progress(replace(event, tool=tool))
