"""Model backends: one protocol, an Ollama client and an embedded llama.cpp model (lazy import)."""

from __future__ import annotations

from typing import Any, Protocol

from pydantic import BaseModel, Field


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


class Backend(Protocol):
    """What the panel needs from a model server. Errors are `panel.errors` types."""

    name: str

    async def prepare(self, models: list[str]) -> dict[str, ModelInfo]:
        """Check the backend can serve these models; raise BackendUnavailable if not."""
        ...

    async def chat(
        self,
        model: str,
        messages: list[dict[str, str]],
        schema: dict[str, Any],
        options: dict[str, Any],
    ) -> ChatReply: ...

    def describe(self) -> dict[str, Any]:
        """Provenance for the transcript: backend name, host or file, version."""
        ...

    async def aclose(self) -> None: ...
