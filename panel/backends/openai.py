"""Any OpenAI-compatible server (vLLM, SGLang, llama.cpp's llama-server, LM Studio, a LiteLLM
proxy, llama-cpp-python's server) through its chat completions endpoint.

Plain httpx rather than the `openai` package: httpx is already here (the Ollama client stands on
it), the SDK's own retry layer would stack on top of structured.py's, and this backend needs to
see the raw status and body of a refused `response_format` to fall back from it.

Structured output: a strict `json_schema` response format first; a server that refuses it
(llama-cpp-python's server answers 500, others 400) gets JSON mode with the schema attached
(`{"type": "json_object", "schema": ...}`, which llama.cpp servers enforce and the others may
ignore), and structured.py validates every reply either way. Which one a server got is in the
transcript's backend record.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx

from panel.backends import ChatReply, ModelInfo
from panel.backends.llama_requests import decoding_schema
from panel.backends.registry import BackendSpec, Capabilities, Check, Findings
from panel.errors import BackendRequestError, BackendUnavailable, ModelNotFound, TransientBackendError

if TYPE_CHECKING:
    from panel.config import Settings

JSON_SCHEMA, JSON_OBJECT = "json_schema", "json_object"
# Ollama-style option -> chat completions parameter. Only parameters of OpenAI's own API are
# sent: strict servers refuse the rest (top_k, min_p, repeat_penalty stay in the transcript only).
SENT_OPTIONS = {"temperature": "temperature", "top_p": "top_p", "seed": "seed", "num_predict": "max_tokens"}
SERVER_HINT = (
    "Start one (`vllm serve MODEL`, `llama-server -m FILE.gguf`, LM Studio's server, a LiteLLM "
    "proxy) or point {host} at its base URL, e.g. http://localhost:8000/v1."
)
ERROR_TEXT_LIMIT = 300


def base_url(host: str) -> str:
    """Every target serves the API under /v1; a bare host:port gets it appended."""
    return host if urlsplit(host).path.strip("/") else f"{host.rstrip('/')}/v1"


def error_text(response: httpx.Response) -> str:
    """The server's own message: OpenAI's {"error": {"message"}}, FastAPI's {"detail"}, or text."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:ERROR_TEXT_LIMIT]
    error = body.get("error", body.get("detail", body)) if isinstance(body, dict) else body
    message = error.get("message", error) if isinstance(error, dict) else error
    return str(message)[:ERROR_TEXT_LIMIT]


def response_format(mode: str, schema: dict[str, Any]) -> dict[str, Any]:
    """Grammar-based servers (llama.cpp's) ignore minimum and maximum, so bounded numbers go as
    a choice of values and strings get a length cap, as for the embedded backend; replies are
    still validated against the real schema."""
    schema = decoding_schema(schema)
    if mode == JSON_SCHEMA:
        return {"type": JSON_SCHEMA, "json_schema": {"name": "verdict", "schema": schema, "strict": True}}
    return {"type": JSON_OBJECT, "schema": schema}


def sent_parameters(options: dict[str, Any]) -> dict[str, Any]:
    return {name: options[option] for option, name in SENT_OPTIONS.items() if options.get(option) is not None}


class OpenAIBackend:
    """One OpenAI-compatible server. Create it inside the event loop that will use it."""

    name = "openai"

    def __init__(self, host: str, timeout: float, api_key_env: str = "OPENAI_API_KEY") -> None:
        self.host = base_url(host)
        self.timeout = timeout
        self.api_key_env = api_key_env
        key = os.environ.get(api_key_env)
        # The key lives only in the client's headers: describe() and every message name the
        # variable, never its value.
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.client = httpx.AsyncClient(
            base_url=self.host, timeout=httpx.Timeout(timeout, connect=min(5.0, timeout)), headers=headers
        )
        self.has_key = bool(key)
        self.version: str | None = None
        self.mode = JSON_SCHEMA
        self.served: list[str] | None = None  # ids from GET /models; None when it has no listing
        self.aliases: dict[str, str] = {}  # requested name -> the id the server serves it as

    def unreachable(self, error: object) -> BackendUnavailable:
        return BackendUnavailable(
            f"Cannot reach an OpenAI-compatible server at {self.host} ({error}).", hint=SERVER_HINT
        )

    def refused_key(self, response: httpx.Response) -> BackendUnavailable:
        state = "is set" if self.has_key else "is not set"
        return BackendUnavailable(
            f"The server at {self.host} refused the request ({response.status_code}: "
            f"{error_text(response)}). Put its API key in ${self.api_key_env} (which {state}), or "
            "name another variable with PANEL_API_KEY_ENV."
        )

    def not_served(self, model: str) -> ModelNotFound:
        served = f"it serves {', '.join(self.served)}" if self.served else "it lists no models"
        return ModelNotFound(
            f"The server at {self.host} does not serve the model {model!r} ({served}).",
            hint="Choose one of those with {model} or {persona_models}.",
        )

    async def list_served(self) -> list[str] | None:
        """GET /models: the ids the server serves, or None when it has no such endpoint."""
        try:
            response = await self.client.get("/models")
        except httpx.HTTPError as error:
            raise self.unreachable(error) from None
        if response.status_code in (401, 403):
            raise self.refused_key(response)
        if response.status_code == 404:
            return None
        if response.is_error:
            raise self.unreachable(f"GET /models answered {response.status_code}: {error_text(response)}")
        try:
            return [str(entry["id"]) for entry in response.json()["data"]]
        except (ValueError, KeyError, TypeError):
            raise self.unreachable("GET /models did not answer with a model list") from None

    def served_as(self, model: str) -> str:
        """The id to ask for. A server that serves one model (llama-server, llama-cpp-python's
        server, a single-model vLLM) serves it under its own id, whatever the persona asked."""
        if self.served is None or model in self.served:
            return model
        if len(self.served) == 1:
            return self.served[0]
        raise self.not_served(model)

    async def prepare(self, models: list[str]) -> dict[str, ModelInfo]:
        """Check the server answers and serves every model; map each to the id it serves."""
        self.served = await self.list_served()
        infos = {}
        for model in dict.fromkeys(models):
            served = self.aliases[model] = self.served_as(model)
            details = {"requested": model} if served != model else {}
            infos[model] = ModelInfo(name=served, details={**details, "served_by": self.host})
        return infos

    async def post_chat(self, body: dict[str, Any]) -> httpx.Response:
        try:
            return await self.client.post("/chat/completions", json=body)
        except httpx.ConnectError:
            raise TransientBackendError(f"cannot connect to the server at {self.host}") from None
        except httpx.TimeoutException:
            raise TransientBackendError(f"no reply from {self.host} within {self.timeout:g} s") from None
        except httpx.TransportError as error:
            raise TransientBackendError(f"connection to {self.host} failed: {error!r}") from None

    async def chat(
        self,
        model: str,
        messages: list[dict[str, str]],
        schema: dict[str, Any],
        options: dict[str, Any],
    ) -> ChatReply:
        model = self.aliases.get(model, model)
        body = {"model": model, "messages": messages, "stream": False, **sent_parameters(options)}
        started = time.perf_counter()
        response = await self.post_chat({**body, "response_format": response_format(self.mode, schema)})
        if self.mode == JSON_SCHEMA and response.status_code in (400, 422, 500, 501):
            # Perhaps the server cannot do json_schema: ask once in JSON mode, and keep to it if
            # that works (a server that is really failing fails this way too).
            fallback = await self.post_chat({**body, "response_format": response_format(JSON_OBJECT, schema)})
            if not fallback.is_error:
                self.mode, response = JSON_OBJECT, fallback
        self.raise_for_status(response, model)
        return self.reply(response, (time.perf_counter() - started) * 1000)

    def raise_for_status(self, response: httpx.Response, model: str) -> None:
        status = response.status_code
        if not response.is_error:
            return
        if status == 404:
            raise self.not_served(model)
        if status in (401, 403):
            raise self.refused_key(response)
        if status in (408, 429) or status >= 500:
            raise TransientBackendError(
                f"{self.host} is overloaded or failing ({status}): {error_text(response)}"
            )
        raise BackendRequestError(f"{self.host} refused the request ({status}): {error_text(response)}")

    def reply(self, response: httpx.Response, total_ms: float) -> ChatReply:
        try:
            data = response.json()
            choice = data["choices"][0]
            content = choice["message"].get("content") or ""
        except (ValueError, KeyError, IndexError, TypeError, AttributeError):
            raise TransientBackendError(
                f"{self.host} answered without a chat completion: {response.text[:ERROR_TEXT_LIMIT]}"
            ) from None
        usage = data.get("usage") or {}
        return ChatReply(
            content=content,
            done_reason=choice.get("finish_reason"),
            prompt_tokens=usage.get("prompt_tokens"),
            completion_tokens=usage.get("completion_tokens"),
            durations_ms={"total": round(total_ms, 3)},
            model=data.get("model"),
        )

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "host": self.host,
            "version": self.version,
            "served_models": self.served,
            "structured_output": self.mode,
            "sent_options": sorted(SENT_OPTIONS.values()),
            "api_key_env": self.api_key_env if self.has_key else None,
        }

    async def aclose(self) -> None:
        await self.client.aclose()


# --- the registry entry ------------------------------------------------------------------


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
