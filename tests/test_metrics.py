import pytest

from panel.cards import load_card
from panel.metrics import Quote, card_terms, cohen_kappa, discrimination, distinctness, is_grounded, rate
from panel.verdicts import Verdict
from tests.conftest import EXAMPLES

PGVECTOR = load_card(EXAMPLES / "pgvector.toml")


def verdict(quote: str, headline: str = "Ship it", **fields: str) -> Verdict:
    return Verdict(
        persona="dx", decision="ship", confidence=0.7, headline=headline, quote=quote, fields=fields
    )


def test_rate_is_a_share_and_none_when_empty():
    assert rate([True, False, False, True]) == 0.5
    assert rate([]) is None


def test_kappa_matches_the_textbook_example():
    # 50 items: 20 yes/yes, 5 yes/no, 10 no/yes, 15 no/no -> po 0.7, pe 0.5, kappa 0.4
    left = ["ship"] * 25 + ["skip"] * 25
    right = ["ship"] * 20 + ["skip"] * 5 + ["ship"] * 10 + ["skip"] * 15
    assert cohen_kappa(left, right) == pytest.approx(0.4)


def test_kappa_is_zero_for_a_rater_that_always_ships_and_none_without_variety():
    assert cohen_kappa(["ship"] * 4, ["ship", "ship", "skip", "skip"]) == 0.0
    assert cohen_kappa(["ship"] * 3, ["ship"] * 3) is None
    assert cohen_kappa(["ship", "skip"], ["skip", "ship"]) == -1.0


def test_discrimination_is_ship_rate_on_ship_cards_minus_on_skip_cards():
    assert discrimination([("ship", 1.0), ("ship", 0.5), ("skip", 0.25), ("skip", 0.25)]) == 0.5
    assert discrimination([("ship", 1.0), ("skip", 1.0)]) == 0.0
    assert discrimination([("ship", 1.0)]) is None


def test_grounding_needs_a_card_term_beyond_the_tool_name():
    terms = card_terms(PGVECTOR, common={"vector"})
    assert {"hnsw", "ivfflat", "16000", "postgres"} <= terms
    assert "pgvector" not in terms and "vector" not in terms and "with" not in terms
    assert is_grounded(verdict("The HNSW index is the point. It ships."), terms)
    assert is_grounded(verdict("Fine. Good.", weekend_test="16,000 dimensions is plenty"), terms)
    assert not is_grounded(verdict("pgvector is a great tool. Use it."), terms)


VOICES = {
    "dx": "the weekend test fails, the primitive is a wrapper, the moment of truth is pip install",
    "business": "the buyer writes the check, the moat is thin, margins vanish at 10x cheaper",
    "futures": "the thesis for 2027, the trend line bends, timing is early, second-order effects",
}


def test_distinct_voices_are_told_apart():
    quotes = [
        Quote(card, persona, f"{text} for {card} and its users")
        for card in ("a", "b", "c", "d")
        for persona, text in VOICES.items()
    ]
    overall, per_persona = distinctness(quotes)
    assert overall == 1.0 and per_persona == {"business": 1.0, "dx": 1.0, "futures": 1.0}


def test_identical_quotes_cannot_be_told_apart():
    quotes = [
        Quote(card, persona, f"A solid tool for {card}. I would use it.")
        for card in ("a", "b", "c", "d")
        for persona in VOICES
    ]
    overall, _ = distinctness(quotes)
    assert overall <= 1 / 3


def test_distinctness_needs_two_personas_on_two_cards():
    assert distinctness([Quote("a", "dx", "x y"), Quote("a", "business", "y z")]) == (
        None,
        {"business": None, "dx": None},
    )
