import json

import pytest

from panel.engine.quality import build_references, degenerate_problem, echo_problem, quality_problem
from panel.engine.runner import run_panel
from panel.records.cards import load_card
from panel.records.personas import load_personas
from panel.records.verdicts import Verdict
from panel.settings import QualityGates, Settings
from tests.conftest import EXAMPLES

DX = next(lp.persona for lp in load_personas() if lp.persona.id == "dx")
CARD = load_card(EXAMPLES / "pgvector.toml")
GATES = QualityGates()
REFS = build_references(DX, CARD, GATES)
GOOD_QUOTE = (
    "Underneath it is a Postgres extension, not a new database. The bet is that your vectors "
    "belong beside your rows, and CREATE INDEX USING hnsw works on day one."
)


def verdict(**changes) -> Verdict:
    fields = {
        "primitive": "A Postgres extension",
        "dx_bet": "It carries the index maths so you keep plain SQL",
        "moment_of_truth": "CREATE EXTENSION on RDS, then an HNSW index: it holds",
        "weekend_test": "No: tuned HNSW inside the planner is months of work",
        "deciding_decision": "Living inside Postgres instead of beside it",
    }
    data = {
        "persona": "dx",
        "decision": "ship",
        "confidence": 0.8,
        "headline": "Ship it: vectors where the rows are",
    }
    data |= {"quote": GOOD_QUOTE, "fields": fields}
    for name, value in changes.items():
        if name in fields:
            data["fields"] = {**data["fields"], name: value}
        else:
            data[name] = value
    return Verdict.model_validate(data)


def test_a_good_verdict_passes_every_gate():
    assert quality_problem(verdict(), REFS, GATES) is None


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        (
            {"quote": "Judge only the tool described in the tool card below. It is fine."},
            "copies the instructions",
        ),
        ({"headline": "Where the makers put the complexity so users do not"}, "copies the instructions"),
        (
            {"weekend_test": "Could a competent developer rebuild it in a weekend? No."},
            "copies the instructions",
        ),
        (
            {
                "quote": "It adds a vector column type and exact and approximate nearest-neighbour search. Ship."
            },
            "copies the tool card",
        ),
    ],
)
def test_echoes_of_the_brief_or_the_card_fail(changes, problem):
    found = echo_problem(verdict(**changes), REFS, GATES)
    assert found is not None and problem in found


def test_eleven_words_of_the_card_are_not_yet_a_copy():
    quote = "It adds a vector column type and exact and approximate search. That helps."
    assert echo_problem(verdict(quote=quote), REFS, GATES) is None


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"primitive": "N/A"}, "placeholder"),
        ({"dx_bet": "..."}, "placeholder"),
        ({"headline": "The Builder"}, "your own name"),
        ({"quote": "A fine extension that I would use"}, "fewer than 2 sentences"),
        ({"weekend_test": "A Postgres extension"}, 'repeats "primitive"'),
    ],
)
def test_degenerate_verdicts_fail(changes, problem):
    found = degenerate_problem(verdict(**changes), DX.name, GATES)
    assert found is not None and problem in found


def test_a_quote_off_the_persona_lens_is_refused_and_one_on_it_passes():
    off_lens = verdict(quote="It is a fine piece of software. Many people like it a lot.")
    problem = quality_problem(off_lens, REFS, GATES)
    assert problem is not None and "does not speak from your lens" in problem
    assert DX.lens in problem  # the feedback says which lens, in the persona's own words
    # a word that starts with one of the persona's lens_words is enough ("install" -> "installs")
    on_lens = verdict(quote="It installs with one pip command. Many people like it a lot.")
    assert quality_problem(on_lens, REFS, GATES) is None


def test_the_lens_gate_can_be_turned_off_and_needs_lens_words():
    off_lens = verdict(quote="It is a fine piece of software. Many people like it a lot.")
    no_lens_gate = QualityGates(lens_words=False)
    assert quality_problem(off_lens, build_references(DX, CARD, no_lens_gate), no_lens_gate) is None
    plain = DX.model_copy(update={"lens_words": []})
    assert quality_problem(off_lens, build_references(plain, CARD, GATES), GATES) is None


def test_each_bundled_persona_has_its_own_lens_words():
    personas = [loaded.persona for loaded in load_personas()]
    for persona in personas:
        assert len(persona.lens_words) >= 20, persona.id
        others = {word for other in personas if other is not persona for word in other.lens_words}
        assert not set(persona.lens_words) & others, persona.id


def test_lens_words_must_be_plain_lowercase_words():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="not one lowercase word"):
        DX.model_validate({**DX.model_dump(), "lens_words": ["Price"]})


def test_copying_the_gate_feedback_counts_as_echo():
    copied = verdict(quote="Write one paragraph of three to six sentences here. It installs fine.")
    problem = quality_problem(copied, REFS, GATES)
    assert problem is not None and "copies the instructions" in problem


def test_thresholds_change_what_fails():
    lenient = QualityGates(instruction_words=12, min_quote_sentences=1)
    refs = build_references(DX, CARD, lenient)
    short = verdict(quote="A fine extension", headline="Judge only the tool described in the card")
    assert quality_problem(short, REFS, GATES) is not None
    assert quality_problem(short, refs, lenient) is None


def test_gates_come_from_panel_toml(tmp_path):
    from panel.settings import resolve_settings

    (tmp_path / "panel.toml").write_text("[quality]\ncard_words = 20\nenabled = false\n")
    settings = resolve_settings({}, {}, tmp_path / "panel.toml")
    assert settings.quality == QualityGates(card_words=20, enabled=False)


# -- in the verdict loop, over the Ollama fake -------------------------------------------------


def echoing(body):
    """The dx reply a small model gives: the quote is the brief's own words."""
    from tests.ollama_fake import chat_body, json_response, verdict_for_schema

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
