"""The quality gates refuse none of the reviews an editor would publish (issue 22, item 2).

The reviews in tests/support/reviews/publishable.toml are written by hand, one per persona for
each tool in examples/tools/; a gate that refuses one of them judges accidents, not meaning."""

import pytest

from panel.engine.quality import build_references, quality_problem
from panel.records.personas import load_personas
from panel.settings import QualityGates
from tests.support.paths import EXAMPLES
from tests.support.reviews import PUBLISHABLE, review_card, review_verdict

PERSONAS = {loaded.persona.id: loaded.persona for loaded in load_personas()}
GATES = QualityGates()


def test_the_reviews_cover_every_persona_on_every_example_tool():
    pairs = {(review["card"], review["persona"]) for review in PUBLISHABLE}
    tools = {path.name for path in EXAMPLES.glob("*.toml")}
    assert len(pairs) == len(PUBLISHABLE)
    assert {(tool, persona) for tool in tools for persona in PERSONAS} <= pairs


@pytest.mark.parametrize(
    "review", PUBLISHABLE, ids=[f"{r['card'].removesuffix('.toml')}-{r['persona']}" for r in PUBLISHABLE]
)
def test_no_gate_refuses_a_publishable_review(review):
    persona = PERSONAS[review["persona"]]
    references = build_references(persona, review_card(review), GATES)
    assert quality_problem(review_verdict(review), references, GATES) is None
