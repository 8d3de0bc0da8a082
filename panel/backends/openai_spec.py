"""The OpenAI-compatible backend as the registry knows it: how to build it and check it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from panel.backends.openai import SERVER_HINT, OpenAIBackend
from panel.backends.registry import BackendSpec, Capabilities, Check, Findings
from panel.errors import BackendUnavailable, ModelNotFound

if TYPE_CHECKING:
    from panel.settings import Settings


def build(settings: Settings, host: str) -> OpenAIBackend:
    return OpenAIBackend(host, settings.timeout, settings.api_key_env)


async def answers(backend: OpenAIBackend) -> bool:
    try:
        await backend.list_served()
    except BackendUnavailable:
        return False
    return True


def model_check(backend: OpenAIBackend, persona: str, model: str) -> Check:
    try:
        served = backend.served_as(model)
    except ModelNotFound as error:
        return Check(name=f"model {persona}", status="missing", detail=str(error), fix="--model ID")
    detail = model if served == model else f"{model}: served as {served}"
    return Check(name=f"model {persona}", status="ok", detail=detail)


async def doctor(settings: Settings, models: dict[str, str]) -> Findings:
    """The server answers GET /models, the API key variable, then each persona's model."""
    backend = build(settings, settings.host)
    try:
        backend.served = await backend.list_served()
    except BackendUnavailable as error:
        # `panel doctor`'s fixes are written for the command line, like its other checks.
        fix = SERVER_HINT.format(host="--host")
        server = Check(name="openai", status="missing", detail=error.message, fix=fix)
        return Findings(checks=[server], reachable=False, ready=False, summary=f"Not ready: {error}")
    finally:
        await backend.aclose()
    listing = ", ".join(backend.served) if backend.served else "no model list"
    checks = [
        Check(name="openai", status="ok", detail=f"OpenAI-compatible server at {backend.host} ({listing})"),
        Check(
            name="api key",
            status="ok" if backend.has_key else "skipped",
            detail=f"${settings.api_key_env} is {'set' if backend.has_key else 'not set (fine for a local server)'}",
        ),
        *(model_check(backend, persona, model) for persona, model in models.items()),
    ]
    ready = all(check.status != "missing" for check in checks)
    summary = (
        f"Ready: panels run on the OpenAI-compatible server at {backend.host}."
        if ready
        else "Not ready: " + next(check.detail for check in checks if check.status == "missing")
    )
    return Findings(checks=checks, reachable=True, ready=ready, summary=summary)


SPEC = BackendSpec(
    name="openai",
    label="an OpenAI-compatible server",
    summary="Any OpenAI-compatible server: vLLM, SGLang, llama-server, LM Studio, LiteLLM.",
    settings=(
        "host",
        "timeout",
        "api_key_env",
        "model",
        "persona_models",
        "seed",
        "temperature",
        "num_predict",
    ),
    capabilities=Capabilities(structured_output="json_schema", seed=True, parallel_slots=None, http=True),
    build=build,
    doctor=doctor,
    probe=answers,
)
