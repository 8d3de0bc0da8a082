"""Several hosts of one HTTP backend (Ollama, or any other the registry builds) behind one Backend: a shared cap of calls per host, least-busy first.

Every persona call of every panel goes through one `HostPool`, so the server slots stay full and
never overflow. A host that refuses or resets connections is set aside for a cooldown (doubling
while it keeps failing); a model that a host fails (5xx, stall, deadline) is set aside on that
host only, and a model it cannot serve at all (not pulled, too big to load) is dropped there.
When no host has served a model for `outage_patience` seconds, its calls fail with
BackendOutage, at once for every waiting call, so that a batch can stop instead of crawling on.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from panel.backends.ollama import OllamaBackend
from panel.errors import (
    BackendOutage,
    BackendUnavailable,
    ModelNotFound,
    ModelServerError,
    ModelUnavailable,
    TransientBackendError,
    literal,
)
from panel.records.chat import ChatReply, ChatRequest, ModelInfo


@dataclass
class PooledHost:
    """One Ollama server in the pool and what the pool knows about it."""

    backend: OllamaBackend
    slots: int
    in_flight: int = 0
    down_until: float = 0.0
    failures_in_a_row: int = 0
    prepared: bool = False
    # Models this host cannot serve, with the reason (not pulled, too big to load).
    missing_models: dict[str, str] = field(default_factory=dict)
    infos: dict[str, ModelInfo] = field(default_factory=dict)
    # A model this host failed is set aside on this host only.
    model_down_until: dict[str, float] = field(default_factory=dict)
    model_failures_in_a_row: dict[str, int] = field(default_factory=dict)
    calls: int = 0
    failures: int = 0
    last_error: str | None = None

    @property
    def url(self) -> str:
        return self.backend.host

    def healthy(self, now: float, model: str | None = None) -> bool:
        return now >= self.down_until and (model is None or now >= self.model_down_until.get(model, 0.0))


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
        num_ctx: int | None = None,
        factory: Callable[[str], Any] | None = None,
    ) -> None:
        if not hosts:
            raise ValueError("a host pool needs at least one host")
        if slots < 1:
            raise ValueError("slots must be at least 1")
        unique = list(dict.fromkeys(hosts))
        # The registry passes a factory for the backend it builds; Ollama is the default.
        factory = factory or (lambda url: OllamaBackend(url, timeout, num_ctx=num_ctx))
        self.hosts = [PooledHost(factory(url), slots) for url in unique]
        self.name = self.hosts[0].backend.name
        self.cooldown = cooldown
        self.max_cooldown = max_cooldown
        self.outage_patience = outage_patience
        self.models: list[str] = []
        self.infos: dict[str, ModelInfo] = {}
        self.changed = asyncio.Condition()
        # model -> when calls for it first found no host to serve them; cleared by a success.
        self.unserved_since: dict[str, float] = {}
        # Set once a call gave up on a full outage, until a host answers again.
        self.outage: BackendOutage | None = None

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
            hosts = ", ".join(host.url for host in self.hosts)
            pulls = "; ".join(f"`ollama pull {model}`" for model in missing)
            raise ModelNotFound(
                f"No Ollama host ({hosts}) has the model {', '.join(repr(m) for m in missing)}.",
                hint=f"Run {literal(pulls)} on at least one of them, or choose another with {{model}} or "
                "{persona_models}.",
            )
        return {model: self.infos[model] for model in wanted}

    async def prepare_host(self, host: PooledHost) -> None:
        """Ask one host for every model the pool needs; when it lacks one, ask model by model so
        that it still serves the others, and remember the models it lacks."""
        try:
            try:
                infos = await host.backend.prepare(self.models)
                missing: dict[str, str] = {}
            except ModelUnavailable:
                infos, missing = await self.prepare_models_one_by_one(host)
        except BackendUnavailable as error:
            if not isinstance(error, ModelUnavailable):
                self.set_aside(host, str(error))
            raise
        for model, info in infos.items():
            self.infos.setdefault(model, info)
        host.infos.update(infos)
        host.missing_models = missing
        host.prepared = True
        if self.models and set(missing) == set(self.models):
            if not any("ollama pull" in reason for reason in missing.values()):
                raise ModelUnavailable(next(iter(missing.values())))
            raise ModelNotFound(
                f"The Ollama server at {host.url} has none of {', '.join(self.models)}; "
                f"run `ollama pull {self.models[0]}` there."
            )

    async def prepare_models_one_by_one(
        self, host: PooledHost
    ) -> tuple[dict[str, ModelInfo], dict[str, str]]:
        infos: dict[str, ModelInfo] = {}
        missing: dict[str, str] = {}
        for model in self.models:
            try:
                infos[model] = (await host.backend.prepare([model]))[model]
            except ModelUnavailable as error:
                missing[model] = str(error)
        return infos, missing

    # -- scheduling ------------------------------------------------------------------------

    def set_aside(self, host: PooledHost, error: str) -> None:
        """The host refused or dropped the connection: none of its models can be reached."""
        host.failures += 1
        host.failures_in_a_row += 1
        host.last_error = error
        host.down_until = time.monotonic() + self.pause(host.failures_in_a_row)

    def set_model_aside(self, host: PooledHost, model: str, error: str) -> None:
        """The host took the call and failed it: only this model is set aside there."""
        host.failures += 1
        host.last_error = f"{model}: {error}"
        in_a_row = host.model_failures_in_a_row.get(model, 0) + 1
        host.model_failures_in_a_row[model] = in_a_row
        host.model_down_until[model] = time.monotonic() + self.pause(in_a_row)

    def pause(self, failures_in_a_row: int) -> float:
        return min(self.max_cooldown, self.cooldown * 2 ** (failures_in_a_row - 1))

    def serves(self, host: PooledHost, model: str) -> bool:
        return model not in host.missing_models

    def pick(self, model: str, now: float) -> PooledHost | None:
        """The least-busy healthy host with a free slot that serves the model."""
        free = [
            host
            for host in self.hosts
            if host.healthy(now, model) and host.in_flight < host.slots and self.serves(host, model)
        ]
        return min(free, key=lambda host: host.in_flight / host.slots, default=None)

    def outage_deadline(self, model: str, now: float) -> float:
        """When calls for this model give up: `outage_patience` after the first call found no
        host for it, the same moment for every call, however late it joined the wait."""
        return self.unserved_since.setdefault(model, now) + self.outage_patience

    def give_up(self, model: str) -> BackendOutage:
        self.outage = BackendOutage(self.outage_message())
        return self.outage

    async def acquire(self, model: str) -> PooledHost:
        """Wait for a slot on a healthy host. Waiting for a busy host has no limit; waiting while
        every host is set aside ends `outage_patience` after the outage was first seen."""
        async with self.changed:
            while True:
                now = time.monotonic()
                host = self.pick(model, now)
                if host is not None:
                    host.in_flight += 1
                    return host
                serving = [host for host in self.hosts if self.serves(host, model)]
                if not serving:
                    raise self.unserved(model)
                if any(host.healthy(now, model) for host in serving):
                    await self.changed.wait()
                    continue
                deadline = self.outage_deadline(model, now)
                if now >= deadline:
                    raise self.give_up(model)
                back = min(max(host.down_until, host.model_down_until.get(model, 0.0)) for host in serving)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.changed.wait(), timeout=max(min(back, deadline) - now, 0.001))

    def unserved(self, model: str) -> ModelUnavailable:
        reasons = [host.missing_models[model] for host in self.hosts if model in host.missing_models]
        if reasons and not any("ollama pull" in reason for reason in reasons):
            return ModelUnavailable(reasons[0])
        return ModelNotFound(
            f"No Ollama host in the pool has the model {model!r}. "
            f"Run `ollama pull {model}` on at least one of them."
        )

    async def release(self, host: PooledHost) -> None:
        async with self.changed:
            host.in_flight -= 1
            self.changed.notify_all()

    def outage_message(self) -> str:
        details = "; ".join(f"{host.url}: {host.last_error or 'busy'}" for host in self.hosts)
        return (
            f"No Ollama host answered for {self.outage_patience:g} s ({details}). Finished panels "
            "are kept: start the server again, then run the same command to finish the rest."
        )

    def builds_for(self, model: str) -> list[tuple[str | None, str | None]]:
        """(host, digest) of each host that serves the model (hosts may serve different builds)."""
        found = [(host.url, host.infos[model].digest) for host in self.hosts if model in host.infos]
        return found or [(None, self.infos[model].digest if model in self.infos else None)]

    async def chat(self, request: ChatRequest) -> ChatReply:
        model = request.model
        while True:
            host = await self.acquire(model)
            try:
                if not host.prepared:
                    await self.prepare_host(host)
                    if not self.serves(host, model):
                        continue
                reply = await host.backend.chat(request)
            except ModelUnavailable as error:
                host.missing_models[model] = str(error)
                continue
            except ModelServerError as error:
                self.set_model_aside(host, model, str(error))
                continue
            except (TransientBackendError, BackendUnavailable) as error:
                if host.healthy(time.monotonic()):  # prepare_host may have set it aside already
                    self.set_aside(host, str(error))
                continue
            finally:
                await self.release(host)
            host.calls += 1
            host.failures_in_a_row = 0
            host.model_failures_in_a_row.pop(model, None)
            self.unserved_since.pop(model, None)
            self.outage = None
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
