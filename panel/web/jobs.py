"""Panel runs started from the browser: each is a task on the server's event loop whose events
(a reviewer's step, a review landed, the panel is saved, it failed) are kept for replay and
streamed as SSE."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from panel.errors import PanelError
from panel.records.progress import ProgressCallback, ProgressEvent, progress_text
from panel.records.verdicts import PersonaReview

OnReview = Callable[[PersonaReview], None]


@dataclass
class Job:
    id: str
    tools: list[str]
    personas: list[str]
    events: list[dict[str, Any]] = field(default_factory=list)
    done: bool = False
    # Where the "done" link leads when not to the saved panel (a comparison saved with it).
    link: str | None = None
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    # The engine's on_progress for this run: each reviewer's steps become "progress" events.
    on_progress: ProgressCallback | None = None

    async def publish(self, event: dict[str, Any]) -> None:
        async with self.changed:
            self.events.append(event)
            self.done = self.done or event["type"] in ("done", "error")
            self.changed.notify_all()

    async def stream(self) -> AsyncIterator[dict[str, Any]]:
        """Every event from the first, then each new one, until the job ends."""
        sent = 0
        while True:
            async with self.changed:
                await self.changed.wait_for(lambda seen=sent: len(self.events) > seen or self.done)
                fresh, sent = self.events[sent:], len(self.events)
                finished = self.done and sent == len(self.events)
            for event in fresh:
                yield event
            if finished:
                return


def review_event(review: PersonaReview, tool: str) -> dict[str, Any]:
    verdict = review.verdict
    return {
        "type": "review",
        "tool": tool,
        "persona": review.persona,
        "status": review.status,
        "decision": verdict.decision if verdict else None,
        "confidence": verdict.confidence if verdict else None,
        "headline": verdict.headline if verdict else None,
        "error": review.error,
        # A failed reviewer's raw outputs, for the live box to fold away (shown as text only).
        "attempts": [
            {"number": attempt.number, "outcome": attempt.outcome, "raw": attempt.raw or ""}
            for attempt in review.attempts
        ]
        if review.status != "ok"
        else [],
    }


def progress_event(event: ProgressEvent) -> dict[str, Any]:
    """A reviewer's step for its box: the step in words (`text`) and its parts."""
    return {
        "type": "progress",
        "tool": event.tool,
        "persona": event.persona,
        "kind": event.kind,
        "attempt": event.attempt,
        "attempts": event.attempts,
        "detail": event.detail,
        "tokens": event.tokens,
        "text": progress_text(event),
    }


def sse(event: dict[str, Any]) -> str:
    """One server-sent event; JSON keeps every model-written string a string (the page sets it
    as text, never as markup)."""
    return f"event: {event['type']}\ndata: {json.dumps(event)}\n\n"


class JobBoard:
    """The runs this server started, by id. Tasks are kept referenced until they end."""

    def __init__(self) -> None:
        self.jobs: dict[str, Job] = {}
        self.tasks: set[asyncio.Task[None]] = set()

    def start(
        self,
        tools: list[str],
        personas: list[str],
        run: Callable[[Job, Callable[[str], OnReview]], Awaitable[str]],
    ) -> Job:
        """Start `run(job, on_review_for_tool)`; it returns the name of the transcript it saved."""
        job = Job(id=uuid.uuid4().hex, tools=tools, personas=personas)
        self.jobs[job.id] = job
        loop = asyncio.get_running_loop()

        def on_review_for(tool: str) -> OnReview:
            def landed(review: PersonaReview) -> None:
                self.keep(loop.create_task(job.publish(review_event(review, tool))))

            return landed

        def progressed(event: ProgressEvent) -> None:
            self.keep(loop.create_task(job.publish(progress_event(event))))

        job.on_progress = progressed

        async def body() -> None:
            try:
                name = await run(job, on_review_for)
            except PanelError as error:
                await job.publish({"type": "error", "message": str(error)})
            except Exception as error:  # noqa: BLE001 - shown to the editor, never a dead page
                await job.publish({"type": "error", "message": f"{type(error).__name__}: {error}"})
            else:
                await asyncio.sleep(0)  # let the last review events land first
                await job.publish({"type": "done", "transcript": name, "link": job.link})

        self.keep(loop.create_task(body()))
        return job

    def keep(self, task: asyncio.Task[None]) -> None:
        """Hold a reference until the task ends (the loop keeps only weak ones)."""
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
