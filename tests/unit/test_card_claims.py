"""What a card says about money, dates, funding and users, as the contradiction gate reads it."""

import pytest

from panel.engine.card_claims import contradiction_problem, read_card_facts
from panel.records.cards import load_card
from tests.support.paths import EXAMPLES

COPILOT = load_card(EXAMPLES / "github-copilot.toml")


def card_saying(fact: str, pricing: str = "Free"):
    return COPILOT.model_copy(update={"facts": [fact], "pricing": pricing, "description": "A tool."})


def test_the_sums_are_every_amount_on_the_card():
    facts = read_card_facts(COPILOT, 2026)
    assert facts.sums == {10.0} and not facts.is_new and not facts.unfunded
    assert read_card_facts(card_saying("Raised $2.5M in 2024."), 2026).sums == {0.0, 2_500_000.0}


@pytest.mark.parametrize(
    ("fact", "is_new"),
    [
        ("Launched last month.", True),
        ("Released this week to a waitlist.", True),
        ("In private beta.", True),
        ("Launched last year.", False),
        ("A new major version every year.", False),
    ],
)
def test_what_makes_a_card_say_the_tool_is_new(fact, is_new):
    assert read_card_facts(card_saying(fact), 2026).is_new is is_new


def test_a_launch_year_is_checked_against_the_cards_own():
    facts = read_card_facts(card_saying("Founded in 2019 in Berlin."), 2026)
    assert facts.launch_years == {2019}
    assert contradiction_problem({"quote": "It was founded in 2019, and it shows."}, facts) is None
    problem = contradiction_problem({"quote": "It was founded in early 2021, and it shows."}, facts)
    assert problem is not None and "the card says 2019" in problem


def test_a_sum_in_other_words_is_the_same_sum():
    facts = read_card_facts(card_saying("Raised $2.5M."), 2026)
    assert contradiction_problem({"moat": "The $2.5 million buys time."}, facts) is None
    assert contradiction_problem({"moat": "The $25 million buys time."}, facts) is not None
