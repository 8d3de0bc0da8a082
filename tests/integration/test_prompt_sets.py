"""A prompt set chosen per run (`--prompts`, PANEL_PROMPTS, panel.toml): what the model is sent,
what the transcript records, and what `show`, `diff` and `rerun` make of it. Over real HTTP
against the Ollama fake."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from panel.cli import app
from panel.engine.prompt_sets import load_prompt_set
from panel.engine.prompts import default_prompts_dir
from panel.records.transcript import PanelTranscript
from panel.store.transcripts import load_transcript
from tests.support.batches import batch_cli, manifest_hashes, transcripts, write_jsonl
from tests.support.ollama_fake import FakeOllama
from tests.support.paths import EXAMPLES, TERSE_PROMPTS

runner = CliRunner()
PGVECTOR = EXAMPLES / "pgvector.toml"


def invoke(*args: str | Path):
    return runner.invoke(app, [str(arg) for arg in args])


def run_panel(ollama: FakeOllama, out: Path, *extra: str | Path) -> Path:
    """`panel run` on pgvector with seed 5; the transcript it wrote."""
    result = invoke(
        "run",
        PGVECTOR,
        "--backend",
        "ollama",
        "--host",
        ollama.url,
        "--seed",
        "5",
        "--out",
        out,
        "--json",
        *extra,
    )
    assert result.exit_code == 0, result.output
    return Path(json.loads(result.stdout)["transcript"])


def panel_at(path: Path) -> PanelTranscript:
    transcript = load_transcript(path)
    assert isinstance(transcript, PanelTranscript)
    return transcript


def test_run_sends_the_chosen_sets_prompts_and_records_its_name_and_hash(ollama: FakeOllama, tmp_path: Path):
    path = run_panel(ollama, tmp_path / "terse", "--prompts", TERSE_PROMPTS)
    sent = ollama.chats
    assert len(sent) == 4
    for request in sent:
        system, brief = request["messages"]
        assert system["role"] == "system" and system["content"].startswith("Panel review.")
        assert "You sit on a review panel" not in system["content"]
        assert brief["content"].startswith("Reviewer: ")
    terse = load_prompt_set(TERSE_PROMPTS)
    transcript = panel_at(path)
    assert transcript.prompt_set is not None
    assert (transcript.prompt_set.name, transcript.prompt_set.sha256) == ("terse v1", terse.sha256)
    assert transcript.prompt_templates == terse.templates

    shown = invoke("show", path)
    assert shown.exit_code == 0, shown.output
    assert f"Prompts: terse v1 (sha256 {terse.sha256[:12]})" in shown.stdout
    as_json = json.loads(invoke("show", path, "--json").stdout)
    assert as_json["prompts"] == {"name": "terse v1", "sha256": terse.sha256}


def test_a_re_ask_uses_the_chosen_sets_retry_message(ollama: FakeOllama, tmp_path: Path):
    ollama.enqueue("not json")  # the first reviewer's first reply
    run_panel(ollama, tmp_path, "--prompts", TERSE_PROMPTS)
    re_asks = [request for request in ollama.chats if len(request["messages"]) == 4]
    assert len(re_asks) == 1
    assert re_asks[0]["messages"][-1]["content"].startswith(
        "That reply was unusable: the reply is not valid JSON"
    )


def test_panel_toml_and_environment_choose_the_set(ollama: FakeOllama, tmp_path: Path, monkeypatch):
    own = tmp_path / "house"
    shutil.copytree(TERSE_PROMPTS, own)
    (own / "prompts.toml").write_text('name = "house v2"\n')
    Path("panel.toml").write_text(f'prompts = "{TERSE_PROMPTS}"\n')
    assert panel_at(run_panel(ollama, tmp_path / "file")).prompts.name == "terse v1"
    monkeypatch.setenv("PANEL_PROMPTS", str(own))
    assert panel_at(run_panel(ollama, tmp_path / "env")).prompts.name == "house v2"
    flagged = run_panel(ollama, tmp_path / "flag", "--prompts", default_prompts_dir())
    assert panel_at(flagged).prompts.name == "default v1"


def test_diff_of_two_prompt_sets_says_which_to_which(ollama: FakeOllama, tmp_path: Path):
    bundled = run_panel(ollama, tmp_path / "a")
    terse = run_panel(ollama, tmp_path / "b", "--prompts", TERSE_PROMPTS)
    a_label, b_label = load_prompt_set().record().label, load_prompt_set(TERSE_PROMPTS).record().label

    result = invoke("diff", bundled, terse)
    assert result.exit_code == 0, result.output
    assert f"Prompts: {a_label} → {b_label}" in result.stdout
    report = json.loads(invoke("diff", bundled, terse, "--format", "json").stdout)
    prompts = [change for change in report["provenance"] if change["item"] == "prompts"]
    assert prompts == [{"item": "prompts", "personas": [], "before": a_label, "after": b_label}]
    markdown = invoke("diff", bundled, terse, "--format", "md").stdout
    assert "default v1" in markdown and "terse v1" in markdown

    same = json.loads(invoke("diff", bundled, run_panel(ollama, tmp_path / "c"), "--format", "json").stdout)
    assert [change["item"] for change in same["provenance"]] == []


def test_a_batch_under_another_set_is_another_panel(ollama: FakeOllama, tmp_path: Path):
    source = write_jsonl(tmp_path / "cards.jsonl", 2)
    backend = ("--backend", "ollama", "--host", ollama.url, "--seed", "5")
    assert batch_cli(str(source), *backend, "--out", str(tmp_path / "a")).exit_code == 0
    result = batch_cli(str(source), *backend, "--out", str(tmp_path / "b"), "--prompts", str(TERSE_PROMPTS))
    assert result.exit_code == 0, result.output
    assert [panel_at(path).prompts.name for path in transcripts(tmp_path / "b")] == ["terse v1"] * 2
    systems = [request["messages"][0]["content"] for request in ollama.chats]
    assert len(systems) == 16  # two cards, four reviewers, two batches
    assert [text.startswith("Panel review.") for text in systems] == [False] * 8 + [True] * 8
    # The prompt set is part of what makes a panel the same panel: a resumed batch under
    # another set does not take the first set's panels as done.
    assert not set(manifest_hashes(tmp_path / "a")) & set(manifest_hashes(tmp_path / "b"))


def test_folder_diff_says_which_set_to_which(ollama: FakeOllama, tmp_path: Path):
    run_panel(ollama, tmp_path / "a")
    run_panel(ollama, tmp_path / "b", "--prompts", TERSE_PROMPTS)
    result = invoke("diff", tmp_path / "a", tmp_path / "b")
    assert result.exit_code == 0, result.output
    a_label, b_label = load_prompt_set().record().label, load_prompt_set(TERSE_PROMPTS).record().label
    assert f"Prompts: {a_label} → {b_label}" in result.stdout


def test_an_older_transcript_without_a_set_name_still_loads_and_diffs(ollama: FakeOllama, tmp_path: Path):
    path = run_panel(ollama, tmp_path / "old")
    data = json.loads(path.read_text())
    del data["prompt_set"]
    path.write_text(json.dumps(data))
    old = panel_at(path)
    assert old.prompt_set is None
    assert (old.prompts.name, old.prompts.sha256) == ("unnamed", load_prompt_set().sha256)
    shown = invoke("show", path)
    assert shown.exit_code == 0 and "Prompts: unnamed (sha256" in shown.stdout
    # Same templates as the bundled set: the missing name is not reported as a prompt change.
    report = json.loads(invoke("diff", path, run_panel(ollama, tmp_path / "new"), "--format", "json").stdout)
    assert report["provenance"] == []


@pytest.mark.parametrize("command", ["run", "compare"])
def test_a_partial_prompts_folder_is_refused_before_any_model_call(
    ollama: FakeOllama, tmp_path: Path, command: str
):
    partial = tmp_path / "partial"
    partial.mkdir()
    for name in ("system.j2", "review.j2", "retry.j2"):
        shutil.copy(TERSE_PROMPTS / name, partial / name)
    cards = [PGVECTOR] * (2 if command == "compare" else 1)
    result = invoke(command, *cards, "--backend", "ollama", "--host", ollama.url, "--prompts", partial)
    assert result.exit_code == 2
    assert f"The prompts folder {partial} lacks redo.j2, examples.j2" in result.stderr
    assert "Traceback" not in result.output
    assert ollama.chats == []


def test_a_missing_prompts_folder_names_the_flag(ollama: FakeOllama, tmp_path: Path):
    result = invoke("run", PGVECTOR, "--backend", "ollama", "--host", ollama.url, "--prompts", tmp_path / "x")
    assert result.exit_code == 2
    assert "no such prompts folder" in result.stderr and "Point --prompts at such a folder" in result.stderr


def test_rerun_keeps_the_panels_prompt_set(ollama: FakeOllama, tmp_path: Path):
    path = run_panel(ollama, tmp_path, "--prompts", TERSE_PROMPTS)
    backend = ("--backend", "ollama", "--host", ollama.url)

    refused = invoke("rerun", path, "--persona", "dx", *backend)
    assert refused.exit_code == 2
    assert "written with the prompt set 'terse v1'" in refused.stderr
    assert f"Point --prompts at the folder {TERSE_PROMPTS}" in refused.stderr
    assert len(ollama.chats) == 4

    result = invoke("rerun", path, "--persona", "dx", "--prompts", TERSE_PROMPTS, *backend)
    assert result.exit_code == 0, result.output
    assert ollama.chats[-1]["messages"][0]["content"].startswith("Panel review.")
    assert panel_at(path).prompts.name == "terse v1"
