"""Batch generation: panels for every tool card of a JSONL file, a CSV file or a folder.

Resumable (a manifest of finished panels), cached (panel.backends.response_cache), spread over several Ollama
hosts (panel.backends.pool), streamed in bounded memory. No printing: progress goes to a
callback, and the summary is returned.

Crash safety: each transcript is written atomically under a name made from the panel's input
hash, then one manifest line is appended and flushed. A rerun skips the hashes in the manifest,
adopts a complete transcript that lost its manifest line, and redoes the rest, overwriting the
same file, so every panel exists exactly once whatever moment the batch was killed.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from panel.backends import Backend
from panel.backends.pool import HostPool
from panel.backends.response_cache import CachedBackend, ResponseCache
from panel.batch.inputs import InputRow, count_rows, read_rows
from panel.batch.manifest import (
    MANIFEST_NAME,
    Manifest,
    adopt_orphan,
    build_identities,
    edited_by_hand,
    existing_transcript,
    input_hash,
    keep_previous,
    manifest_entry,
    panel_fingerprint,
    seed_for,
    transcript_path,
)
from panel.batch.results import BatchResult, Outcome, result_of_transcript
from panel.engine.runner import Notice, check_persona_models, review_tool
from panel.errors import CardError, TranscriptError
from panel.records.cards import ToolCard
from panel.records.chat import CallTotals
from panel.records.personas import LoadedPersona, load_personas
from panel.settings import Settings, normalize_host, response_cache_path
from panel.store.transcripts import remove_stale_partials, safe_slug, write_atomic

# Without --out, a batch writes to batches/<input name>/, beside (not inside) transcripts/.
BATCH_FOLDER = "batches"
# The summary lists this many bad rows and incomplete panels in full; the counts cover all.
LISTED_PROBLEMS = 100


class BatchOptions(BaseModel):
    """How the batch runs, beyond the panel's own settings."""

    hosts: list[str] = Field(default_factory=list, description="Ollama hosts; empty: settings.host.")
    slots: int = Field(default=4, ge=1, le=256, description="Calls in flight per host.")
    concurrency: int | None = Field(default=None, ge=1, description="Panels in flight.")
    cache_path: Path | None = Field(default=None, description="Default: config.response_cache_path().")
    use_cache: bool = True
    cooldown: float = Field(default=2.0, gt=0, description="Seconds a failing host is first set aside.")
    outage_patience: float = Field(
        default=30.0, gt=0, description="Seconds every host may stay down before the batch stops (exit 3)."
    )
    force: bool = Field(default=False, description="Redo panels an editor has changed or locked.")
    redo_incomplete: bool = Field(default=True, description="False: an incomplete panel counts as done.")


class BatchSummary(CallTotals):
    """What a batch did; `--json` prints it."""

    input: str
    out_dir: str
    manifest: str
    cache: str | None
    total: int = Field(default=0, description="Rows in the input.")
    rows: int = Field(default=0, description="Rows read so far.")
    panels_run: int = 0
    complete: int = 0
    incomplete: int = 0
    already_done: int = 0
    redone: int = Field(
        default=0, description="Of panels_run: in the manifest, but the transcript was missing or damaged."
    )
    recovered: int = 0
    duplicates: int = 0
    left_alone: int = Field(default=0, description="Panels an editor changed or locked; force redoes them.")
    rows_skipped: int = 0
    tokens_per_second: float = 0.0
    wall_seconds: float = 0.0
    hosts: dict[str, dict[str, Any]] = Field(default_factory=dict)
    bad_rows: list[str] = Field(default_factory=list)
    incomplete_panels: list[dict[str, Any]] = Field(default_factory=list)
    results: list[BatchResult] = Field(
        default_factory=list, description="One per row that has a panel, in input order."
    )
    warnings: list[str] = Field(default_factory=list, description="The cache failed, and such.")

    @property
    def ok(self) -> bool:
        """Every valid row produced a complete panel, and no row was skipped."""
        return self.incomplete == 0 and self.rows_skipped == 0

    @property
    def done(self) -> int:
        """Rows accounted for so far, whatever became of them."""
        return (
            self.complete
            + self.incomplete
            + self.already_done
            + self.recovered
            + self.duplicates
            + self.left_alone
            + self.rows_skipped
        )


ProgressEvent = Literal["start", "panel", "bad_row", "finish"]
# Called on each event with the running summary and, for a bad row or a panel, one line.
Progress = Callable[[ProgressEvent, BatchSummary, str | None], None]

# -- running -------------------------------------------------------------------------------


def batch_out_dir(settings: Settings, input_path: Path) -> Path:
    """The output folder: `out_dir` when a flag, PANEL_OUT or panel.toml set it, else
    batches/<input name>/, so a batch's manifest never mixes into the transcripts/ of single runs."""
    if "out_dir" in settings.model_fields_set:
        return Path(settings.out_dir)
    folder = Path(BATCH_FOLDER)
    if not folder.exists():
        # Like a virtual environment: generated output, kept out of git wherever it lands. An
        # unwritable folder is reported when the manifest is opened.
        with contextlib.suppress(OSError):
            folder.mkdir()
            (folder / ".gitignore").write_text("# Created by panel batch.\n*\n", encoding="utf-8")
    return folder / safe_slug(input_path.stem or input_path.absolute().name)


async def open_batch_backend(settings: Settings, options: BatchOptions, notice: Notice) -> Backend:
    """One HostPool over every --host; with `auto`, the embedded model when none answers."""
    from panel.backends.registry import PoolOptions, open_backend

    hosts = [normalize_host(host, settings.backend) for host in options.hosts] or [settings.host]
    pool = PoolOptions(
        slots=options.slots, cooldown=options.cooldown, outage_patience=options.outage_patience
    )
    return await open_backend(settings, notice, hosts, pool)


class BatchRun:
    """One batch in progress: the shared backend, the manifest and the running counts."""

    def __init__(
        self,
        backend: CachedBackend,
        personas: list[LoadedPersona],
        settings: Settings,
        manifest: Manifest,
        summary: BatchSummary,
        progress: Progress,
    ) -> None:
        self.backend = backend
        self.personas = personas
        self.settings = settings
        self.manifest = manifest
        self.summary = summary
        self.progress = progress
        self.started = time.perf_counter()
        self.redo_incomplete = True

    def update_counts(self) -> None:
        counts, summary = self.backend.counts, self.summary
        for name in CallTotals.model_fields:
            setattr(summary, name, getattr(counts, name))
        summary.wall_seconds = round(time.perf_counter() - self.started, 3)
        summary.warnings = list(self.backend.warnings)
        if summary.wall_seconds > 0:
            summary.tokens_per_second = round(counts.completion_tokens / summary.wall_seconds, 1)
        if isinstance(self.backend.inner, HostPool):
            summary.hosts = self.backend.inner.host_stats()

    def report(self, event: ProgressEvent, detail: str | None = None) -> None:
        self.update_counts()
        self.progress(event, self.summary, detail)

    def skip_bad_row(self, row: InputRow) -> None:
        self.summary.rows_skipped += 1
        if len(self.summary.bad_rows) < LISTED_PROBLEMS:
            self.summary.bad_rows.append(row.error or row.source)
        self.report("bad_row", row.error)

    async def review_row(
        self, card: ToolCard, source: str, digest: str, path: Path, row: int, outcome: Outcome = "run"
    ) -> None:
        """Run one panel, write its transcript, then its manifest line (if complete)."""
        try:
            result = await review_tool(
                self.backend,
                card,
                self.personas,
                self.settings,
                card_source=source,
                save=False,
                seed=seed_for(digest, self.settings),
            )
        except CardError as error:  # a card too long for the model's context: one bad row
            self.skip_bad_row(InputRow(source=source, error=f"{source}: {error}"))
            return
        transcript = result.transcript
        text = transcript.model_dump_json(indent=2) + "\n"
        try:
            await asyncio.to_thread(keep_previous, path)
            await asyncio.to_thread(write_atomic, path, text)
            if not transcript.aggregate.incomplete or not self.redo_incomplete:
                entry = manifest_entry(digest, source, transcript, path)
                await asyncio.to_thread(self.manifest.append, entry)
        except OSError as error:
            raise TranscriptError(
                f"Cannot write {path} or its manifest line: {error}. Finished panels are kept.",
                hint="Free some space or choose another {out_dir} folder, then run the same command again.",
            ) from None
        outage = getattr(self.backend.inner, "outage", None)
        if outage is not None and transcript.aggregate.incomplete:
            raise outage  # every host is down: stop; the rerun redoes this panel
        self.summary.panels_run += 1
        if transcript.aggregate.incomplete:
            self.summary.incomplete += 1
            if len(self.summary.incomplete_panels) < LISTED_PROBLEMS:
                self.summary.incomplete_panels.append(
                    {"source": source, "transcript": str(path), "failed": transcript.aggregate.failed}
                )
        else:
            self.summary.complete += 1
        if outcome == "redone":
            self.summary.redone += 1
        self.summary.results.append(result_of_transcript(row, source, transcript, path, outcome))
        self.report("panel", f"{card.name}: {transcript.aggregate.ship_pct}%")


def first_error(group: BaseExceptionGroup) -> BaseException:
    error: BaseException = group
    while isinstance(error, BaseExceptionGroup):
        error = error.exceptions[0]
    return error


async def run_batch_async(
    input_path: str | Path,
    settings: Settings,
    options: BatchOptions | None = None,
    *,
    progress: Progress | None = None,
    notice: Notice | None = None,
) -> BatchSummary:
    """Run the panel on every card of the input; skip finished and bad rows; return the summary."""
    options = options or BatchOptions()
    progress = progress or (lambda event, summary, detail: None)
    notice = notice or (lambda message: None)
    input_path = Path(input_path)
    total = count_rows(input_path)
    personas = load_personas(settings.personas_dir)
    check_persona_models(settings, personas)
    fingerprint = panel_fingerprint(personas, settings)
    out_dir = batch_out_dir(settings, input_path)
    cache_path = (options.cache_path or response_cache_path(settings)) if options.use_cache else None
    manifest = Manifest(out_dir / MANIFEST_NAME)
    remove_stale_partials(out_dir)  # left by a batch killed mid-write
    summary = BatchSummary(
        input=str(input_path),
        out_dir=str(out_dir),
        manifest=str(manifest.path),
        cache=str(cache_path) if cache_path else None,
        total=total,
    )
    backend: CachedBackend | None = None
    try:
        cache = ResponseCache(cache_path) if cache_path else None
        try:
            backend = CachedBackend(await open_batch_backend(settings, options, notice), cache, notice)
        except BaseException:
            if cache is not None:
                cache.close()
            raise
        models = sorted(set(fingerprint["models"].values()))
        await backend.prepare(models)
        # A re-pulled model is another model: its panels are not the ones already done.
        fingerprint["digests"] = {model: build_identities(backend.builds_for(model)) for model in models}
        run = BatchRun(backend, personas, settings, manifest, summary, progress)
        run.redo_incomplete = options.redo_incomplete
        hosts = len(options.hosts) or 1
        slots = asyncio.Semaphore(options.concurrency or max(1, options.slots * hosts))
        run.report("start")
        seen: set[str] = set()

        async def review_and_release(
            card: ToolCard, source: str, digest: str, path: Path, row: int, outcome: Outcome
        ) -> None:
            try:
                await run.review_row(card, source, digest, path, row, outcome)
            finally:
                slots.release()

        try:
            async with asyncio.TaskGroup() as group:
                for row in read_rows(input_path, settings.max_card_bytes):
                    summary.rows += 1
                    if row.card is None:
                        run.skip_bad_row(row)
                        continue
                    digest = input_hash(row.card, fingerprint)
                    path = transcript_path(out_dir, row.card, digest)
                    existing = existing_transcript(path) if options.force or digest not in manifest else None
                    forced_redo = options.force and edited_by_hand(existing)
                    lost = False
                    if digest in manifest and not forced_redo:
                        finished = existing or existing_transcript(path)
                        if finished is not None:
                            summary.already_done += 1
                            summary.results.append(
                                result_of_transcript(summary.rows, row.source, finished, path, "already_done")
                            )
                            run.report("panel")
                            continue
                        # Results come from the transcript: a manifest line whose transcript was
                        # deleted or damaged is no finished panel, so it runs again.
                        lost = True
                        run.report("panel", f"{path.name} is missing or damaged; redoing its panel")
                    if digest in seen:
                        summary.duplicates += 1
                        run.report("panel", f"{row.source} repeats an earlier row")
                        continue
                    seen.add(digest)
                    if existing is not None and edited_by_hand(existing) and not options.force:
                        summary.left_alone += 1
                        summary.results.append(
                            result_of_transcript(summary.rows, row.source, existing, path, "left_alone")
                        )
                        run.report(
                            "panel", f"{path.name} was changed by an editor; left alone (force redoes it)"
                        )
                        continue
                    orphan = None if forced_redo else adopt_orphan(existing)
                    if orphan is not None:
                        manifest.append(manifest_entry(digest, row.source, orphan, path))
                        summary.recovered += 1
                        summary.results.append(
                            result_of_transcript(summary.rows, row.source, orphan, path, "recovered")
                        )
                        run.report("panel")
                        continue
                    await slots.acquire()
                    outcome = "redone" if lost else "run"
                    group.create_task(
                        review_and_release(row.card, row.source, digest, path, summary.rows, outcome)
                    )
        except BaseExceptionGroup as errors:
            raise first_error(errors) from None
        summary.results.sort(key=lambda result: result.row)
        run.report("finish")
        return summary
    finally:
        manifest.close()
        if backend is not None:
            await backend.aclose()


def run_batch(
    input_path: str | Path,
    settings: Settings,
    options: BatchOptions | None = None,
    **kwargs: Any,
) -> BatchSummary:
    """Run a batch (see `run_batch_async`) in its own event loop."""
    return asyncio.run(run_batch_async(input_path, settings, options, **kwargs))
