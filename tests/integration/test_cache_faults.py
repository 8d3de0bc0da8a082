"""A response cache that cannot write or read is a warning, never a failed persona."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import pytest

from panel.backends import response_cache as cache_module
from panel.backends.ollama import OllamaBackend
from panel.backends.response_cache import CachedBackend, ResponseCache
from panel.engine.runner import review_tool
from panel.records.cards import load_card
from panel.records.personas import load_personas
from panel.store.transcripts import load_transcript
from tests.support.batches import good_row, run_batch_noting, transcripts
from tests.support.paths import EXAMPLES

PERSONAS = load_personas()


def test_cache_on_a_full_disk_is_a_warning_and_keeps_every_valid_answer(
    ollama, settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    def disk_full(self, key, model, reply):
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(ResponseCache, "put", disk_full)
    source = tmp_path / "tools.jsonl"
    source.write_text("\n".join(good_row(number) for number in range(8)) + "\n")
    summary, notices = run_batch_noting(source, settings, cache_path=tmp_path / "cache.sqlite")
    assert summary.complete == 8 and summary.incomplete == 0 and summary.ok
    for path in transcripts(settings.out_dir):
        transcript = load_transcript(path)
        assert [review.status for review in transcript.reviews] == ["ok"] * 4
        assert all(review.last_raw for review in transcript.reviews)
    warnings = [notice for notice in notices if "response cache" in notice]
    assert len(warnings) == 1 and "disk is full" in warnings[0]
    assert summary.warnings == warnings  # in --json too


def test_cache_locked_by_another_process_does_not_block_the_event_loop(
    ollama, settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(cache_module, "BUSY_TIMEOUT", 2.0)
    path = tmp_path / "cache.sqlite"
    # Another process holds the write lock of a database not yet in WAL mode: opening it as the
    # cache (which switches it to WAL) waits for the lock, then fails.
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("CREATE TABLE t (x)")
    other.execute("BEGIN EXCLUSIVE")
    other.execute("INSERT INTO t VALUES (1)")
    card = load_card(EXAMPLES / "pgvector.toml")
    notices: list[str] = []

    async def panel_with_ticker():
        longest_gap = 0.0
        stop = asyncio.Event()

        async def tick():
            nonlocal longest_gap
            last = time.perf_counter()
            while not stop.is_set():
                await asyncio.sleep(0.02)
                now = time.perf_counter()
                longest_gap, last = max(longest_gap, now - last), now

        ticker = asyncio.create_task(tick())
        backend = CachedBackend(OllamaBackend(ollama.url, timeout=5), ResponseCache(path), notices.append)
        try:
            result = await review_tool(backend, card, PERSONAS, settings, save=False)
        finally:
            await backend.aclose()
            stop.set()
            await ticker
        return result, longest_gap

    try:
        result, longest_gap = asyncio.run(panel_with_ticker())
    finally:
        other.close()
    assert [review.status for review in result.transcript.reviews] == ["ok"] * 4
    assert longest_gap < 1.0, f"the event loop stood still for {longest_gap:.2f} s"
    assert len(notices) == 1 and "locked" in notices[0]
