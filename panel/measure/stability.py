"""How much a panel wobbles between samples: per-persona ship and flip rates, the panel ship %
with a 90% interval, and the verdict fields whose wording moves most.

The maths is pure (`assess_stability` over transcripts); `sample_stability_async` runs the
samples, and `read_sample_folder` reads existing transcripts instead.
"""

from __future__ import annotations

import math
import statistics
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from difflib import SequenceMatcher
from itertools import combinations
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from panel.backends import Backend
from panel.backends.registry import opened_backend
from panel.backends.response_cache import CachedBackend, ResponseCache
from panel.engine.runner import Notice, as_card, review_tool
from panel.errors import PanelError
from panel.records.cards import ToolCard
from panel.records.personas import load_personas
from panel.records.transcript import Document, PanelTranscript
from panel.records.verdicts import Decision, PersonaReview
from panel.settings import Settings, resolve_seed
from panel.store.revisions import history
from panel.store.transcripts import now_utc, panel_transcripts_in, safe_slug, write_file

LEVEL = 0.90
METHOD = "Student t interval on the per-sample panel ship %, clipped to 0-100"
# Two-sided 90% Student t quantiles (t_0.95) by degrees of freedom, 1 to 30.
T_95 = [
    6.314, 2.920, 2.353, 2.132, 2.015, 1.943, 1.895, 1.860, 1.833, 1.812,
    1.796, 1.782, 1.771, 1.761, 1.753, 1.746, 1.740, 1.734, 1.729, 1.725,
    1.721, 1.717, 1.714, 1.711, 1.708, 1.706, 1.703, 1.701, 1.699, 1.697,
]  # fmt: skip
Z_95 = 1.6449
TEXT_FIELDS = ("headline", "quote")


class StabilityError(PanelError):
    """Samples that cannot be compared: too few, or of different tools."""


class PersonaStability(BaseModel):
    """One persona across the samples. `flip_rate` is the share of pairs of valid samples
    whose decisions differ: 0 when it always says the same, 0.6 at most for a 3-2 split of 5."""

    persona: str
    samples: int
    valid: int
    failed: int
    ships: int
    ship_rate: float | None
    flip_rate: float | None
    majority: Decision | Literal["split"] | None
    mean_confidence: float | None
    sd_confidence: float | None


class FieldVariation(BaseModel):
    """How alike one field's text is across samples: mean pairwise difflib ratio (1 = same)."""

    persona: str
    field: str
    samples: int
    mean_similarity: float
    variability: float


class ShipInterval(BaseModel):
    mean: float | None
    low: float | None
    high: float | None
    sd: float | None
    n: int
    level: float = LEVEL
    method: str = METHOD


class StabilitySample(BaseModel):
    transcript: str | None
    seed: int
    ship_pct: int | None
    incomplete: bool
    decisions: dict[str, str]


class StabilityReport(Document):
    kind: Literal["stability"] = "stability"
    tool: str
    slug: str
    samples: list[StabilitySample]
    models: dict[str, list[str]]
    panel: ShipInterval
    personas: list[PersonaStability]
    varying_fields: list[FieldVariation]
    incomplete_samples: int
    model_calls: int | None = None
    cache_hits: int | None = None


def t_quantile(degrees: int) -> float:
    """t_0.95 for the two-sided 90% interval; past 30 df, the normal with one correction term."""
    if degrees <= len(T_95):
        return T_95[degrees - 1]
    return Z_95 + (Z_95**3 + Z_95) / (4 * degrees)


def ship_interval(values: Sequence[float]) -> ShipInterval:
    """Mean ± t·s/√n of the per-sample ship %, clipped to 0-100 (samples with no valid verdict
    are left out). With one value there is a mean but no interval."""
    n = len(values)
    if n == 0:
        return ShipInterval(mean=None, low=None, high=None, sd=None, n=0)
    mean = statistics.fmean(values)
    if n == 1:
        return ShipInterval(mean=round(mean, 2), low=None, high=None, sd=None, n=1)
    sd = statistics.stdev(values)
    half = t_quantile(n - 1) * sd / math.sqrt(n)
    return ShipInterval(
        mean=round(mean, 2),
        low=round(max(0.0, mean - half), 2),
        high=round(min(100.0, mean + half), 2),
        sd=round(sd, 2),
        n=n,
    )


def flip_rate(decisions: Sequence[str]) -> float | None:
    """Share of pairs of samples that disagree (order-free, so the seed order does not matter)."""
    pairs = list(combinations(decisions, 2))
    if not pairs:
        return None
    return round(sum(a != b for a, b in pairs) / len(pairs), 4)


def mean_similarity(texts: Sequence[str]) -> float | None:
    pairs = list(combinations(texts, 2))
    if not pairs:
        return None
    return statistics.fmean(SequenceMatcher(None, a, b, autojunk=False).ratio() for a, b in pairs)


def sampled_reviews(transcript: PanelTranscript) -> list[PersonaReview]:
    """The reviews as the models first sampled them (revision 1): stability measures the model,
    so reruns and hand edits made later are not samples."""
    return history(transcript)[0].reviews


def persona_stability(persona: str, reviews: Sequence[PersonaReview | None]) -> PersonaStability:
    verdicts = [review.verdict for review in reviews if review and review.status == "ok" and review.verdict]
    decisions = [verdict.decision for verdict in verdicts]
    ships = decisions.count("ship")
    skips = len(decisions) - ships
    confidences = [verdict.confidence for verdict in verdicts]
    majority = None if not decisions else "split" if ships == skips else "ship" if ships > skips else "skip"
    return PersonaStability(
        persona=persona,
        samples=len(reviews),
        valid=len(verdicts),
        failed=len(reviews) - len(verdicts),
        ships=ships,
        ship_rate=round(ships / len(verdicts), 4) if verdicts else None,
        flip_rate=flip_rate(decisions),
        majority=majority,
        mean_confidence=round(statistics.fmean(confidences), 4) if confidences else None,
        sd_confidence=round(statistics.stdev(confidences), 4) if len(confidences) > 1 else None,
    )


def field_variations(persona: str, reviews: Sequence[PersonaReview | None]) -> list[FieldVariation]:
    verdicts = [review.verdict for review in reviews if review and review.status == "ok" and review.verdict]
    names = list(dict.fromkeys(name for verdict in verdicts for name in verdict.fields))
    found = []
    for name in (*TEXT_FIELDS, *names):
        texts = [
            getattr(verdict, name) if name in TEXT_FIELDS else verdict.fields[name]
            for verdict in verdicts
            if name in TEXT_FIELDS or name in verdict.fields
        ]
        similarity = mean_similarity(texts)
        if similarity is not None:
            found.append(
                FieldVariation(
                    persona=persona,
                    field=name,
                    samples=len(texts),
                    mean_similarity=round(similarity, 4),
                    variability=round(1 - similarity, 4),
                )
            )
    return found


def assess_stability(
    transcripts: Sequence[PanelTranscript],
    paths: Sequence[Path | None] | None = None,
    created_at: datetime | None = None,
) -> StabilityReport:
    """The stability report over samples of one tool's panel."""
    if len(transcripts) < 2:
        raise StabilityError(
            f"Stability needs at least 2 samples of a panel; got {len(transcripts)}.",
            hint="Use {samples} 2 or more, or a folder with more transcripts of the tool.",
        )
    slugs = sorted({transcript.tool_slug for transcript in transcripts})
    if len(slugs) > 1:
        raise StabilityError(
            f"These transcripts are of {len(slugs)} different tools ({', '.join(slugs)}); stability "
            "compares samples of one tool. Point it at a folder holding one tool's transcripts."
        )
    paths = list(paths) if paths is not None else [None] * len(transcripts)
    samples = [{review.persona: review for review in sampled_reviews(t)} for t in transcripts]
    order = list(dict.fromkeys(persona for sample in samples for persona in sample))
    personas, variations = [], []
    for persona in order:
        reviews = [sample.get(persona) for sample in samples]
        personas.append(persona_stability(persona, reviews))
        variations.extend(field_variations(persona, reviews))
    first_aggregates = [history(t)[0].aggregate for t in transcripts]
    ship_values = [aggregate.ship_pct for aggregate in first_aggregates if aggregate.ship_pct is not None]
    models: dict[str, list[str]] = {}
    for transcript in transcripts:
        for persona, info in transcript.models.items():
            models.setdefault(persona, [])
            if info.name not in models[persona]:
                models[persona].append(info.name)
    return StabilityReport(
        created_at=created_at or now_utc(),
        tool=transcripts[0].card.name,
        slug=slugs[0],
        samples=[
            StabilitySample(
                transcript=str(path) if path else None,
                seed=transcript.seed,
                ship_pct=aggregate.ship_pct,
                incomplete=aggregate.incomplete,
                decisions={
                    persona: review.verdict.decision if review.verdict else "failed"
                    for persona, review in sample.items()
                },
            )
            for transcript, path, aggregate, sample in zip(
                transcripts, paths, first_aggregates, samples, strict=True
            )
        ],
        models=models,
        panel=ship_interval(ship_values),
        personas=personas,
        varying_fields=sorted(variations, key=lambda item: (-item.variability, item.persona, item.field)),
        incomplete_samples=sum(aggregate.incomplete for aggregate in first_aggregates),
    )


def read_sample_folder(folder: str | Path) -> tuple[list[PanelTranscript], list[Path]]:
    """Every panel transcript in the folder (comparisons and stability reports are skipped)."""
    found = panel_transcripts_in(Path(folder))
    transcripts, paths = [transcript for transcript, _ in found], [path for _, path in found]
    if not transcripts:
        raise StabilityError(f"{folder} holds no panel transcripts (*.json written by `panel run`).")
    return transcripts, paths


def report_path(folder: Path, slug: str) -> Path:
    return Path(folder) / f"{slug}-stability.json"


def save_report(report: StabilityReport, folder: Path) -> Path:
    path = report_path(folder, report.slug)
    write_file(path, report.model_dump_json(indent=2) + "\n", f"Cannot write the stability report to {path}")
    return path


def stability_of_folder(folder: str | Path, save: bool = True) -> tuple[StabilityReport, Path | None]:
    """The report over a folder of one tool's transcripts, saved in that folder."""
    transcripts, paths = read_sample_folder(folder)
    report = assess_stability(transcripts, paths)
    return report, save_report(report, Path(folder)) if save else None


async def sample_stability_async(
    card: ToolCard | str | Path,
    settings: Settings,
    samples: int = 5,
    *,
    base_seed: int | None = None,
    cache_path: Path | None = None,
    backend: Backend | None = None,
    notice: Notice | None = None,
    progress: Callable[[int, PanelTranscript], Any] | None = None,
) -> tuple[StabilityReport, Path]:
    """Run the panel `samples` times with seeds base, base+1, ... (1 by default, so a second run
    finds every call in the response cache), save each sample and the report in one folder."""
    if samples < 2:
        raise StabilityError(
            f"Stability needs at least 2 samples to measure anything (got {samples}).",
            hint="Use {samples} 2 or more.",
        )
    tool, source = as_card(card, settings)
    personas = load_personas(settings.personas_dir)
    started = now_utc()
    # A short random suffix: two runs in the same second must not share (and overwrite) a folder.
    folder = (
        Path(settings.out_dir)
        / f"{safe_slug(tool.name)}-stability-{started.strftime('%Y%m%dT%H%M%SZ')}-{uuid.uuid4().hex[:6]}"
    )
    sample_settings = settings.model_copy(update={"out_dir": folder})
    first_seed = resolve_seed(base_seed, settings.seed, default=1)

    def cached(inner: Backend) -> Backend:
        return CachedBackend(inner, ResponseCache(cache_path) if cache_path else None, notice)

    transcripts, paths = [], []
    async with opened_backend(settings, notice, backend, wrap=cached) as sampler:
        for number in range(samples):
            result = await review_tool(
                sampler, tool, personas, sample_settings, card_source=source, seed=first_seed + number
            )
            transcripts.append(result.transcript)
            paths.append(result.path)
            if progress:
                progress(number + 1, result.transcript)
    report = assess_stability(transcripts, paths, created_at=started)
    if isinstance(sampler, CachedBackend):
        report.model_calls, report.cache_hits = sampler.counts.model_calls, sampler.counts.cache_hits
    return report, save_report(report, folder)
