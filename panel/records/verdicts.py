"""The records a panel produces: a verdict, each attempt at one, and a persona's review."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, model_validator

Decision = Literal["ship", "skip"]


class Verdict(BaseModel):
    """One reviewer's structured call, common to every persona plus its own fields."""

    persona: str
    decision: Decision
    confidence: float = Field(ge=0, le=1)
    headline: str
    quote: str
    fields: dict[str, str]


# A reply longer than this is kept cut, with a marker and its length in `raw_chars`: a runaway
# model (or server) must not turn three attempts into a transcript of hundreds of megabytes.
MAX_RAW_CHARS = 100_000


class Attempt(BaseModel):
    """One request to the model and what came back, kept whole for audit and diff (a reply
    over MAX_RAW_CHARS is kept cut, with a marker, and its full length in `raw_chars`)."""

    number: int
    outcome: Literal["valid", "invalid", "transport_error"]
    messages: list[dict[str, str]]
    raw: str | None = None
    error: str | None = None
    done_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    durations_ms: dict[str, float] = Field(default_factory=dict)
    seconds: float = 0.0
    raw_chars: int | None = Field(default=None, description="Length of a reply kept cut.")
    # The server and model build that answered this attempt (hosts of a pool may differ).
    host: str | None = None
    model_digest: str | None = None
    model: str | None = None  # the model id the server reported for this reply, if any
    seed: int | None = None  # the seed this attempt sampled with (a re-ask uses another)

    @model_validator(mode="after")
    def _cut_a_huge_reply(self) -> Attempt:
        if self.raw_chars is None and self.raw is not None and len(self.raw) > MAX_RAW_CHARS:
            self.raw_chars = len(self.raw)
            self.raw = (
                self.raw[:MAX_RAW_CHARS]
                + f"\n[… reply cut by reviewer-panel: {self.raw_chars:,} characters, the first "
                f"{MAX_RAW_CHARS:,} kept]"
            )
        return self


class PersonaReview(BaseModel):
    """A persona's part of a panel: the verdict, or why there is none, and every attempt."""

    persona: str
    model: str
    status: Literal["ok", "failed"]
    verdict: Verdict | None = None
    error: str | None = None
    attempts: list[Attempt] = Field(default_factory=list)
    # Who wrote the verdict: None for the model named in `model`, "person:NAME" after a hand
    # edit. A locked review is left alone by `panel rerun` and `panel batch` unless --force.
    written_by: str | None = None
    locked: bool = False

    @property
    def author(self) -> str:
        return self.written_by or f"model:{self.model}"

    @property
    def last_raw(self) -> str | None:
        return next((a.raw for a in reversed(self.attempts) if a.raw is not None), None)
