"""The response cache: one SQLite file of model replies that validated, and call coalescing.

A reply is stored under a key made of the backend, the model, the host that answered and what
that host reports about the build (Ollama's digest; an OpenAI-compatible server's
`system_fingerprint` or model metadata, when it sends any), the full messages, the JSON schema
and the options (seed included), and only once structured.py has found it valid (it calls
`remember_valid`), so a bad reply is asked again next time. The host is in the key because a
digest is the server's claim: a hostile host claiming a genuine digest must not fill the cache
for another host. Identical calls in flight at once share one model call.

LangGraph's node cache (CachePolicy, langgraph.cache.*) does not fit: its key is the node's
input, which does not hold the model digest carried by the runtime context, and it stores a
node's whole result, failed reviews included, where only valid replies may be kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from panel.backends import Backend
from panel.errors import ConfigError, PanelError, TransientBackendError
from panel.records.chat import CallTotals, ChatReply, ChatRequest, ModelInfo

SCHEMA = """
CREATE TABLE IF NOT EXISTS replies (
    key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    reply TEXT NOT NULL,
    stored_at TEXT NOT NULL DEFAULT (datetime('now'))
)
"""


Build = tuple[str | None, str | None]  # (host, digest): one server's build of a model


def call_key(
    backend: str,
    model: str,
    build: Build,
    messages: list[dict[str, str]],
    schema: dict[str, Any],
    options: dict[str, Any],
) -> str:
    """sha256 over everything that decides the reply; key order never matters."""
    host, digest = build
    payload = {
        "backend": backend,
        "model": model,
        "host": host,
        "digest": digest,
        "messages": messages,
        "schema": schema,
        "options": options,
    }
    text = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# Seconds a cache call waits for another process's write lock before giving up on the cache.
BUSY_TIMEOUT = 5.0
# What a cache may fail with: SQLite errors (disk full, locked, corrupt), the file system, and
# a stored reply that no longer parses.
CACHE_FAILURES = (sqlite3.Error, OSError, ValueError, ConfigError)


class ResponseCache:
    """Valid replies by call key, in one SQLite file that several processes may share.

    The file is opened on first use, so that a cache that cannot be opened fails where its
    failure is only a warning (see CachedBackend)."""

    def __init__(self, path: str | Path, busy_timeout: float | None = None) -> None:
        self.path = Path(path)
        self.busy_timeout = busy_timeout
        self._connection: sqlite3.Connection | None = None

    @property
    def connection(self) -> sqlite3.Connection:
        if self._connection is None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                # Used from one worker thread at a time (CachedBackend), not always the same one.
                connection = sqlite3.connect(
                    self.path,
                    timeout=BUSY_TIMEOUT if self.busy_timeout is None else self.busy_timeout,
                    isolation_level=None,
                    check_same_thread=False,
                )
                try:
                    connection.execute("PRAGMA journal_mode=WAL")
                    connection.execute("PRAGMA synchronous=NORMAL")
                    connection.execute(SCHEMA)
                except BaseException:
                    connection.close()
                    raise
            except (sqlite3.Error, OSError) as error:
                raise ConfigError(
                    f"Cannot use {self.path} as the response cache ({error}).",
                    hint="Choose another file with {cache}, or run with {no_cache}.",
                ) from None
            self._connection = connection
        return self._connection

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
        if self._connection is not None:
            self._connection.close()
            self._connection = None


class CallCounts(CallTotals):
    """What the wrapped backend was asked, what reached the model, and what was stored."""

    stored: int = 0


class CachedBackend:
    """Wraps a Backend: answers from the cache, shares identical calls in flight, counts calls.

    With `cache=None` it still coalesces and counts. A face's `notice` may carry
    `setting_names` (see PanelError.phrased) so that the cache warning names its settings. `prepare` is asked once per set of models.
    The cache is an optimisation: its SQLite work runs in one worker thread, off the event loop,
    and its first failure (disk full, locked by another process) is a warning (`notice`, and
    `warnings`) after which the run goes on without it; it never fails a persona.
    """

    def __init__(
        self,
        inner: Backend,
        cache: ResponseCache | None = None,
        notice: Callable[[str], None] | None = None,
    ) -> None:
        self.inner = inner
        self.name = inner.name
        self.cache = cache
        self.notice = notice
        self.warnings: list[str] = []
        self.counts = CallCounts()
        self.cache_worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="panel-cache")
        self.pending_writes: set[asyncio.Future[None]] = set()
        self.digests: dict[str, str | None] = {}
        # (host, model) -> the digest that host's latest reply reported (an OpenAI-compatible
        # server's system_fingerprint is only known once it has answered).
        self.reported: dict[tuple[str | None, str], str] = {}
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

    def builds_for(self, model: str) -> list[Build]:
        """The (host, digest) builds that may answer for this model: one per host of a pool,
        each with the digest its latest reply reported, else the one `prepare` saw."""
        per_host = getattr(self.inner, "builds_for", None)
        builds = per_host(model) if per_host is not None else [(self.host, self.digests.get(model))]
        return [(host, self.reported.get((host, model), digest)) for host, digest in builds]

    @property
    def host(self) -> str | None:
        """The single backend's server (None for the embedded model, whose GGUF digest is its
        identity, and for a pool, whose replies name their host)."""
        return getattr(self.inner, "host", None)

    def key(self, request: ChatRequest, build: Build = (None, None)) -> str:
        return call_key(self.name, request.model, build, request.messages, request.schema, request.options)

    async def cached(self, request: ChatRequest) -> tuple[ChatReply | None, str]:
        """A stored reply from any build that may answer, and the key that shares calls in flight."""
        builds = self.builds_for(request.model)
        if self.cache is not None:
            keys = [self.key(request, build) for build in builds]
            reply = await asyncio.wrap_future(self.cache_worker.submit(self.read_first, keys))
            if reply is not None:
                return reply, ""
        shared = builds[0] if len(builds) == 1 else (None, "|".join(map(str, builds)))
        return None, self.key(request, shared)

    async def chat(self, request: ChatRequest) -> ChatReply:
        cached, key = await self.cached(request)
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
            reply = await self.inner.chat(request)
            if reply.model_digest is not None:
                self.reported[(reply.host, request.model)] = reply.model_digest
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

    def remember_valid(self, request: ChatRequest, reply: ChatReply) -> None:
        """Called by structured.py once `reply` validated: only then is it stored. The write
        happens in the cache's worker thread; `aclose` waits for it."""
        if self.cache is not None:
            digest = reply.model_digest if reply.model_digest is not None else self.digests.get(request.model)
            host = reply.host if reply.host is not None else self.host
            key = self.key(request, (host, digest))
            write = asyncio.wrap_future(self.cache_worker.submit(self.write_cache, key, request.model, reply))
            self.pending_writes.add(write)
            write.add_done_callback(self.pending_writes.discard)

    def read_first(self, keys: list[str]) -> ChatReply | None:
        """In the worker thread: the first stored reply under any of `keys`."""
        for key in keys:
            reply = self.read_cache(key)
            if reply is not None:
                return reply
        return None

    def read_cache(self, key: str) -> ChatReply | None:
        """In the worker thread: the stored reply, or None (a miss, or a cache that failed)."""
        if self.cache is None:
            return None
        try:
            return self.cache.get(key)
        except CACHE_FAILURES as error:
            self.give_up_cache(error)
            return None

    def write_cache(self, key: str, model: str, reply: ChatReply) -> None:
        if self.cache is None:
            return
        try:
            self.cache.put(key, model, reply)
        except CACHE_FAILURES as error:
            self.give_up_cache(error)
        else:
            self.counts.stored += 1

    def give_up_cache(self, error: Exception) -> None:
        """Warn once and go on without the cache; valid answers still reach the transcripts."""
        cache, self.cache = self.cache, None
        if cache is None:
            return
        with contextlib.suppress(*CACHE_FAILURES):
            cache.close()
        # The error's own advice would name settings in the library's words; the warning's
        # advice is phrased for the face whose notice shows it.
        detail = (error.message if isinstance(error, PanelError) else str(error)).removesuffix(".")
        warning = PanelError(
            f"Warning: the response cache {cache.path} failed ({detail}); going on without it. "
            "Every answer is still kept in its transcript; only reruns will ask the model again.",
            hint="Choose another cache file with {cache}, or skip the cache with {no_cache}.",
        )
        message = warning.phrased(getattr(self.notice, "setting_names", None))
        self.warnings.append(message)
        if self.notice is not None:
            self.notice(message)

    def describe(self) -> dict[str, Any]:
        return self.inner.describe()

    async def aclose(self) -> None:
        try:
            await self.inner.aclose()
        finally:
            if self.pending_writes:
                await asyncio.gather(*self.pending_writes, return_exceptions=True)
            cache = self.cache
            if cache is not None:
                await asyncio.wrap_future(self.cache_worker.submit(cache.close))
            self.cache_worker.shutdown(wait=False)


def caching(
    cache_path: Path | None, notice: Callable[[str], None] | None = None
) -> Callable[[Backend], Backend] | None:
    """A `wrap` for registry.opened_backend that puts the response cache at `cache_path` in
    front of the backend it opens; None (no wrapping) without a path."""
    if cache_path is None:
        return None
    return lambda inner: CachedBackend(inner, ResponseCache(cache_path), notice)
