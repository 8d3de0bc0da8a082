"""What the commands report and where they write by default: --json everywhere, batch results,
the cache and batch folders, errors in one voice, the review prompt, diff provenance, ties."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from panel.cli import app
from panel.records.aggregate import Aggregate, compare_aggregates
from panel.records.cards import load_card
from panel.store.transcripts import load_transcript
from tests.support.ollama_fake import FakeOllama, start_fake_ollama, stop_fake_ollama
from tests.support.paths import EXAMPLES

runner = CliRunner()
PGVECTOR = str(EXAMPLES / "pgvector.toml")
CARD = load_card(EXAMPLES / "pgvector.toml").model_dump(mode="json")
BOTH_MODELS = {"llama3.1:8b": "sha256:" + "ab" * 32, "qwen3:8b": "sha256:" + "cd" * 32}


def invoke(*args: str, **kwargs):
    return runner.invoke(app, list(args), terminal_width=200, **kwargs)


def write_jsonl(path: Path, names: list[str], extra_lines: tuple[str, ...] = ()) -> Path:
    lines = [json.dumps({**CARD, "name": name}) for name in names]
    path.write_text("\n".join([*lines, *extra_lines]) + "\n", encoding="utf-8")
    return path


def ollama_flags(fake: FakeOllama) -> list[str]:
    return ["--backend", "ollama", "--host", fake.url]


@pytest.fixture
def two_models():
    fake = start_fake_ollama(models=BOTH_MODELS)
    yield fake
    stop_fake_ollama(fake)


# --- personas ------------------------------------------------------------------------------


def test_personas_json_and_table_show_the_model_a_run_would_use(tmp_path: Path):
    (tmp_path / "panel.toml").write_text('model = "qwen3:8b"\n')
    listing = json.loads(invoke("personas", "--json").stdout)["personas"]
    assert {item["id"]: item["model"] for item in listing} == dict.fromkeys(
        ["business", "competition", "dx", "futures"], "qwen3:8b"
    )
    assert {item["file_model"] for item in listing} == {"llama3.1:8b"}
    one = json.loads(invoke("personas", "dx", "--json", "--persona-model", "dx=phi4").stdout)
    assert one["id"] == "dx" and one["model"] == "phi4" and "moment_of_truth" in one["fields"]
    table = invoke("personas")
    assert table.exit_code == 0
    dx_row = next(line for line in table.stdout.splitlines() if line.startswith("│ dx "))
    assert "qwen3:8b (persona" in dx_row and "file: llama3.1:8b)" in table.stdout


def test_personas_without_settings_show_the_file_model():
    listing = json.loads(invoke("personas", "--json").stdout)["personas"]
    assert all(item["model"] == item["file_model"] == "llama3.1:8b" for item in listing)
    assert "(persona file:" not in invoke("personas").stdout


# --- batch: results, default folders ---------------------------------------------------------


def test_batch_json_has_one_result_per_row(ollama: FakeOllama, tmp_path: Path):
    source = write_jsonl(tmp_path / "tools.jsonl", ["Alpha", "Beta"])

    def break_dx_of_alpha(body, verdict):  # Alpha's dx reviewer never answers validly: one panel incomplete
        alpha = '"Alpha"' in body["messages"][0]["content"]
        return (
            {**verdict, "decision": "maybe"} if alpha and body["format"]["title"] == "DxVerdict" else verdict
        )

    ollama.verdict_hook = break_dx_of_alpha
    out = tmp_path / "runs"
    result = invoke("batch", str(source), *ollama_flags(ollama), "--out", str(out), "--json", "--slots", "1")
    ollama.verdict_hook = None
    assert result.exit_code == 1, result.output
    results = json.loads(result.stdout)["results"]
    assert [(r["row"], r["tool"], r["slug"]) for r in results] == [(1, "Alpha", "alpha"), (2, "Beta", "beta")]
    assert all(set(r) >= {"tool", "slug", "ship_pct", "complete", "failed", "transcript"} for r in results)
    incomplete = [r for r in results if not r["complete"]]
    assert len(incomplete) == 1 and len(incomplete[0]["failed"]) == 1
    complete = next(r for r in results if r["complete"])
    assert complete["ship_pct"] == 100 and complete["failed"] == []
    for item in results:
        assert load_transcript(item["transcript"]).card.name == item["tool"]

    again = json.loads(
        invoke("batch", str(source), *ollama_flags(ollama), "--out", str(out), "--json").stdout
    )
    outcomes = {r["tool"]: (r["outcome"], r["ship_pct"], r["complete"]) for r in again["results"]}
    assert outcomes[complete["tool"]] == ("already_done", 100, True)
    assert outcomes[incomplete[0]["tool"]] == ("run", 100, True)  # retried, now complete


def test_batch_table_lists_each_tool_with_its_ship_pct(ollama: FakeOllama, tmp_path: Path):
    ollama.decisions["BusinessVerdict"] = "skip"
    source = write_jsonl(tmp_path / "tools.jsonl", ["Alpha", "Beta"])
    result = invoke("batch", str(source), *ollama_flags(ollama), "--out", str(tmp_path / "o"))
    assert result.exit_code == 0, result.output
    rows = [line for line in result.stdout.splitlines() if "Alpha" in line or "Beta" in line]
    assert len(rows) == 2 and all("75%" in row and "yes" in row for row in rows)


def test_batch_defaults_keep_the_working_folder_clean(ollama: FakeOllama, tmp_path: Path, monkeypatch):
    """No cache file in the working folder, no manifest in transcripts/, the output ignored by git."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    subprocess.run(["git", "init", "-q", str(work)], check=True)
    source = write_jsonl(work / "tools.jsonl", ["Alpha"])
    result = invoke("batch", str(source), *ollama_flags(ollama), "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert Path(summary["out_dir"]) == Path("batches/tools")
    assert (work / "batches" / "tools" / "manifest.jsonl").is_file()
    assert not (work / "transcripts").exists()
    assert Path(summary["cache"]) == tmp_path / "user-cache" / "reviewer-panel" / "panel-cache.sqlite"
    assert Path(summary["cache"]).is_file() and not list(work.glob("*.sqlite"))
    status = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"],
        cwd=work,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert status.split() == ["??", "tools.jsonl"]


def test_cache_from_panel_toml_then_the_flag(ollama: FakeOllama, tmp_path: Path):
    source = write_jsonl(tmp_path / "tools.jsonl", ["Alpha"])
    (tmp_path / "panel.toml").write_text('cache = "shared/replies.sqlite"\n')
    first = json.loads(invoke("batch", str(source), *ollama_flags(ollama), "--out", "a", "--json").stdout)
    assert first["cache"] == "shared/replies.sqlite" and Path("shared/replies.sqlite").is_file()
    flag = invoke(
        "batch", str(source), *ollama_flags(ollama), "--out", "b", "--json", "--cache", "mine.sqlite"
    )
    assert json.loads(flag.stdout)["cache"] == "mine.sqlite"


# --- errors in one voice -------------------------------------------------------------------


def test_a_broken_jsonl_line_says_where(ollama: FakeOllama, tmp_path: Path):
    broken = '{"name": "Bad\ttab"}'  # a raw tab inside a JSON string
    source = write_jsonl(tmp_path / "tools.jsonl", ["Alpha"], (broken,))
    result = invoke("batch", str(source), *ollama_flags(ollama), "--out", "o", "--json")
    assert result.exit_code == 1
    bad = json.loads(result.stdout)["bad_rows"]
    assert bad == [f"{source} line 2 is not valid JSON: Invalid control character at column 14."]


def test_batch_with_a_missing_model_gives_the_pull_command(ollama: FakeOllama, tmp_path: Path):
    source = write_jsonl(tmp_path / "tools.jsonl", ["Alpha"])
    result = invoke("batch", str(source), *ollama_flags(ollama), "--model", "missing-x", "--out", "o")
    assert result.exit_code == 3
    assert "ollama pull missing-x" in " ".join(result.stderr.split())


def test_batch_with_one_of_two_models_missing_gives_the_pull_command(ollama: FakeOllama, tmp_path: Path):
    source = write_jsonl(tmp_path / "tools.jsonl", ["Alpha"])
    result = invoke(
        "batch", str(source), *ollama_flags(ollama), "--persona-model", "dx=missing-x", "--out", "o"
    )
    assert result.exit_code == 3
    assert "ollama pull missing-x" in " ".join(result.stderr.split())


def saved_panel(fake: FakeOllama, out: Path, *flags: str) -> Path:
    result = invoke("run", PGVECTOR, *ollama_flags(fake), "--out", str(out), "--json", *flags)
    assert result.exit_code == 0, result.output
    return Path(json.loads(result.stdout)["transcript"])


def test_render_to_a_file_it_cannot_tell_the_format_of_refuses_like_diff(ollama: FakeOllama, tmp_path):
    panel = saved_panel(ollama, tmp_path / "t")
    for command in (["render", str(panel)], ["diff", str(panel), str(panel)]):
        result = invoke(*command, "-o", "page.txt")
        assert result.exit_code == 2, command
        assert "Cannot tell which format to write page.txt in" in result.stderr
        assert not Path("page.txt").exists()
    assert invoke("render", str(panel), "-o", "page.txt", "--format", "md").exit_code == 0
    assert Path("page.txt").read_text().startswith("#")


# --- diff ----------------------------------------------------------------------------------


def test_diff_json_is_format_json(ollama: FakeOllama, tmp_path: Path):
    a, b = (
        saved_panel(ollama, tmp_path / "a", "--seed", "1"),
        saved_panel(ollama, tmp_path / "b", "--seed", "2"),
    )
    as_flag = invoke("diff", str(a), str(b), "--json")
    as_format = invoke("diff", str(a), str(b), "--format", "json")
    assert as_flag.exit_code == as_format.exit_code == 0
    assert json.loads(as_flag.stdout) == json.loads(as_format.stdout)
    clash = invoke("diff", str(a), str(b), "--json", "--format", "md")
    assert clash.exit_code == 2 and "--json" in json.loads(clash.stdout)["error"]["message"]


def test_folder_diff_shows_a_model_swapped_for_the_whole_batch(two_models: FakeOllama, tmp_path: Path):
    source = write_jsonl(tmp_path / "tools.jsonl", ["Alpha", "Beta"])
    flags = ollama_flags(two_models)
    assert invoke("batch", str(source), *flags, "--out", "a", "-q").exit_code == 0
    swapped = ["--persona-model", "business=qwen3:8b"]
    assert invoke("batch", str(source), *flags, *swapped, "--out", "b", "-q").exit_code == 0
    data = json.loads(invoke("diff", "a", "b", "--json").stdout)
    model = [change for change in data["provenance"] if change["item"] == "model"]
    assert model == [
        {
            "item": "model",
            "personas": ["business"],
            "before": "llama3.1:8b",
            "after": "qwen3:8b",
            "tools": ["alpha", "beta"],
        }
    ]
    table = " ".join(invoke("diff", "a", "b").stdout.split())
    assert "What went in differently" in table and "qwen3:8b" in table and "all 2" in table
    assert (
        "| model | business | llama3.1:8b | qwen3:8b | 2 of 2: alpha, beta |"
        in invoke("diff", "a", "b", "--format", "md").stdout
    )


def test_transcript_diff_names_a_hand_edit_as_the_cause(ollama, tmp_path: Path, monkeypatch):
    a = saved_panel(ollama, tmp_path / "a", "--seed", "1")
    b = tmp_path / "b.json"
    shutil.copy(a, b)
    script = tmp_path / "editor.py"
    script.write_text(
        "import sys\nfrom pathlib import Path\npath = Path(sys.argv[1])\n"
        "path.write_text(path.read_text().replace('decision = \"ship\"', 'decision = \"skip\"'))\n"
    )
    monkeypatch.setenv("EDITOR", f"{shutil.which('python3') or 'python3'} {script}")
    monkeypatch.delenv("VISUAL", raising=False)
    assert invoke("edit", str(b), "--persona", "dx", "--by", "Ed").exit_code == 0
    data = json.loads(invoke("diff", str(a), str(b), "--json").stdout)
    assert {"item": "written by", "personas": ["dx"], "before": "model", "after": "person:Ed"} in data[
        "provenance"
    ]
    terminal = invoke("diff", str(a), str(b)).stdout
    assert "Provenance: same" not in terminal and "person:Ed" in terminal


def test_markdown_diff_has_no_empty_persona_section(ollama: FakeOllama, tmp_path: Path):
    """Only business's decision changes: it is in the table, and gets no empty ### section."""
    a = saved_panel(ollama, tmp_path / "a", "--seed", "1")
    ollama.decisions["BusinessVerdict"] = "skip"
    # Same seed: only a run past the response cache hears the server's new answer.
    b = saved_panel(ollama, tmp_path / "b", "--seed", "1", "--no-cache")
    markdown = invoke("diff", str(a), str(b), "--format", "md").stdout
    assert "| business | ship → **skip** (flipped)" in markdown
    sections = markdown.split("\n### ")[1:]
    for section in sections:
        body = section.split("\n", 1)[1].split("\n## ")[0]
        assert body.strip(), f"empty section: ### {section.splitlines()[0]}"


# --- run --review, compare ---------------------------------------------------------------------


def test_review_shows_each_verdict_in_full_before_asking(ollama: FakeOllama, tmp_path: Path):
    result = invoke(
        "run", PGVECTOR, *ollama_flags(ollama), "--out", str(tmp_path), "--review", input="a\na\na\na\n"
    )
    assert result.exit_code == 0, result.output
    transcript = load_transcript(next(tmp_path.glob("pgvector-*.json")))
    before_dx = result.stderr[: result.stderr.index("dx: [a]ccept")]
    shown = " ".join(before_dx.replace("│", " ").split())
    dx = next(review.verdict for review in transcript.reviews if review.persona == "dx")
    assert f"ship confidence {dx.confidence:.2f} {dx.headline}" in shown
    assert " ".join(dx.quote.split()) in shown
    for name, value in dx.fields.items():
        assert f"{name} {' '.join(value.split())}" in shown


def test_a_tie_names_both_prices():
    aggregate = Aggregate.model_validate(
        {
            "ship_pct": 100,
            "ships": 4,
            "skips": 0,
            "valid": 4,
            "split": {"ship": ["dx"], "skip": []},
            "consensus": "unanimous",
            "majority": "ship",
            "failed": [],
            "incomplete": False,
            "mean_ship_confidence": 0.8,
        }
    )
    tie = compare_aggregates(aggregate, aggregate, "pgvector", "Copilot", prices=("Free", "$10/mo"))
    assert tie.winner == "tie" and "pgvector Free, Copilot $10/mo" in tie.reason
    same = compare_aggregates(aggregate, aggregate, "A", "B", prices=("Free", "free"))
    assert "both cost Free, so pick on fit" in same.reason


def test_compare_tie_on_the_command_line_names_the_prices(ollama: FakeOllama, tmp_path: Path):
    copilot = str(EXAMPLES / "github-copilot.toml")
    result = invoke("compare", PGVECTOR, copilot, *ollama_flags(ollama), "--out", str(tmp_path), "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["winner_side"] == "tie"
    assert "pgvector Free, GitHub Copilot $10/mo" in summary["reason"]


def test_an_editor_that_fails_saves_nothing(ollama: FakeOllama, tmp_path: Path, monkeypatch):
    """$EDITOR goes through click.edit; an editor exiting non-zero is one paragraph, exit 2."""
    panel = saved_panel(ollama, tmp_path / "t")
    before = panel.read_bytes()
    monkeypatch.setenv("EDITOR", shutil.which("false") or "false")
    monkeypatch.delenv("VISUAL", raising=False)
    result = invoke("edit", str(panel), "--persona", "dx")
    assert result.exit_code == 2
    message = " ".join(result.stderr.split())
    assert "Editing failed" in message and "nothing was saved" in message
    assert "Traceback" not in result.output and panel.read_bytes() == before


def test_batch_results_show_an_editors_change_to_a_finished_panel(ollama, tmp_path: Path, monkeypatch):
    source = write_jsonl(tmp_path / "tools.jsonl", ["Alpha"])
    flags = [*ollama_flags(ollama), "--out", "o", "--json"]
    first = json.loads(invoke("batch", str(source), *flags).stdout)["results"][0]
    assert first["ship_pct"] == 100
    script = tmp_path / "editor.py"
    script.write_text(
        "import sys\nfrom pathlib import Path\npath = Path(sys.argv[1])\n"
        "path.write_text(path.read_text().replace('decision = \"ship\"', 'decision = \"skip\"'))\n"
    )
    monkeypatch.setenv("EDITOR", f"{shutil.which('python3') or 'python3'} {script}")
    monkeypatch.delenv("VISUAL", raising=False)
    assert invoke("edit", first["transcript"], "--persona", "dx").exit_code == 0
    again = json.loads(invoke("batch", str(source), *flags).stdout)["results"]
    assert [(r["outcome"], r["ship_pct"]) for r in again] == [("already_done", 75)]
