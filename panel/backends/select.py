"""Pick the backend: the one asked for, or with `auto`, Ollama when it answers, else embedded."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from panel.backends import Backend
from panel.backends.ollama import OllamaBackend
from panel.config import Settings
from panel.errors import BackendUnavailable

if TYPE_CHECKING:
    from panel.backends.embedded import EmbeddedBackend

AUTO_PROBE_SECONDS = 1.0


def embedded_backend(settings: Settings) -> EmbeddedBackend:
    # Imported here: llama.cpp is an optional extra, and Ollama users never need it.
    from panel.backends.embedded import EmbeddedBackend

    return EmbeddedBackend.for_settings(settings)


async def ollama_answers(backend: OllamaBackend) -> bool:
    try:
        backend.version = await backend.server_version(timeout=AUTO_PROBE_SECONDS)
    except BackendUnavailable:
        return False
    return True


async def select_backend(settings: Settings, notice: Callable[[str], None]) -> Backend:
    if settings.backend == "embedded":
        backend = embedded_backend(settings)
        notice(backend.chosen_notice())
        return backend
    ollama = OllamaBackend(settings.host, settings.timeout, num_ctx=settings.num_ctx)
    if settings.backend == "ollama" or await ollama_answers(ollama):
        if settings.backend == "auto":
            notice(f"Using Ollama at {settings.host}.")
        return ollama
    await ollama.aclose()
    try:
        backend = embedded_backend(settings)
    except BackendUnavailable as error:
        raise BackendUnavailable(
            f"Ollama did not answer at {settings.host}, and the embedded fallback cannot run. {error}"
        ) from None
    notice(backend.fallback_notice(settings.host))
    return backend
