"""The quality gates in the verdict loop, over the Ollama fake: a reply that fails one is re-asked."""

import json

from panel.engine.runner import run_panel
from panel.records.personas import load_personas
from panel.settings import QualityGates, Settings
from tests.support.paths import EXAMPLES

DX = next(lp.persona for lp in load_personas() if lp.persona.id == "dx")


def echoing(body):
    """The dx reply a small model gives: the quote is the brief's own words."""
    from tests.support.ollama_fake import chat_body, json_response, verdict_for_schema

    reply = verdict_for_schema(body["format"], "ship")
    reply["quote"] = "Speak plainly, name real products and companies, and commit to a call. Ship it."
    return json_response(chat_body(body["model"], json.dumps(reply)))


def test_an_echoing_reply_is_re_asked_then_accepted(ollama, settings: Settings, card_path, tmp_path):
    (tmp_path / "one").mkdir()
    (tmp_path / "one" / "dx.toml").write_text((EXAMPLES.parent.parent / "personas" / "dx.toml").read_text())
    ollama.enqueue(echoing)
    result = run_panel(card_path, settings.model_copy(update={"personas_dir": tmp_path / "one"}))
    review = result.transcript.reviews[0]
    assert review.status == "ok" and [a.outcome for a in review.attempts] == ["invalid", "valid"]
    assert (
        "quality gate" in review.attempts[0].error and "copies the instructions" in review.attempts[0].error
    )
    first, second = review.attempts
    # asked afresh: the echo is not shown back (a small model copies what it is shown), the
    # problem is said at the end of the brief, and the shared system message is unchanged
    assert [m["role"] for m in second.messages] == ["system", "user"]
    assert second.messages[0] == first.messages[0]
    brief = second.messages[-1]["content"]
    assert brief.startswith(first.messages[-1]["content"])
    assert "could not be published" in brief and "copies the instructions" in brief
    assert "Speak plainly, name real products" not in brief
    # and sampled with another seed, derived from the panel's so that a rerun is reproducible
    assert (first.seed, second.seed) == (settings.seed, settings.seed + 7919)
    assert [call["options"]["seed"] for call in ollama.chats] == [first.seed, second.seed]
    assert review.verdict.quote.startswith("The quote from DxVerdict")


def test_a_persona_that_only_echoes_ends_failed(ollama, settings: Settings, card_path, tmp_path):
    (tmp_path / "one").mkdir()
    (tmp_path / "one" / "dx.toml").write_text((EXAMPLES.parent.parent / "personas" / "dx.toml").read_text())
    ollama.enqueue(*[echoing] * settings.attempts)
    result = run_panel(card_path, settings.model_copy(update={"personas_dir": tmp_path / "one"}))
    review = result.transcript.reviews[0]
    assert review.status == "failed" and review.verdict is None
    assert len(review.attempts) == settings.attempts == 5 and "copies the instructions" in review.error
    assert result.transcript.aggregate.failed == ["dx"]


def test_an_off_lens_quote_is_re_asked_and_the_feedback_names_the_lens(
    ollama, settings: Settings, card_path, tmp_path
):
    (tmp_path / "one").mkdir()
    (tmp_path / "one" / "dx.toml").write_text((EXAMPLES.parent.parent / "personas" / "dx.toml").read_text())

    def off_lens(body, verdict):
        if body["options"]["seed"] == settings.seed:  # the first ask only
            verdict["quote"] = "It is a fine piece of software. Many people like it a lot."
        return verdict

    ollama.verdict_hook = off_lens
    review = run_panel(
        card_path, settings.model_copy(update={"personas_dir": tmp_path / "one"})
    ).transcript.reviews[0]
    assert [a.outcome for a in review.attempts] == ["invalid", "valid"]
    assert "does not speak from your lens" in review.attempts[0].error
    assert DX.lens in review.attempts[1].messages[-1]["content"]


def test_gates_off_accepts_the_echo(ollama, settings: Settings, card_path, tmp_path):
    (tmp_path / "one").mkdir()
    (tmp_path / "one" / "dx.toml").write_text((EXAMPLES.parent.parent / "personas" / "dx.toml").read_text())
    ollama.enqueue(echoing)
    off = settings.model_copy(
        update={"personas_dir": tmp_path / "one", "quality": QualityGates(enabled=False)}
    )
    review = run_panel(card_path, off).transcript.reviews[0]
    assert [a.outcome for a in review.attempts] == ["valid"]


def test_panel_rerun_goes_through_the_gates_too(ollama, settings: Settings, card_path):
    from panel.editor.changes import rerun_persona

    path = run_panel(card_path, settings).path
    ollama.enqueue(echoing)
    result = rerun_persona(path, "dx", settings, seed=3)
    review = next(r for r in result.transcript.reviews if r.persona == "dx")
    assert [a.outcome for a in review.attempts] == ["invalid", "valid"]
    assert "copies the instructions" in review.attempts[0].error


# What the embedded engine published: a headline the grammar closed at its 160 characters.
CUT_HEADLINE = (
    "Ship it, but only for teams already deep in Postgres who want embeddings beside the "
    "rows and trust the planner, which means they cannot compromise on what’s int"
)


def test_a_cut_headline_is_re_asked_and_never_published(ollama, settings: Settings, card_path, tmp_path):
    from panel.publish.render import render_page

    (tmp_path / "one").mkdir()
    (tmp_path / "one" / "dx.toml").write_text((EXAMPLES.parent.parent / "personas" / "dx.toml").read_text())

    def cut(body, verdict):
        if body["options"]["seed"] == settings.seed:  # the first ask only
            verdict["headline"] = CUT_HEADLINE
        return verdict

    assert len(CUT_HEADLINE) == 160
    ollama.verdict_hook = cut
    transcript = run_panel(
        card_path, settings.model_copy(update={"personas_dir": tmp_path / "one"})
    ).transcript
    review = transcript.reviews[0]
    assert [a.outcome for a in review.attempts] == ["invalid", "valid"]
    assert '"headline" stops at the 160-character limit' in review.attempts[0].error
    assert "end it where a sentence or phrase ends" in review.attempts[1].messages[-1]["content"]
    assert review.verdict.headline == "headline from DxVerdict"
    page = render_page([transcript], "md", draft_mark=False)
    assert "headline from DxVerdict" in page and "compromise on" not in page


def test_a_persona_that_only_writes_cut_fields_ends_failed(ollama, settings: Settings, card_path, tmp_path):
    (tmp_path / "one").mkdir()
    (tmp_path / "one" / "dx.toml").write_text((EXAMPLES.parent.parent / "personas" / "dx.toml").read_text())
    ollama.verdict_hook = lambda body, verdict: {**verdict, "primitive": "A Postgres extension, and the"}
    transcript = run_panel(
        card_path, settings.model_copy(update={"personas_dir": tmp_path / "one"})
    ).transcript
    review = transcript.reviews[0]
    assert review.status == "failed" and review.verdict is None
    assert '"primitive" ends mid-phrase on "the"' in review.error
    assert transcript.aggregate.failed == ["dx"]
