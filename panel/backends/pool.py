"""Several hosts of one HTTP backend (Ollama, or any other the registry builds) behind one Backend: a shared cap of calls per host, least-busy first.

Every persona call of every panel goes through one `HostPool`, so the server slots stay full and
never overflow. A host that refuses connections, resets them, times out or answers 5xx is set
aside for a cooldown (doubling while it keeps failing) and its calls go to the other hosts. A
call fails only when no host has answered for `outage_patience` seconds; structured.py then
retries it like any other transport error.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from panel.backends import ChatReply, ModelInfo
from panel.backends.ollama import OllamaBackend
from panel.errors import BackendUnavailable, ModelNotFound, TransientBackendError


@dataclass
class PooledHost:
    """One Ollama server in the pool and what the pool knows about it."""

    backend: OllamaBackend
    slots: int
    in_flight: int = 0
    down_until: float = 0.0
    failures_in_a_row: int = 0
    prepared: bool = False
    missing_models: set[str] = field(default_factory=set)
    calls: int = 0
    failures: int = 0
    last_error: str | None = None

    @property
    def url(self) -> str:
        return self.backend.host

    def healthy(self, now: float) -> bool:
        return now >= self.down_until


class HostPool:
    """The Backend protocol over several OllamaBackends, each with `slots` calls in flight at most.

    Create it inside the event loop that will use it (its clients' connection pools belong there).
    """

    name = "ollama"

    def __init__(
        self,
        hosts: list[str],
        timeout: float,
        *,
        slots: int = 4,
        cooldown: float = 2.0,
        max_cooldown: float = 60.0,
        outage_patience: float = 30.0,
        factory: Callable[[str], Any] | None = None,
    ) -> None:
        if not hosts:
            raise ValueError("a host pool needs at least one host")
        if slots < 1:
            raise ValueError("slots must be at least 1")
        unique = list(dict.fromkeys(hosts))
        # The registry passes a factory for the backend it builds; Ollama is the default.
        factory = factory or (lambda url: OllamaBackend(url, timeout))
        self.hosts = [PooledHost(factory(url), slots) for url in unique]
        self.name = self.hosts[0].backend.name
        self.cooldown = cooldown
        self.max_cooldown = max_cooldown
        self.outage_patience = outage_patience
        self.models: list[str] = []
        self.infos: dict[str, ModelInfo] = {}
        self.changed = asyncio.Condition()

    # -- preparing hosts -------------------------------------------------------------------

    async def prepare(self, models: list[str]) -> dict[str, ModelInfo]:
        """Prepare every host at once; hosts that are down are tried again when their cooldown
        ends. Raises only when no host can serve the models."""
        wanted = list(dict.fromkeys(models))
        if self.infos and set(wanted) <= set(self.infos):
            return {model: self.infos[model] for model in wanted}
        self.models = list(dict.fromkeys([*self.models, *wanted]))
        for host in self.hosts:
            host.prepared = False
        errors = await asyncio.gather(
            *(self.prepare_host(host) for host in self.hosts), return_exceptions=True
        )
        for error in errors:
            if isinstance(error, BaseException) and not isinstance(error, BackendUnavailable):
                raise error
        missing = [model for model in wanted if model not in self.infos]
        if missing:
            failures = [error for error in errors if isinstance(error, BackendUnavailable)]
            not_found = [error for error in failures if isinstance(error, ModelNotFound)]
            if failures:
                raise (not_found or failures)[0]
            raise BackendUnavailable(f"No Ollama host can serve {', '.join(missing)}.")
        return {model: self.infos[model] for model in wanted}

    async def prepare_host(self, host: PooledHost) -> None:
        """Ask one host for every model the pool needs; when it lacks one, ask model by model so
        that it still serves the others, and remember the models it lacks."""
        try:
            try:
                infos = await host.backend.prepare(self.models)
                missing: set[str] = set()
            except ModelNotFound:
                infos, missing = await self.prepare_models_one_by_one(host)
        except BackendUnavailable as error:
            if not isinstance(error, ModelNotFound):
                self.set_aside(host, str(error))
            raise
        for model, info in infos.items():
            self.infos.setdefault(model, info)
        host.missing_models = missing
        host.prepared = True
        if self.models and missing == set(self.models):
            raise ModelNotFound(
                f"The Ollama server at {host.url} has none of {', '.join(self.models)}; "
                f"run `ollama pull {self.models[0]}` there."
            )

    async def prepare_models_one_by_one(self, host: PooledHost) -> tuple[dict[str, ModelInfo], set[str]]:
        infos: dict[str, ModelInfo] = {}
        missing: set[str] = set()
        for model in self.models:
            try:
                infos[model] = (await host.backend.prepare([model]))[model]
            except ModelNotFound:
                missing.add(model)
        return infos, missing

    # -- scheduling ------------------------------------------------------------------------

    def set_aside(self, host: PooledHost, error: str) -> None:
        host.failures += 1
        host.failures_in_a_row += 1
        host.last_error = error
        pause = min(self.max_cooldown, self.cooldown * 2 ** (host.failures_in_a_row - 1))
        host.down_until = time.monotonic() + pause

    def serves(self, host: PooledHost, model: str) -> bool:
        return model not in host.missing_models

    def pick(self, model: str, now: float) -> PooledHost | None:
        """The least-busy healthy host with a free slot that serves the model."""
        free = [
            host
            for host in self.hosts
            if host.healthy(now) and host.in_flight < host.slots and self.serves(host, model)
        ]
        return min(free, key=lambda host: host.in_flight / host.slots, default=None)

    def next_recovery(self, model: str, now: float) -> float | None:
        """Seconds until a host that serves the model comes back from its cooldown."""
        waits = [host.down_until - now for host in self.hosts if self.serves(host, model)]
        return max(0.0, min(waits)) if waits else None

    async def acquire(self, model: str, deadline: float | None) -> tuple[PooledHost, float | None]:
        """Wait for a slot on a healthy host. Waiting for a busy host has no limit; waiting while
        every host is set aside ends at the deadline (set when the outage is first seen)."""
        async with self.changed:
            while True:
                now = time.monotonic()
                host = self.pick(model, now)
                if host is not None:
                    host.in_flight += 1
                    return host, deadline
                serving = [host for host in self.hosts if self.serves(host, model)]
                if not serving:
                    raise ModelNotFound(
                        f"No Ollama host in the pool has the model {model!r}. "
                        f"Run `ollama pull {model}` on at least one of them."
                    )
                if any(host.healthy(now) for host in serving):
                    await self.changed.wait()
                    continue
                deadline = deadline if deadline is not None else now + self.outage_patience
                if now >= deadline:
                    raise TransientBackendError(self.outage_message())
                wait = min(min(host.down_until for host in serving), deadline) - now
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.changed.wait(), timeout=max(wait, 0.001))

    async def release(self, host: PooledHost) -> None:
        async with self.changed:
            host.in_flight -= 1
            self.changed.notify_all()

    def outage_message(self) -> str:
        details = "; ".join(f"{host.url}: {host.last_error or 'busy'}" for host in self.hosts)
        return f"no Ollama host answered for {self.outage_patience:g} s ({details})"

    async def chat(
        self,
        model: str,
        messages: list[dict[str, str]],
        schema: dict[str, Any],
        options: dict[str, Any],
    ) -> ChatReply:
        deadline: float | None = None
        while True:
            host, deadline = await self.acquire(model, deadline)
            try:
                if not host.prepared:
                    await self.prepare_host(host)
                    if not self.serves(host, model):
                        continue
                reply = await host.backend.chat(model, messages, schema, options)
            except ModelNotFound:
                host.missing_models.add(model)
                continue
            except (TransientBackendError, BackendUnavailable) as error:
                if not isinstance(error, BackendUnavailable):
                    self.set_aside(host, str(error))
                now = time.monotonic()
                deadline = deadline if deadline is not None else now + self.outage_patience
                if now >= deadline:
                    raise TransientBackendError(self.outage_message()) from None
                continue
            finally:
                await self.release(host)
            host.calls += 1
            host.failures_in_a_row = 0
            return reply

    # -- provenance and shutdown -----------------------------------------------------------

    def describe(self) -> dict[str, Any]:
        versions = {host.url: host.backend.version for host in self.hosts}
        return {
            "name": self.name,
            "host": self.hosts[0].url,
            "hosts": [host.url for host in self.hosts],
            "version": next((version for version in versions.values() if version), None),
        }

    def host_stats(self) -> dict[str, dict[str, Any]]:
        """Calls and failures per host, for the batch summary."""
        return {
            host.url: {"calls": host.calls, "failures": host.failures, "last_error": host.last_error}
            for host in self.hosts
        }

    async def aclose(self) -> None:
        await asyncio.gather(*(host.backend.aclose() for host in self.hosts), return_exceptions=True)
