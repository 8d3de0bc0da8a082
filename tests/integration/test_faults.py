"""Model faults in a batch, against the Ollama-speaking server: the batch always finishes."""

import asyncio
import json
import threading
import time
from pathlib import Path

from werkzeug import Response

from panel.backends.pool import HostPool
from panel.batch.run import BatchOptions, run_batch
from panel.records.chat import ChatRequest
from panel.store.transcripts import load_transcript
from tests.support.batches import batch_cli, manifest_hashes, transcripts, write_jsonl
from tests.support.ollama_fake import start_fake_ollama, stop_fake_ollama


def test_model_vanishing_mid_batch(ollama, settings, tmp_path: Path):
    source = write_jsonl(tmp_path / "tools.jsonl", 4)
    served = []

    def vanish_after_first_panel(body, verdict):
        served.append(body["model"])
        if len(served) == 4:
            ollama.models.clear()  # `ollama rm` on the server: /api/chat now answers 404
        return verdict

    ollama.verdict_hook = vanish_after_first_panel
    summary = run_batch(source, settings, BatchOptions(hosts=[settings.host], concurrency=1, slots=4))
    assert summary.complete == 1 and summary.incomplete == 3 and not summary.ok
    failed = [load_transcript(path) for path in transcripts(settings.out_dir)]
    broken = [t for t in failed if t.aggregate.incomplete]
    assert len(broken) == 3
    for transcript in broken:
        assert transcript.aggregate.ship_pct is None
        assert all("ollama pull llama3.1:8b" in review.error for review in transcript.reviews)


# -- issue 10, what broke: 7. stale or misattributed results; 9. no fail-fast ---------------------


def test_stale_results_a_changed_digest_reruns_the_panels(ollama, settings, tmp_path: Path):
    source = write_jsonl(tmp_path / "tools.jsonl", 2)
    first = run_batch(source, settings, BatchOptions(hosts=[settings.host]))
    assert first.complete == 2
    ollama.models["llama3.1:8b"] = "ef" * 32  # `ollama pull` fetched a new build
    again = run_batch(source, settings, BatchOptions(hosts=[settings.host]))
    assert again.already_done == 0 and again.complete == 2
    assert again.cache_hits == 0 and again.model_calls == 8  # the old build's replies are not reused
    digests = sorted(load_transcript(path).models["dx"].digest for path in transcripts(settings.out_dir))
    assert digests == ["ab" * 32] * 2 + ["ef" * 32] * 2


def test_misattributed_results_each_host_records_and_caches_its_own_digest(ollama, settings, tmp_path: Path):
    other = start_fake_ollama(models={"llama3.1:8b": "99" * 32}, latency=0.05)
    ollama.latency = 0.05
    try:
        digests = {ollama.url: "ab" * 32, other.url: "99" * 32}
        source = write_jsonl(tmp_path / "tools.jsonl", 4)
        summary = run_batch(source, settings, BatchOptions(hosts=[ollama.url, other.url], slots=2))
        assert summary.complete == 4
        attempts = [
            attempt
            for path in transcripts(settings.out_dir)
            for review in load_transcript(path).reviews
            for attempt in review.attempts
        ]
        assert {attempt.host for attempt in attempts} == set(digests)  # both hosts answered
        assert all(attempt.model_digest == digests[attempt.host] for attempt in attempts)
        for path in transcripts(settings.out_dir):
            transcript = load_transcript(path)
            for review in transcript.reviews:
                assert transcript.models[review.persona].digest == review.attempts[-1].model_digest
        # Host A alone: only the replies its own build wrote come from the cache.
        from_a = sum(attempt.host == ollama.url for attempt in attempts)
        rerun = run_batch(
            source,
            settings.model_copy(update={"out_dir": tmp_path / "a-only"}),
            BatchOptions(hosts=[ollama.url]),
        )
        assert rerun.cache_hits == from_a and rerun.model_calls == len(attempts) - from_a
    finally:
        stop_fake_ollama(other)


def test_no_fail_fast_a_500_from_one_model_sets_aside_that_model_not_the_host(ollama):
    ollama.models["qwen3:8b"] = "12" * 32
    failed_once = threading.Event()

    def fail_llama_once(body):
        failed_once.set()
        return Response(json.dumps({"error": "runner crashed"}), status=500)

    ollama.enqueue(fail_llama_once)

    async def scenario():
        pool = HostPool([ollama.url], timeout=5, cooldown=5)
        try:
            await pool.prepare(["llama3.1:8b", "qwen3:8b"])
            llama = asyncio.create_task(
                pool.chat(ChatRequest("llama3.1:8b", [{"role": "user", "content": "a"}], {}, {}))
            )
            await asyncio.to_thread(failed_once.wait, 5)
            await asyncio.sleep(0.1)
            started = time.monotonic()
            await pool.chat(ChatRequest("qwen3:8b", [{"role": "user", "content": "b"}], {}, {}))
            other_model_waited = time.monotonic() - started
            llama.cancel()
            return other_model_waited
        finally:
            await pool.aclose()

    assert asyncio.run(scenario()) < 2  # not the 5 s cooldown of the whole host


def test_no_fail_fast_the_only_host_dying_mid_batch_exits_3_and_a_rerun_completes_every_panel_once(
    tmp_path: Path,
):
    fake = start_fake_ollama(latency=0.05)
    port = int(fake.url.rsplit(":", 1)[1])
    died: list[float] = []

    def die_after_two_panels(body, verdict):
        if len(fake.chats) == 8 and not died:
            died.append(time.monotonic())
            threading.Thread(target=fake.server.stop).start()
        return verdict

    fake.verdict_hook = die_after_two_panels
    source = write_jsonl(tmp_path / "tools.jsonl", 6)
    out = tmp_path / "out"
    common = ["--backend", "ollama", "--host", fake.url, "--out", str(out), "--timeout", "5", "--slots", "4"]
    try:
        result = batch_cli(str(source), *common, "--quiet")
        assert result.exit_code == 3, result.output
        assert time.monotonic() - died[0] < 60
        assert "start the server again" in result.output
        again = start_fake_ollama(port=port)
        try:
            result = batch_cli(str(source), *common, "--json", "--quiet")
            assert result.exit_code == 0, result.output
        finally:
            stop_fake_ollama(again)
    finally:
        stop_fake_ollama(fake)
    hashes = manifest_hashes(out)
    assert len(hashes) == 6 and len(set(hashes)) == 6
    assert len(transcripts(out)) == 6
    assert all(not load_transcript(path).aggregate.incomplete for path in transcripts(out))


def test_context_overflow_a_card_too_long_for_the_model_is_one_bad_row_of_a_batch(
    ollama, settings, tmp_path: Path
):
    from tests.support.cards import long_card

    ollama.context_length = 8192
    source = write_jsonl(tmp_path / "tools.jsonl", 2, [long_card().model_dump_json()])
    summary = run_batch(source, settings, BatchOptions(hosts=[settings.host]))
    assert summary.complete == 2 and summary.rows_skipped == 1
    assert "too long for llama3.1:8b" in summary.bad_rows[0] and "line 3" in summary.bad_rows[0]
