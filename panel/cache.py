"""The response cache: one SQLite file of model replies that validated, and call coalescing.

A reply is stored under a key made of the backend, the model and the digest of the build that
answered (hosts of a pool may serve different builds under one name), the full messages,
the JSON schema and the options (seed included), and only once structured.py has found it valid
(it calls `remember_valid`), so a bad reply is asked again next time. Identical calls in flight
at once share one model call.

LangGraph's node cache (CachePolicy, langgraph.cache.*) does not fit: its key is the node's
input, which does not hold the model digest carried by the runtime context, and it stores a
node's whole result, failed reviews included, where only valid replies may be kept.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from panel.backends import Backend, ChatReply, ModelInfo
from panel.errors import ConfigError, TransientBackendError

SCHEMA = """
CREATE TABLE IF NOT EXISTS replies (
    key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    reply TEXT NOT NULL,
    stored_at TEXT NOT NULL DEFAULT (datetime('now'))
)
"""


def call_key(
    backend: str,
    model: str,
    digest: str | None,
    messages: list[dict[str, str]],
    schema: dict[str, Any],
    options: dict[str, Any],
) -> str:
    """sha256 over everything that decides the reply; key order never matters."""
    payload = {
        "backend": backend,
        "model": model,
        "digest": digest,
        "messages": messages,
        "schema": schema,
        "options": options,
    }
    text = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class ResponseCache:
    """Valid replies by call key, in one SQLite file that several processes may share."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.connection = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            self.connection.execute("PRAGMA journal_mode=WAL")
            self.connection.execute("PRAGMA synchronous=NORMAL")
            self.connection.execute(SCHEMA)
        except sqlite3.Error as error:
            raise ConfigError(
                f"Cannot use {self.path} as the response cache ({error}). "
                "Choose another file with --cache, or run with --no-cache."
            ) from None

    def get(self, key: str) -> ChatReply | None:
        row = self.connection.execute("SELECT reply FROM replies WHERE key = ?", (key,)).fetchone()
        return ChatReply.model_validate_json(row[0]) if row else None

    def put(self, key: str, model: str, reply: ChatReply) -> None:
        self.connection.execute(
            "INSERT OR IGNORE INTO replies (key, model, reply) VALUES (?, ?, ?)",
            (key, model, reply.model_dump_json()),
        )

    def __len__(self) -> int:
        return self.connection.execute("SELECT count(*) FROM replies").fetchone()[0]

    def close(self) -> None:
        self.connection.close()


@dataclass
class CallCounts:
    """What the wrapped backend was asked, and what reached the model."""

    model_calls: int = 0
    cache_hits: int = 0
    coalesced: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    stored: int = 0


class CachedBackend:
    """Wraps a Backend: answers from the cache, shares identical calls in flight, counts calls.

    With `cache=None` it still coalesces and counts. `prepare` is asked once per set of models.
    """

    def __init__(self, inner: Backend, cache: ResponseCache | None = None) -> None:
        self.inner = inner
        self.name = inner.name
        self.cache = cache
        self.counts = CallCounts()
        self.digests: dict[str, str | None] = {}
        self.prepared: dict[tuple[str, ...], dict[str, ModelInfo]] = {}
        self.in_flight: dict[str, asyncio.Future[ChatReply]] = {}

    async def prepare(self, models: list[str]) -> dict[str, ModelInfo]:
        wanted = tuple(sorted(set(models)))
        if wanted not in self.prepared:
            infos = await self.inner.prepare(list(wanted))
            self.prepared[wanted] = infos
            self.digests.update({name: info.digest for name, info in infos.items()})
        infos = self.prepared[wanted]
        return {model: infos[model] for model in models}

    def digests_for(self, model: str) -> list[str | None]:
        """The builds that may answer for this model: one per distinct digest across hosts."""
        per_host = getattr(self.inner, "digests_for", None)
        return per_host(model) if per_host is not None else [self.digests.get(model)]

    def key(
        self,
        model: str,
        messages: list[dict[str, str]],
        schema: dict[str, Any],
        options: dict[str, Any],
        digest: str | None = None,
    ) -> str:
        return call_key(self.name, model, digest, messages, schema, options)

    def cached(
        self, model: str, messages: list[dict[str, str]], schema: dict[str, Any], options: dict[str, Any]
    ) -> tuple[ChatReply | None, str]:
        """A stored reply from any build that may answer, and the key that shares calls in flight."""
        digests = self.digests_for(model)
        for digest in digests if self.cache is not None else ():
            reply = self.cache.get(self.key(model, messages, schema, options, digest))
            if reply is not None:
                return reply, ""
        shared = digests[0] if len(digests) == 1 else "|".join(map(str, digests))
        return None, self.key(model, messages, schema, options, shared)

    async def chat(
        self,
        model: str,
        messages: list[dict[str, str]],
        schema: dict[str, Any],
        options: dict[str, Any],
    ) -> ChatReply:
        cached, key = self.cached(model, messages, schema, options)
        if cached is not None:
            self.counts.cache_hits += 1
            return cached
        shared = self.in_flight.get(key)
        if shared is not None:
            self.counts.coalesced += 1
            return await asyncio.shield(shared)
        future: asyncio.Future[ChatReply] = asyncio.get_running_loop().create_future()
        # Nobody may wait on it; retrieving the exception keeps asyncio from warning.
        future.add_done_callback(lambda done: done.cancelled() or done.exception())
        self.in_flight[key] = future
        try:
            self.counts.model_calls += 1
            reply = await self.inner.chat(model, messages, schema, options)
        except asyncio.CancelledError:
            future.set_exception(TransientBackendError("the shared model call was cancelled"))
            raise
        except BaseException as error:
            future.set_exception(error)
            raise
        else:
            future.set_result(reply)
            self.counts.prompt_tokens += reply.prompt_tokens or 0
            self.counts.completion_tokens += reply.completion_tokens or 0
            return reply
        finally:
            self.in_flight.pop(key, None)

    def remember_valid(
        self,
        model: str,
        messages: list[dict[str, str]],
        schema: dict[str, Any],
        options: dict[str, Any],
        reply: ChatReply,
    ) -> None:
        """Called by structured.py once `reply` validated: only then is it stored."""
        if self.cache is not None:
            digest = reply.model_digest if reply.model_digest is not None else self.digests.get(model)
            self.cache.put(self.key(model, messages, schema, options, digest), model, reply)
            self.counts.stored += 1

    def describe(self) -> dict[str, Any]:
        return self.inner.describe()

    async def aclose(self) -> None:
        try:
            await self.inner.aclose()
        finally:
            if self.cache is not None:
                self.cache.close()
