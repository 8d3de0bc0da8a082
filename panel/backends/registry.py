"""The one place that builds a backend, pools included.

Each backend module ends with a `SPEC = BackendSpec(...)`: its name, the settings it reads, its
capabilities, how to build it for one host, and its `panel doctor` checks. (They live in
companion `*_spec` modules beside each client, so that a client imports no registry.) `REGISTRY` lists
those modules by backend name and imports one only when it is asked for, so an Ollama user never
loads llama.cpp. Adding a backend is one module plus one line in `REGISTRY`.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel

from panel.backends import Backend
from panel.errors import BackendUnavailable, ConfigError
from panel.settings import REGISTRY, backend_names

if TYPE_CHECKING:
    from panel.settings import Settings

# `--backend auto` tries these in order and takes the first that answers...
AUTO_CANDIDATES = ("ollama",)
# ...and falls back to this one, which needs no server.
AUTO_FALLBACK = "embedded"
AUTO_PROBE_SECONDS = 1.0

# "warn": a panel runs, but slower or weaker than it could; the detail says why.
Status = Literal["ok", "missing", "skipped", "warn"]


class Check(BaseModel):
    """One line of the doctor's checklist: what was checked, what was found, the fix if it failed."""

    name: str
    status: Status
    detail: str
    fix: str | None = None


class Findings(BaseModel):
    """One backend's doctor checks and what they add up to."""

    checks: list[Check]
    reachable: bool  # its server answered (always True for a backend without a server)
    ready: bool
    summary: str  # one sentence: "Ready: …" or "Not ready: …"


@dataclass(frozen=True)
class Capabilities:
    """What a backend can do, so callers need not guess from its name."""

    structured_output: str  # how the verdict schema is enforced: "format", "json_schema", "grammar"
    seed: bool  # the same seed gives the same reply
    parallel_slots: int | None  # calls one host serves at once; None when the server decides
    http: bool  # served over HTTP, so HostPool can spread it over several hosts


@dataclass(frozen=True)
class BackendSpec:
    """A backend as the registry knows it."""

    name: str
    label: str  # how messages name it: "Ollama", "an OpenAI-compatible server"
    summary: str
    settings: tuple[str, ...]  # the Settings fields it reads
    capabilities: Capabilities
    build: Callable[[Settings, str], Backend]  # settings and one host URL -> an unopened backend
    doctor: Callable[[Settings, dict[str, str]], Awaitable[Findings]]  # persona id -> model
    probe: Callable[[Any], Awaitable[bool]] | None = None  # does this built backend answer?


def get_spec(name: str) -> BackendSpec:
    if name not in REGISTRY:
        raise ConfigError(f"Unknown backend {name!r}; choose one of {', '.join(backend_names())}.")
    return importlib.import_module(REGISTRY[name]).SPEC


@dataclass
class PoolOptions:
    """How to spread an HTTP backend over several hosts (see panel.backends.pool)."""

    slots: int = 4
    cooldown: float = 2.0
    outage_patience: float = 30.0


def build_backend(
    spec: BackendSpec, settings: Settings, hosts: list[str], pool: PoolOptions | None = None
) -> Backend:
    """One backend for one host, or a HostPool over several (or whenever `pool` is given)."""
    if not spec.capabilities.http or (pool is None and len(hosts) <= 1):
        return spec.build(settings, hosts[0] if hosts else settings.host)
    from panel.backends.pool import HostPool

    options = pool or PoolOptions()
    return HostPool(
        hosts,
        settings.timeout,
        factory=lambda url: spec.build(settings, url),
        slots=options.slots,
        cooldown=options.cooldown,
        outage_patience=options.outage_patience,
    )


def pooled_members(backend: Backend) -> list[Any]:
    """The per-host backends inside a HostPool, or the backend itself."""
    hosts = getattr(backend, "hosts", None)
    return [host.backend for host in hosts] if isinstance(hosts, list) else [backend]


async def answers(spec: BackendSpec, backend: Backend) -> bool:
    """Whether any host of this backend answers (True when the spec has no probe)."""
    if spec.probe is None:
        return True
    results = await asyncio.gather(*(spec.probe(member) for member in pooled_members(backend)))
    return any(results)


async def open_backend(
    settings: Settings,
    notice: Callable[[str], None],
    hosts: list[str] | None = None,
    pool: PoolOptions | None = None,
) -> Backend:
    """The backend the settings ask for, over `hosts` (default: settings.host). With `auto`, the
    first of AUTO_CANDIDATES that answers, else AUTO_FALLBACK; `notice` says which."""
    hosts = hosts or [settings.host]
    if settings.backend != "auto":
        backend = build_backend(get_spec(settings.backend), settings, hosts, pool)
        chosen_notice = getattr(backend, "chosen_notice", None)
        if chosen_notice:
            notice(chosen_notice())
        return backend
    for name in AUTO_CANDIDATES:
        spec = get_spec(name)
        backend = build_backend(spec, settings, hosts, pool)
        if await answers(spec, backend):
            notice(f"Using {spec.label} at {', '.join(hosts)}.")
            return backend
        await backend.aclose()
    fallback = get_spec(AUTO_FALLBACK)
    tried = " or ".join(get_spec(name).label for name in AUTO_CANDIDATES)
    try:
        backend = fallback.build(settings, hosts[0])
    except BackendUnavailable as error:
        raise BackendUnavailable(
            f"{tried} did not answer at {', '.join(hosts)}, and the {AUTO_FALLBACK} fallback "
            f"cannot run. {error.message}",
            hint=error.hint,
        ) from None
    fallback_notice = getattr(backend, "fallback_notice", None)
    notice(fallback_notice(", ".join(hosts)) if fallback_notice else f"Using {AUTO_FALLBACK}.")
    return backend


@contextlib.asynccontextmanager
async def opened_backend(
    settings: Settings,
    notice: Callable[[str], None] | None = None,
    backend: Backend | None = None,
    wrap: Callable[[Backend], Backend] | None = None,
) -> AsyncIterator[Backend]:
    """`backend` as it is when the caller gives one (its owner closes it), else the backend the
    settings ask for, opened here (inside `wrap`, a response cache say) and closed on the way out."""
    if backend is not None:
        yield backend
        return
    opened = await open_backend(settings, notice or (lambda message: None))
    try:
        opened = wrap(opened) if wrap else opened
        yield opened
    finally:
        await opened.aclose()
