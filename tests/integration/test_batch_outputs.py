"""`panel batch --results-csv`, and how a finished or interrupted batch says how to resume
(issue 21 item 8)."""

from __future__ import annotations

import csv
import json
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from panel.batch import run as batch_run
from panel.batch.run import BatchSummary
from panel.cli import app
from tests.support.batches import CARD
from tests.support.ollama_fake import FakeOllama

runner = CliRunner()


def write_cards(path: Path, names: list[str]) -> Path:
    path.write_text("".join(json.dumps({**CARD, "name": name}) + "\n" for name in names), encoding="utf-8")
    return path


def test_results_csv_has_a_row_per_tool_that_a_spreadsheet_will_not_run(
    ollama: FakeOllama, tmp_path: Path
) -> None:
    cards = write_cards(tmp_path / "tools.jsonl", ["Alpha", '=HYPERLINK("http://x")'])
    table = tmp_path / "results.csv"
    flags = ["--backend", "ollama", "--host", ollama.url, "--out", str(tmp_path / "out")]
    result = runner.invoke(app, ["batch", str(cards), *flags, "-q", "--results-csv", str(table)])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(table.open(encoding="utf-8")))
    assert [row["tool"] for row in rows] == ["Alpha", '\'=HYPERLINK("http://x")']
    assert [row["ship_pct"] for row in rows] == ["100", "100"]
    assert {row["complete"] for row in rows} == {"yes"}
    assert all(Path(row["transcript"]).is_file() for row in rows)


def test_an_incomplete_batch_names_the_command_that_resumes_it(ollama: FakeOllama, tmp_path: Path) -> None:
    cards = write_cards(tmp_path / "tools.jsonl", ["Alpha"])
    ollama.enqueue(*["not json"] * 20)  # every attempt of every persona fails
    args = ["batch", str(cards), "--backend", "ollama", "--host", ollama.url, "--out", str(tmp_path / "o")]
    result = runner.invoke(app, args, terminal_width=400)
    assert result.exit_code == 1
    assert "0 of 1 rows have a complete panel." in result.stdout
    assert shlex.join(["panel", *args]) in " ".join(result.stdout.split())
    as_json = runner.invoke(app, [*args, "--json"])
    assert json.loads(as_json.stdout)["resume"] == shlex.join(["panel", *args, "--json"])


@pytest.mark.parametrize("as_json", [False, True])
def test_ctrl_c_says_how_many_rows_are_done_and_how_to_resume(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, as_json: bool
) -> None:
    async def interrupted_batch(input_path, settings, options, progress, notice):  # noqa: ANN001
        summary = BatchSummary(input=str(input_path), out_dir="o", manifest="o/manifest.jsonl", cache=None)
        summary.total, summary.panels_run, summary.complete = 5, 2, 2
        progress("panel", summary, None)
        raise KeyboardInterrupt

    monkeypatch.setattr(batch_run, "run_batch_async", interrupted_batch)
    args = ["batch", "tools.jsonl", "--out", "o", *(["--json"] if as_json else [])]
    result = runner.invoke(app, args, terminal_width=400)
    assert result.exit_code == 130
    message = json.loads(result.stdout)["error"]["message"] if as_json else result.stderr
    assert "Interrupted (2 of 5 rows done)" in message
    assert f"Resume with: {shlex.join(['panel', *args])}" in " ".join(message.split())
