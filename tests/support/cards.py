"""Tool cards built for tests: a small valid one, and one too long for a small context window."""

from __future__ import annotations

from panel.records.cards import ToolCard, load_card
from tests.support.paths import EXAMPLES

GOOD = {
    "name": "Tool",
    "tagline": "Does a thing",
    "category": "Library",
    "description": "A library.",
    "maker": "Someone",
    "license": "MIT",
    "pricing": "Free",
    "links": [{"label": "Home", "url": "https://example.com"}],
    "facts": ["It exists."],
}

# The studio's new-panel form, filled in as a person would (links and facts one per line).
STUDIO_FORM = {
    "name": "pgvector",
    "tagline": "Vector search in Postgres",
    "category": "Database extension",
    "description": "A Postgres extension that adds vector similarity search.",
    "maker": "Andrew Kane",
    "license": "PostgreSQL",
    "pricing": "Free",
    "links": "",
    "facts": "HNSW indexes.",
}


def long_card() -> ToolCard:
    """A legal card of about 28 KB: past num_ctx 8192 once the persona prompts are added."""
    card = load_card(EXAMPLES / "pgvector.toml")
    return card.model_copy(
        update={"description": "Vector search in Postgres. " * 290, "facts": ["f" * 480] * 40}
    )
