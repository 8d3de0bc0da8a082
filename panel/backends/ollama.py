"""The production backend: the official async `ollama` client against an Ollama server.

A chat is streamed: the first chunk may wait for the server's queue and the model's load, later
chunks may not stall for more than `stall_seconds`, and the whole call has a deadline (httpx's
own timeouts are per read, so a server dripping a byte at a time would never trip them). While a
call waits for its first chunk behind other calls to the same model, each of those that ends
renews its deadline: queue wait does not count while the queue moves.
"""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any

import httpx
import ollama
from pydantic import ValidationError

from panel.backends import MAX_REPLY_SIZE
from panel.backends.ollama_server import (
    ShownModel,
    is_permanent_failure,
    not_pulled,
    parse_show,
    plain_http_options,
    redirected,
    think_setting,
    unavailable_message,
    unreachable,
)
from panel.errors import (
    BackendRequestError,
    BackendUnavailable,
    ModelServerError,
    ModelUnavailable,
    TransientBackendError,
    UnreadableReply,
)
from panel.records.chat import ChatReply, ChatRequest, ModelInfo

NANOSECONDS_PER_MS = 1_000_000
# No chunk for this long once the reply has started means the server stalled.
STALL_SECONDS = 30.0
# A prompt_eval_count this close to num_ctx means Ollama cut the prompt to fit.
TRUNCATION_MARGIN = 16
MAX_REPLY_CHARS = MAX_REPLY_SIZE  # characters of streamed content


def full_model_name(name: str) -> str:
    """Ollama lists 'llama3.1:8b' and 'phi4:latest'; a bare 'phi4' means the latter."""
    return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"


def model_key(name: str) -> str:
    """How the server compares model names: full name, case-insensitive."""
    return full_model_name(name).lower()


class OllamaBackend:
    """Talks to one Ollama host. Create it inside the event loop that will use it."""

    name = "ollama"

    def __init__(
        self,
        host: str,
        timeout: float,
        connect_timeout: float = 5.0,
        *,
        num_ctx: int | None = None,
        stall_seconds: float = STALL_SECONDS,
    ) -> None:
        self.host = host
        self.timeout = timeout
        self.stall_seconds = min(stall_seconds, timeout)
        self.num_ctx = num_ctx
        # No read timeout in httpx: the first chunk may wait for the queue and the load; each
        # call is bounded by its own deadline instead. Redirects are not followed: a plain-http
        # client skips TLS checks, which a redirect to https:// must not inherit.
        self.client = ollama.AsyncClient(
            host=host,
            timeout=httpx.Timeout(None, connect=min(connect_timeout, timeout)),
            follow_redirects=False,
            **plain_http_options(host),
        )
        self.version: str | None = None
        self.shown: dict[str, ShownModel] = {}
        self.digests: dict[str, str | None] = {}
        # model -> deadlines of this client's calls still waiting for their first chunk
        self.queued: defaultdict[str, set[asyncio.Timeout]] = defaultdict(set)

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
            raise unreachable(self.host, error) from None

    async def list_models(self) -> dict[str, ModelInfo]:
        """Models pulled on the server (GET /api/tags), by lower-cased full name."""
        try:
            async with asyncio.timeout(self.timeout):
                listing = await self.client.list()
        except ollama.ResponseError as error:
            raise (
                redirected(self.host, error.status_code)
                if 300 <= error.status_code < 400
                else unreachable(self.host, error)
            ) from None
        except (ConnectionError, httpx.HTTPError, TimeoutError) as error:
            raise unreachable(self.host, error) from None
        models = {}
        for entry in listing.models:
            if entry.model:
                details = entry.details.model_dump(exclude_none=True) if entry.details else {}
                models[model_key(entry.model)] = ModelInfo(
                    name=entry.model, digest=entry.digest, details=details
                )
        return models

    async def show_model(self, model: str) -> ShownModel:
        """POST /api/show read leniently: older servers and cloud models omit `model_info`,
        which the client's ShowResponse would reject. Raises ModelNotFound on 404."""
        try:
            async with asyncio.timeout(self.timeout):
                response = await self.client._client.post("/api/show", json={"model": model})
        except (httpx.HTTPError, TimeoutError) as error:
            raise unreachable(self.host, error) from None
        if response.status_code == 404:
            raise not_pulled(model, self.host)
        try:
            response.raise_for_status()
            return parse_show(response.json())
        except (httpx.HTTPError, ValueError) as error:
            raise BackendUnavailable(
                f"The Ollama server at {self.host} could not describe {model!r}: {error}."
            ) from None

    async def preload(self, model: str) -> None:
        """Load the model now (a chat with no messages), so that its load time is not spent
        inside the first persona calls; runner options match the calls' so it is not reloaded."""
        options = {"num_ctx": self.num_ctx} if self.num_ctx else None
        try:
            async with asyncio.timeout(self.timeout):
                await self.client.chat(model=model, messages=[], options=options)
        except ollama.ResponseError as error:
            if error.status_code == 404:
                raise not_pulled(model, self.host) from None
            if is_permanent_failure(error.error):
                raise ModelUnavailable(unavailable_message(model, self.host, error.error)) from None
        except (ConnectionError, httpx.TransportError) as error:
            raise unreachable(self.host, error) from None
        except (TimeoutError, ValueError):
            pass  # a slow load is no error: the first call's wait covers it

    async def prepare(self, models: list[str]) -> dict[str, ModelInfo]:
        """Check the server answers and has every model; record its version and each model's
        digest, family and capabilities; load each model."""
        if self.version is None:  # `auto` may have asked already
            self.version = await self.server_version(timeout=min(5.0, self.timeout))
        pulled = await self.list_models()
        infos = {}
        for model in dict.fromkeys(models):
            shown = await self.show_model(model)
            self.shown[model] = shown
            info = pulled.get(model_key(model)) or ModelInfo(name=model)
            details = {**info.details, **shown.details()}
            infos[model] = info.model_copy(update={"name": model, "details": details})
            self.digests[model] = info.digest
            await self.preload(model)
        return infos

    def think(self, model: str) -> bool | str | None:
        return think_setting(self.shown.get(model), self.version)

    async def chat(self, request: ChatRequest) -> ChatReply:
        model, options = request.model, request.options
        try:
            async with asyncio.timeout(self.timeout) as deadline:
                reply = await self.stream_chat(request, deadline)
        except TimeoutError:
            raise ModelServerError(f"no complete reply from Ollama within {self.timeout:g} s") from None
        except ollama.ResponseError as error:
            self.queue_moved(model)
            raise self.translate(model, error) from None
        except UnreadableReply:
            self.queue_moved(model)
            raise
        except ConnectionError:
            raise TransientBackendError(f"cannot connect to Ollama at {self.host}") from None
        except httpx.TimeoutException:
            raise TransientBackendError(f"no reply from Ollama within {self.timeout:g} s") from None
        except httpx.TransportError as error:
            raise TransientBackendError(f"connection to Ollama failed: {error!r}") from None
        self.queue_moved(model)
        return reply.model_copy(
            update={
                "host": self.host,
                "model_digest": self.digests.get(model),
                "prompt_truncated": prompt_was_cut(reply, options.get("num_ctx")),
            }
        )

    def queue_moved(self, model: str) -> None:
        """The server answered a call to this model: the calls queued behind it (Ollama serves one
        at a time unless OLLAMA_NUM_PARALLEL says more) get a full `timeout` again, so queue
        wait never counts against them while the queue moves. A timeout of ours is no answer
        and renews nothing: a stuck server does not keep its queue waiting."""
        renewed = asyncio.get_running_loop().time() + self.timeout
        for deadline in self.queued[model]:
            deadline.reschedule(max(renewed, deadline.when() or 0.0))

    async def stream_chat(self, request: ChatRequest, deadline: asyncio.Timeout) -> ChatReply:
        model = request.model
        stream = await self.client.chat(
            model=model,
            messages=request.messages,
            format=request.schema,
            options=request.options,
            think=self.think(model),
            stream=True,
        )
        chunks = aiter(stream)
        parts: list[str] = []
        self.queued[model].add(deadline)
        try:
            # The first chunk waits for the queue and the load, under the call's deadline only.
            last = await anext(chunks, None)
            self.queued[model].discard(deadline)
            if last is None:
                raise UnreadableReply("Ollama answered with an empty body", "")
            parts.append(last.message.content or "")
            last = await self.read_rest(chunks, parts) or last
        except ValueError as error:  # not JSON, or no `message`: the client's parse failed
            raise UnreadableReply(
                f"Ollama answered with something that is not a chat reply ({type(error).__name__})",
                raw_of(error, parts),
            ) from None
        finally:
            self.queued[model].discard(deadline)
        return reply_from_response(last, "".join(parts))

    async def read_rest(
        self, chunks: AsyncIterator[ollama.ChatResponse], parts: list[str]
    ) -> ollama.ChatResponse | None:
        """The chunks after the first, none more than `stall_seconds` after the one before."""
        last = None
        loop = asyncio.get_running_loop()
        received = sum(map(len, parts))
        try:
            async with asyncio.timeout(self.stall_seconds) as stall:
                async for chunk in chunks:
                    stall.reschedule(loop.time() + self.stall_seconds)
                    parts.append(chunk.message.content or "")
                    received += len(parts[-1])
                    if received > MAX_REPLY_CHARS:
                        close = getattr(chunks, "aclose", None)
                        if close is not None:  # ends the HTTP response: nothing more is read
                            await close()
                        raise UnreadableReply(
                            f"Ollama at {self.host} sent more than {MAX_REPLY_CHARS:,} characters for "
                            "one reply; the panel stopped reading",
                            "".join(parts)[:MAX_REPLY_CHARS],
                        )
                    last = chunk
        except TimeoutError:
            raise ModelServerError(
                f"Ollama stalled: no token for {self.stall_seconds:g} s mid-reply"
            ) from None
        return last

    def translate(self, model: str, error: ollama.ResponseError) -> Exception:
        """An error the server sent, as the panel's error type."""
        if error.status_code == 404:
            return not_pulled(model, self.host)
        if is_permanent_failure(error.error):
            return ModelUnavailable(unavailable_message(model, self.host, error.error))
        if 300 <= error.status_code < 400:
            return redirected(self.host, error.status_code)
        if error.status_code >= 500 or error.status_code in (-1, 408, 429):
            return ModelServerError(f"Ollama answered {error.status_code}: {error.error}")
        return BackendRequestError(f"Ollama refused the request ({error.status_code}): {error.error}")

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "host": self.host, "version": self.version}

    async def aclose(self) -> None:
        await self.client.close()


def prompt_was_cut(reply: ChatReply, num_ctx: int | None) -> bool:
    """Ollama cuts a long prompt to num_ctx without an error; its prompt_eval_count then fills
    the window. Unknown when the request left num_ctx to the server."""
    return (
        bool(num_ctx)
        and reply.prompt_tokens is not None
        and reply.prompt_tokens >= num_ctx - TRUNCATION_MARGIN
    )


def raw_of(error: ValueError, parts: list[str]) -> str:
    """What the server sent, for the transcript: the line that failed to parse, after any
    content that came before it."""
    if isinstance(error, json.JSONDecodeError):
        line = error.doc
    elif isinstance(error, ValidationError) and error.errors():
        line = json.dumps(error.errors()[0].get("input"), default=str)
    else:
        line = str(error)
    return "".join(parts) + line


def reply_from_response(response: ollama.ChatResponse, content: str) -> ChatReply:
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
        content=content,
        done_reason=response.done_reason,
        prompt_tokens=response.prompt_eval_count,
        completion_tokens=response.eval_count,
        durations_ms=durations,
    )
