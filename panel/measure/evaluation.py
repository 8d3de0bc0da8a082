"""`panel eval`: run the panel over a labelled suite with batch's machinery, then score it.

The suite's cards (labels left out) are written to OUT/eval-SUITE/cards.jsonl and run by
`panel.batch.run` once per sample, into OUT/eval-SUITE/sample-N/: resumable through batch's
manifest, and cached in one response cache for every sample. The report is scored by
panel.measure.report and written to OUT/eval-SUITE/eval-report.json.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from panel.batch.manifest import existing_transcript
from panel.batch.run import BatchOptions, BatchSummary, Progress, run_batch_async
from panel.engine.runner import Notice
from panel.errors import TranscriptError
from panel.measure.report import EvalReport, score_suite
from panel.measure.suite import Suite, cards_jsonl, check_label_personas, load_suite
from panel.records.personas import load_personas
from panel.records.transcript import PanelTranscript
from panel.settings import Settings
from panel.store.transcripts import now_utc, safe_slug, write_file

REPORT_NAME = "eval-report.json"


class EvalOptions(BaseModel):
    """How the eval runs, beyond the panel's own settings."""

    samples: int = Field(default=1, ge=1, le=20, description="Panels per card; 2+ measures stability.")
    hosts: list[str] = Field(default_factory=list)
    slots: int = Field(default=4, ge=1, le=256)
    concurrency: int | None = Field(default=None, ge=1)
    cache_path: Path | None = None
    use_cache: bool = True
    # Score the transcripts an earlier run left in the eval folder again, with no model call.
    rescore: bool = False


OTHER_FOLDER = "Choose another {out_dir} folder."


def eval_folder(settings: Settings, suite: Suite) -> Path:
    return Path(settings.out_dir) / f"eval-{safe_slug(suite.name)}"


def sample_seeds(seed: int | None, samples: int) -> list[int | None]:
    """One sample keeps batch's seeds (the set one, else one per card); more samples count up
    from the set seed (else 1), so each sample is a different draw and a rerun finds the cache."""
    if samples == 1:
        return [seed]
    first = seed if seed is not None else 1
    return [first + number for number in range(samples)]


def sample_transcripts(
    summary: BatchSummary, samples: dict[str, list[tuple[PanelTranscript, str | None]]]
) -> None:
    """Add each card's transcript of this sample, found where batch says it wrote it."""
    for result in summary.results:
        transcript = existing_transcript(Path(result.transcript))
        if transcript is not None:
            samples.setdefault(transcript.card.name, []).append((transcript, result.transcript))


def saved_samples(folder: Path) -> dict[str, list[tuple[PanelTranscript, str | None]]]:
    """The transcripts an earlier eval left in `folder`, by card name, sample by sample."""
    samples: dict[str, list[tuple[PanelTranscript, str | None]]] = {}
    numbered = sorted(folder.glob("sample-*"), key=lambda path: int(path.name.partition("-")[2] or 0))
    for sample in numbered:
        for path in sorted(sample.glob("*.json")):
            transcript = existing_transcript(path)
            if transcript is not None:
                samples.setdefault(transcript.card.name, []).append((transcript, str(path)))
    return samples


async def run_samples(
    cards_file: Path,
    settings: Settings,
    options: EvalOptions,
    seeds: list[int | None],
    progress: Progress | None,
    notice: Notice | None,
) -> tuple[dict[str, list[tuple[PanelTranscript, str | None]]], int, int]:
    """Run the cards once per seed with batch, each sample in its own folder beside the cards
    file; the transcripts by card, the model calls and the cache hits."""
    batch_options = BatchOptions(
        hosts=options.hosts,
        slots=options.slots,
        concurrency=options.concurrency,
        cache_path=options.cache_path,
        use_cache=options.use_cache,
        # A failed persona is a measured outcome: a rerun of the eval keeps it rather than
        # asking the model again (use a fresh output folder to measure anew).
        redo_incomplete=False,
    )
    samples: dict[str, list[tuple[PanelTranscript, str | None]]] = {}
    calls, hits = 0, 0
    for number, seed in enumerate(seeds, 1):
        sample_settings = settings.model_copy(
            update={"seed": seed, "out_dir": cards_file.parent / f"sample-{number}"}
        )
        summary = await run_batch_async(
            cards_file,
            sample_settings,
            batch_options,
            progress=progress,
            notice=notice if number == 1 else None,
        )
        calls, hits = calls + summary.model_calls, hits + summary.cache_hits
        sample_transcripts(summary, samples)
    return samples, calls, hits


async def run_eval_async(
    suite_path: str | Path,
    settings: Settings,
    options: EvalOptions | None = None,
    *,
    progress: Progress | None = None,
    notice: Notice | None = None,
) -> tuple[EvalReport, Path]:
    """Run (or resume) the panels of a labelled suite and return the saved report and its path."""
    options = options or EvalOptions()
    suite = load_suite(suite_path)
    personas = load_personas(settings.personas_dir)
    check_label_personas(suite, [loaded.persona.id for loaded in personas])
    folder = eval_folder(settings, suite)
    cards_file = folder / "cards.jsonl"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise TranscriptError(f"Cannot make {folder}: {error}.", hint=OTHER_FOLDER) from None
    write_file(cards_file, cards_jsonl(suite), f"Cannot write {cards_file}", hint=OTHER_FOLDER)
    started, clock = now_utc(), time.perf_counter()
    if options.rescore:
        samples, seeds, calls, hits = saved_samples(folder), [], 0, 0
        if not samples:
            raise TranscriptError(
                f"{folder} holds no transcripts to score again.", hint="Run the eval without rescoring first."
            )
    else:
        seeds = sample_seeds(settings.seed, options.samples)
        samples, calls, hits = await run_samples(cards_file, settings, options, seeds, progress, notice)
    report = score_suite(suite, personas, samples, settings.quality, started, settings.prompts_dir)
    report.out_dir, report.seeds = str(folder), seeds
    if not options.rescore:  # a rescore times nothing the model did
        report.model_calls, report.cache_hits = calls, hits
        report.wall_seconds = round(time.perf_counter() - clock, 2)
    path = folder / REPORT_NAME
    write_file(
        path,
        report.model_dump_json(indent=2) + "\n",
        f"Cannot write the eval report to {path}",
        hint=OTHER_FOLDER,
    )
    return report, path


def run_eval(
    suite_path: str | Path, settings: Settings, options: EvalOptions | None = None, **kwargs: Any
) -> tuple[EvalReport, Path]:
    """Run an eval (see `run_eval_async`) in its own event loop."""
    return asyncio.run(run_eval_async(suite_path, settings, options, **kwargs))
