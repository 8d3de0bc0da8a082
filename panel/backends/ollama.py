"""The production backend: the official async `ollama` client against an Ollama server."""

from __future__ import annotations

from typing import Any

import httpx
import ollama

from panel.backends import ChatReply, ModelInfo
from panel.errors import (
    BackendRequestError,
    BackendUnavailable,
    ModelNotFound,
    TransientBackendError,
)

NANOSECONDS_PER_MS = 1_000_000


def plain_http_options(host: str) -> dict[str, Any]:
    """For an http:// host, skip building a TLS context (about 20 ms per client, and nothing to
    verify on a connection that has no TLS); https:// hosts keep full verification."""
    return {} if host.startswith("https://") else {"verify": False}


def full_model_name(name: str) -> str:
    """Ollama lists 'llama3.1:8b' and 'phi4:latest'; a bare 'phi4' means the latter."""
    return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"


def unreachable_message(host: str, error: object) -> str:
    return (
        f"Cannot reach an Ollama server at {host} ({error}). Start one with `ollama serve` "
        "(or the Ollama app), or point --host / OLLAMA_HOST at a running server."
    )


def not_pulled_message(model: str, host: str) -> str:
    return (
        f"The Ollama server at {host} does not have the model {model!r}. "
        f"Run `ollama pull {model}` there, or choose another with --model or --persona-model."
    )


class OllamaBackend:
    """Talks to one Ollama host. Create it inside the event loop that will use it."""

    name = "ollama"

    def __init__(self, host: str, timeout: float, connect_timeout: float = 5.0) -> None:
        self.host = host
        self.timeout = timeout
        # The client's connection pool belongs to the running event loop.
        self.client = ollama.AsyncClient(
            host=host,
            timeout=httpx.Timeout(timeout, connect=min(connect_timeout, timeout)),
            **plain_http_options(host),
        )
        self.version: str | None = None
        self.thinking_models: set[str] = set()

    async def server_version(self, timeout: float = 1.0) -> str:
        """GET /api/version; raises BackendUnavailable when nothing answers in time."""
        try:
            async with httpx.AsyncClient(
                base_url=self.host, timeout=timeout, **plain_http_options(self.host)
            ) as http:
                response = await http.get("/api/version")
                response.raise_for_status()
                return str(response.json().get("version", "unknown"))
        except (httpx.HTTPError, ValueError) as error:
            raise BackendUnavailable(unreachable_message(self.host, error)) from None

    async def list_models(self) -> dict[str, ModelInfo]:
        """Models pulled on the server (GET /api/tags), by full name."""
        try:
            listing = await self.client.list()
        except (ConnectionError, httpx.HTTPError) as error:
            raise BackendUnavailable(unreachable_message(self.host, error)) from None
        except ollama.ResponseError as error:
            raise BackendUnavailable(unreachable_message(self.host, error)) from None
        models = {}
        for entry in listing.models:
            if entry.model:
                details = entry.details.model_dump(exclude_none=True) if entry.details else {}
                models[entry.model] = ModelInfo(name=entry.model, digest=entry.digest, details=details)
        return models

    async def show_model(self, model: str) -> list[str]:
        """The model's capabilities (POST /api/show); raises ModelNotFound on 404."""
        try:
            shown = await self.client.show(model)
        except ollama.ResponseError as error:
            if error.status_code == 404:
                raise ModelNotFound(not_pulled_message(model, self.host)) from None
            raise BackendUnavailable(
                f"The Ollama server at {self.host} could not describe {model!r}: {error}."
            ) from None
        except (ConnectionError, httpx.HTTPError) as error:
            raise BackendUnavailable(unreachable_message(self.host, error)) from None
        return list(shown.capabilities or [])

    async def prepare(self, models: list[str]) -> dict[str, ModelInfo]:
        """Check the server answers and has every model; return each model's digest."""
        if self.version is None:  # `auto` may have asked already
            self.version = await self.server_version(timeout=min(5.0, self.timeout))
        pulled = await self.list_models()
        infos = {}
        for model in dict.fromkeys(models):
            capabilities = await self.show_model(model)
            if "thinking" in capabilities:
                self.thinking_models.add(model)
            info = pulled.get(full_model_name(model)) or pulled.get(model)
            infos[model] = (info or ModelInfo(name=model)).model_copy(update={"name": model})
        return infos

    async def chat(
        self,
        model: str,
        messages: list[dict[str, str]],
        schema: dict[str, Any],
        options: dict[str, Any],
    ) -> ChatReply:
        # think=False keeps a thinking model's answer in `content`; models without the
        # capability get no `think` at all, which some server versions reject.
        think = False if model in self.thinking_models else None
        try:
            response = await self.client.chat(
                model=model,
                messages=messages,
                format=schema,
                options=options,
                think=think,
                stream=False,
            )
        except ollama.ResponseError as error:
            if error.status_code == 404:
                raise ModelNotFound(not_pulled_message(model, self.host)) from None
            if error.status_code >= 500 or error.status_code in (408, 429):
                raise TransientBackendError(f"Ollama answered {error.status_code}: {error.error}") from None
            raise BackendRequestError(
                f"Ollama refused the request ({error.status_code}): {error.error}"
            ) from None
        except ConnectionError:
            raise TransientBackendError(f"cannot connect to Ollama at {self.host}") from None
        except httpx.TimeoutException:
            raise TransientBackendError(f"no reply from Ollama within {self.timeout:g} s") from None
        except httpx.TransportError as error:
            raise TransientBackendError(f"connection to Ollama failed: {error!r}") from None
        return reply_from_response(response)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "host": self.host, "version": self.version}

    async def aclose(self) -> None:
        await self.client.close()


def reply_from_response(response: ollama.ChatResponse) -> ChatReply:
    durations = {
        name: value / NANOSECONDS_PER_MS
        for name, value in (
            ("total", response.total_duration),
            ("load", response.load_duration),
            ("prompt_eval", response.prompt_eval_duration),
            ("eval", response.eval_duration),
        )
        if value is not None
    }
    return ChatReply(
        content=response.message.content or "",
        done_reason=response.done_reason,
        prompt_tokens=response.prompt_eval_count,
        completion_tokens=response.eval_count,
        durations_ms=durations,
    )
