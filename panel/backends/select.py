"""Pick the backend: kept for callers of the old API; panel.backends.registry builds them all."""

from __future__ import annotations

from collections.abc import Callable

from panel.backends import Backend
from panel.backends.registry import AUTO_PROBE_SECONDS, open_backend
from panel.config import Settings

__all__ = ["AUTO_PROBE_SECONDS", "select_backend"]


async def select_backend(settings: Settings, notice: Callable[[str], None]) -> Backend:
    """The backend the settings ask for; `auto` takes Ollama when it answers, else embedded."""
    return await open_backend(settings, notice)
