"""`panel eval` says what each figure rests on: n beside every percentage, a mark under 5 cards,
and ✓/✗ against --fail-under/--fail-over, in the terminal, in Markdown and in the JSON report."""

import json
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from typer.testing import CliRunner

from panel.cli import app
from panel.cli.eval_display import eval_markdown, print_eval
from panel.measure.baseline import check_thresholds, parse_threshold
from panel.measure.report import EvalReport
from tests.support.eval_suites import VOICE, editors_agree, write_suite
from tests.support.ollama_fake import FakeOllama

runner = CliRunner()
WIDE = {"COLUMNS": "200"}


@pytest.fixture
def suite(tmp_path: Path) -> Path:
    """Four cards (fewer than five: every figure is marked), dx labelled on each."""
    return write_suite(tmp_path / "suite")


def run_eval(ollama: FakeOllama, suite: Path, out: Path, *extra: Any):
    args = ["eval", suite, "--backend", "ollama", "--host", ollama.url, "--seed", 7, "--out", out, *extra]
    return runner.invoke(app, [str(arg) for arg in args], env=WIDE)


THRESHOLDS = (
    "--fail-under",
    "agreement=0.9",
    "--fail-over",
    "echo_rate=0.1",
    "--fail-under",
    "stability=0.5",
)


def line_with(text: str, *parts: str) -> str:
    return next(line for line in text.splitlines() if all(part in line for part in parts))


def test_eval_terminal_shows_n_marks_few_cards_and_checks_thresholds(
    ollama: FakeOllama, suite: Path, tmp_path: Path
):
    ollama.verdict_hook = editors_agree
    result = run_eval(ollama, suite, tmp_path / "out", *THRESHOLDS)
    assert result.exit_code == 1, result.output
    agreement = line_with(result.stdout, "│   agreement ")
    assert agreement.count("100% (4 of 4) †") == 2  # overall and dx; the others unlabelled
    assert "0% (0 of 16) †" in line_with(result.stdout, "│   echo, published ")
    assert "+1.00 (n=4) †" in line_with(result.stdout, "│   panel kappa ")
    assert "† rests on fewer than 5 cards" in result.stdout
    assert "✓" in line_with(result.stdout, "agreement", "≥ 90%", "100%")
    assert "✓" in line_with(result.stdout, "echo_rate", "≤ 10%", "0%")
    assert "✗" in line_with(result.stdout, "stability", "≥ 50%", "not measured")
    assert "Threshold missed: stability was not measured" in result.stderr


def test_eval_narrow_terminal_puts_the_count_under_the_value(ollama: FakeOllama, suite: Path, tmp_path: Path):
    ollama.verdict_hook = editors_agree
    args = ["eval", suite, "--backend", "ollama", "--host", ollama.url, "--out", tmp_path / "out"]
    result = runner.invoke(app, [str(arg) for arg in args], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    assert max(len(line) for line in result.stdout.splitlines() if "│" in line) <= 80
    assert "(0 of 16)" in result.stdout and "(4 of 4)" in result.stdout


def test_eval_markdown_shows_n_marks_and_threshold_checks(ollama: FakeOllama, suite: Path, tmp_path: Path):
    ollama.verdict_hook = editors_agree
    result = run_eval(ollama, suite, tmp_path / "out", "--format", "md", *THRESHOLDS)
    assert result.exit_code == 1
    markdown = result.stdout
    assert "| agreement | 100% (4 of 4) † | — | — | 100% (4 of 4) † | — |" in markdown
    assert "| panel agreement | 100% (4 of 4) † |" in markdown
    assert "† rests on fewer than 5 cards" in markdown
    assert "| ✓ | agreement | ≥ 90% | 100% |" in markdown
    assert "| ✓ | echo_rate | ≤ 10% | 0% |" in markdown
    assert "| ✗ | stability | ≥ 50% | not measured |" in markdown


def test_eval_report_carries_counts_and_an_older_report_is_still_a_baseline(
    ollama: FakeOllama, suite: Path, tmp_path: Path
):
    ollama.verdict_hook = editors_agree
    result = run_eval(ollama, suite, tmp_path / "out", "--json", "--fail-under", "dx.agreement=0.5")
    data = json.loads(result.stdout)
    assert data["overall"]["agreement"] == 1.0  # the old keys, as they were
    assert data["overall_counts"]["agreement"] == {"n": 4, "hits": 4, "cards": 4, "total": None}
    assert data["overall_counts"]["validity"] == {"n": 16, "hits": 16, "cards": 4, "total": None}
    assert data["overall_counts"]["kappa"] == {"n": 4, "hits": None, "cards": 4, "total": None}
    assert data["persona_counts"]["business"]["agreement"] == {"n": 0, "hits": 0, "cards": 0, "total": None}
    assert data["persona_counts"]["dx"]["distinctness"] == {"n": 4, "hits": 4.0, "cards": 4, "total": None}
    assert data["thresholds"] == [
        {
            "name": "dx.agreement",
            "metric": "agreement",
            "limit": 0.5,
            "under": True,
            "value": 1.0,
            "passed": True,
        }
    ]
    saved = json.loads((tmp_path / "out" / "eval-suite" / "eval-report.json").read_text())
    assert saved["overall_counts"] == data["overall_counts"]

    older = {key: value for key, value in saved.items() if key not in ("overall_counts", "persona_counts")}
    older["overall"]["agreement"] = 0.5
    baseline = tmp_path / "older.json"
    baseline.write_text(json.dumps(older))
    compared = run_eval(ollama, suite, tmp_path / "out", "--baseline", baseline)
    assert compared.exit_code == 0, compared.output
    assert "+50 pts" in line_with(compared.stdout, "overall", "agreement", "50%")


def test_eval_identical_quotes_score_the_same_for_every_persona(
    ollama: FakeOllama, suite: Path, tmp_path: Path
):
    def one_voice(body: dict[str, Any], verdict: dict[str, Any]) -> dict[str, Any]:
        verdict = editors_agree(body, verdict)
        verdict["quote"] = " ".join(VOICE.values())  # every lens word, in one quote for all
        return verdict

    ollama.verdict_hook = one_voice
    data = json.loads(run_eval(ollama, suite, tmp_path / "out", "--json").stdout)
    assert {metrics["distinctness"] for metrics in data["personas"].values()} == {0.25}
    assert data["persona_counts"]["business"]["distinctness"] == {
        "n": 4,
        "hits": 1.0,
        "cards": 4,
        "total": None,
    }


def one_card_report(**extra: Any) -> EvalReport:
    """A report resting on one card, as an older version (no counts) or this one wrote it."""
    return EvalReport.model_validate(
        {
            "created_at": "2026-11-26T12:00:00Z",
            "suite": "s",
            "suite_path": "s",
            "out_dir": "o",
            "gates": {},
            "cards": 1,
            "verdicts": 1,
            "overall": {"agreement": 0.0},
            "personas": {"business": {"agreement": 0.0}},
            "rows": [],
            **extra,
        }
    )


def test_a_percentage_on_one_card_says_so_and_an_older_report_shows_without_counts():
    counted = one_card_report(
        overall_counts={"agreement": {"n": 1, "hits": 0, "cards": 1, "total": None}},
        persona_counts={"business": {"agreement": {"n": 1, "hits": 0, "cards": 1, "total": None}}},
    )
    assert "| agreement | 0% (0 of 1) † | 0% (0 of 1) † |" in eval_markdown(counted)
    console = Console(record=True, width=200)
    print_eval(
        console, counted, None, "r.json", check_thresholds(counted, [parse_threshold("agreement=0.7", True)])
    )
    text = console.export_text()
    assert "0% (0 of 1) †" in line_with(text, "│   agreement ") and "fewer than 5 cards" in text
    assert "✗" in line_with(text, "agreement", "≥ 70%", "0%")

    older = eval_markdown(one_card_report())
    assert "| agreement | 0% | 0% |" in older and "†" not in older


def test_five_cards_or_more_are_not_marked():
    report = one_card_report(
        cards=5,
        overall={"agreement": 0.8},
        personas={"business": {"agreement": 0.8}},
        overall_counts={"agreement": {"n": 5, "hits": 4, "cards": 5, "total": None}},
        persona_counts={"business": {"agreement": {"n": 5, "hits": 4, "cards": 5, "total": None}}},
    )
    markdown = eval_markdown(report)
    assert "| agreement | 80% (4 of 5) | 80% (4 of 5) |" in markdown and "†" not in markdown


def test_the_issue_22_targets_are_thresholds_like_any_other(ollama: FakeOllama, suite: Path, tmp_path: Path):
    ollama.verdict_hook = editors_agree
    targets = ("--fail-under", "validity=0.8", "--fail-under", "complete_panels=0.6")
    result = run_eval(
        ollama, suite, tmp_path / "out", "--format", "md", *targets, "--fail-over", "calls_per_valid=2.5"
    )
    assert result.exit_code == 0, result.output
    assert "| ✓ | validity | ≥ 80% | 100% |" in result.stdout
    assert "| ✓ | complete_panels | ≥ 60% | 100% |" in result.stdout
    assert "| ✓ | calls_per_valid | ≤ 2.50 | 1.00 |" in result.stdout
