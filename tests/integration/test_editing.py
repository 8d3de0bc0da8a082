"""The editor's workflow: rerun one persona, hand-edit and lock a verdict, review before the tally."""

import json
import shutil
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from panel import run_panel
from panel.cli import app
from panel.editor.changes import (
    InvalidEdit,
    LockedReview,
    edit_verdict,
    parse_verdict_document,
    person_name,
    rerun_persona,
    verdict_document,
)
from panel.editor.review_mode import ReviewSession, review_panel_async
from panel.records.personas import load_personas
from panel.records.transcript import PanelTranscript
from panel.store.revisions import at_revision, history, is_locked, review_at
from panel.store.transcripts import load_transcript
from tests.support.paths import EXAMPLES

runner = CliRunner()
PGVECTOR = str(EXAMPLES / "pgvector.toml")


def backend_flags(ollama) -> list[str]:
    return ["--backend", "ollama", "--host", ollama.url]


def review_slices(text: str) -> dict[str, str]:
    """The exact bytes of each review object in a transcript file, by persona."""
    decoder = json.JSONDecoder()
    index = text.index("[", text.index('"reviews":')) + 1
    slices = {}
    while True:
        while text[index] in " \n,":
            index += 1
        if text[index] == "]":
            return slices
        review, end = decoder.raw_decode(text, index)
        slices[review["persona"]] = text[index:end]
        index = end


def first_panel(settings, card_path) -> Path:
    result = run_panel(card_path, settings)
    assert result.path is not None
    return result.path


def scripted_editor(tmp_path: Path, monkeypatch, body: str) -> None:
    """$EDITOR = a small Python script whose `edit(text) -> text` rewrites the verdict file."""
    script = tmp_path / "editor.py"
    script.write_text(
        "import sys\nfrom pathlib import Path\n"
        + body
        + "\npath = Path(sys.argv[1])\npath.write_text(edit(path.read_text()))\n"
    )
    monkeypatch.setenv("EDITOR", f"{sys.executable} {script}")
    monkeypatch.delenv("VISUAL", raising=False)


# --- rerun ---------------------------------------------------------------------------------


def test_rerun_keeps_the_other_reviews_byte_for_byte(ollama, settings, card_path):
    path = first_panel(settings, card_path)
    before = path.read_text()
    original = load_transcript(path)
    ollama.decisions["DxVerdict"] = "skip"

    result = runner.invoke(
        app, ["rerun", str(path), "--persona", "dx", "--seed", "11", *backend_flags(ollama)]
    )

    assert result.exit_code == 0, result.output
    after = path.read_text()
    old, new = review_slices(before), review_slices(after)
    assert set(old) == set(new) == {"business", "competition", "dx", "futures"}
    for persona in ("business", "competition", "futures"):
        assert new[persona] == old[persona]
    assert new["dx"] != old["dx"]
    transcript = load_transcript(path)
    assert isinstance(transcript, PanelTranscript)
    assert transcript.aggregate.ship_pct == 75 and transcript.aggregate.split["skip"] == ["dx"]
    assert [(r.number, r.action, r.by) for r in transcript.revisions] == [
        (1, "run", "panel run"),
        (2, "rerun", "model:llama3.1:8b"),
    ]
    assert transcript.revisions[0].reviews == original.reviews  # nothing lost
    assert transcript.revisions[1].seed == 11 and transcript.options["dx"]["seed"] == 11
    assert ollama.chats[-1]["options"]["seed"] == 11
    # The same prompt as the first run: the persona as recorded in the transcript.
    dx_before = next(r for r in original.reviews if r.persona == "dx")
    assert ollama.chats[-1]["messages"] == dx_before.attempts[0].messages
    assert "Revision 2 of 2" in " ".join(result.stdout.split())


def test_rerun_takes_the_current_persona_file_only_when_asked(ollama, settings, card_path, tmp_path):
    path = first_panel(settings, card_path)
    personas = tmp_path / "personas"
    shutil.copytree(Path(load_personas()[0].path).parent, personas)
    dx_file = personas / "dx.toml"
    dx_file.write_text(dx_file.read_text().replace("A senior engineer", "A grumpy senior engineer"))

    rerun_persona(path, "dx", settings)
    assert "grumpy" not in json.dumps(ollama.chats[-1]["messages"])

    result = rerun_persona(path, "dx", settings, personas_dir=personas)
    assert "grumpy" in json.dumps(ollama.chats[-1]["messages"])
    record = next(r for r in result.transcript.personas if r.id == "dx")
    assert "grumpy" in record.text and record.path == str(dx_file)
    assert len(history(result.transcript)) == 3


def test_rerun_of_an_unknown_persona_names_the_panel(ollama, settings, card_path):
    path = first_panel(settings, card_path)
    result = runner.invoke(app, ["rerun", str(path), "--persona", "nobody", *backend_flags(ollama)])
    assert result.exit_code == 2
    assert "no persona 'nobody'" in result.stderr and "business, competition, dx, futures" in result.stderr


def test_transcript_without_revisions_still_loads_and_reruns(ollama, settings, card_path):
    """Transcripts written before revisions existed: no `revisions`, `written_by` or `locked`."""
    path = first_panel(settings, card_path)
    data = json.loads(path.read_text())
    data.pop("revisions")
    for review in data["reviews"]:
        review.pop("written_by"), review.pop("locked")
    path.write_text(json.dumps(data, indent=2))
    old = load_transcript(path)
    assert isinstance(old, PanelTranscript) and old.revisions == []
    assert [r.action for r in history(old)] == ["run"]

    result = rerun_persona(path, "futures", settings)
    assert [r.action for r in result.transcript.revisions] == ["run", "rerun"]
    assert result.transcript.revisions[0].reviews == old.reviews
    assert result.transcript.revisions[0].created_at == old.created_at


# --- edit and lock -------------------------------------------------------------------------


def test_edit_with_a_scripted_editor(ollama, settings, card_path, tmp_path, monkeypatch):
    path = first_panel(settings, card_path)
    before = review_slices(path.read_text())
    scripted_editor(
        tmp_path,
        monkeypatch,
        "def edit(text):\n"
        "    return text.replace('decision = \"ship\"', 'decision = \"skip\"').replace(\n"
        "        'headline = \"headline from DxVerdict\"', 'headline = \"Rebuildable in a weekend.\"')\n",
    )

    result = runner.invoke(app, ["edit", str(path), "--persona", "dx", "--by", "Alice", "--note", "too kind"])

    assert result.exit_code == 0, result.output
    transcript = load_transcript(path)
    dx = next(r for r in transcript.reviews if r.persona == "dx")
    assert dx.written_by == "person:Alice" and dx.author == "person:Alice" and not dx.locked
    assert dx.verdict.decision == "skip" and dx.verdict.headline == "Rebuildable in a weekend."
    assert dx.verdict.fields["primitive"] == "primitive from DxVerdict"  # untouched fields survive
    assert transcript.aggregate.ship_pct == 75
    last = transcript.revisions[-1]
    assert (last.action, last.by, last.persona, last.note) == ("edit", "person:Alice", "dx", "too kind")
    after = review_slices(path.read_text())
    assert all(after[p] == before[p] for p in ("business", "competition", "futures"))
    assert "dx (Alice)" in result.stdout


def test_invalid_edit_exits_2_without_a_terminal_and_saves_nothing(
    ollama, settings, card_path, tmp_path, monkeypatch
):
    path = first_panel(settings, card_path)
    before = path.read_bytes()
    scripted_editor(
        tmp_path,
        monkeypatch,
        "def edit(text):\n    return text.replace('confidence = 0.8', 'confidence = 2')\n",
    )
    result = runner.invoke(app, ["edit", str(path), "--persona", "dx"])
    assert result.exit_code == 2
    message = " ".join(result.stderr.split())
    assert "The edited verdict of dx is not valid" in message and "confidence" in message
    assert "Traceback" not in result.output
    assert path.read_bytes() == before


def test_broken_toml_is_reported_with_its_line(ollama, settings, card_path, tmp_path, monkeypatch):
    path = first_panel(settings, card_path)
    scripted_editor(
        tmp_path, monkeypatch, "def edit(text):\n    return text + '\\nquote = unquoted text\\n'\n"
    )
    result = runner.invoke(app, ["edit", str(path), "--persona", "dx"])
    assert result.exit_code == 2 and "not valid TOML" in result.stderr


def test_interactive_edit_reopens_with_the_error_on_top(ollama, settings, card_path):
    path = first_panel(settings, card_path)
    seen: list[str] = []

    def editor(file: Path) -> None:
        text = file.read_text()
        seen.append(text)
        if len(seen) == 1:
            file.write_text(text.replace('decision = "ship"', 'decision = "maybe"'))
        else:
            file.write_text(text.replace('decision = "maybe"', 'decision = "skip"'))

    result = edit_verdict(path, "business", by="Bo", interactive=True, open_editor=editor)

    assert len(seen) == 2
    assert seen[1].startswith("# !! Not saved:") and "decision" in seen[1].splitlines()[0]
    assert result.review is not None and result.review.verdict.decision == "skip"
    assert load_transcript(path).aggregate.ship_pct == 75


def test_unchanged_edit_saves_nothing(ollama, settings, card_path, tmp_path, monkeypatch):
    path = first_panel(settings, card_path)
    before = path.read_bytes()
    scripted_editor(tmp_path, monkeypatch, "def edit(text):\n    return text\n")
    result = runner.invoke(app, ["edit", str(path), "--persona", "dx"])
    assert result.exit_code == 0 and "No change to dx" in result.stderr
    assert path.read_bytes() == before


def test_edit_without_an_editor_or_terminal_says_to_set_editor(ollama, settings, card_path, monkeypatch):
    path = first_panel(settings, card_path)
    monkeypatch.delenv("EDITOR", raising=False)
    monkeypatch.delenv("VISUAL", raising=False)
    result = runner.invoke(app, ["edit", str(path), "--persona", "dx"])
    assert result.exit_code == 2 and "$EDITOR" in result.stderr


def test_lock_is_respected_by_rerun_unless_forced(ollama, settings, card_path, tmp_path, monkeypatch):
    path = first_panel(settings, card_path)
    scripted_editor(tmp_path, monkeypatch, "def edit(text):\n    return text\n")
    locked = runner.invoke(app, ["edit", str(path), "--persona", "dx", "--lock", "--by", "Alice"])
    assert locked.exit_code == 0, locked.output
    transcript = load_transcript(path)
    dx = next(r for r in transcript.reviews if r.persona == "dx")
    assert is_locked(dx) and dx.written_by is None  # locking alone does not make it a person's text
    assert transcript.revisions[-1].note == "locked"
    assert "dx (locked)" in locked.stdout

    before = path.read_bytes()
    chats = len(ollama.chats)
    refused = runner.invoke(app, ["rerun", str(path), "--persona", "dx", *backend_flags(ollama)])
    assert refused.exit_code == 2
    assert "locked" in refused.stderr and "--force" in refused.stderr
    assert path.read_bytes() == before and len(ollama.chats) == chats
    with pytest.raises(LockedReview):
        rerun_persona(path, "dx", settings)

    ollama.decisions["DxVerdict"] = "skip"
    forced = runner.invoke(app, ["rerun", str(path), "--persona", "dx", "--force", *backend_flags(ollama)])
    assert forced.exit_code == 0, forced.output
    dx = next(r for r in load_transcript(path).reviews if r.persona == "dx")
    assert not dx.locked and dx.verdict.decision == "skip"
    assert [r.action for r in load_transcript(path).revisions] == ["run", "edit", "rerun"]


def test_verdict_document_round_trips_awkward_text():
    persona = next(lp.persona for lp in load_personas() if lp.persona.id == "dx")
    from panel.records.verdicts import PersonaReview, Verdict

    awkward = 'He said """no""" \\ then\ttabbed\r\nand a bell \x07 and ünïcode'
    verdict = Verdict(
        persona="dx",
        decision="ship",
        confidence=0.65,
        headline="Short",
        quote=awkward,
        fields={name: f"{name} {awkward}" for name in persona.fields},
    )
    review = PersonaReview(persona="dx", model="m", status="ok", verdict=verdict)
    document = verdict_document(persona, review, "pgvector")
    assert "# ship or skip" in document and "# What the tool fundamentally is" in document
    parsed = parse_verdict_document(document, persona)
    assert parsed.quote == awkward.strip() and parsed.fields == {
        k: v.strip() for k, v in verdict.fields.items()
    }
    assert parsed.confidence == 0.65


def test_failed_review_gets_an_empty_form_that_must_be_filled():
    persona = next(lp.persona for lp in load_personas() if lp.persona.id == "dx")
    from panel.records.verdicts import PersonaReview

    review = PersonaReview(persona="dx", model="m", status="failed", error="no valid verdict")
    document = verdict_document(persona, review, "pgvector")
    assert "This persona failed in the run" in document
    with pytest.raises(InvalidEdit, match="decision"):
        parse_verdict_document(document, persona)


def test_person_name_prefers_by_then_git_then_the_os_user(monkeypatch):
    import subprocess

    from panel.editor import changes as editing

    assert person_name("  Alice ") == "Alice"
    monkeypatch.setattr(
        editing.subprocess,
        "run",
        lambda *a, **k: subprocess.CompletedProcess(a, 0, stdout="Git Person\n", stderr=""),
    )
    assert person_name(None) == "Git Person"

    def no_git(*args, **kwargs):
        raise FileNotFoundError("git")

    monkeypatch.setattr(editing.subprocess, "run", no_git)
    monkeypatch.setattr(editing.getpass, "getuser", lambda: "osuser")
    assert person_name(None) == "osuser"


# --- review before the tally ---------------------------------------------------------------


def test_review_with_scripted_answers(ollama, tmp_path):
    """business accept, competition rerun (then accept), dx lock, futures accept."""
    out = tmp_path / "out"
    result = runner.invoke(
        app,
        ["run", PGVECTOR, *backend_flags(ollama), "--out", str(out), "--by", "Eve", "--json", "--review"],
        input="a\nr\nl\na\na\n",
    )
    assert result.exit_code == 0, result.output
    assert result.stderr.count("competition: [a]ccept") == 2
    assert result.stderr.count("dx: [a]ccept") == 1
    # Prompts and tables go to stderr; CliRunner echoes the typed answers onto stdout.
    summary = json.loads(result.stdout[result.stdout.index("{") :])
    assert len(ollama.chats) == 5
    transcript = load_transcript(summary["transcript"])
    assert [(r.number, r.action, r.persona) for r in transcript.revisions] == [
        (1, "run", None),
        (2, "rerun", "competition"),
        (3, "review", None),
    ]
    rerun_seed = transcript.revisions[1].seed
    assert transcript.options["competition"]["seed"] == rerun_seed != transcript.seed
    assert ollama.chats[-1]["options"]["seed"] == rerun_seed
    assert transcript.revisions[2].by == "person:Eve"
    assert transcript.revisions[2].note == "accepted: business, futures, competition; accepted and locked: dx"
    assert [r.persona for r in transcript.revisions[2].reviews] == ["dx"]
    assert [r.persona for r in transcript.reviews if r.locked] == ["dx"]
    assert len(transcript.revisions[0].reviews) == 4


def test_review_rerun_and_edit_change_the_tally(ollama, settings, card_path, tmp_path):
    """The library face: a chooser that reruns competition (which now skips) and edits dx."""
    rounds: list[list[str]] = []

    def choose(reviews, open_ids):
        rounds.append(open_ids)
        if len(rounds) == 1:
            ollama.decisions["CompetitionVerdict"] = "skip"
            return {"competition": "rerun", "dx": "edit", "business": "lock"}
        return {}

    def editor(file: Path) -> None:
        file.write_text(file.read_text().replace('decision = "ship"', 'decision = "skip"'))

    import asyncio

    result = asyncio.run(
        review_panel_async(card_path, settings, choose, by="Ed", interactive=False, open_editor=editor)
    )
    transcript = result.transcript
    assert rounds == [["business", "competition", "dx", "futures"], ["competition"]]
    decisions = {r.persona: r.verdict.decision for r in transcript.reviews}
    assert decisions == {"business": "ship", "competition": "skip", "dx": "skip", "futures": "ship"}
    assert transcript.aggregate.ship_pct == 50
    assert [(r.action, r.persona) for r in transcript.revisions] == [
        ("run", None),
        ("edit", "dx"),
        ("rerun", "competition"),
        ("review", None),
    ]
    assert transcript.revisions[0].aggregate.ship_pct == 100
    assert transcript.revisions[1].aggregate.ship_pct == 75
    dx = next(r for r in transcript.reviews if r.persona == "dx")
    assert dx.written_by == "person:Ed"
    assert load_transcript(result.path) == transcript


def test_review_that_runs_out_of_answers_saves_nothing(ollama, tmp_path):
    out = tmp_path / "out"
    result = runner.invoke(
        app, ["run", PGVECTOR, *backend_flags(ollama), "--out", str(out), "--review"], input="a\n"
    )
    assert result.exit_code == 2
    assert "ended before every verdict had an answer" in result.stderr
    assert not list(out.glob("*.json"))


def test_review_session_asks_only_about_open_personas():
    import asyncio

    from panel.records.verdicts import PersonaReview

    asked: list[list[str]] = []
    session = ReviewSession(
        personas={},
        tool="t",
        choose=lambda reviews, open_ids: asked.append(open_ids) or {"a": "rerun"},
        author="x",
        interactive=False,
    )
    reviews = [PersonaReview(persona=p, model="m", status="failed") for p in ("a", "b")]
    first = asyncio.run(session(reviews))
    assert set(first["rerun"]) == {"a"} and first["edited"] == []
    asyncio.run(session(reviews))
    assert asked == [["a", "b"], ["a"]]


def test_editor_that_leaves_bytes_or_deletes_the_file_exits_2(
    ollama, settings, card_path, tmp_path, monkeypatch
):
    path = first_panel(settings, card_path)
    before = path.read_bytes()
    for body in (
        "def edit(text):\n    return text\npath0 = Path(sys.argv[1])\npath0.write_bytes(b'\\xff\\xfe')\nraise SystemExit(0)",
        "def edit(text):\n    return text\nPath(sys.argv[1]).unlink()\nraise SystemExit(0)",
    ):
        scripted_editor(tmp_path, monkeypatch, body)
        result = runner.invoke(app, ["edit", str(path), "--persona", "dx"])
        assert result.exit_code == 2, result.output
        assert "Cannot read the edited verdict" in " ".join(result.stderr.split())
        assert path.read_bytes() == before


def test_failed_rerun_keeps_the_earlier_verdict(ollama, settings, card_path):
    path = first_panel(settings, card_path)
    before = load_transcript(path)
    ollama.enqueue(503, 503, 503)
    result = runner.invoke(app, ["rerun", str(path), "--persona", "dx", *backend_flags(ollama), "--json"])
    after = load_transcript(path)
    assert after.reviews == before.reviews and after.aggregate == before.aggregate
    last = after.revisions[-1]
    assert last.action == "rerun" and last.reviews[0].status == "failed"
    assert "rerun failed, the earlier verdict is kept" in last.note and last.kept_earlier
    assert result.exit_code == 0
    # The panel as it stood after that rerun (a diff or a revert to it) is the kept verdict.
    then = at_revision(after, last.number)
    assert then.reviews == before.reviews and then.aggregate == before.aggregate
    assert (
        review_at(after, "dx", last.number) == before.reviews[[r.persona for r in before.reviews].index("dx")]
    )
    legacy = after.model_copy(
        update={"revisions": [*after.revisions[:-1], last.model_copy(update={"kept_earlier": False})]}
    )
    assert at_revision(legacy, last.number).reviews == before.reviews


def test_lock_without_an_editor_through_no_edit(ollama, settings, card_path, monkeypatch):
    path = first_panel(settings, card_path)
    for name in ("VISUAL", "EDITOR"):
        monkeypatch.delenv(name, raising=False)
    without = runner.invoke(app, ["edit", str(path), "--persona", "dx", "--lock"])
    assert without.exit_code == 2 and "No editor to open" in without.stderr
    alone = runner.invoke(app, ["edit", str(path), "--persona", "dx", "--no-edit"])
    assert alone.exit_code == 2 and "add --lock or --unlock" in alone.stderr
    locked = runner.invoke(app, ["edit", str(path), "--persona", "dx", "--lock", "--no-edit", "--by", "Bo"])
    assert locked.exit_code == 0, locked.output
    dx = next(r for r in load_transcript(path).reviews if r.persona == "dx")
    assert dx.locked and dx.written_by is None and dx.verdict.headline == "headline from DxVerdict"
    assert load_transcript(path).revisions[-1].by == "person:Bo"


def test_a_rerun_that_meets_a_bug_keeps_the_earlier_verdict(ollama, settings, card_path, monkeypatch):
    """A rerun goes through the graph's review node, whose guard turns any exception into a
    failed sample on record."""
    from panel.engine import graph

    async def broken(*args, **kwargs):
        raise RuntimeError("unexpected bug")

    path = first_panel(settings, card_path)
    before = load_transcript(path)
    monkeypatch.setattr(graph, "review_persona", broken)
    rerun_persona(path, "dx", settings)
    after = load_transcript(path)
    assert after.reviews == before.reviews
    assert after.revisions[-1].reviews[0].error == "RuntimeError: unexpected bug"


def test_edit_through_a_symlinked_transcript_changes_the_real_file_and_keeps_the_link(
    ollama, settings, card_path, tmp_path, monkeypatch
):
    real = first_panel(settings, card_path)
    elsewhere = tmp_path / "links"
    elsewhere.mkdir()
    link = elsewhere / "pgvector.json"
    link.symlink_to(real)
    scripted_editor(
        tmp_path,
        monkeypatch,
        "def edit(text):\n    return text.replace('decision = \"ship\"', 'decision = \"skip\"')\n",
    )

    result = runner.invoke(app, ["edit", str(link), "--persona", "dx", "--by", "Alice"])

    assert result.exit_code == 0, result.output
    assert link.is_symlink() and link.resolve() == real.resolve()
    dx = next(r for r in load_transcript(real).reviews if r.persona == "dx")
    assert dx.verdict.decision == "skip"
    # The real file took the lock; nothing was written beside the link.
    assert (real.parent / f".{real.name}.lock").exists()
    assert sorted(path.name for path in elsewhere.iterdir()) == ["pgvector.json"]
