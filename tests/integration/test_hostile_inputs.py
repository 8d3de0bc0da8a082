"""Hostile or odd input files (huge integers, deep nesting, a BOM, a huge line, thousands of
columns): one bad row never stops a batch, and the same input alone is exit 2 with a message."""

from __future__ import annotations

import json
import os
from pathlib import Path

from typer.testing import CliRunner

from panel.cli import app
from panel.records.cards import load_card
from panel.store.transcripts import load_transcript
from tests.support.batches import CARD, good_row, run_batch_noting, transcripts
from tests.support.paths import EXAMPLES

runner = CliRunner()
HUGE_INTEGER = "9" * 5000
DEEP_NESTING = "[" * 30000 + "]" * 30000


def invoke(*args: str):
    return runner.invoke(app, list(args))


def test_a_huge_integer_or_deep_nesting_in_a_jsonl_row_is_skipped(ollama, settings, tmp_path: Path):
    source = tmp_path / "tools.jsonl"
    rows = [
        good_row(1),
        json.dumps({**CARD, "name": "big"})[:-1] + f', "facts": [{HUGE_INTEGER}]}}',
        DEEP_NESTING,
        json.dumps({**CARD, "name": "deep"})[:-1] + f', "facts": {DEEP_NESTING}}}',
        good_row(2),
    ]
    source.write_text("\n".join(rows) + "\n")
    summary, _ = run_batch_noting(source, settings)
    assert summary.complete == 2 and summary.rows_skipped == 3
    for error, line in zip(summary.bad_rows, (2, 3, 4), strict=True):
        assert f"tools.jsonl line {line} " in error
    assert sorted(load_transcript(path).card.name for path in transcripts(settings.out_dir)) == [
        "tool 1",
        "tool 2",
    ]


def test_a_huge_integer_or_deep_nesting_in_a_csv_row_is_skipped(ollama, settings, tmp_path: Path):
    header = "name,tagline,category,description,maker,license,pricing,facts"
    values = ",".join(f'"{CARD[key]}"' for key in header.split(",")[1:-1])
    source = tmp_path / "tools.csv"
    source.write_text(
        "\n".join(
            [
                header,
                f"one,{values},fast",
                f"big,{values},[{HUGE_INTEGER}]",
                f"deep,{values},{DEEP_NESTING}",
                f"two,{values},fast",
            ]
        )
        + "\n"
    )
    summary, _ = run_batch_noting(source, settings)
    assert summary.complete == 2 and summary.rows_skipped == 2
    assert "row 3" in summary.bad_rows[0] and "row 4" in summary.bad_rows[1]


def test_a_huge_integer_or_deep_nesting_in_a_folder_card_is_skipped(ollama, settings, tmp_path: Path):
    folder = tmp_path / "cards"
    folder.mkdir()
    (folder / "a-good.json").write_text(good_row(1))
    (folder / "b-big.json").write_text(json.dumps(CARD)[:-1] + f', "facts": [{HUGE_INTEGER}]}}')
    (folder / "c-big.toml").write_text(f"name = 'x'\nfacts = [{HUGE_INTEGER}]\n")
    (folder / "d-big.yaml").write_text(f"name: x\nfacts: [{HUGE_INTEGER}]\n")
    (folder / "e-deep.json").write_text(DEEP_NESTING)
    (folder / "f-good.json").write_text(good_row(2))
    os.mkfifo(folder / "g-fifo.toml")
    (folder / "h-zero.json").symlink_to("/dev/zero")
    summary, _ = run_batch_noting(folder, settings)
    assert summary.complete == 2 and summary.rows_skipped == 6
    assert sum("not a regular file" in error for error in summary.bad_rows) == 2


def test_the_same_inputs_alone_exit_2_with_a_message(ollama, settings, tmp_path: Path):
    big_card = tmp_path / "big.json"
    big_card.write_text(json.dumps(CARD)[:-1] + f', "facts": [{HUGE_INTEGER}]}}')
    deep_card = tmp_path / "deep.json"
    deep_card.write_text(DEEP_NESTING)
    panel = tmp_path / "out"
    assert (
        invoke("run", str(EXAMPLES / "pgvector.toml"), "--host", ollama.url, "--out", str(panel)).exit_code
        == 0
    )
    transcript = next(panel.glob("*.json"))
    big_votes = tmp_path / "votes.json"
    big_votes.write_text(f'{{"pgvector": {{"up": {HUGE_INTEGER}, "down": 1}}}}')
    deep_votes = tmp_path / "deep-votes.json"
    deep_votes.write_text(DEEP_NESTING)
    deep_transcript = tmp_path / "deep-transcript.json"
    deep_transcript.write_text(DEEP_NESTING)
    big_transcript = tmp_path / "big-transcript.json"
    big_transcript.write_text(f'{{"schema_version": {HUGE_INTEGER}}}')
    commands = [
        ("run", str(big_card), "--host", ollama.url),
        ("run", str(deep_card), "--host", ollama.url),
        ("render", str(transcript), "--votes", str(big_votes)),
        ("render", str(transcript), "--votes", str(deep_votes)),
        ("show", str(deep_transcript)),
        ("show", str(big_transcript)),
        ("render", str(deep_transcript)),
    ]
    for command in commands:
        result = invoke(*command)
        assert result.exit_code == 2, (command, result.output)
        assert "Traceback" not in result.output and "Error:" in result.output, command
        assert len(result.output) < 2000, command


def test_a_bom_in_a_toml_card_and_an_excel_csv_is_accepted(ollama, settings, tmp_path: Path):
    card = tmp_path / "card.toml"
    card.write_text("\ufeff" + (EXAMPLES / "pgvector.toml").read_text(), encoding="utf-8")
    assert load_card(card).name == "pgvector"
    source = tmp_path / "tools.csv"
    columns = ["name", "tagline", "category", "description", "maker", "license", "pricing"]
    row = ",".join(f'"{CARD[column]}"' for column in columns)
    source.write_text("\ufeff" + ",".join(columns) + "\r\n" + row + "\r\n", encoding="utf-8")
    summary, _ = run_batch_noting(source, settings)
    assert summary.complete == 1 and summary.rows_skipped == 0


def test_memory_stays_bounded_on_a_huge_jsonl_line(tmp_path: Path):
    import tracemalloc

    from panel.batch.run import read_rows

    source = tmp_path / "tools.jsonl"
    with source.open("w") as stream:
        stream.write(good_row(1) + "\n")
        stream.write('{"name": "' + "x" * 30_000_000 + '"}\n')
        stream.write(good_row(2) + "\n")
    tracemalloc.start()
    try:
        rows = list(read_rows(source))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [row.card.name if row.card else None for row in rows] == ["tool 1", None, "tool 2"]
    assert "30,000,013 characters" in rows[1].error
    assert peak < 5_000_000, f"peak {peak:,} bytes"


def test_ten_thousand_unknown_csv_columns_give_a_short_error(ollama, settings, tmp_path: Path):
    columns = ["name", "tagline", "category", "description", "maker", "license", "pricing"]
    extra = [f"column_{number}" for number in range(10_000)]
    source = tmp_path / "tools.csv"
    row = [CARD[column] for column in columns] + ["x"] * len(extra)
    source.write_text(",".join(columns + extra) + "\n" + ",".join(f'"{cell}"' for cell in row) + "\n")
    summary, _ = run_batch_noting(source, settings)
    assert summary.rows_skipped == 1
    assert len(summary.bad_rows[0]) < 1000
    assert "column_0: unknown field" in summary.bad_rows[0] and "9,995 more problems" in summary.bad_rows[0]
