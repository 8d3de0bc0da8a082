"""Model backends (ChatReply and ModelInfo come from panel.records.chat): one protocol, an Ollama client and an embedded llama.cpp model (lazy import)."""

from __future__ import annotations

from typing import Any, Protocol

from panel.records.chat import ChatReply, ChatRequest, ModelInfo

# What one reply may hold, in characters of content (Ollama's stream) or bytes of body (OpenAI's):
# a verdict is a few kilobytes, and a server sending without end is cut here, not when --timeout
# runs out with gigabytes read.
MAX_REPLY_SIZE = 1_000_000


class Backend(Protocol):
    """What the panel needs from a model server. Errors are `panel.errors` types."""

    name: str

    async def prepare(self, models: list[str]) -> dict[str, ModelInfo]:
        """Check the backend can serve these models; raise BackendUnavailable if not."""
        ...

    async def chat(self, request: ChatRequest) -> ChatReply: ...

    def describe(self) -> dict[str, Any]:
        """Provenance for the transcript: backend name, host or file, version."""
        ...

    async def aclose(self) -> None: ...
