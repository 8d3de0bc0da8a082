"""Will the prompt fit the model's context? Ollama cuts a prompt past `num_ctx` without a word
(older messages dropped, or the middle removed), so the panel estimates before it asks: it
raises `num_ctx` for every persona alike (a different value per persona would reload the model
between calls), or refuses when even the model's own context length cannot hold the card."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from panel.engine.prompts import render_messages, render_retry
from panel.engine.verdict_loop import FEEDBACK_ECHO_LIMIT
from panel.errors import CardError
from panel.records.cards import ToolCard
from panel.records.chat import ModelInfo
from panel.records.personas import Persona

# Tokenizers read about 4 bytes of English a token and 3 of JSON, code or CJK; counting 3 errs
# on the side of room. The server's own count (prompt_eval_count) flags what slips through.
BYTES_PER_TOKEN = 3
TOKENS_PER_MESSAGE = 8
CONTEXT_STEP = 2048


def estimate_tokens(messages: list[dict[str, str]]) -> int:
    return sum(len(m["content"].encode("utf-8")) // BYTES_PER_TOKEN + TOKENS_PER_MESSAGE for m in messages)


def feedback_tokens(prompts_dir: Path | None = None) -> int:
    """What one re-ask adds: the bad reply echoed back (at most FEEDBACK_ECHO_LIMIT characters)
    and the retry message."""
    retry = render_retry("x" * 200, prompts_dir)
    return estimate_tokens([{"content": "x" * FEEDBACK_ECHO_LIMIT}, {"content": retry}])


def context_needed(
    personas: list[Persona],
    card: ToolCard,
    *,
    num_predict: int,
    attempts: int,
    prompts_dir: Path | None = None,
) -> int:
    """Tokens the longest persona conversation may reach: its first prompt, one re-ask (a
    conversation never holds more than the last bad reply and its feedback), and room for the
    reply."""
    first = max(estimate_tokens(render_messages(persona, card, prompts_dir)) for persona in personas)
    return first + (feedback_tokens(prompts_dir) if attempts > 1 else 0) + num_predict


def panel_num_ctx(needed: int, num_ctx: int, models: dict[str, ModelInfo], card: ToolCard) -> int:
    """`num_ctx` as set when the panel fits, else raised in steps; CardError past the smallest
    context length among the panel's models."""
    if needed <= num_ctx:
        return num_ctx
    raised = math.ceil(needed / CONTEXT_STEP) * CONTEXT_STEP
    limits = {info.name: info.details.get("context_length") for info in models.values()}
    known = {name: limit for name, limit in limits.items() if isinstance(limit, int)}
    if known and raised > min(known.values()):
        model = min(known, key=lambda name: known[name])
        raise CardError(
            f"The card {card.name!r} is too long for {model}: the reviewers' prompts need about "
            f"{needed:,} tokens of context and the model holds {known[model]:,}, so Ollama would "
            "cut the card without a word. Shorten its description or facts, or choose a model "
            "with a longer context."
        )
    return raised


def fit_context(
    tasks: list[Any],
    card: ToolCard,
    models: dict[str, ModelInfo],
    *,
    num_predict: int,
    attempts: int,
    prompts_dir: Path | None = None,
) -> None:
    """Give every persona's options the same `num_ctx`, large enough for this card."""
    if not tasks:
        return
    needed = context_needed(
        [task["persona"] for task in tasks],
        card,
        num_predict=num_predict,
        attempts=attempts,
        prompts_dir=prompts_dir,
    )
    num_ctx = panel_num_ctx(needed, max(task["options"].get("num_ctx", 0) for task in tasks), models, card)
    for task in tasks:
        task["options"]["num_ctx"] = num_ctx
