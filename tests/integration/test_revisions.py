"""The guarded save: no change to a saved panel overwrites a change it did not read."""

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from panel import run_panel
from panel.cli import app
from panel.editor.changes import edit_verdict, rerun_persona
from panel.records.personas import persona_from_record, recorded_persona
from panel.records.transcript import PanelTranscript
from panel.store.revisions import (
    InvalidVerdict,
    RevisionConflict,
    change_verdict,
    find_review,
    history,
    revision_number,
    verdict_from_values,
)
from panel.store.transcripts import load_transcript
from tests.support.paths import ROOT as REPOSITORY

runner = CliRunner()
ROOT = str(REPOSITORY)


def panel_at(settings, card_path) -> Path:
    path = run_panel(card_path, settings).path
    assert path is not None
    return path


def loaded(path: Path) -> PanelTranscript:
    transcript = load_transcript(path)
    assert isinstance(transcript, PanelTranscript)
    return transcript


def values_of(transcript: PanelTranscript, persona_id: str, **changes: Any) -> dict[str, Any]:
    verdict = find_review(transcript, persona_id).verdict
    assert verdict is not None
    common = verdict.model_dump(include={"decision", "confidence", "headline", "quote"})
    return {**common, **verdict.fields, **changes}


def test_lost_update_on_edits(ollama, settings, card_path):
    """Issue 10, "What broke" 1: `panel rerun --persona business` running while `panel edit
    --persona dx --lock` finishes must keep the lock and its revision."""
    path = panel_at(settings, card_path)
    locked_during_rerun = []

    def lock_dx_while_business_is_asked(body: dict[str, Any], verdict: dict[str, Any]) -> dict[str, Any]:
        if body["format"]["title"] == "BusinessVerdict" and not locked_during_rerun:
            result = edit_verdict(
                path, "dx", lock=True, by="Ana", interactive=False, open_editor=lambda p: None
            )
            locked_during_rerun.append(result.transcript.revisions[-1].number)
        return {**verdict, "headline": "rerun headline"}

    ollama.verdict_hook = lock_dx_while_business_is_asked
    rerun_persona(path, "business", settings)

    transcript = loaded(path)
    assert locked_during_rerun == [2]
    assert find_review(transcript, "dx").locked
    assert find_review(transcript, "business").verdict.headline == "rerun headline"
    assert [(r.number, r.action, r.persona, r.by) for r in history(transcript)] == [
        (1, "run", None, "panel run"),
        (2, "edit", "dx", "person:Ana"),
        (3, "rerun", "business", "model:llama3.1:8b"),
    ]


def test_lost_update_on_edits_between_two_processes(ollama, settings, card_path):
    path = panel_at(settings, card_path)

    def lock_dx_from_another_process(body: dict[str, Any], verdict: dict[str, Any]) -> dict[str, Any]:
        if body["format"]["title"] == "BusinessVerdict":
            command = "from panel.cli import main; main()"
            edit = [
                sys.executable,
                "-c",
                command,
                "edit",
                str(path),
                "--persona",
                "dx",
                "--lock",
                "--by",
                "Ana",
            ]
            done = subprocess.run(
                edit, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": ROOT, "EDITOR": "true"}
            )
            assert done.returncode == 0, done.stderr
        return verdict

    ollama.verdict_hook = lock_dx_from_another_process
    result = runner.invoke(
        app, ["rerun", str(path), "--persona", "business", "--backend", "ollama", "--host", ollama.url]
    )
    assert result.exit_code == 0, result.output
    transcript = loaded(path)
    assert find_review(transcript, "dx").locked
    assert [r.action for r in history(transcript)] == ["run", "edit", "rerun"]


def test_rerun_of_a_verdict_locked_meanwhile_is_refused(ollama, settings, card_path):
    path = panel_at(settings, card_path)

    def lock_the_same_persona(body: dict[str, Any], verdict: dict[str, Any]) -> dict[str, Any]:
        edit_verdict(path, "dx", lock=True, by="Ana", interactive=False, open_editor=lambda p: None)
        return verdict

    ollama.verdict_hook = lock_the_same_persona
    with pytest.raises(RevisionConflict) as caught:
        rerun_persona(path, "dx", settings)
    assert "revision 2 (edit by Ana" in str(caught.value) and "Nothing was saved" in str(caught.value)
    transcript = loaded(path)
    assert find_review(transcript, "dx").locked and revision_number(transcript) == 2


def test_cli_rerun_that_lost_the_race_exits_4(ollama, settings, card_path):
    path = panel_at(settings, card_path)

    def edit_the_same_persona(body: dict[str, Any], verdict: dict[str, Any]) -> dict[str, Any]:
        edit_verdict(path, "dx", lock=True, by="Ana", interactive=False, open_editor=lambda p: None)
        return verdict

    ollama.verdict_hook = edit_the_same_persona
    result = runner.invoke(
        app, ["rerun", str(path), "--persona", "dx", "--backend", "ollama", "--host", ollama.url]
    )
    assert result.exit_code == 4
    assert "changed after you read it" in " ".join(result.stderr.split())
    assert [r.action for r in history(loaded(path))] == ["run", "edit"]


def test_second_tab_save_is_refused_and_names_the_newer_revision(ollama, settings, card_path):
    path = panel_at(settings, card_path)
    transcript = loaded(path)
    persona = persona_from_record(recorded_persona(transcript, "dx"))
    base = revision_number(transcript)

    first = verdict_from_values(persona, values_of(transcript, "dx", headline="Tab one wins"))
    change_verdict(path, "dx", base=base, verdict=first, by="Ana")
    saved = path.read_bytes()

    second = verdict_from_values(persona, values_of(transcript, "dx", headline="Tab two loses"))
    with pytest.raises(RevisionConflict) as caught:
        change_verdict(path, "dx", base=base, verdict=second, by="Bo")
    assert caught.value.newer.number == 2 and caught.value.newer.by == "person:Ana"
    assert path.read_bytes() == saved
    assert find_review(loaded(path), "dx").verdict.headline == "Tab one wins"

    # A change to another persona from the same old base is not a conflict: it goes on top.
    other = verdict_from_values(
        persona_from_record(recorded_persona(transcript, "futures")),
        values_of(transcript, "futures", headline="Futures edit"),
    )
    result = change_verdict(path, "futures", base=base, verdict=other, by="Bo")
    assert revision_number(result.transcript) == 3
    assert find_review(result.transcript, "dx").verdict.headline == "Tab one wins"


def test_verdict_values_are_checked_field_by_field(ollama, settings, card_path):
    transcript = loaded(panel_at(settings, card_path))
    persona = persona_from_record(recorded_persona(transcript, "dx"))
    values = values_of(transcript, "dx", decision="maybe", confidence=3)
    with pytest.raises(InvalidVerdict) as caught:
        verdict_from_values(persona, values)
    assert set(caught.value.problems) == {"decision", "confidence"}


def test_guarded_save_gives_up_on_a_lock_held_too_long_with_exit_4(ollama, settings, card_path, monkeypatch):
    """Issue 19: a save waited forever for another process's lock (the studio froze whole)."""
    import fcntl

    from panel.store import revisions

    monkeypatch.setattr(revisions, "LOCK_WAIT_SECONDS", 0.3)
    path = panel_at(settings, card_path)
    saved = path.read_bytes()
    handle = os.open(revisions.lock_path(path), os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)  # another open file: the save's own flock must wait
        with pytest.raises(revisions.TranscriptBusy, match="being saved by another process") as busy:
            change_verdict(path, "dx", base=1, locked=True, by="Ana")
        assert busy.value.exit_code == 4 and path.read_bytes() == saved
        result = runner.invoke(
            app, ["edit", str(path), "--persona", "dx", "--lock", "--no-edit", "--by", "Ana"]
        )
        assert result.exit_code == 4 and "nothing was saved" in " ".join(result.stderr.split())
    finally:
        os.close(handle)
    assert change_verdict(path, "dx", base=1, locked=True, by="Ana").review is not None
