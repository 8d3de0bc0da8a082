import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from panel.cli import app
from panel.errors import CardError, ConfigError
from panel.measure.baseline import compare_reports, failed_thresholds, parse_threshold
from panel.measure.report import EvalReport
from panel.measure.suite import load_suite
from tests.support.eval_suites import CARD, WEAK, editors_agree, write_suite
from tests.support.ollama_fake import FakeOllama
from tests.support.paths import ROOT

runner = CliRunner()


def invoke(*args: Any):
    return runner.invoke(app, [str(arg) for arg in args])


@pytest.fixture
def suite(tmp_path: Path) -> Path:
    return write_suite(tmp_path / "suite")


def run_eval(ollama: FakeOllama, suite: Path, out: Path, *extra: Any):
    return invoke(
        "eval", suite, "--backend", "ollama", "--host", ollama.url, "--seed", 7, "--out", out, *extra
    )


def test_eval_end_to_end_over_the_fake(ollama: FakeOllama, suite: Path, tmp_path: Path):
    ollama.verdict_hook = editors_agree
    result = run_eval(ollama, suite, tmp_path / "out", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    overall = report["overall"]
    assert (overall["panel_agreement"], overall["panel_kappa"], overall["panel_discrimination"]) == (
        1.0,
        1.0,
        1.0,
    )
    assert (overall["agreement"], overall["kappa"]) == (1.0, 1.0)
    assert (overall["echo_rate"], overall["degenerate_rate"], overall["validity"]) == (0.0, 0.0, 1.0)
    assert overall["distinctness"] == 1.0 and overall["stability"] is None
    assert report["personas"]["business"]["agreement"] is None  # no business labels in this suite
    assert [row["call"] for row in report["rows"]] == ["ship", "skip", "ship", "skip"]
    assert report["model_calls"] == 16 and report["failures"] == []
    saved = tmp_path / "out" / "eval-suite" / "eval-report.json"
    assert json.loads(saved.read_text())["overall"] == overall

    again = run_eval(ollama, suite, tmp_path / "out", "--json")
    assert json.loads(again.stdout)["model_calls"] == 0  # resumed from batch's manifest
    assert len(ollama.chats) == 16


def test_a_model_that_ships_everything_does_not_discriminate(ollama: FakeOllama, suite: Path, tmp_path: Path):
    result = run_eval(ollama, suite, tmp_path / "out", "--json")
    overall = json.loads(result.stdout)["overall"]
    assert overall["panel_discrimination"] == 0.0 and overall["panel_agreement"] == 0.5
    assert overall["kappa"] == 0.0 and overall["agreement"] == 0.5


def test_samples_measure_stability(ollama: FakeOllama, suite: Path, tmp_path: Path):
    def dx_flips(body: dict[str, Any], verdict: dict[str, Any]) -> dict[str, Any]:
        verdict = editors_agree(body, verdict)
        if body["format"]["title"] == "DxVerdict" and body["options"]["seed"] == 8:
            verdict["decision"] = "skip" if verdict["decision"] == "ship" else "ship"
        return verdict

    ollama.verdict_hook = dx_flips
    report = json.loads(run_eval(ollama, suite, tmp_path / "out", "--samples", 2, "--json").stdout)
    assert report["seeds"] == [7, 8] and report["samples"] == 2
    assert report["personas"]["dx"]["stability"] == 0.0 and report["personas"]["futures"]["stability"] == 1.0
    assert report["overall"]["stability"] == 0.75


def test_baseline_and_thresholds(ollama: FakeOllama, suite: Path, tmp_path: Path):
    ollama.verdict_hook = editors_agree
    first = json.loads(run_eval(ollama, suite, tmp_path / "out", "--json").stdout)
    first["overall"]["agreement"], first["overall"]["echo_rate"] = 0.5, 0.25
    baseline = tmp_path / "baseline.json"
    baseline.write_text(json.dumps(first))

    result = run_eval(ollama, suite, tmp_path / "out", "--json", "--baseline", baseline)
    changes = {(c["scope"], c["metric"]): c for c in json.loads(result.stdout)["baseline"]["changes"]}
    assert changes["overall", "agreement"] | {} == {
        "scope": "overall",
        "metric": "agreement",
        "before": 0.5,
        "after": 1.0,
        "delta": 0.5,
        "better": True,
    }
    assert (
        changes["overall", "echo_rate"]["better"] is True and changes["overall", "validity"]["better"] is None
    )

    markdown = run_eval(ollama, suite, tmp_path / "out", "--format", "md", "--baseline", baseline)
    assert "| overall | agreement | 50% | 100% | +50 pts |" in markdown.stdout
    assert "| Pad API | skip | 0% | skip |" in markdown.stdout

    table = run_eval(ollama, suite, tmp_path / "out", "--baseline", baseline)
    assert (
        "panel eval: suite (4 cards, 16 verdicts" in table.stdout and "Against the baseline" in table.stdout
    )
    assert "eval-report.json" in table.stdout

    passing = run_eval(
        ollama, suite, tmp_path / "out", "--fail-under", "agreement=0.9", "--fail-over", "echo_rate=0.1"
    )
    assert passing.exit_code == 0, passing.output
    failing = run_eval(
        ollama, suite, tmp_path / "out", "--fail-under", "dx.agreement=1.01", "--fail-under", "stability=0.5"
    )
    assert failing.exit_code == 1
    assert "dx.agreement is 1.000, under 1.01" in failing.stderr
    assert "stability was not measured" in failing.stderr


def test_threshold_and_report_checks_are_pure():
    assert parse_threshold("dx.echo_rate=0.1", under=False).scope == "dx"
    with pytest.raises(ConfigError, match="METRIC=VALUE"):
        parse_threshold("accuracy=0.7", under=True)
    with pytest.raises(ConfigError, match="METRIC=VALUE"):
        parse_threshold("agreement", under=True)
    report = EvalReport.model_validate_json(
        json.dumps(
            {
                "created_at": "2026-11-26T12:00:00Z",
                "suite": "s",
                "suite_path": "s",
                "out_dir": "o",
                "gates": {},
                "cards": 0,
                "verdicts": 0,
                "overall": {"agreement": 0.6, "echo_rate": 0.2},
                "personas": {},
                "rows": [],
            }
        )
    )
    assert failed_thresholds(report, [parse_threshold("agreement=0.5", under=True)]) == []
    assert failed_thresholds(report, [parse_threshold("echo_rate=0.1", under=False)]) == [
        "echo_rate is 0.200, over 0.1"
    ]
    assert compare_reports(report, report)[0].delta == 0.0


def test_bad_suites_are_clear_errors(tmp_path: Path, ollama: FakeOllama):
    folder = tmp_path / "nolabels"
    folder.mkdir()
    (folder / "a.json").write_text(json.dumps({**CARD, "name": "A"}))
    result = run_eval(ollama, folder, tmp_path / "out")
    assert result.exit_code == 2 and "has no labels" in result.stderr and "Traceback" not in result.output
    jsonl = tmp_path / "suite.jsonl"
    jsonl.write_text(json.dumps({**CARD, "name": "A", "labels": {"panel": "maybe"}}) + "\n")
    with pytest.raises(CardError, match="line 1: bad labels: panel"):
        load_suite(jsonl)


def test_the_bundled_suite_is_balanced_and_labelled():
    suite = load_suite(ROOT / "examples" / "suites")
    labels = [entry.labels.panel for entry in suite.cards]
    assert len(labels) >= 16 and labels.count("ship") == labels.count("skip")
    assert all(entry.labels.personas for entry in suite.cards)


def test_a_failed_persona_is_a_result_and_a_rerun_does_not_ask_again(
    ollama: FakeOllama, suite: Path, tmp_path: Path
):
    broken = WEAK[0]

    def one_reviewer_fails(body: dict[str, Any], verdict: dict[str, Any]) -> dict[str, Any]:
        # One card's dx reviewer never answers validly: 15 of 16 verdicts.
        if f'"name": "{broken}"' in body["messages"][0]["content"] and body["format"]["title"] == "DxVerdict":
            return {**verdict, "decision": "maybe"}
        return editors_agree(body, verdict)

    ollama.verdict_hook = one_reviewer_fails
    first = json.loads(run_eval(ollama, suite, tmp_path / "out", "--json", "--slots", 1).stdout)
    assert first["overall"]["validity"] == 15 / 16
    calls = len(ollama.chats)
    again = json.loads(run_eval(ollama, suite, tmp_path / "out", "--json").stdout)
    assert again["model_calls"] == 0 and len(ollama.chats) == calls
    assert again["overall"]["validity"] == 15 / 16


def labelled(name: str, **labels: Any) -> str:
    return json.dumps({**CARD, "name": name, "labels": {"panel": "ship", **labels}})


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b'{"name": "A", "stars": ' + b"9" * 5000 + b"}", "line 2 holds an integer with thousands of digits"),
        (b"[" * 100_000 + b"]" * 100_000, "line 2 is nested too deeply"),
        (b'{"name": "\xff\xfe"}', "line 2 is not UTF-8 text"),
    ],
    ids=["5000-digit-integer", "deep-nesting", "non-utf8-bytes"],
)
def test_eval_suite_line_with_huge_int_deep_nesting_or_bad_bytes_is_a_clear_error(
    tmp_path: Path, ollama: FakeOllama, line: bytes, expected: str
):
    suite = tmp_path / "suite.jsonl"
    suite.write_bytes(labelled("Solid DB").encode() + b"\n" + line + b"\n")
    result = run_eval(ollama, suite, tmp_path / "out")
    assert result.exit_code == 2, result.output
    assert f"{suite} {expected}" in result.stderr
    assert isinstance(result.exception, SystemExit), result.exception  # no traceback
    assert ollama.chats == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"kind": "eval", "overall": [1]}', "is not an eval report this version can compare with"),
        ('{"kind": "eval", "cards": ' + "7" * 5000 + "}", "holds an integer with thousands of digits"),
        ('{"kind": "eval", "rows": ' + "[" * 100_000 + "]" * 100_000 + "}", "is nested too deeply"),
        ("[1, 2]", "is not an eval report"),
    ],
    ids=["wrong-shape", "huge-int", "deep-nesting", "not-a-table"],
)
def test_eval_bad_baseline_file_is_a_clear_error(
    suite: Path, tmp_path: Path, ollama: FakeOllama, text: str, expected: str
):
    baseline = tmp_path / "baseline.json"
    baseline.write_text(text)
    result = run_eval(ollama, suite, tmp_path / "out", "--baseline", baseline)
    assert result.exit_code == 2, result.output
    assert f"{baseline} {expected}" in result.stderr and "eval-report.json" in result.stderr
    assert isinstance(result.exception, SystemExit), result.exception  # no traceback


def test_eval_label_naming_an_unknown_persona_is_an_error(tmp_path: Path, ollama: FakeOllama):
    suite = tmp_path / "suite.jsonl"
    suite.write_text(
        labelled("Solid DB", personas={"dx": "ship"})
        + "\n"
        + labelled("Pad API", personas={"dev_x": "skip"})
        + "\n"
    )
    result = run_eval(ollama, suite, tmp_path / "out")
    assert result.exit_code == 2, result.output
    message = " ".join(result.stderr.split())
    assert f"{suite} line 2: the labels name 'dev_x', which is not a persona" in message
    assert "its personas are business, competition, dx, futures" in message
    assert ollama.chats == []  # refused before any panel runs


def test_eval_baseline_or_suite_that_is_a_fifo_does_not_hang(tmp_path: Path) -> None:
    """The guarded reader for every file: a FIFO named like a report or a suite is refused."""
    import os

    from panel.errors import CardError, TranscriptError
    from panel.measure.baseline import load_report
    from panel.measure.suite import read_jsonl_entries

    fifo = tmp_path / "eval-report.json"
    os.mkfifo(fifo)
    with pytest.raises(TranscriptError, match="not a regular file"):
        load_report(fifo)
    suite = tmp_path / "suite.jsonl"
    os.mkfifo(suite)
    with pytest.raises(CardError, match="not a regular file"):
        read_jsonl_entries(suite)
