"""`panel diff`: two runs of one tool (different seeds, models) and two batch folders."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from panel import run_panel
from panel.cli import app
from panel.engine.runner import compare_tools
from panel.errors import PanelError, TranscriptError
from panel.publish.diff import diff_transcripts, should_fail, word_diff
from panel.publish.diff_folders import diff_folders, diff_paths
from panel.records.transcript import PanelTranscript
from panel.settings import Settings
from panel.store.transcripts import load_transcript
from tests.support.diffs import runs_with_failures
from tests.support.ollama_fake import FakeOllama
from tests.support.paths import EXAMPLES

runner = CliRunner()
PGVECTOR = EXAMPLES / "pgvector.toml"
QWEN = EXAMPLES / "qwen3-8b.toml"
COPILOT = EXAMPLES / "github-copilot.toml"


def seed_dependent(body: dict[str, Any], verdict: dict[str, Any]) -> dict[str, Any]:
    """Like a sampling model: seed 2 makes the Builder skip, less sure, and rewords every quote."""
    seed, title = body["options"]["seed"], body["format"]["title"]
    if title == "DxVerdict" and seed == 2:
        verdict.update(decision="skip", confidence=0.55)
    mood = "solid" if seed == 1 else "shaky"
    verdict["quote"] = (
        f"Seed {seed}: the {title} reviewer finds the integration {mood} and says so plainly. It names its call."
    )
    return verdict


def wording_only(body: dict[str, Any], verdict: dict[str, Any]) -> dict[str, Any]:
    """Seed changes the words of the quote and nothing else."""
    # words from every persona's lens_words, so that the quality gates publish it
    verdict["quote"] = (
        f"Take {body['options']['seed']}: the API, the price, the rivals and the years ahead hold. "
        "Nothing else moves."
    )
    return verdict


def run(settings: Settings, card: Path, seed: int, out: Path, **changes: Any) -> Path:
    result = run_panel(card, settings.model_copy(update={"seed": seed, "out_dir": out, **changes}))
    assert result.path is not None
    return result.path


def invoke(*args: str | Path):
    return runner.invoke(app, [str(arg) for arg in args])


@pytest.fixture
def two_seeds(ollama: FakeOllama, settings: Settings, tmp_path: Path) -> tuple[Path, Path]:
    ollama.verdict_hook = seed_dependent
    return run(settings, PGVECTOR, 1, tmp_path / "a"), run(settings, PGVECTOR, 2, tmp_path / "b")


def test_diff_of_two_seeds(two_seeds: tuple[Path, Path]):
    a_path, b_path = two_seeds
    diff = diff_paths(a_path, b_path)
    assert diff.kind == "transcripts" and diff.tool == "pgvector"
    assert (diff.ship_pct_before, diff.ship_pct_after) == (100, 75)
    assert diff.flips == ["dx"]
    dx = next(p for p in diff.personas if p.persona == "dx")
    assert (dx.decision_before, dx.decision_after) == ("ship", "skip")
    assert dx.confidence_change == pytest.approx(-0.25)
    assert dx.changed_parts == ["decision", "confidence", "quote"]
    assert [field.name for field in dx.fields] == [
        "primitive",
        "dx_bet",
        "moment_of_truth",
        "weekend_test",
        "deciding_decision",
    ]
    assert not any(field.changed for field in dx.fields)
    assert [(s.op, s.text) for s in dx.quote] == [
        ("equal", "Seed"),
        ("delete", "1:"),
        ("insert", "2:"),
        ("equal", "the DxVerdict reviewer finds the integration"),
        ("delete", "solid"),
        ("insert", "shaky"),
        ("equal", "and says so plainly. It names its call."),
    ]
    business = next(p for p in diff.personas if p.persona == "business")
    assert not business.flipped and business.changed_parts == ["quote"]
    # The seed is the only input that differs; it is reported once, not once per persona option.
    assert [(c.item, c.before, c.after) for c in diff.provenance] == [("seed", "1", "2")]


def test_diff_reports_a_model_swap_for_one_persona(ollama: FakeOllama, settings: Settings, tmp_path: Path):
    ollama.models["qwen3:8b"] = "sha256:" + "cd" * 32
    a = run(settings, PGVECTOR, 1, tmp_path / "a")
    b = run(settings, PGVECTOR, 1, tmp_path / "b", persona_models={"dx": "qwen3:8b"}, temperature=0.2)
    diff = diff_paths(a, b)
    changes = {change.item: change for change in diff.provenance}
    assert changes["model"].personas == ["dx"]
    assert (changes["model"].before, changes["model"].after) == ("llama3.1:8b", "qwen3:8b")
    assert changes["model digest"].after == "sha256:" + "cd" * 32
    # Personas that went from different temperatures to 0.2 are grouped by (before, after).
    temperature = [c for c in diff.provenance if c.item == "options.temperature"]
    assert {c.after for c in temperature} == {"0.2"}
    assert sorted(p for c in temperature for p in c.personas) == ["business", "competition", "dx", "futures"]
    assert "seed" not in changes
    assert not diff.changed and not should_fail(diff, "any")


FAIL_ON_CASES = [
    # scenario, --fail-on, exit code
    ("flip", "flip", 1),
    ("flip", "any", 1),
    ("flip", "none", 0),
    ("wording", "flip", 0),
    ("wording", "any", 1),
    ("wording", "none", 0),
    ("same", "flip", 0),
    ("same", "any", 0),
]


@pytest.mark.parametrize(("scenario", "fail_on", "code"), FAIL_ON_CASES)
def test_fail_on_exit_codes(
    ollama: FakeOllama, settings: Settings, tmp_path: Path, scenario: str, fail_on: str, code: int
):
    ollama.verdict_hook = {"flip": seed_dependent, "wording": wording_only, "same": None}[scenario]
    a = run(settings, PGVECTOR, 1, tmp_path / "a")
    b = run(settings, PGVECTOR, 2, tmp_path / "b")
    result = invoke("diff", a, b, "--fail-on", fail_on, "--format", "json")
    assert result.exit_code == code, result.output
    report = json.loads(result.stdout)
    assert report["flips"] == (["dx"] if scenario == "flip" else [])
    assert report["changed"] is (scenario != "same")


def test_default_fail_on_is_flip_and_terminal_view(two_seeds: tuple[Path, Path]):
    result = invoke("diff", *two_seeds)
    assert result.exit_code == 1
    assert "100% (4 of 4) → 75% (4 of 4)" in result.stdout and "dx — FLIPPED" in result.stdout
    assert "shaky" in result.stdout and "seed" in result.stdout


def test_markdown_and_html_reports(two_seeds: tuple[Path, Path], tmp_path: Path):
    md, html = tmp_path / "diff.md", tmp_path / "diff.html"
    assert invoke("diff", *two_seeds, "-o", md, "--fail-on", "none").exit_code == 0
    assert invoke("diff", *two_seeds, "-o", html, "--fail-on", "none").exit_code == 0
    markdown = md.read_text()
    assert (
        "| dx | ship → **skip** (flipped) | 0.80 → 0.55 (-0.25) | decision, confidence, quote |" in markdown
    )
    assert "~~solid~~ **shaky**" in markdown
    page = html.read_text()
    assert "<del>solid</del>" in page and "<ins>shaky</ins>" in page
    assert "<script" not in page and "http" not in page.replace('http-equiv="Content-Security-Policy"', "")


def test_failed_reviewers_are_counted_and_named_not_flipped(
    ollama: FakeOllama, settings: Settings, tmp_path: Path
):
    """Run B lost business and dx (invalid output every attempt) and futures flipped."""
    a, b = runs_with_failures(ollama, settings, tmp_path)
    result = invoke("diff", a, b, "--format", "json")
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    assert report["header"] == "100% (4 of 4) → 50% (2 of 4)"
    assert report["flips"] == ["futures"]  # a reviewer with no verdict in B has not flipped
    assert report["panel_before"] == {
        "ship_pct": 100,
        "verdicts": 4,
        "reviewers": 4,
        "failed": [],
        "text": "100% (4 of 4)",
    }
    after = report["panel_after"]
    assert (after["ship_pct"], after["verdicts"], after["reviewers"]) == (50, 2, 4)
    assert [f["persona"] for f in after["failed"]] == ["business", "dx"]
    assert all(f["error"].startswith("no valid verdict after") for f in after["failed"])
    dx = next(p for p in report["personas"] if p["persona"] == "dx")
    assert (dx["status_after"], dx["flipped"]) == ("failed", False)
    assert dx["error_after"] == after["failed"][1]["error"] and dx["error_before"] is None

    terminal = invoke("diff", a, b).stdout
    assert "Panel ships 100% (4 of 4) → 50% (2 of 4)   Flipped: futures" in terminal
    assert "No verdict in B: business (no valid verdict after" in terminal
    assert "dx — NO VERDICT IN B" in terminal and "dx — FLIPPED" not in terminal

    markdown = invoke("diff", a, b, "--format", "md").stdout
    assert "**Panel ships 100% (4 of 4) → 50% (2 of 4)** · flipped: futures" in markdown
    assert "| No verdict from | — | business, dx |" in markdown
    assert "- **dx:** no valid verdict after 5 attempts; last problem:" in markdown
    assert "| dx | ship → **failed** |" in markdown and "### dx" not in markdown

    # The other way round: failed in A, a verdict in B, still no flip.
    backwards = diff_paths(b, a)
    assert backwards.header == "50% (2 of 4) → 100% (4 of 4)" and backwards.flips == ["futures"]
    assert [f.persona for f in backwards.panel_before.failed] == ["business", "dx"]


def test_diff_of_two_tools_is_bad_input(ollama: FakeOllama, settings: Settings, tmp_path: Path):
    a = run(settings, PGVECTOR, 1, tmp_path / "a")
    b = run(settings, QWEN, 1, tmp_path / "b")
    with pytest.raises(PanelError, match="same tool"):
        diff_transcripts(load_panel(a), load_panel(b))
    result = invoke("diff", a, b)
    assert result.exit_code == 2
    assert "same tool" in result.stderr and "Traceback" not in result.output


def load_panel(path: Path) -> PanelTranscript:
    transcript = load_transcript(path)
    assert isinstance(transcript, PanelTranscript)
    return transcript


def test_bad_arguments_exit_2(
    two_seeds: tuple[Path, Path], ollama: FakeOllama, settings: Settings, tmp_path: Path
):
    a, b = two_seeds
    comparison = compare_tools(PGVECTOR, QWEN, settings.model_copy(update={"out_dir": tmp_path / "c"}))
    cases = [
        (("diff", a, b, "--fail-on", "sometimes"), "--fail-on"),
        (("diff", a, b, "--format", "pdf"), "--format"),
        (("diff", a, b, "-o", tmp_path / "diff.txt"), "--format"),
        (("diff", a, b.parent), "folder"),
        (("diff", a, tmp_path / "missing.json"), "no such"),
        (("diff", comparison.path, b), "comparison transcript"),
    ]
    for args, message in cases:
        result = invoke(*args)
        assert result.exit_code == 2, (args, result.output)
        assert message in result.stderr and "Traceback" not in result.output


def test_folder_diff(ollama: FakeOllama, settings: Settings, tmp_path: Path):
    ollama.verdict_hook = seed_dependent
    a_dir, b_dir = tmp_path / "batch-a", tmp_path / "batch-b"
    for card in (PGVECTOR, QWEN, COPILOT):
        run(settings, card, 1, a_dir)
    run(settings, PGVECTOR, 2, b_dir)
    newest_qwen = run(settings, QWEN, 2, b_dir)
    run(settings, EXAMPLES / "llama-3-1-8b.toml", 2, b_dir)
    # An older run of Qwen in B with the seed of A: the newest run of a tool is the one compared.
    older = load_panel(run(settings, QWEN, 1, tmp_path / "older"))
    older_data = json.loads(older.model_dump_json())
    older_data["created_at"] = "2020-01-01T00:00:00Z"
    (b_dir / "qwen3-8b-old.json").write_text(json.dumps(older_data))
    # Other files in a batch folder are passed over.
    (b_dir / "manifest.json").write_text(json.dumps({"kind": "manifest", "done": 3}))
    (b_dir / "notes.txt").write_text("not a transcript")

    diff = diff_folders(a_dir, b_dir)
    assert diff.matched == 2
    assert [(t.slug, t.ship_pct_before, t.ship_pct_after, t.flips) for t in diff.changed] == [
        ("pgvector", 100, 75, ["dx"]),
        ("qwen3-8b", 100, 75, ["dx"]),
    ]
    assert diff.changed[1].b_path == str(newest_qwen)
    assert diff.flips_per_persona == {"business": 0, "competition": 0, "dx": 2, "futures": 0}
    assert diff.only_in_a == ["github-copilot"] and diff.only_in_b == ["llama-3-1-8b-instruct"]

    result = invoke("diff", a_dir, b_dir, "--format", "md")
    assert result.exit_code == 1
    assert "| Qwen3 8B | 100% (4 of 4) | 75% (4 of 4) | dx | — |" in result.stdout
    assert "| dx | 2 |" in result.stdout and "Only in A: github\\-copilot" not in result.stdout
    assert "Only in A: github-copilot" in result.stdout
    assert invoke("diff", a_dir, b_dir, "--fail-on", "none").exit_code == 0


def test_folder_fail_on_any_counts_one_sided_tools(ollama: FakeOllama, settings: Settings, tmp_path: Path):
    a_dir, b_dir = tmp_path / "a", tmp_path / "b"
    run(settings, PGVECTOR, 1, a_dir)
    shutil.copytree(a_dir, b_dir)
    assert invoke("diff", a_dir, b_dir, "--fail-on", "any").exit_code == 0
    run(settings, QWEN, 1, b_dir)
    diff = diff_folders(a_dir, b_dir)
    assert not diff.changed and diff.unchanged == ["pgvector"] and diff.only_in_b == ["qwen3-8b"]
    assert invoke("diff", a_dir, b_dir, "--fail-on", "flip").exit_code == 0
    assert invoke("diff", a_dir, b_dir, "--fail-on", "any").exit_code == 1


def test_folder_without_transcripts(tmp_path: Path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "manifest.json").write_text("{}")
    with pytest.raises(TranscriptError, match="no panel transcripts"):
        diff_folders(tmp_path / "a", tmp_path / "b")
    assert invoke("diff", tmp_path / "a", tmp_path / "b").exit_code == 2


def test_word_diff():
    segments = word_diff("it ships  on day one", "it  never ships on day one, sadly")
    assert [(s.op, s.text) for s in segments] == [
        ("equal", "it"),
        ("insert", "never"),
        ("equal", "ships on day"),
        ("delete", "one"),
        ("insert", "one, sadly"),
    ]
    assert word_diff("same words", "same   words") == [word_diff("same words", "same words")[0]]


def test_a_damaged_json_file_in_a_folder_is_reported_not_passed_over(tmp_path: Path):
    """diff reads a folder as stability does (one scanner): a damaged transcript is never unseen."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "pgvector-20261125.json").write_text('{"kind": "panel", ')
    with pytest.raises(TranscriptError, match="pgvector-20261125.json is not a readable JSON file"):
        diff_paths(tmp_path / "a", tmp_path / "b")


@pytest.mark.timeout(20)
def test_fifo_named_json_does_not_hang_diff(tmp_path: Path):
    """The folder scan reads through the one guarded reader: a FIFO is refused, not waited on."""
    import os

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    os.mkfifo(tmp_path / "a" / "pgvector.json")
    result = invoke("diff", tmp_path / "a", tmp_path / "b")
    assert result.exit_code == 2, result.output
    assert "pgvector.json is not a regular file" in " ".join(result.stderr.split())


@pytest.mark.timeout(20)
def test_a_link_to_dev_zero_named_json_is_refused_by_diff(tmp_path: Path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "zero.json").symlink_to("/dev/zero")
    with pytest.raises(TranscriptError, match="zero.json is not a regular file"):
        diff_paths(tmp_path / "a", tmp_path / "b")
