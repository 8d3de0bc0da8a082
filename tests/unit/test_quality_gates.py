import pytest

from panel.backends.decoding import STRING_CAP, STRING_CAPS
from panel.engine.quality import (
    build_references,
    cut_problem,
    degenerate_problem,
    echo_problem,
    quality_problem,
    verdict_gate,
)
from panel.engine.truncation import cut_reason
from panel.records.cards import load_card
from panel.records.personas import load_personas
from panel.records.verdicts import Verdict
from panel.settings import QualityGates
from tests.support.paths import EXAMPLES

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


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("Ship it: they cannot compromise on what’", "word fragment"),
        ("Ship it, because the", 'mid-phrase on "the"'),
        ("Ship it for the speed of", 'mid-phrase on "of"'),
        ("Ship it and", 'mid-phrase on "and"'),
        ("Ship it: it is the fastest way to", 'mid-phrase on "to"'),
        ("Ship it,", "mid-phrase"),
        ("Ship it —", "mid-phrase"),
        ("Ship it (if you run Postgres", 'leaves a "(" open'),
        ("Ship it: “vectors where the rows are", 'leaves a "“" open'),
        ('Ship it: "vectors where the rows are', "quotation open"),
    ],
)
def test_a_field_cut_mid_phrase_fails(text, problem):
    found = cut_reason(text, 160)
    assert found is not None and problem in found


@pytest.mark.parametrize(
    "text",
    [
        "Ship it: vectors where the rows are",
        "Worth shipping.",
        "A tool worth betting on",
        "It is ‘magic’",
        "It’s ‘magic’, and it's 'fast'",
        "A win for its users’",
        "C++ bindings done right",
        "Ship it (for Postgres shops)",
        "Ship: what’s next is HNSW",
    ],
)
def test_a_whole_field_passes(text):
    assert cut_reason(text, 160) is None


def test_a_field_at_exactly_the_decoding_cap_was_cut():
    at_cap = ("Ship it because the index lives beside the rows " * 4)[: STRING_CAPS["headline"]]
    assert len(at_cap) == 160 and "160-character limit" in cut_reason(at_cap, 160)
    # ending a sentence at the cap, or one character under it, is whole
    assert cut_reason(at_cap[:-1] + ".", 160) is None
    assert cut_reason("Ship it because the index lives beside the rows", 160) is None


def test_every_text_field_is_checked_with_its_own_cap():
    headline = verdict(headline=("Ship it because the rows stay put " * 5)[: STRING_CAPS["headline"]])
    assert cut_problem(headline).startswith('"headline" stops at the 160-character limit')
    field = verdict(primitive=("A Postgres extension that lives in the planner " * 12)[:STRING_CAP])
    assert cut_problem(field).startswith(f'"primitive" stops at the {STRING_CAP}-character limit')
    quote = verdict(quote=GOOD_QUOTE.removesuffix(".") + ", and")
    assert cut_problem(quote).startswith('"quote" ends mid-phrase')
    assert cut_problem(verdict()) is None


def test_a_cut_headline_fails_the_gates_and_the_feedback_says_how_to_mend_it():
    problem = quality_problem(
        verdict(headline="Ship it, because they cannot compromise on what’"), REFS, GATES
    )
    assert problem is not None and "word fragment" in problem
    assert "end it where a sentence or phrase ends" in problem
    assert verdict_gate(DX, CARD, QualityGates(enabled=False)) is None
