"""The Ollama backend as the registry knows it: how to build it, probe it and check it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from panel.backends.ollama import OllamaBackend
from panel.backends.ollama_server import think_warning
from panel.backends.registry import AUTO_PROBE_SECONDS, BackendSpec, Capabilities, Check, Findings
from panel.errors import BackendUnavailable, ModelNotFound

if TYPE_CHECKING:
    from panel.settings import Settings


def build(settings: Settings, host: str) -> OllamaBackend:
    return OllamaBackend(host, settings.timeout, num_ctx=settings.num_ctx)


async def answers(backend: OllamaBackend) -> bool:
    """GET /api/version within a second; the version is kept, so prepare() does not ask again."""
    try:
        backend.version = await backend.server_version(timeout=AUTO_PROBE_SECONDS)
    except BackendUnavailable:
        return False
    return True


def personas_by_model(models: dict[str, str]) -> dict[str, list[str]]:
    """One entry per distinct model, with the personas that use it."""
    grouped: dict[str, list[str]] = {}
    for persona, model in models.items():
        grouped.setdefault(model, []).append(persona)
    return grouped


async def model_checks(backend: OllamaBackend, model: str, personas: list[str], version: str) -> list[Check]:
    """Ask /api/show, as `panel run` does: a model the server can describe can serve a panel;
    a warning follows when the server's version or the model's family needs a think workaround."""
    name, used_by = f"model {model}", f"used by {', '.join(personas)}"
    try:
        shown = await backend.show_model(model)
    except ModelNotFound:
        return [
            Check(
                name=name,
                status="missing",
                detail=f"not on the server; {used_by}",
                fix=f"ollama pull {model}",
            )
        ]
    except BackendUnavailable as error:
        return [Check(name=name, status="missing", detail=str(error))]
    capabilities = f" ({', '.join(shown.capabilities)})" if shown.capabilities else ""
    checks = [Check(name=name, status="ok", detail=f"available{capabilities}; {used_by}")]
    warning = think_warning(model, shown, version)
    if warning:
        checks.append(Check(name=f"think {model}", status="warn", detail=warning))
    return checks


def unreachable(settings: Settings, models: dict[str, str]) -> Findings:
    skipped = [
        Check(name=f"model {model}", status="skipped", detail="not checked, no server")
        for model in personas_by_model(models)
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
    """Server version, then each distinct model of the panel: there, or the exact pull command."""
    backend = OllamaBackend(settings.host, min(settings.timeout, 10.0))
    probe_seconds = min(settings.timeout, 5.0) if settings.backend == "ollama" else AUTO_PROBE_SECONDS
    try:
        try:
            version = await backend.server_version(timeout=probe_seconds)
        except BackendUnavailable:
            return unreachable(settings, models)
        checks = [Check(name="ollama", status="ok", detail=f"Ollama {version} at {settings.host}")]
        for model, personas in personas_by_model(models).items():
            checks += await model_checks(backend, model, personas, version)
    finally:
        await backend.aclose()
    fixes = [check.fix for check in checks if check.fix]
    problems = [
        f"{c.name} failed a check ({c.detail})" for c in checks if c.status == "missing" and not c.fix
    ]
    parts = []
    if fixes:
        parts.append(
            "panels would run on Ollama, which lacks a model: " + "; ".join(f"`{fix}`" for fix in fixes)
        )
    parts += problems
    summary = (
        "Not ready: " + "; ".join(parts) if parts else f"Ready: panels run on Ollama at {settings.host}."
    )
    return Findings(checks=checks, reachable=True, ready=not (fixes or problems), summary=summary)


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
