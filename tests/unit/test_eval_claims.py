"""Grounding as claims checked against the card's facts (panel.measure.claims), and contradictions
of the card as the eval counts them (the engine's card_claims, over every text of a reply)."""

from panel.engine.quality import build_references
from panel.measure.claims import card_facts, check_claims, is_grounded
from panel.measure.replies import contradicts_card
from panel.records.cards import ToolCard, load_card
from panel.records.personas import load_personas
from panel.settings import QualityGates
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


DX = next(loaded.persona for loaded in load_personas() if loaded.persona.id == "dx")


def contradicts(card: ToolCard, text: str) -> bool:
    return contradicts_card({"quote": text}, build_references(DX, card, QualityGates()))


def grounded(card: ToolCard, *texts: str) -> bool:
    contradicted = any(contradicts(card, text) for text in texts)
    return is_grounded(check_claims(texts, card_facts(card)), contradicted)


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
    assert not contradicts(PGVECTOR, "It handles vectors of 50,000 dimensions.")


def test_a_review_without_anything_checkable_is_not_grounded():
    assert not grounded(PGVECTOR, "pgvector is a great tool. Use it.")


def test_a_supported_claim_beside_an_invented_price_is_not_grounded():
    assert contradicts(GEMMA, "It sells on Amazon at $269.00 per copy.")
    assert contradicts(GEMMA, "It was founded in 2019 and grew slowly.")
    assert not contradicts(GEMMA, "By 2028 it runs on every phone, and it costs nothing.")
    assert not grounded(GEMMA, "The family spans 270M to 27B parameters, and it sells at $269.00 per copy.")


def test_a_price_the_card_states_is_no_contradiction():
    card = PGVECTOR.model_copy(update={"pricing": "$0.05 per call"})
    assert not contradicts(card, "At $0.05 per call it is cheap.")
