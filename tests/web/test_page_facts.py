"""Pages that never overstate the panel: incomplete panels, draft models, edits, facts, the call."""

from pathlib import Path
from typing import Any

from markdown_it import MarkdownIt
from typer.testing import CliRunner

from panel import run_panel
from panel.cli import app
from panel.publish.page_facts import verdict_sentence
from panel.publish.render import render_page
from panel.records.personas import persona_from_record, recorded_persona
from panel.records.transcript import PanelTranscript
from panel.store.revisions import change_verdict, find_review, revision_number, verdict_from_values
from panel.store.transcripts import load_transcript, save_transcript
from tests.support.browser import chromium, parse_html
from tests.support.paths import EXAMPLES

runner = CliRunner()
PGVECTOR = EXAMPLES / "pgvector.toml"
COPILOT = EXAMPLES / "github-copilot.toml"
TEST_MODEL = "SmolLM2-135M-Instruct.Q4_1.gguf"
RAW_ERROR = "the reply is not valid JSON"


def invoke(*args: str | Path):
    return runner.invoke(app, [str(arg) for arg in args])


def loaded(path: Path) -> PanelTranscript:
    transcript = load_transcript(path)
    assert isinstance(transcript, PanelTranscript)
    return transcript


def incomplete_panel(ollama, settings) -> Path:
    def broken_builder(body: dict[str, Any], verdict: dict[str, Any]) -> dict[str, Any]:
        return {"decision": "maybe"} if body["format"]["title"] == "DxVerdict" else verdict

    ollama.verdict_hook = broken_builder
    path = run_panel(PGVECTOR, settings).path
    assert path is not None
    assert loaded(path).aggregate.failed == ["dx"]
    return path


def test_incomplete_panel_exits_1_unless_allowed_and_says_3_of_4(ollama, settings, tmp_path):
    path = incomplete_panel(ollama, settings)
    page = tmp_path / "page.html"

    refused = invoke("render", path, "-o", page)
    assert refused.exit_code == 1
    assert "pgvector has 3 of 4 reviewers" in refused.stderr and "--allow-incomplete" in refused.stderr
    assert not page.exists()

    allowed = invoke("render", path, "--allow-incomplete", "-o", page)
    assert allowed.exit_code == 0, allowed.output
    html = page.read_text()
    dom = parse_html(chromium(tmp_path, "--dump-dom", page.as_uri()).stdout)
    assert "100% Panel ships 3 of 4 reviewers" in dom.text
    assert "Incomplete panel: 3 of 4 reviewers gave a verdict; no verdict from The Builder." in dom.text
    assert "panel of 3 of 4 reviewers" in dom.text
    errors = [review.error for review in loaded(path).reviews if review.error]
    assert errors and all(error not in html for error in errors)
    assert "attempts" not in dom.text and "decision" not in dom.text

    markdown = invoke("render", path, "--allow-incomplete", "--format", "md")
    assert markdown.exit_code == 0 and "(3 of 4 reviewers)" in markdown.stdout
    assert all(error not in markdown.stdout for error in errors)


def test_a_test_model_page_is_marked_draft_unless_asked_not_to(ollama, settings, tmp_path):
    transcript = loaded(run_panel(PGVECTOR, settings).path)
    reviews = [review.model_copy(update={"model": TEST_MODEL}) for review in transcript.reviews]
    draft = transcript.model_copy(update={"reviews": reviews})
    path = save_transcript(draft, tmp_path / "drafts", draft.tool_slug)

    marked = invoke("render", path)
    assert marked.exit_code == 0
    assert "Draft — test model." in parse_html(marked.stdout).text
    assert TEST_MODEL in parse_html(marked.stdout).text.split("Draft — test model.")[1][:120]
    unmarked = invoke("render", path, "--no-draft-mark")
    assert unmarked.exit_code == 0 and "Draft — test model" not in unmarked.stdout
    markdown = invoke("render", path, "--format", "md")
    assert "> **Draft — test model.**" in markdown.stdout

    # A model a setting names as a draft model is marked too; others are not.
    real_path = next(settings.out_dir.glob("pgvector-*.json"))
    assert "Draft — test model" not in invoke("render", real_path).stdout
    Path("panel.toml").write_text('draft_models = ["llama3.1:8b"]\n')
    assert "Draft — test model." in parse_html(invoke("render", real_path).stdout).text


def test_edited_verdicts_say_who_and_when_in_the_footer(ollama, settings):
    path = run_panel(PGVECTOR, settings).path
    transcript = loaded(path)
    persona = persona_from_record(recorded_persona(transcript, "dx"))
    verdict = find_review(transcript, "dx").verdict
    values = {**verdict.model_dump(include={"decision", "confidence", "quote"}), **verdict.fields}
    edited = verdict_from_values(persona, {**values, "headline": "Edited by hand"})
    result = change_verdict(path, "dx", base=revision_number(transcript), verdict=edited, by="Ana")
    change_verdict(path, "futures", base=revision_number(result.transcript), locked=True, by="Bo")

    text = parse_html(invoke("render", path).stdout).text
    when = loaded(path).revisions[1].created_at.strftime("%d %B %Y %H:%M UTC")
    assert f"pgvector: The Builder's verdict edited by Ana, {when}." in text
    assert "pgvector: The Futurist's verdict locked by Bo," in text
    assert "The Rival Watcher's verdict" not in text
    assert "pgvector: The Builder's verdict edited by Ana" in invoke("render", path, "--format", "md").stdout


def test_facts_side_by_side_and_one_verdict_sentence_per_tool(ollama, settings):
    ollama.decisions["BusinessVerdict"] = "skip"
    a = run_panel(PGVECTOR, settings).path
    ollama.decisions["DxVerdict"] = "skip"
    b = run_panel(COPILOT, settings).path
    html = invoke("render", a, b).stdout
    seen = parse_html(html)
    assert "Facts side by side" in seen.text
    for fact in loaded(a).card.facts + loaded(b).card.facts:
        assert fact in seen.text
    assert "The panel ships pgvector: 3 of 4 reviewers say ship." in seen.text
    assert "The panel is split on GitHub Copilot: 2 ship, 2 skip." in seen.text

    markdown = invoke("render", a, b, "--format", "md").stdout
    rendered = parse_html(MarkdownIt("commonmark").enable("table").render(markdown))
    assert loaded(a).card.facts[0] in rendered.text and loaded(b).card.facts[0] in rendered.text
    assert markdown.count("| Facts |") == 1


def test_verdict_sentence_counts_only_the_reviewers_with_a_verdict(ollama, settings):
    path = incomplete_panel(ollama, settings)
    aggregate = loaded(path).aggregate
    assert verdict_sentence("pgvector", aggregate) == (
        "The panel ships pgvector: all 3 reviewers say ship (1 of 4 gave no verdict)."
    )
    assert "The panel ships pgvector: all 3 reviewers" in render_page([loaded(path)])
