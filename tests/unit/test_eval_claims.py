"""Grounding as claims checked against the card's facts (panel.measure.claims)."""

from panel.measure.claims import card_facts, check_claims, contradicts, is_grounded
from panel.records.cards import ToolCard, load_card
from tests.support.paths import EXAMPLES

PGVECTOR = load_card(EXAMPLES / "pgvector.toml")
GEMMA = ToolCard(
    name="Gemma 3",
    tagline="Open weights language models",
    category="Model",
    description="A family of open-weights models released in 2025, from 270M to 27B parameters.",
    maker="Google",
    license="Gemma Terms of Use",
    pricing="Free",
)


def grounded(card: ToolCard, *texts: str) -> bool:
    return is_grounded(check_claims(texts, card_facts(card)))


def test_a_name_shared_with_the_card_is_not_a_grounded_claim():
    facts = card_facts(GEMMA)
    claims = check_claims(["The real risk is that Google gets hacked and the weights leak."], facts)
    assert [claim.supported for claim in claims] == [False]
    assert not grounded(GEMMA, "The real risk is that Google gets hacked and the weights leak.")


def test_a_fact_of_the_card_said_in_its_context_is_grounded():
    assert grounded(PGVECTOR, "Its HNSW indexes make nearest-neighbour search fast enough to ship.")
    assert grounded(PGVECTOR, "It keeps vectors of up to 16,000 dimensions beside the rows.")
    assert grounded(
        GEMMA, "The family spans 270M to 27B parameters, so one licence covers a laptop and a cluster."
    )


def test_a_number_the_card_does_not_state_is_not_grounded_but_no_contradiction():
    claims = check_claims(["It handles vectors of 50,000 dimensions."], card_facts(PGVECTOR))
    assert [claim.supported for claim in claims] == [False]
    assert not contradicts(claims)


def test_a_review_without_anything_checkable_is_not_grounded():
    assert not grounded(PGVECTOR, "pgvector is a great tool. Use it.")


def test_a_price_or_an_earlier_year_contradicts_the_card():
    facts = card_facts(GEMMA)
    assert contradicts(check_claims(["It sells on Amazon at $269.00 per copy."], facts))
    assert contradicts(check_claims(["It was founded in 2019 and has millions of users."], facts))
    assert not contradicts(check_claims(["By 2028 it runs on every phone."], facts))
    assert not grounded(GEMMA, "Released in 2025, it sells at $269.00 per copy.")


def test_a_price_the_card_states_is_no_contradiction():
    card = PGVECTOR.model_copy(update={"pricing": "$0.05 per call"})
    claims = check_claims(["At $0.05 per call it is cheap."], card_facts(card))
    assert not contradicts(claims)
