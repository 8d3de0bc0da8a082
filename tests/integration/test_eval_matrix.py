"""`panel eval` with variants: one suite under two models (or prompt sets), side by side in the
terminal, in Markdown and in JSON, every percentage with its n; against the Ollama fake."""

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from panel.cli import app
from panel.engine.prompts import default_prompts_dir
from tests.support.eval_suites import editors_agree, write_suite
from tests.support.ollama_fake import FakeOllama

runner = CliRunner()
WIDE = {"COLUMNS": "220"}
STRONG_MODEL, SHIPPER = "llama3.1:8b", "qwen3:8b"


@pytest.fixture
def suite(tmp_path: Path) -> Path:
    return write_suite(tmp_path / "suite")


@pytest.fixture
def two_models(ollama: FakeOllama) -> FakeOllama:
    """The strong model agrees with the editors; the other ships every tool."""
    ollama.models = {STRONG_MODEL: "ab" * 32, SHIPPER: "cd" * 32}

    def by_model(body: dict[str, Any], verdict: dict[str, Any]) -> dict[str, Any]:
        verdict = editors_agree(body, verdict)
        if body["model"] == SHIPPER:
            verdict["decision"] = "ship"
        return verdict

    ollama.verdict_hook = by_model
    return ollama


def run_matrix(ollama: FakeOllama, suite: Path, out: Path, *extra: Any):
    args = ["eval", suite, "--backend", "ollama", "--host", ollama.url, "--seed", 7, "--out", out, *extra]
    return runner.invoke(app, [str(arg) for arg in args], env=WIDE)


def line_with(text: str, *parts: str) -> str:
    return next(line for line in text.splitlines() if all(part in line for part in parts))


def test_two_models_side_by_side_in_markdown(two_models: FakeOllama, suite: Path, tmp_path: Path):
    result = run_matrix(
        two_models, suite, tmp_path / "out", "--models", f"{STRONG_MODEL},{SHIPPER}", "--format", "md"
    )
    assert result.exit_code == 0, result.output
    markdown = result.stdout
    assert "| metric | llama3-1-8b | qwen3-8b |" in markdown
    assert "| model | ollama: llama3.1:8b | ollama: qwen3:8b |" in markdown
    assert "| wall time | " in markdown and "| panel time | " in markdown
    assert "| panel agreement | 100% (4 of 4) † | 50% (2 of 4) † |" in markdown
    assert "| validity | 100% (16 of 16) † | 100% (16 of 16) † |" in markdown
    assert "| calls per valid review | 1.00 (16 calls / 16) † | 1.00 (16 calls / 16) † |" in markdown
    assert "| Pad API | skip | 0% skip | 100% ship |" in markdown
    assert "† rests on fewer than 5 cards" in markdown


def test_variants_in_the_terminal_each_an_eval_of_its_own(
    two_models: FakeOllama, suite: Path, tmp_path: Path
):
    out = tmp_path / "out"
    result = run_matrix(
        two_models,
        suite,
        out,
        "--variant",
        f"strong:model={STRONG_MODEL}",
        "--variant",
        f"shipper:model={SHIPPER}",
    )
    assert result.exit_code == 0, result.output
    assert line_with(result.stdout, "metric", "strong", "shipper")
    row = line_with(result.stdout, "│   discrimination ")
    assert "+100 pts (n=16) †" in row and "+0 pts (n=16) †" in row
    assert "changes" in result.stdout and f"model={SHIPPER}" in result.stdout
    for name in ("strong", "shipper"):
        assert json.loads((out / name / "eval-suite" / "eval-report.json").read_text())["cards"] == 4
    matrix = json.loads((out / "eval-suite-matrix.json").read_text())
    assert [variant["name"] for variant in matrix["variants"]] == ["strong", "shipper"]


def test_json_matrix_checks_thresholds_per_variant(two_models: FakeOllama, suite: Path, tmp_path: Path):
    result = run_matrix(
        two_models,
        suite,
        tmp_path / "out",
        "--models",
        f"{STRONG_MODEL},{SHIPPER}",
        "--json",
        "--fail-under",
        "panel_agreement=0.9",
    )
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["kind"] == "eval-matrix"
    overall = {variant["name"]: variant["report"]["overall"] for variant in data["variants"]}
    assert overall["llama3-1-8b"]["panel_agreement"] == 1.0 and overall["qwen3-8b"]["panel_agreement"] == 0.5
    counts = data["variants"][1]["report"]["overall_counts"]["panel_agreement"]
    assert (counts["hits"], counts["n"]) == (2, 4)
    assert [check["passed"] for check in data["thresholds"]["qwen3-8b"]] == [False]
    assert data["failures"] == ["qwen3-8b: panel_agreement is 0.500, under 0.9"]


def test_two_prompt_sets_side_by_side(ollama: FakeOllama, suite: Path, tmp_path: Path):
    ollama.verdict_hook = editors_agree
    for name in ("v1", "v2"):
        shutil.copytree(default_prompts_dir(), tmp_path / name)
    sets = f"{tmp_path / 'v1'},{tmp_path / 'v2'}"
    result = run_matrix(ollama, suite, tmp_path / "out", "--prompt-sets", sets, "--format", "md")
    assert result.exit_code == 0, result.output
    assert "| metric | v1 | v2 |" in result.stdout
    assert f"| prompts | {tmp_path / 'v1'} | {tmp_path / 'v2'} |" in result.stdout


@pytest.mark.parametrize(
    ("variant", "message"),
    [
        ("strong:colour=red", "'colour=red' must be key=value with a key among backend"),
        ("no name:model=x", "needs a name of letters"),
        ("t:temperature=hot", "Variant 't': temperature"),
    ],
)
def test_a_bad_variant_is_one_clear_error(
    ollama: FakeOllama, suite: Path, tmp_path: Path, variant: str, message: str
):
    result = run_matrix(ollama, suite, tmp_path / "out", "--variant", variant, "--variant", "other:seed=3")
    assert result.exit_code == 2
    assert message in result.stderr
    assert "Traceback" not in result.output
    assert not ollama.chats


def test_one_variant_is_not_a_matrix_and_a_matrix_takes_no_baseline(
    ollama: FakeOllama, suite: Path, tmp_path: Path
):
    alone = run_matrix(ollama, suite, tmp_path / "out", "--variant", "a:seed=1")
    assert alone.exit_code == 2 and "two variants or more" in alone.stderr
    baseline = run_matrix(
        ollama, suite, tmp_path / "out", "--models", "a,b", "--baseline", tmp_path / "r.json"
    )
    assert baseline.exit_code == 2 and "--baseline compares one eval" in baseline.stderr


def test_rescore_scores_the_saved_transcripts_again_with_no_model_call(
    two_models: FakeOllama, suite: Path, tmp_path: Path
):
    models = ("--models", f"{STRONG_MODEL},{SHIPPER}", "--json")
    first = json.loads(run_matrix(two_models, suite, tmp_path / "out", *models).stdout)
    calls = len(two_models.chats)
    again = run_matrix(two_models, suite, tmp_path / "out", *models, "--rescore")
    assert again.exit_code == 0, again.output
    assert len(two_models.chats) == calls
    rescored = json.loads(again.stdout)
    for before, after in zip(first["variants"], rescored["variants"], strict=True):
        assert after["report"]["overall"] == before["report"]["overall"]
        assert after["report"]["wall_seconds"] is None


def test_rescore_of_a_folder_with_no_eval_says_so(ollama: FakeOllama, suite: Path, tmp_path: Path):
    result = run_matrix(ollama, suite, tmp_path / "out", "--rescore")
    assert result.exit_code == 2
    assert "holds no transcripts to score again" in result.stderr
    assert not ollama.chats


def test_a_reviewer_the_gates_always_refuse_shows_in_every_table(
    two_models: FakeOllama, suite: Path, tmp_path: Path
):
    side_by_side = two_models.verdict_hook

    def business_writes_placeholders(body: dict[str, Any], verdict: dict[str, Any]) -> dict[str, Any]:
        verdict = side_by_side(body, verdict)
        if body["model"] == SHIPPER and body["format"]["title"] == "BusinessVerdict":
            verdict["headline"] = "TBD"
        return verdict

    two_models.verdict_hook = business_writes_placeholders
    result = run_matrix(
        two_models, suite, tmp_path / "out", "--models", f"{STRONG_MODEL},{SHIPPER}", "--format", "md"
    )
    assert result.exit_code == 0, result.output
    markdown = result.stdout
    assert "| complete panels | 100% (4 of 4) † | 0% (0 of 4) † |" in markdown
    assert "| Pad API | skip | 0% skip | 100% ship, 3 of 4 |" in markdown
    assert "| is a placeholder | 0 | 20 |" in markdown  # 4 cards x 5 attempts
    assert "| degenerate | 0% (0 of 16) † | 62% (20 of 32) † |" in markdown
    assert "| refused by a gate | 0% (0 of 16) † | 62% (20 of 32) † |" in markdown
    assert "| calls per valid review | 1.00 (16 calls / 16) † | 2.67 (32 calls / 12) † |" in markdown
