"""Any OpenAI-compatible server (vLLM, SGLang, llama.cpp's llama-server, LM Studio, a LiteLLM
proxy) through its chat completions endpoint. The embedded backend is this one, pointed at the
llama.cpp server it starts.

Plain httpx rather than the `openai` package: httpx is already here (the Ollama client stands on
it), the SDK's own retry layer would stack on top of structured.py's, and this backend needs to
see the raw status and body of a refused `response_format` to fall back from it.

Hardened like the Ollama path: each call has a deadline as a whole (httpx's timeouts are per
read, so a server dripping a byte at a time would never trip them), a reply is read up to a cap
and no further, and the API key is redacted from everything a server echoes back.

Structured output: a strict `json_schema` response format first; a server that refuses it
(some answer 500, others 400) gets JSON mode with the schema attached
(`{"type": "json_object", "schema": ...}`, which llama.cpp servers enforce and the others may
ignore), and structured.py validates every reply either way. Which one a server got is in the
transcript's backend record.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from typing import Any
from urllib.parse import urlsplit

import httpx

from panel.backends import MAX_REPLY_SIZE
from panel.backends.decoding import decoding_schema, sampling_parameters
from panel.errors import (
    BackendRequestError,
    BackendUnavailable,
    KeyRefused,
    ModelNotFound,
    ModelServerError,
    TransientBackendError,
    UnreadableReply,
)
from panel.records.chat import ChatReply, ChatRequest, ModelInfo

JSON_SCHEMA, JSON_OBJECT = "json_schema", "json_object"
MAX_REPLY_BYTES = MAX_REPLY_SIZE  # bytes of body
# Shapes of secrets a server may echo back besides the key itself.
SECRET_SHAPES = re.compile(r"(?i)\b(bearer\s+)[^\s\"',}]+|\bsk-[A-Za-z0-9_\-]{6,}")
REDACTED = "[redacted]"
SERVER_HINT = (
    "Start one (`vllm serve MODEL`, `llama-server -m FILE.gguf`, LM Studio's server, a LiteLLM "
    "proxy) or point {host} at its base URL, e.g. http://localhost:8000/v1."
)
ERROR_TEXT_LIMIT = 300


def base_url(host: str) -> str:
    """Every target serves the API under /v1; a bare host:port gets it appended."""
    return host if urlsplit(host).path.strip("/") else f"{host.rstrip('/')}/v1"


def redact(text: str, key: str | None) -> str:
    """`text` with the API key, and anything shaped like a bearer token or an `sk-` key, replaced."""
    if key:
        text = text.replace(key, REDACTED)
    return SECRET_SHAPES.sub(lambda found: (found.group(1) or "") + REDACTED, text)


def error_text(response: httpx.Response, key: str | None = None) -> str:
    """The server's own message (OpenAI's {"error": {"message"}}, FastAPI's {"detail"}, or text),
    short and with any secret it echoes redacted."""
    try:
        body = response.json()
    except (ValueError, RecursionError):
        return redact(response.text[: ERROR_TEXT_LIMIT * 4], key)[:ERROR_TEXT_LIMIT]
    error = body.get("error", body.get("detail", body)) if isinstance(body, dict) else body
    message = error.get("message", error) if isinstance(error, dict) else error
    return redact(str(message)[: ERROR_TEXT_LIMIT * 4], key)[:ERROR_TEXT_LIMIT]


def response_format(mode: str, schema: dict[str, Any], quote_pattern: bool = False) -> dict[str, Any]:
    """Grammar-based servers (llama.cpp's) ignore minimum and maximum, so bounded numbers go as
    a choice of values and strings get a length cap (panel.backends.decoding); replies are still
    validated against the real schema."""
    schema = decoding_schema(schema, quote_pattern)
    if mode == JSON_SCHEMA:
        return {"type": JSON_SCHEMA, "json_schema": {"name": "verdict", "schema": schema, "strict": True}}
    return {"type": JSON_OBJECT, "schema": schema}


class OpenAIBackend:
    """One OpenAI-compatible server. Create it inside the event loop that will use it."""

    name = "openai"

    def __init__(
        self,
        host: str,
        timeout: float,
        api_key_env: str = "OPENAI_API_KEY",
        *,
        llama_cpp: bool = False,
        cache_prompt: bool = True,
    ) -> None:
        self.host = base_url(host)
        self.timeout = timeout
        self.api_key_env = api_key_env
        # llama.cpp's server (the embedded engine) takes top_k, min_p and repeat_penalty, and
        # enforces a `pattern`, so it gets those; other servers get OpenAI's parameters only.
        self.llama_cpp = llama_cpp
        # llama.cpp reuses a slot's cached prompt prefix; its logits then differ in the last bits
        # from a fresh evaluation, so a run that must repeat exactly turns the cache off.
        self.cache_prompt = cache_prompt
        key = os.environ.get(api_key_env)
        # The key lives only in the client's headers (and in `redact`): describe() and every
        # message name the variable, never its value.
        self._key = key
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.client = httpx.AsyncClient(
            base_url=self.host, timeout=httpx.Timeout(timeout, connect=min(5.0, timeout)), headers=headers
        )
        self.has_key = bool(key)
        self.version: str | None = None
        self.mode = JSON_SCHEMA
        self.served: list[str] | None = None  # ids from GET /models; None when it has no listing
        self.aliases: dict[str, str] = {}  # requested name -> the id the server serves it as
        self.model_meta: dict[str, dict[str, Any]] = {}  # served id -> what /models says of it

    def unreachable(self, error: object) -> BackendUnavailable:
        return BackendUnavailable(
            f"Cannot reach an OpenAI-compatible server at {self.host} ({redact(str(error), self._key)}).",
            hint=SERVER_HINT,
        )

    def refused_key(self, response: httpx.Response) -> KeyRefused:
        state = "is set" if self.has_key else "is not set"
        return KeyRefused(
            f"The server at {self.host} refused the request ({response.status_code}: "
            f"{error_text(response, self._key)}). Put its API key in ${self.api_key_env} (which {state}), or "
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
            raise self.unreachable(
                f"GET /models answered {response.status_code}: {error_text(response, self._key)}"
            )
        try:
            entries = response.json()["data"]
            served = [str(entry["id"]) for entry in entries]
        except (ValueError, KeyError, TypeError, RecursionError):
            raise self.unreachable("GET /models did not answer with a model list") from None
        self.model_meta = {
            str(entry["id"]): entry["meta"] for entry in entries if isinstance(entry.get("meta"), dict)
        }
        return served

    def served_as(self, model: str) -> str:
        """The id to ask for. A server that serves one model (llama-server, the embedded
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
            meta = self.model_meta.get(served, {})
            infos[model] = ModelInfo(name=served, details={**details, **meta, "served_by": self.host})
        return infos

    async def post_chat(self, body: dict[str, Any]) -> tuple[int, bytes]:
        """POST /chat/completions: the status and at most MAX_REPLY_BYTES of the body."""
        try:
            async with self.client.stream("POST", "/chat/completions", json=body) as response:
                received = bytearray()
                async for chunk in response.aiter_bytes():
                    received += chunk
                    if len(received) > MAX_REPLY_BYTES:
                        raise UnreadableReply(
                            f"{self.host} sent more than {MAX_REPLY_BYTES:,} bytes for one reply; "
                            "the panel stopped reading",
                            received[:MAX_REPLY_BYTES].decode("utf-8", "replace"),
                        )
                return response.status_code, bytes(received)
        except httpx.ConnectError:
            raise TransientBackendError(f"cannot connect to the server at {self.host}") from None
        except httpx.TimeoutException:
            raise TransientBackendError(f"no reply from {self.host} within {self.timeout:g} s") from None
        except httpx.TransportError as error:
            raise TransientBackendError(
                f"connection to {self.host} failed: {redact(repr(error), self._key)}"
            ) from None

    async def chat(self, request: ChatRequest) -> ChatReply:
        """One chat completion, bounded as a whole by `timeout` seconds."""
        try:
            async with asyncio.timeout(self.timeout):
                return await self.complete(request.for_model(self.aliases.get(request.model, request.model)))
        except TimeoutError:
            raise ModelServerError(f"no complete reply from {self.host} within {self.timeout:g} s") from None

    async def complete(self, request: ChatRequest) -> ChatReply:
        model, schema = request.model, request.schema
        body = {
            "model": model,
            "messages": request.messages,
            "stream": False,
            **sampling_parameters(request.options, extended=self.llama_cpp),
        }
        if self.llama_cpp:
            body["cache_prompt"] = self.cache_prompt
        started = time.perf_counter()
        shaped = response_format(self.mode, schema, quote_pattern=self.llama_cpp)
        status, raw = await self.post_chat({**body, "response_format": shaped})
        if self.mode == JSON_SCHEMA and status in (400, 422, 500, 501):
            # Perhaps the server cannot do json_schema: ask once in JSON mode, and keep to it if
            # that works (a server that is really failing fails this way too).
            fallback = response_format(JSON_OBJECT, schema, quote_pattern=self.llama_cpp)
            fallback_status, fallback_raw = await self.post_chat({**body, "response_format": fallback})
            if fallback_status < 400:
                self.mode, status, raw = JSON_OBJECT, fallback_status, fallback_raw
        response = httpx.Response(status, content=raw)
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
        message = error_text(response, self._key)
        if status in (408, 429) or status >= 500:
            raise TransientBackendError(f"{self.host} is overloaded or failing ({status}): {message}")
        raise BackendRequestError(f"{self.host} refused the request ({status}): {message}")

    def reply(self, response: httpx.Response, total_ms: float) -> ChatReply:
        try:
            data = response.json()
            choice = data["choices"][0]
            content = choice["message"].get("content") or ""
        except (ValueError, KeyError, IndexError, TypeError, AttributeError, RecursionError):
            raise UnreadableReply(
                f"{self.host} answered without a chat completion",
                redact(response.text[:MAX_REPLY_BYTES], self._key),
            ) from None
        usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
        timings = data.get("timings") if isinstance(data.get("timings"), dict) else {}
        durations = {"total": round(total_ms, 3)}
        for name, key in (("prompt_eval", "prompt_ms"), ("eval", "predicted_ms")):
            if isinstance(timings.get(key), int | float):
                durations[name] = round(float(timings[key]), 3)
        fingerprint = data.get("system_fingerprint")
        return ChatReply(
            content=content if isinstance(content, str) else str(content),
            done_reason=choice.get("finish_reason"),
            prompt_tokens=usage.get("prompt_tokens"),
            completion_tokens=usage.get("completion_tokens"),
            durations_ms=durations,
            host=self.host,
            model_digest=str(fingerprint) if fingerprint else None,
            model=data.get("model") if isinstance(data.get("model"), str) else None,
        )

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "host": self.host,
            "version": self.version,
            "served_models": self.served,
            "structured_output": self.mode,
            "sent_options": sorted(sampling_parameters({"seed": 0, "num_predict": 1}, self.llama_cpp)),
            "api_key_env": self.api_key_env if self.has_key else None,
        }

    async def aclose(self) -> None:
        await self.client.aclose()
