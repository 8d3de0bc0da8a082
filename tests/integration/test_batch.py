import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from panel.batch.run import BatchOptions, read_rows, run_batch
from panel.cli import batch_display
from panel.store.transcripts import load_transcript
from tests.support.batches import BATCH_CHILD, CARD, batch_cli, manifest_hashes, transcripts, write_jsonl
from tests.support.ollama_fake import free_port_url, start_fake_ollama, stop_fake_ollama
from tests.support.paths import EXAMPLES, ROOT


def batch(input_path: Path, settings, **options):
    return run_batch(input_path, settings, BatchOptions(hosts=[settings.host], **options))


def test_bad_rows_are_reported_and_skipped(ollama, settings, tmp_path: Path):
    source = write_jsonl(
        tmp_path / "tools.jsonl",
        2,
        ["{not json", json.dumps({**CARD, "pricing": ""}), json.dumps({**CARD, "colour": "red"}), "[1, 2]"],
    )
    summary = batch(source, settings)
    assert summary.complete == 2 and summary.rows_skipped == 4 and not summary.ok
    problems = "\n".join(summary.bad_rows)
    assert f"{source} line 3 is not valid JSON" in problems
    assert "line 4 is not a valid tool card: pricing:" in problems
    assert "line 5 is not a valid tool card: colour: unknown field" in problems
    assert "line 6: a tool card must be a table of fields" in problems
    assert len(transcripts(settings.out_dir)) == 2


def test_csv_rows_encode_lists_with_bars_and_links_as_label_equals_url(tmp_path: Path):
    source = tmp_path / "tools.csv"
    source.write_text(
        "name,tagline,category,description,maker,license,pricing,facts,links\n"
        'pgvector,Vectors in Postgres,Database,"An extension, with ""quotes"".",Kane,PostgreSQL,Free,'
        '"HNSW | IVFFlat","Repository=https://github.com/pgvector/pgvector | https://example.com/docs"\n'
        "broken,,Database,Text,Someone,MIT,Free,,\n",
        encoding="utf-8",
    )
    good, bad = list(read_rows(source))
    assert good.card is not None and good.card.facts == ["HNSW", "IVFFlat"]
    assert [(link.label, link.url) for link in good.card.links] == [
        ("Repository", "https://github.com/pgvector/pgvector"),
        ("example.com", "https://example.com/docs"),
    ]
    assert good.card.description == 'An extension, with "quotes".'
    assert bad.card is None and f"{source} row 3" in bad.error and "tagline: Field required" in bad.error


def test_a_folder_of_card_files_is_an_input(ollama, settings, tmp_path: Path):
    folder = tmp_path / "cards"
    folder.mkdir()
    for name in ("pgvector.toml", "qwen3-8b.toml"):
        (folder / name).write_text((EXAMPLES / name).read_text())
    (folder / "broken.json").write_text("{")
    (folder / "notes.txt").write_text("not a card")
    summary = batch(folder, settings)
    assert summary.total == 3 and summary.complete == 2 and summary.rows_skipped == 1
    assert "broken.json is not valid JSON" in summary.bad_rows[0]


def test_a_rerun_skips_finished_panels_and_reruns_nothing(ollama, settings, tmp_path: Path):
    source = write_jsonl(tmp_path / "tools.jsonl", 3, [json.dumps({**CARD, "name": "tool 0"})])
    first = batch(source, settings)
    assert first.complete == 3 and first.duplicates == 1 and first.ok
    calls = len(ollama.chats)
    second = batch(source, settings)
    # The repeated row is finished too, now that its twin is in the manifest.
    assert second.already_done == 4 and second.panels_run == 0 and len(ollama.chats) == calls
    assert second.ok


def test_resume_after_a_simulated_crash_yields_every_panel_exactly_once(ollama, settings, tmp_path: Path):
    source = write_jsonl(tmp_path / "tools.jsonl", 4)
    batch(source, settings)
    out = settings.out_dir
    manifest = out / "manifest.jsonl"
    lines = manifest.read_text().splitlines(keepends=True)
    by_hash = {json.loads(line)["input_hash"]: json.loads(line) for line in lines}
    hashes = list(by_hash)
    # Crash states: panel 0 finished with a torn manifest line; panel 1's transcript was written but
    # its line was not; panel 2 never finished (its transcript is gone); a temp file was left behind.
    (out / by_hash[hashes[2]]["transcript"]).unlink()
    manifest.write_text(lines[3] + lines[0][: len(lines[0]) // 2])
    (out / ".tool-9.json.x.tmp").write_text("{")
    ollama.chats.clear()

    summary = batch(source, settings)
    assert summary.already_done == 1 and summary.recovered == 2 and summary.complete == 1
    # Only the panel whose transcript was lost was asked again, and the cache answered it.
    assert summary.model_calls == 0 and summary.cache_hits == 4 and not ollama.chats
    assert sorted(manifest_hashes(out)) == sorted(hashes)
    assert len(transcripts(out)) == 4
    for path in transcripts(out):
        assert load_transcript(path).aggregate.incomplete is False


def test_an_incomplete_panel_is_kept_out_of_the_manifest_and_retried(ollama, settings, tmp_path: Path):
    source = write_jsonl(tmp_path / "tools.jsonl", 1)

    def break_dx(body, verdict):  # the dx persona gets a bad reply every time
        return {**verdict, "decision": "maybe"} if body["format"]["title"] == "DxVerdict" else verdict

    ollama.verdict_hook = break_dx
    first = batch(source, settings, concurrency=1, slots=1)
    ollama.verdict_hook = None
    assert first.incomplete == 1 and not first.ok
    assert first.incomplete_panels[0]["failed"] and not (settings.out_dir / "manifest.jsonl").read_text()
    second = batch(source, settings)
    assert second.complete == 1 and second.ok
    # Three personas' answers came from the cache; only the failed one asked the model again.
    assert second.cache_hits == 3 and second.model_calls == 1
    assert len(transcripts(settings.out_dir)) == 1


def test_reruns_into_another_folder_are_answered_by_the_cache(ollama, settings, tmp_path: Path):
    source = write_jsonl(tmp_path / "tools.jsonl", 3)
    batch(source, settings, cache_path=tmp_path / "c.sqlite")
    calls = len(ollama.chats)
    elsewhere = settings.model_copy(update={"out_dir": tmp_path / "other"})
    summary = batch(source, elsewhere, cache_path=tmp_path / "c.sqlite")
    assert summary.complete == 3 and summary.model_calls == 0 and summary.cache_hits == 12
    assert len(ollama.chats) == calls
    uncached = batch(source, settings.model_copy(update={"out_dir": tmp_path / "third"}), use_cache=False)
    assert uncached.model_calls == 12 and uncached.cache is None


def test_a_host_down_does_not_stop_the_batch(ollama, settings, tmp_path: Path):
    source = write_jsonl(tmp_path / "tools.jsonl", 3)
    summary = run_batch(source, settings, BatchOptions(hosts=[free_port_url(), ollama.url], slots=2))
    assert summary.complete == 3 and summary.ok
    dead, live = summary.hosts.values()
    assert dead["calls"] == 0 and live["calls"] == 12


def test_cli_json_summary_and_exit_codes(ollama, tmp_path: Path):
    source = write_jsonl(tmp_path / "tools.jsonl", 2)
    common = ["--backend", "ollama", "--host", ollama.url, "--out", str(tmp_path / "out"), "--timeout", "5"]
    result = batch_cli(str(source), *common, "--json", "--quiet")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["complete"] == 2 and summary["ok"] is True and summary["model_calls"] == 8
    assert result.stderr == ""
    bad = write_jsonl(tmp_path / "bad.jsonl", 1, ["{"])
    result = batch_cli(str(bad), *common, "--json")
    assert result.exit_code == 1 and json.loads(result.stdout)["rows_skipped"] == 1


def test_cli_progress_is_plain_lines_when_not_a_terminal(ollama, tmp_path: Path, monkeypatch):
    monkeypatch.setattr(batch_display, "PLAIN_INTERVAL", 0.0)
    source = write_jsonl(tmp_path / "tools.jsonl", 3, ['{"name": "x"}'])
    result = batch_cli(
        str(source), "--backend", "ollama", "--host", ollama.url, "--out", str(tmp_path / "out")
    )
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert lines[0].startswith("batch: 0/4 rows")
    assert any(line.startswith("skipped: ") and "line 4 is not a valid tool card" in line for line in lines)
    assert lines[-1].startswith("batch: 4/4 rows, 3 complete, 0 incomplete, 1 skipped, 12 model calls")
    assert "\x1b[" not in result.stderr  # no bar, no colour codes
    assert "Batch summary" in result.stdout


def test_cli_bad_input_path_is_a_clear_error(tmp_path: Path):
    result = batch_cli(str(tmp_path / "missing.jsonl"))
    assert result.exit_code == 2 and "no such file or folder" in result.output
    (tmp_path / "tools.txt").write_text("x")
    result = batch_cli(str(tmp_path / "tools.txt"))
    assert result.exit_code == 2 and ".jsonl" in result.output and "Traceback" not in result.output


def wait_for_first_panel(manifest: Path, child: subprocess.Popen) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and child.poll() is None:
        if manifest.is_file() and manifest.stat().st_size:
            return
        time.sleep(0.005)
    raise AssertionError("the batch never finished a panel")


@pytest.mark.parametrize("kill_after", [0.0, 0.037])
def test_kill_9_at_any_moment_then_rerun_gives_every_panel_once(tmp_path: Path, kill_after: float):
    fake = start_fake_ollama(latency=0.05)
    try:
        source = write_jsonl(tmp_path / "tools.jsonl", 12)
        out = tmp_path / "out"
        script = BATCH_CHILD.format(root=str(ROOT), url=fake.url, out=str(out), source=str(source))
        child = subprocess.Popen([sys.executable, "-c", script], env={**os.environ, "PYTHONPATH": str(ROOT)})
        wait_for_first_panel(out / "manifest.jsonl", child)
        time.sleep(kill_after)
        child.send_signal(signal.SIGKILL)
        assert child.wait() == -signal.SIGKILL, "the batch ended before it could be killed"
        from panel.settings import Settings

        settings = Settings(backend="ollama", host=fake.url, timeout=5, out_dir=out)
        summary = run_batch(source, settings, BatchOptions(hosts=[fake.url]))
    finally:
        stop_fake_ollama(fake)
    assert summary.ok and summary.complete + summary.already_done + summary.recovered == 12
    hashes = manifest_hashes(out)
    assert len(hashes) == len(set(hashes)) == 12
    assert len(transcripts(out)) == 12
    assert sorted(load_transcript(path).card.name for path in transcripts(out)) == sorted(
        f"tool {n}" for n in range(12)
    )


def test_batch_leaves_panels_an_editor_locked_alone_unless_forced(ollama, settings, tmp_path: Path):
    source = write_jsonl(tmp_path / "tools.jsonl", 2)

    def break_dx_on_tool_0(body, verdict):
        if body["format"]["title"] == "DxVerdict" and '"tool 0"' in body["messages"][0]["content"]:
            return {**verdict, "confidence": 7}  # out of range every time: dx fails, panel incomplete
        return verdict

    ollama.verdict_hook = break_dx_on_tool_0
    first = batch(source, settings)
    assert first.incomplete == 1
    path = next(p for p in transcripts(settings.out_dir) if load_transcript(p).aggregate.incomplete)
    locked = load_transcript(path)
    locked.reviews[0].locked = True
    path.write_text(locked.model_dump_json(indent=2))
    before = path.read_bytes()

    second = batch(source, settings)
    assert second.left_alone == 1 and second.already_done == 1 and second.panels_run == 0
    assert path.read_bytes() == before

    ollama.verdict_hook = None
    forced = run_batch(source, settings, BatchOptions(hosts=[settings.host], force=True))
    assert forced.left_alone == 0 and forced.complete == 1
    assert not load_transcript(path).aggregate.incomplete


def test_force_redoes_an_edited_complete_panel_and_keeps_the_old_file(ollama, settings, tmp_path: Path):
    source = write_jsonl(tmp_path / "tools.jsonl", 1)
    batch(source, settings)
    path = transcripts(settings.out_dir)[0]
    edited = load_transcript(path)
    edited.reviews[1].locked = True
    path.write_text(edited.model_dump_json(indent=2))
    again = batch(source, settings)
    assert again.already_done == 1 and again.panels_run == 0
    forced = run_batch(source, settings, BatchOptions(hosts=[settings.host], force=True))
    assert forced.panels_run == 1 and forced.complete == 1
    assert not load_transcript(path).reviews[1].locked
    kept = list((settings.out_dir / "replaced").glob("*.json"))
    assert len(kept) == 1 and load_transcript(kept[0]).reviews[1].locked


def test_retrying_an_incomplete_panel_keeps_its_failed_attempts(ollama, settings, tmp_path: Path):
    source = write_jsonl(tmp_path / "tools.jsonl", 1)
    ollama.enqueue(*["garbage"] * 20)  # every attempt of every persona
    assert batch(source, settings, concurrency=1).incomplete == 1
    assert batch(source, settings).complete == 1
    kept = list((settings.out_dir / "replaced").glob("*.json"))
    assert len(kept) == 1
    raws = [a.raw for review in load_transcript(kept[0]).reviews for a in review.attempts]
    assert "garbage" in raws


def test_csv_cell_over_the_csv_limit_is_a_skipped_row(ollama, settings, tmp_path: Path):
    import csv as csv_module

    source = tmp_path / "tools.csv"
    with source.open("w", newline="") as stream:
        writer = csv_module.writer(stream)
        writer.writerow(list(CARD))
        writer.writerow([json.dumps(v) if isinstance(v, list) else v for v in CARD.values()])
        writer.writerow(["x" * (csv_module.field_size_limit() + 10)] + ["y"] * (len(CARD) - 1))
    summary = batch(source, settings)
    assert summary.complete == 1 and summary.rows_skipped == 1
    assert any("row 3" in problem and "CSV" in problem for problem in summary.bad_rows)


def test_card_size_limit_applies_to_batch_rows(ollama, settings, tmp_path: Path):
    source = tmp_path / "tools.jsonl"
    big = {**CARD, "facts": ["a fact that takes room " * 10] * 10}
    source.write_text(json.dumps(big) + "\n" + json.dumps({**big, "name": "other"}) + "\n")
    small = settings.model_copy(update={"max_card_bytes": 2048})
    summary = batch(source, small)
    assert summary.rows_skipped == 2 and "PANEL_MAX_CARD_BYTES" in summary.bad_rows[0]


def test_jsonl_broken_in_the_middle_skips_only_that_line(ollama, settings, tmp_path: Path):
    good = [json.dumps({**CARD, "name": f"tool {n}"}) for n in range(2)]
    source = tmp_path / "tools.jsonl"
    source.write_text(good[0] + "\n" + good[1][: len(good[1]) // 2] + "\n" + good[1] + "\n")
    summary = batch(source, settings)
    assert summary.complete == 2 and summary.rows_skipped == 1
    assert f"{source} line 2 is not valid JSON" in summary.bad_rows[0]


def test_a_deleted_or_truncated_batch_transcript_is_redone_not_reported_done(
    ollama, settings, tmp_path: Path
):
    source = write_jsonl(tmp_path / "tools.jsonl", 3)
    first = batch(source, settings)
    assert first.complete == 3
    out = settings.out_dir
    deleted, truncated, kept = (Path(result.transcript) for result in first.results)
    deleted.unlink()
    truncated.write_text(truncated.read_text()[:200])

    again = batch(source, settings, use_cache=False)
    assert again.already_done == 1 and again.redone == 2 and again.complete == 2 and again.ok
    outcomes = {Path(result.transcript).name: result.outcome for result in again.results}
    assert outcomes == {deleted.name: "redone", truncated.name: "redone", kept.name: "already_done"}
    for result in again.results:  # every result was read from a transcript that is there
        assert load_transcript(result.transcript).card.name == result.tool
    # The damaged file is kept, as for any redo.
    assert len(list((out / "replaced").glob("*.json"))) == 1


def test_batch_manifest_keys_include_the_host_where_the_server_reports_no_digest():
    from panel.batch.manifest import build_identities

    # A server that reports no digest is known by its host: another host is another panel.
    assert build_identities([("http://a/v1", None)]) != build_identities([("http://b/v1", None)])
    # A reported digest identifies the build, whichever host of a pool serves it.
    assert build_identities([("http://a:11434", "sha256:x"), ("http://b:11434", "sha256:x")]) == ["sha256:x"]
    assert build_identities([("http://a/v1", "fp_1")]) != build_identities([("http://a/v1", "fp_2")])


def test_cli_a_csv_row_with_a_bad_link_is_skipped_naming_the_row_and_field(ollama, tmp_path: Path):
    source = tmp_path / "tools.csv"
    row = "Tool {},Does a thing,Library,A library.,Someone,MIT,Free,{}\n"
    source.write_text(
        "name,tagline,category,description,maker,license,pricing,links\n"
        + row.format(1, "Home=https://example.com")
        + row.format(2, "Home=example.com/tool"),
        encoding="utf-8",
    )
    result = batch_cli(
        str(source), "--backend", "ollama", "--host", ollama.url, "--out", str(tmp_path / "out"), "--json"
    )
    assert result.exit_code == 1, result.output
    summary = json.loads(result.stdout)
    assert summary["complete"] == 1 and summary["rows_skipped"] == 1
    assert (
        f"{source} row 3 is not a valid tool card: links.0.url: link 'Home': 'example.com/tool' is not a web"
        in (result.output)
    )
    assert "http:// or https://" in result.output
