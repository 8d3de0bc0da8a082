"""The Ollama backend as the registry knows it: how to build it, probe it and check it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from panel.backends.ollama import OllamaBackend, full_model_name
from panel.backends.registry import AUTO_PROBE_SECONDS, BackendSpec, Capabilities, Check, Findings
from panel.errors import BackendUnavailable

if TYPE_CHECKING:
    from panel.config import Settings


def build(settings: Settings, host: str) -> OllamaBackend:
    return OllamaBackend(host, settings.timeout)


async def answers(backend: OllamaBackend) -> bool:
    """GET /api/version within a second; the version is kept, so prepare() does not ask again."""
    try:
        backend.version = await backend.server_version(timeout=AUTO_PROBE_SECONDS)
    except BackendUnavailable:
        return False
    return True


def model_check(persona: str, model: str, pulled: dict) -> Check:
    info = pulled.get(full_model_name(model)) or pulled.get(model)
    if info is None:
        return Check(
            name=f"model {persona}",
            status="missing",
            detail=f"{model} is not pulled",
            fix=f"ollama pull {model}",
        )
    size = info.details.get("parameter_size")
    return Check(
        name=f"model {persona}", status="ok", detail=f"{model} pulled" + (f" ({size})" if size else "")
    )


def unreachable(settings: Settings, models: dict[str, str]) -> Findings:
    skipped = [
        Check(name=f"model {persona}", status="skipped", detail=f"{model}: not checked, no server")
        for persona, model in models.items()
    ]
    server = Check(
        name="ollama",
        status="missing",
        detail=f"no answer at {settings.host}",
        fix="start it with `ollama serve` (or the Ollama app), or pass --host / OLLAMA_HOST",
    )
    summary = f"Not ready: --backend ollama needs a server at {settings.host}; run `ollama serve`."
    return Findings(checks=[server, *skipped], reachable=False, ready=False, summary=summary)


async def doctor(settings: Settings, models: dict[str, str]) -> Findings:
    """Server version, then each persona's model: pulled, or the exact pull command."""
    backend = OllamaBackend(settings.host, min(settings.timeout, 10.0))
    probe_seconds = min(settings.timeout, 5.0) if settings.backend == "ollama" else AUTO_PROBE_SECONDS
    try:
        try:
            version = await backend.server_version(timeout=probe_seconds)
        except BackendUnavailable:
            return unreachable(settings, models)
        server = Check(name="ollama", status="ok", detail=f"Ollama {version} at {settings.host}")
        try:
            pulled = await backend.list_models()
        except BackendUnavailable as error:
            server = server.model_copy(update={"status": "missing", "detail": str(error)})
            return Findings(checks=[server], reachable=True, ready=False, summary=f"Not ready: {error}")
    finally:
        await backend.aclose()
    checks = [server, *(model_check(persona, model, pulled) for persona, model in models.items())]
    fixes = [check.fix for check in checks if check.fix]
    if fixes:
        summary = "Not ready: panels would run on Ollama, which lacks a model: " + "; ".join(
            f"`{fix}`" for fix in fixes
        )
    else:
        summary = f"Ready: panels run on Ollama at {settings.host}."
    return Findings(checks=checks, reachable=True, ready=not fixes, summary=summary)


SPEC = BackendSpec(
    name="ollama",
    label="Ollama",
    summary="An Ollama server: the verdict schema in `format`, seed and sampling in `options`.",
    settings=("host", "timeout", "model", "persona_models", "seed", "temperature", "num_ctx", "num_predict"),
    capabilities=Capabilities(structured_output="format", seed=True, parallel_slots=None, http=True),
    build=build,
    doctor=doctor,
    probe=answers,
)
