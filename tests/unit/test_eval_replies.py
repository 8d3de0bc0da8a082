"""What the model wrote, over every reply (panel.measure.replies and the tally of it), on
hand-made reviews: what the gates did with a reply does not change what it is."""

import json

from panel.engine.quality import build_references
from panel.engine.verdict_loop import parse_verdict, verdict_shape
from panel.measure.replies import gate_kind, judge_replies
from panel.measure.tally import Scored, gate_kinds, persona_metrics
from panel.records.cards import load_card
from panel.records.chat import ChatReply
from panel.records.personas import load_personas
from panel.records.verdicts import Attempt, PersonaReview
from panel.settings import QualityGates
from tests.support.ollama_fake import verdict_for_schema
from tests.support.paths import EXAMPLES

PGVECTOR = load_card(EXAMPLES / "pgvector.toml")
DX = next(loaded for loaded in load_personas() if loaded.persona.id == "dx")
GATES = QualityGates()
COPIED = (
    "A Postgres extension that adds a vector column type and exact and approximate nearest-neighbour "
    "search, so embeddings live beside the rows they describe."
)
OWN = (
    "Its HNSW indexes make nearest-neighbour search in Postgres a one-line migration. "
    "The weekend test fails: nobody rebuilds that index in two days."
)
CARD_GATE = 'quality gate: "quote" copies the tool card word for word ("a postgres extension that"); judge it'


def reply(quote: str, **changes: object) -> str:
    _, schema = verdict_shape(DX.persona.model_dump_json())
    body = verdict_for_schema(schema, "ship")
    body.update(quote=quote, headline="Ship pgvector for embeddings beside the rows", **changes)
    return json.dumps(body)


def attempt(number: int, raw: str | None, outcome: str, error: str | None = None) -> Attempt:
    return Attempt(number=number, outcome=outcome, messages=[], raw=raw, error=error)


def review(*attempts: Attempt) -> PersonaReview:
    """A review as the verdict loop leaves it: the last attempt's verdict when it was accepted."""
    last = attempts[-1]
    shape, _ = verdict_shape(DX.persona.model_dump_json())
    verdict = (
        parse_verdict(ChatReply(content=last.raw or ""), shape, "dx") if last.outcome == "valid" else None
    )
    return PersonaReview(
        persona="dx",
        model="m",
        status="ok" if verdict else "failed",
        verdict=verdict,
        attempts=list(attempts),
    )


def scored(persona_review: PersonaReview) -> Scored:
    item = Scored("pgvector", "dx", "ship", "ship", persona_review)
    references = build_references(DX.persona, PGVECTOR, GATES)
    item.replies = judge_replies(persona_review, DX, references, GATES)
    return item


def test_every_reply_counts_not_only_the_published_verdict():
    item = scored(
        review(
            attempt(1, "I think pgvector is good", "invalid", "the reply is not JSON"),
            attempt(2, reply(COPIED), "invalid", CARD_GATE),
            attempt(3, None, "transport_error", "timed out"),
            attempt(4, reply(OWN), "valid"),
        )
    )
    values, counts = persona_metrics([item], [])
    assert (values["reply_unreadable_rate"], counts["reply_unreadable_rate"].n) == (0.3333, 3)
    assert (counts["reply_echo_rate"].hits, counts["reply_echo_rate"].n) == (1, 3)
    assert (counts["gate_catch_rate"].hits, counts["gate_catch_rate"].n) == (1, 2)
    assert values["first_try_validity"] == 0.0
    assert (values["calls_per_valid"], counts["calls_per_valid"].total, counts["calls_per_valid"].n) == (
        4.0,
        4,
        1,
    )
    assert values["validity"] == 1.0


def test_a_reply_that_invents_a_price_counts_as_a_contradiction_whatever_the_gates_did():
    invented = "At $269.00 per copy, pgvector is the priciest index on the market. Skip it and wait."
    item = scored(review(attempt(1, reply(invented), "valid")))
    values, counts = persona_metrics([item], [])
    assert (counts["reply_contradiction_rate"].hits, counts["reply_contradiction_rate"].n) == (1, 1)


def test_a_review_that_never_got_a_verdict_has_no_calls_per_valid_review():
    item = scored(
        review(attempt(1, "nope", "invalid", "not JSON"), attempt(2, "nope", "invalid", "not JSON"))
    )
    values, counts = persona_metrics([item], [])
    assert values["calls_per_valid"] is None
    assert (counts["calls_per_valid"].total, counts["calls_per_valid"].n) == (2, 0)
    assert values["validity"] == 0.0


def test_gate_kinds_drop_the_particulars_so_one_fault_counts_once():
    assert gate_kind(CARD_GATE) == "copies the tool card word for word"
    assert gate_kind('quality gate: "headline" copies the tool card word for word: "x y z". Say it.') == (
        "copies the tool card word for word"
    )
    assert gate_kind("quality gate: \"headline\" is a placeholder ('tbd'); fill it") == "is a placeholder"
    assert (
        gate_kind('quality gate: "quote" has fewer than 2 sentences; write more')
        == "has fewer than N sentences"
    )
    assert gate_kind("quality gate: [json_fragment] the quote is JSON") == "json_fragment"
    assert (
        gate_kind('quality gate: "quote" ends mid-phrase on "the" ("…of the"); say it') == "ends mid-phrase"
    )
    assert gate_kind("the reply is not JSON") is None
    assert gate_kind(None) is None


def test_a_gate_added_later_is_counted_under_its_own_kind():
    new_gate = 'quality gate: "quote" is mostly numbers, dates or punctuation ("2018-27"); write words'
    item = scored(
        review(
            attempt(1, reply("2018-27-2019. 12,13,14."), "invalid", new_gate),
            attempt(2, reply(COPIED), "invalid", CARD_GATE),
            attempt(3, reply(COPIED), "invalid", CARD_GATE),
            attempt(4, reply(OWN), "valid"),
        )
    )
    assert gate_kinds([item]) == {
        "copies the tool card word for word": 2,
        "is mostly numbers, dates or punctuation": 1,
    }
