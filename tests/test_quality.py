import json

import pytest

from panel.cards import load_card
from panel.config import Settings
from panel.personas import load_personas
from panel.quality import QualityGates, build_references, degenerate_problem, echo_problem, quality_problem
from panel.runner import run_panel
from panel.verdicts import Verdict
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


def test_thresholds_change_what_fails():
    lenient = QualityGates(instruction_words=12, min_quote_sentences=1)
    refs = build_references(DX, CARD, lenient)
    short = verdict(quote="A fine extension", headline="Judge only the tool described in the card")
    assert quality_problem(short, REFS, GATES) is not None
    assert quality_problem(short, refs, lenient) is None


def test_gates_come_from_panel_toml(tmp_path):
    from panel.config import resolve_settings

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
    feedback = review.attempts[1].messages[-1]["content"]
    assert "copies the instructions" in feedback
    assert review.verdict.quote.startswith("The quote from DxVerdict")


def test_a_persona_that_only_echoes_ends_failed(ollama, settings: Settings, card_path, tmp_path):
    (tmp_path / "one").mkdir()
    (tmp_path / "one" / "dx.toml").write_text((EXAMPLES.parent.parent / "personas" / "dx.toml").read_text())
    ollama.enqueue(echoing, echoing, echoing)
    result = run_panel(card_path, settings.model_copy(update={"personas_dir": tmp_path / "one"}))
    review = result.transcript.reviews[0]
    assert review.status == "failed" and review.verdict is None
    assert len(review.attempts) == 3 and "copies the instructions" in review.error
    assert result.transcript.aggregate.failed == ["dx"]


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
    from panel.editing import rerun_persona

    path = run_panel(card_path, settings).path
    ollama.enqueue(echoing)
    result = rerun_persona(path, "dx", settings, seed=3)
    review = next(r for r in result.transcript.reviews if r.persona == "dx")
    assert [a.outcome for a in review.attempts] == ["invalid", "valid"]
    assert "copies the instructions" in review.attempts[0].error
