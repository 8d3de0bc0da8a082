"""Run a panel or an A-vs-B comparison end to end: the library API the CLI stands on."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from panel.backends import Backend
from panel.backends.registry import opened_backend
from panel.backends.response_cache import caching
from panel.engine.context_window import fit_context
from panel.engine.graph import PanelContext, Reviewer, ReviewTask, compiled_graph, invoke_with_review
from panel.engine.prompt_sets import load_prompt_set
from panel.errors import ConfigError
from panel.records.aggregate import compare_aggregates
from panel.records.cards import ToolCard, load_card
from panel.records.chat import ModelInfo
from panel.records.personas import LoadedPersona, Persona, load_personas
from panel.records.progress import ProgressCallback, ProgressEvent, report_progress
from panel.records.transcript import ComparisonTranscript, PanelTranscript, PersonaRecord
from panel.records.verdicts import PersonaReview
from panel.settings import Settings, resolve_seed, resolve_settings
from panel.store.transcripts import now_utc, safe_slug, save_transcript
from panel.version import panel_version

Notice = Callable[[str], None]


@dataclass
class PanelResult:
    """A finished panel and where its transcript was written (None when not saved)."""

    transcript: PanelTranscript
    path: Path | None


@dataclass
class ComparisonResult:
    a: PanelResult
    b: PanelResult
    transcript: ComparisonTranscript
    path: Path | None


def sampling_options(persona: Persona, settings: Settings, seed: int) -> dict[str, Any]:
    """Per-persona sampling, then runner options that are identical for every persona so that
    Ollama never reloads the model between them."""
    options: dict[str, Any] = dict(persona.options)
    if settings.temperature is not None:
        options["temperature"] = settings.temperature
    options.update(seed=seed, num_ctx=settings.num_ctx, num_predict=settings.num_predict)
    return options


def answering_models(models: dict[str, ModelInfo], reviews: list[PersonaReview]) -> dict[str, ModelInfo]:
    """Each persona's model with the digest of the build that wrote its verdict: with several
    hosts, that may not be the build the first host reported."""
    answered = {
        review.persona: review.attempts[-1].model_digest
        for review in reviews
        if review.status == "ok" and review.attempts and review.attempts[-1].model_digest
    }
    return {
        persona: info.model_copy(update={"digest": answered[persona]})
        if answered.get(persona, info.digest) != info.digest
        else info
        for persona, info in models.items()
    }


def check_persona_models(settings: Settings, personas: list[LoadedPersona]) -> None:
    known = {loaded.persona.id for loaded in personas}
    unknown = sorted(set(settings.persona_models) - known)
    if unknown:
        raise ConfigError(
            f"A persona model is set for {', '.join(unknown)}, which is not a persona here "
            f"(personas: {', '.join(sorted(known))}).",
            hint="Name only these personas in {persona_models}.",
        )


def panel_context(
    backend: Backend,
    settings: Settings,
    on_review: Callable[[PersonaReview], None] | None = None,
    on_progress: ProgressCallback | None = None,
) -> PanelContext:
    """What every review node needs besides its task: the backend and the settings' limits."""
    return PanelContext(
        backend=backend,
        max_attempts=settings.attempts,
        transport_retries=settings.transport_retries,
        max_quote_chars=settings.max_quote_chars,
        on_review=on_review,
        on_progress=on_progress,
        quality=settings.quality,
        prompts_dir=settings.prompts_dir,
    )


async def review_tool(
    backend: Backend,
    card: ToolCard,
    personas: list[LoadedPersona],
    settings: Settings,
    *,
    card_source: str | None = None,
    save: bool = True,
    seed: int | None = None,
    reviewer: Reviewer | None = None,
    on_review: Callable[[PersonaReview], None] | None = None,
    on_progress: ProgressCallback | None = None,
) -> PanelResult:
    """Run one panel on an open backend and save its transcript. `seed`, when given, wins
    over settings.seed (a batch derives one per card so that reruns hit the cache)."""
    check_persona_models(settings, personas)
    prompt_set = load_prompt_set(settings.prompts_dir)
    seed = resolve_seed(seed, settings.seed)
    requested = {lp.persona.id: settings.model_for(lp.persona.id, lp.persona.model) for lp in personas}
    infos = await backend.prepare(list(requested.values()))
    models = {persona_id: infos[name] for persona_id, name in requested.items()}
    tasks = [
        ReviewTask(
            persona=lp.persona,
            model=models[lp.persona.id].name,
            options=sampling_options(lp.persona, settings, seed),
        )
        for lp in personas
    ]
    if backend.name == "ollama":  # the embedded model's context is fixed when it loads
        fit_context(
            tasks,
            card,
            models,
            num_predict=settings.num_predict,
            attempts=settings.attempts,
            prompts_dir=settings.prompts_dir,
        )
    context = panel_context(backend, settings, on_review, on_progress)
    started = time.perf_counter()
    graph_input: Any = {"card": card, "tasks": tasks, "reviews": []}
    if reviewer is None:
        state = await compiled_graph().ainvoke(graph_input, context=context)
    else:  # panel run --review: the editor accepts, reruns or edits before the tally
        state = await invoke_with_review(graph_input, context, reviewer)
    order = [lp.persona.id for lp in personas]
    transcript = PanelTranscript(
        id=uuid.uuid4().hex,
        created_at=now_utc(),
        tool_slug=safe_slug(card.name),
        card=card,
        card_source=card_source,
        backend=backend.describe(),
        models=answering_models(models, state["reviews"]),
        options={task["persona"].id: task["options"] for task in tasks},
        seed=seed,
        prompt_templates=prompt_set.templates,
        prompt_set=prompt_set.record(),
        personas=[
            PersonaRecord(id=lp.persona.id, path=lp.path, sha256=lp.sha256, text=lp.text) for lp in personas
        ],
        reviews=sorted(state["reviews"], key=lambda review: order.index(review.persona)),
        aggregate=state["aggregate"],
        seconds=round(time.perf_counter() - started, 3),
        panel_version=panel_version(),
    )
    path = save_transcript(transcript, settings.out_dir, transcript.tool_slug) if save else None
    return PanelResult(transcript=transcript, path=path)


def as_card(card: ToolCard | str | Path, settings: Settings) -> tuple[ToolCard, str | None]:
    """A ToolCard as given, or loaded from its file; the source names the file in transcripts."""
    if isinstance(card, ToolCard):
        return card, None
    return load_card(card, settings.max_card_bytes), str(card)


async def run_panel_async(
    card: ToolCard | str | Path,
    settings: Settings | None = None,
    *,
    backend: Backend | None = None,
    notice: Notice | None = None,
    save: bool = True,
    on_review: Callable[[PersonaReview], None] | None = None,
    on_progress: ProgressCallback | None = None,
    cache_path: Path | None = None,
) -> PanelResult:
    """Async form of `run_panel`, for callers that already run an event loop; `on_review` is
    told of each persona's review as it lands, `on_progress` of each reviewer's steps
    (panel.records.progress). With `cache_path`, replies come from and go to that response
    cache (panel.backends.response_cache)."""
    settings = settings or resolve_settings()
    tool, source = as_card(card, settings)
    personas = load_personas(settings.personas_dir)
    load_prompt_set(settings.prompts_dir)  # a bad prompts folder is refused before a backend starts
    report_waiting(on_progress, [tool], personas)
    async with opened_backend(settings, notice, backend, wrap=caching(cache_path, notice)) as backend:
        return await review_tool(
            backend,
            tool,
            personas,
            settings,
            card_source=source,
            save=save,
            on_review=on_review,
            on_progress=on_progress,
        )


def report_waiting(
    on_progress: ProgressCallback | None, cards: list[ToolCard], personas: list[LoadedPersona]
) -> None:
    """Every reviewer of every card waits for its model while the backend opens."""
    for card in cards:
        for loaded in personas:
            report_progress(on_progress, ProgressEvent(loaded.persona.id, "waiting", tool=card.name))


def run_panel(card: ToolCard | str | Path, settings: Settings | None = None, **kwargs: Any) -> PanelResult:
    """Run the panel on one tool card (a ToolCard or a file path) and save its transcript."""
    return asyncio.run(run_panel_async(card, settings, **kwargs))


async def compare_tools_async(
    card_a: ToolCard | str | Path,
    card_b: ToolCard | str | Path,
    settings: Settings | None = None,
    *,
    backend: Backend | None = None,
    notice: Notice | None = None,
    on_progress: ProgressCallback | None = None,
    cache_path: Path | None = None,
) -> ComparisonResult:
    """Async form of `compare_tools`; `on_progress` is told of each reviewer's steps on both
    tools (panel.records.progress); `cache_path` as in `run_panel_async`."""
    settings = settings or resolve_settings()
    (tool_a, source_a), (tool_b, source_b) = as_card(card_a, settings), as_card(card_b, settings)
    personas = load_personas(settings.personas_dir)
    load_prompt_set(settings.prompts_dir)
    report_waiting(on_progress, [tool_a, tool_b], personas)
    async with opened_backend(settings, notice, backend, wrap=caching(cache_path, notice)) as backend:
        a, b = await asyncio.gather(
            review_tool(backend, tool_a, personas, settings, card_source=source_a, on_progress=on_progress),
            review_tool(backend, tool_b, personas, settings, card_source=source_b, on_progress=on_progress),
        )
    return save_comparison(a, b, settings.out_dir)


def save_comparison(a: PanelResult, b: PanelResult, out_dir: Path) -> ComparisonResult:
    """The A-vs-B call between two saved panels (as they stand now), saved as a comparison
    transcript in `out_dir` that names both panels' files."""
    if a.path is None or b.path is None:
        raise ConfigError("A comparison names both panels' transcripts: save both panels first.")
    card_a, card_b = a.transcript.card, b.transcript.card
    comparison = compare_aggregates(
        a.transcript.aggregate,
        b.transcript.aggregate,
        card_a.name,
        card_b.name,
        prices=(card_a.pricing, card_b.pricing),
    )
    transcript = ComparisonTranscript(
        id=uuid.uuid4().hex,
        created_at=now_utc(),
        a_transcript=str(Path(a.path).resolve()),
        b_transcript=str(Path(b.path).resolve()),
        a_tool=card_a.name,
        b_tool=card_b.name,
        a_aggregate=a.transcript.aggregate,
        b_aggregate=b.transcript.aggregate,
        comparison=comparison,
    )
    slug = f"{safe_slug(card_a.name)[:28]}-vs-{safe_slug(card_b.name)[:28]}"
    path = save_transcript(transcript, out_dir, slug)
    return ComparisonResult(a=a, b=b, transcript=transcript, path=path)


def compare_tools(
    card_a: ToolCard | str | Path,
    card_b: ToolCard | str | Path,
    settings: Settings | None = None,
    **kwargs: Any,
) -> ComparisonResult:
    """Run the panel on two tools and say which one to ship with."""
    return asyncio.run(compare_tools_async(card_a, card_b, settings, **kwargs))
