"""Each kind of junk small models wrote past the gates (issue 22) is refused, with a reason the
re-ask can use; the replies are in tests/support/reviews/hostile.toml."""

import pytest

from panel.engine.quality import build_references, copied_run, quality_problem, shingles
from panel.records.personas import load_personas
from panel.settings import QualityGates
from tests.support.reviews import HOSTILE, PUBLISHABLE, hostile_review, review_card, review_verdict

PERSONAS = {loaded.persona.id: loaded.persona for loaded in load_personas()}
GATES = QualityGates()


def publishable(card: str, persona: str) -> dict:
    return next(r for r in PUBLISHABLE if (r["card"], r["persona"]) == (card, persona))


def problem_of(review):
    references = build_references(PERSONAS[review["persona"]], review_card(review), GATES)
    return quality_problem(review_verdict(review), references, GATES)


@pytest.mark.parametrize("reply", HOSTILE, ids=[reply["kind"] for reply in HOSTILE])
def test_every_hostile_reply_is_refused_with_its_reason(reply):
    problem = problem_of(hostile_review(reply))
    assert problem is not None and reply["refused_because"] in problem


def test_the_suite_holds_every_kind_of_junk_from_the_issue():
    reasons = {reply["refused_because"] for reply in HOSTILE}
    assert reasons == {
        "mostly numbers, dates or punctuation",
        "holds a piece of JSON",
        "makes your own name its subject",
        "names a sum the card does not give",
        "the card says it is new",
        "claims funding the card says it does not have",
        "claims a user count the card does not support",
        "copies the tool card word for word",
        "copies the instructions word for word",
    }


def test_a_card_fact_cited_in_quotation_marks_is_not_copying_but_the_same_words_bare_are():
    cited = publishable("llama-3-1-8b.toml", "business")
    fact = "Weights downloadable after accepting the community license; products above 700M monthly users need a separate license"
    assert f'"{fact}"' in " ".join(cited["quote"].split())
    assert problem_of(cited) is None
    bare = {**cited, "quote": cited["quote"].replace('"', "")}
    assert "copies the tool card word for word" in problem_of(bare)


def test_names_licences_and_versions_do_not_count_towards_a_copy():
    card = review_card(publishable("qwen3-8b.toml", "dx"))
    quote = (
        "Thinking is selectable per request. Released under Apache-2.0, so it can be used "
        "commercially, and ollama pull qwen3:8b is the whole setup."
    )
    # twelve words in a row of the description, counting the licence's name and version ...
    assert copied_run(quote, shingles(card.description, 12), 12) is not None
    # ... are nine without them: not a copy
    assert problem_of({**publishable("qwen3-8b.toml", "dx"), "quote": quote}) is None


@pytest.mark.parametrize(
    "text",
    [
        "Meta released Llama 3.1 8B in July 2024, and the API is stable.",  # the card gives no date
        "By 2028 most teams run it, and the API will be the standard one for developers.",
        "Any investor would ask who pays, but the API is the draw for developers.",
        "As The Builder, I would install it today: the API holds up on day one.",
        "Cursor charges more, and the weights are free; the API is the draw for developers.",
        "Products above 700M monthly users need their own licence, so read it before the API.",
    ],
)
def test_what_the_card_does_not_contradict_passes(text):
    review = publishable("llama-3-1-8b.toml", "dx")
    assert problem_of({**review, "quote": text + " It works on one GPU."}) is None


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("Meta sells the weights at $5 per download, and the API is stable.", "names a sum"),
        ("Meta sells the weights for 5 dollars, and the API is stable.", "names a sum"),
        ("The Builder thinks the API is stable, and the weights download fast.", "own name its subject"),
        ("the builder would install it today, because the API is stable.", "own name its subject"),
    ],
)
def test_each_rule_refuses_its_claim(text, reason):
    review = publishable("llama-3-1-8b.toml", "dx")
    problem = problem_of({**review, "quote": text + " It works on one GPU."})
    assert problem is not None and reason in problem
