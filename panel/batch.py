"""Batch generation: panels for every tool card of a JSONL file, a CSV file or a folder.

Resumable (a manifest of finished panels), cached (panel.cache), spread over several Ollama
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
import csv
import hashlib
import json
import os
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TextIO

from pydantic import BaseModel, Field

from panel.backends import Backend
from panel.backends.pool import HostPool
from panel.batch_results import BatchResult, result_of_finished_row, result_of_transcript
from panel.cache import CachedBackend, ResponseCache
from panel.cards import CARD_SUFFIXES, MAX_CARD_BYTES, ToolCard, parse_card, read_card_data
from panel.config import Settings, normalize_host, response_cache_path
from panel.editing import is_locked
from panel.errors import CardError, PanelError, TranscriptError
from panel.personas import LoadedPersona, load_personas
from panel.prompts import template_hashes
from panel.runner import Notice, check_persona_models, review_tool, sampling_options
from panel.transcripts import (
    SCHEMA_VERSION,
    PanelTranscript,
    is_special_file,
    load_transcript,
    now_utc,
    remove_stale_partials,
    safe_slug,
    write_atomic,
)

# Earlier transcripts of panels that were redone (incomplete, or forced) are copied here.
REPLACED_FOLDER = "replaced"
MANIFEST_NAME = "manifest.jsonl"
# Without --out, a batch writes to batches/<input name>/, beside (not inside) transcripts/.
BATCH_FOLDER = "batches"
# CSV cells that hold lists: items separated by " | "; a link is "label=url" (or a bare url).
LIST_SEPARATOR = " | "
# The summary lists this many bad rows and incomplete panels in full; the counts cover all.
LISTED_PROBLEMS = 100
# JSONL lines are read in pieces of at most this many characters past the card limit.
LINE_CHUNK = 64 * 1024
LINE_ENDS = ("\n", "\r")


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


class BatchSummary(BaseModel):
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
    recovered: int = 0
    duplicates: int = 0
    left_alone: int = Field(default=0, description="Panels an editor changed or locked; --force redoes them.")
    rows_skipped: int = 0
    model_calls: int = 0
    cache_hits: int = 0
    coalesced: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
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


# -- input ---------------------------------------------------------------------------------


def json_problem(error: json.JSONDecodeError) -> str:
    """json's message with its place: `msg` alone can end in "at" with the position cut off."""
    return f"{error.msg.removesuffix(' at')} at column {error.colno}"


@dataclass
class InputRow:
    """One row of the input: its place ('tools.csv row 3'), and the card or what was wrong."""

    source: str
    card: ToolCard | None = None
    error: str | None = None


def input_kind(path: Path) -> Literal["folder", "jsonl", "csv"]:
    if path.is_dir():
        return "folder"
    if is_special_file(path):
        raise CardError(
            f"{path} is not a regular file (a device, a FIFO or a socket); give a .jsonl or .csv "
            "file, or a folder of cards."
        )
    if not path.is_file():
        raise CardError(f"{path}: no such file or folder. Give a .jsonl or .csv file, or a folder of cards.")
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    if suffix == ".csv":
        return "csv"
    raise CardError(
        f"{path}: a batch reads a .jsonl file (one card per line), a .csv file (one card per "
        "row) or a folder of card files; this is none of those."
    )


def card_files(folder: Path) -> Iterator[Path]:
    """Every card file of the folder; one that is not a regular file (a FIFO, a link to a
    device) is listed too, so that reading it reports it as a bad row."""
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() in CARD_SUFFIXES and not path.is_dir():
            yield path


def count_rows(path: Path) -> int:
    """How many rows the input holds, read as a stream, for the progress bar's total."""
    kind = input_kind(path)
    if kind == "folder":
        return sum(1 for _ in card_files(path))
    with path.open(encoding="utf-8-sig", errors="replace", newline="") as stream:
        if kind == "jsonl":
            return sum(1 for _, line, _ in bounded_lines(stream, LINE_CHUNK) if line is None or line.strip())
        return max(0, sum(1 for _ in csv_rows(csv.reader(stream))) - 1)


def bounded_lines(stream: TextIO, limit: int) -> Iterator[tuple[int, str | None, int]]:
    """Each line of a text stream as (number, text, length); a line over `limit` characters
    comes back as None, read past in pieces, so memory never holds a huge line whole."""
    number = 0
    while line := stream.readline(limit + 1):
        number += 1
        if line.endswith(LINE_ENDS) or len(line) <= limit:
            yield number, line, len(line)
            continue
        length = len(line)
        while not line.endswith(LINE_ENDS) and (line := stream.readline(LINE_CHUNK)):
            length += len(line)
        yield number, None, length


def split_list(cell: str) -> list[str]:
    return [item.strip() for item in cell.split(LIST_SEPARATOR.strip()) if item.strip()]


def parse_link(item: str) -> dict[str, str]:
    label, separator, url = item.partition("=")
    if not separator:
        return {"label": item.split("://", 1)[-1].split("/", 1)[0] or item, "url": item}
    return {"label": label.strip(), "url": url.strip()}


def card_from_csv_row(row: dict[str | None, Any]) -> dict[str, Any]:
    """A CSV row as card data: empty cells are left out; `facts` and `links` hold lists, as a
    JSON array or as items separated by ' | ' (a link is 'label=url')."""
    data: dict[str, Any] = {}
    for column, value in row.items():
        if column is None:
            raise CardError("the row has more cells than the header has columns")
        if value is None or not value.strip():
            continue
        value = value.strip()
        if column in ("facts", "links"):
            if value.startswith("["):
                data[column] = json_array(column, value)
                continue
            items = split_list(value)
            data[column] = [parse_link(item) for item in items] if column == "links" else items
        else:
            data[column] = value
    return data


def json_array(column: str, value: str) -> Any:
    try:
        return json.loads(value)
    except (ValueError, RecursionError) as error:
        # ValueError: bad JSON, or an integer past Python's digit limit; RecursionError: nesting.
        detail = json_problem(error) if isinstance(error, json.JSONDecodeError) else str(error)[:200]
        raise CardError(f"{column}: not a valid JSON array ({detail or 'nested too deeply'})") from None


def validated(data: Any, source: str) -> InputRow:
    try:
        return InputRow(source=source, card=parse_card(data, source))
    except CardError as error:
        return InputRow(source=source, error=str(error))


def csv_rows(reader: Iterator[Any]) -> Iterator[Any]:
    """The rows of a csv reader, with a row the csv module refuses (a cell over its size limit,
    a NUL byte) yielded as the CardError it is, so one bad row does not stop the file."""
    while True:
        try:
            yield next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            yield CardError(f"not a readable CSV row ({error})")


def jsonl_row(line: str, source: str) -> InputRow:
    try:
        data = json.loads(line)
    except json.JSONDecodeError as error:
        return InputRow(source=source, error=f"{source} is not valid JSON: {json_problem(error)}.")
    except ValueError as error:  # an integer past Python's digit limit
        return InputRow(source=source, error=f"{source} is not usable JSON: {str(error)[:200]}.")
    except RecursionError:
        return InputRow(source=source, error=f"{source} is nested too deeply to be a tool card.")
    return validated(data, source)


def read_rows(path: Path, max_card_bytes: int = MAX_CARD_BYTES) -> Iterator[InputRow]:
    """Every row of the input in order, as a stream; a bad row carries its error instead."""
    kind = input_kind(path)
    if kind == "folder":
        for file in card_files(path):
            try:
                yield validated(read_card_data(file, max_card_bytes), str(file))
            except CardError as error:
                yield InputRow(source=str(file), error=str(error))
        return
    # utf-8-sig: a byte order mark (Excel writes one) is not part of the first column's name.
    with path.open(encoding="utf-8-sig", errors="replace", newline="") as stream:
        if kind == "jsonl":
            for number, line, length in bounded_lines(stream, max_card_bytes):
                if line is not None and not line.strip():
                    continue
                source = f"{path} line {number}"
                if line is None:
                    yield InputRow(
                        source=source,
                        error=f"{source} is {length:,} characters; a card may be at most "
                        f"{max_card_bytes:,} (PANEL_MAX_CARD_BYTES).",
                    )
                    continue
                yield jsonl_row(line, source)
            return
        reader = csv.DictReader(stream)
        # Rows are numbered as a spreadsheet shows them: the header is row 1.
        for number, row in enumerate(csv_rows(reader), 2):
            source = f"{path} row {number}"
            try:
                if isinstance(row, CardError):
                    raise row
                data = card_from_csv_row(row)
            except CardError as error:
                yield InputRow(source=source, error=f"{source}: {error}.")
                continue
            yield validated(data, source)


# -- what makes a panel the same panel -----------------------------------------------------


def panel_fingerprint(personas: list[LoadedPersona], settings: Settings) -> dict[str, Any]:
    """Everything but the card that decides a panel's output: persona files, prompt templates,
    models, options (the seed setting included) and the transcript schema."""
    return {
        "schema_version": SCHEMA_VERSION,
        "personas": {lp.persona.id: lp.sha256 for lp in personas},
        "templates": template_hashes(),
        "models": {lp.persona.id: settings.model_for(lp.persona.id, lp.persona.model) for lp in personas},
        "options": {lp.persona.id: sampling_options(lp.persona, settings, seed=0) for lp in personas},
        "seed": settings.seed,
        "attempts": settings.attempts,
        "quality": settings.quality.model_dump(),
    }


def input_hash(card: ToolCard, fingerprint: dict[str, Any]) -> str:
    payload = {"card": card.model_dump(mode="json"), **fingerprint}
    text = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def seed_for(digest: str, settings: Settings) -> int:
    """The panel's seed: the one set, else one derived from the input hash, so that a rerun
    asks the same questions and finds its answers in the cache."""
    return settings.seed if settings.seed is not None else int(digest[:8], 16) % 2**31


def transcript_path(out_dir: Path, card: ToolCard, digest: str) -> Path:
    return out_dir / f"{safe_slug(card.name)}-{digest[:12]}.json"


# -- the manifest --------------------------------------------------------------------------


class Manifest:
    """manifest.jsonl: one line per complete panel, appended and flushed.

    Lines are not fsynced one by one: the transcript, written atomically and fsynced first, is
    the durable record, and a line lost to a power cut is rebuilt on the next run by adopting
    that transcript. A flushed line survives kill -9. The file is fsynced once when it closes.
    A torn last line (the process died mid-write) is cut off when the file is opened. The file
    is locked while a batch writes to it, so two batches cannot share an output folder.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.finished: set[str] = set()
        self.entries: dict[str, dict[str, Any]] = {}
        self.lock = threading.Lock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.stream = path.open("a+b")
        except OSError as error:
            raise TranscriptError(
                f"Cannot open the manifest {path}: {error}. Choose another --out."
            ) from None
        self.hold_lock()
        self.load()

    def hold_lock(self) -> None:
        try:
            import fcntl
        except ImportError:  # Windows: no advisory locks; one batch per folder is on the user
            return
        try:
            fcntl.flock(self.stream.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self.stream.close()
            raise TranscriptError(
                f"Another batch is writing to {self.path.parent}; wait for it to finish, "
                "or give this one another --out folder."
            ) from None

    def load(self) -> None:
        self.stream.seek(0)
        good_end = 0
        for line in self.stream:
            if not line.endswith(b"\n"):
                break
            try:
                entry = json.loads(line)
                self.finished.add(str(entry["input_hash"]))
                self.entries[str(entry["input_hash"])] = entry
            except (ValueError, KeyError, TypeError):
                pass
            good_end += len(line)
        self.stream.truncate(good_end)
        self.stream.seek(0, os.SEEK_END)

    def __contains__(self, digest: str) -> bool:
        return digest in self.finished

    def append(self, entry: dict[str, Any]) -> None:
        line = (json.dumps(entry, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")
        with self.lock:
            self.stream.write(line)
            self.stream.flush()
            self.finished.add(entry["input_hash"])
            self.entries[entry["input_hash"]] = entry

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.fsync(self.stream.fileno())
        self.stream.close()


def manifest_entry(digest: str, source: str, transcript: PanelTranscript, path: Path) -> dict[str, Any]:
    return {
        "input_hash": digest,
        "source": source,
        "tool": transcript.card.name,
        "transcript": path.name,
        "ship_pct": transcript.aggregate.ship_pct,
        "finished_at": transcript.created_at.isoformat(),
    }


def existing_transcript(path: Path) -> PanelTranscript | None:
    """The panel transcript already at this row's path, if one parses there."""
    if not path.is_file():
        return None
    try:
        transcript = load_transcript(path)
    except PanelError:
        return None
    return transcript if isinstance(transcript, PanelTranscript) else None


def adopt_orphan(transcript: PanelTranscript | None) -> PanelTranscript | None:
    """A complete transcript written just before a crash, before its manifest line."""
    return transcript if transcript is not None and not transcript.aggregate.incomplete else None


def keep_previous(path: Path) -> None:
    """Copy a transcript about to be redone (an incomplete panel's failed attempts, or a forced
    redo of an edited one) into OUT/replaced/, so no raw output is lost."""
    if path.is_file():
        archive = (
            path.parent
            / REPLACED_FOLDER
            / f"{path.stem}-{now_utc().strftime('%Y%m%dT%H%M%SZ')}-{uuid.uuid4().hex[:6]}.json"
        )
        archive.parent.mkdir(exist_ok=True)
        shutil.copy2(path, archive)


def edited_by_hand(transcript: PanelTranscript | None) -> bool:
    """An editor reran, edited or locked a verdict here: redoing the panel would throw that away."""
    return transcript is not None and (
        bool(transcript.revisions) or any(is_locked(review) for review in transcript.reviews)
    )


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

    hosts = [normalize_host(host) for host in options.hosts] or [settings.host]
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
        summary.model_calls = counts.model_calls
        summary.cache_hits = counts.cache_hits
        summary.coalesced = counts.coalesced
        summary.prompt_tokens = counts.prompt_tokens
        summary.completion_tokens = counts.completion_tokens
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

    async def review_row(self, card: ToolCard, source: str, digest: str, path: Path, row: int) -> None:
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
                f"Cannot write {path} or its manifest line: {error}. Finished panels are kept; "
                "free some space or choose another --out, then run the same command again."
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
        self.summary.results.append(result_of_transcript(row, source, transcript, path, "run"))
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
        fingerprint["digests"] = {model: backend.digests_for(model) for model in models}
        run = BatchRun(backend, personas, settings, manifest, summary, progress)
        run.redo_incomplete = options.redo_incomplete
        hosts = len(options.hosts) or 1
        slots = asyncio.Semaphore(options.concurrency or max(1, options.slots * hosts))
        run.report("start")
        seen: set[str] = set()

        async def review_and_release(card: ToolCard, source: str, digest: str, path: Path, row: int) -> None:
            try:
                await run.review_row(card, source, digest, path, row)
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
                    if digest in manifest and not forced_redo:
                        summary.already_done += 1
                        summary.results.append(
                            result_of_finished_row(
                                summary.rows,
                                row.source,
                                safe_slug(row.card.name),
                                manifest.entries[digest],
                                existing or existing_transcript(path),
                                path,
                            )
                        )
                        run.report("panel")
                        continue
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
                            "panel", f"{path.name} was changed by an editor; left alone (--force redoes it)"
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
                    group.create_task(review_and_release(row.card, row.source, digest, path, summary.rows))
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
