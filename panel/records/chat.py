"""One model call as every backend takes it (ChatRequest) and answers it (ChatReply), and a model as
the server describes it."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, Field


@dataclass(frozen=True)
class ChatRequest:
    """One model call: the model, the conversation, the verdict's JSON schema and the
    Ollama-style options (seed, temperature, num_ctx, num_predict, ...)."""

    model: str
    messages: list[dict[str, str]]
    schema: dict[str, Any]
    options: dict[str, Any]

    def for_model(self, model: str) -> ChatRequest:
        """The same call, to the id a server serves the model as."""
        return dataclasses.replace(self, model=model)


class ChatReply(BaseModel):
    """What a backend returns for one chat call."""

    content: str
    done_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    durations_ms: dict[str, float] = Field(default_factory=dict)
    # Which server and which model build answered: with several hosts these may differ per call.
    host: str | None = None
    model_digest: str | None = None
    # The server cut the prompt to fit its context window (Ollama does so silently).
    prompt_truncated: bool = False
    model: str | None = None  # the model id the server says answered, when it says


class ModelInfo(BaseModel):
    """A model as the backend knows it, recorded in the transcript."""

    name: str
    digest: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)


class CallTotals(BaseModel):
    """What a run asked of its models: calls that reached a model, answers from the cache, calls
    that shared one in flight, and the tokens the models reported."""

    model_calls: int = 0
    cache_hits: int = 0
    coalesced: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
