"""Ask for a verdict, validate it, feed the error back, retry; record every attempt.

Transport errors (connection, 5xx, timeout) are retried by tenacity with exponential backoff
and jitter. Invalid output (not JSON, wrong shape, empty, cut off) is re-asked with the error
in the conversation. This is the only retry layer: the graph adds none.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

from panel.backends import Backend, ChatReply
from panel.cards import describe_validation_error
from panel.errors import PanelError, TransientBackendError
from panel.personas import COMMON_VERDICT_FIELDS, Persona, verdict_model
from panel.prompts import render_retry
from panel.verdicts import Attempt, PersonaReview, Verdict

# Replaced in tests so that backoff does not slow them down.
TRANSPORT_WAIT = wait_random_exponential(multiplier=0.5, max=8)
# How much of a bad reply goes back to the model; the whole reply stays in the transcript.
FEEDBACK_ECHO_LIMIT = 4000


class InvalidOutput(Exception):
    """The model answered, but not with a usable verdict."""


def parse_verdict(
    reply: ChatReply, model: type[BaseModel], persona_id: str, max_quote_chars: int | None = None
) -> Verdict:
    """Turn the model's raw text into a Verdict, or raise InvalidOutput saying what is wrong.

    The quote limit is checked here rather than put in the schema: a maxLength in the
    grammar makes llama.cpp's constrained decoding much slower."""
    if reply.done_reason == "length":
        raise InvalidOutput(
            "the reply was cut off at the token limit before the JSON object ended; write shorter values"
        )
    content = reply.content.strip()
    if not content:
        raise InvalidOutput("the reply was empty")
    try:
        data = json.loads(content)
    except json.JSONDecodeError as error:
        raise InvalidOutput(
            f"the reply is not valid JSON ({error.msg} at line {error.lineno} column {error.colno})"
        ) from None
    if not isinstance(data, dict):
        raise InvalidOutput("the reply must be a JSON object")
    data = {key: value.strip() if isinstance(value, str) else value for key, value in data.items()}
    try:
        checked = model.model_validate(data).model_dump()
    except ValidationError as error:
        raise InvalidOutput(
            f"the JSON does not match the verdict schema: {describe_validation_error(error)}"
        ) from None
    if max_quote_chars and len(checked["quote"]) > max_quote_chars:
        raise InvalidOutput(
            f"the quote is {len(checked['quote'])} characters long; keep it to one paragraph "
            f"under {max_quote_chars} characters"
        )
    own_fields = {key: value for key, value in checked.items() if key not in COMMON_VERDICT_FIELDS}
    return Verdict(
        persona=persona_id,
        fields=own_fields,
        **{key: checked[key] for key in COMMON_VERDICT_FIELDS},
    )


def attempt_record(
    number: int,
    messages: list[dict[str, str]],
    reply: ChatReply | None,
    started: float,
    **extra: Any,
) -> Attempt:
    usage: dict[str, Any] = {}
    if reply is not None:
        usage = {
            "raw": reply.content,
            "done_reason": reply.done_reason,
            "prompt_tokens": reply.prompt_tokens,
            "completion_tokens": reply.completion_tokens,
            "durations_ms": reply.durations_ms,
        }
    return Attempt(
        number=number,
        messages=list(messages),
        seconds=round(time.perf_counter() - started, 4),
        **usage,
        **extra,
    )


async def chat_with_transport_retries(
    backend: Backend,
    model: str,
    messages: list[dict[str, str]],
    schema: dict[str, Any],
    options: dict[str, Any],
    retries: int,
    attempts: list[Attempt],
) -> ChatReply:
    """One model call, retried on transport errors; each failed try is recorded in `attempts`."""
    async for retrying in AsyncRetrying(
        stop=stop_after_attempt(retries),
        wait=TRANSPORT_WAIT,
        retry=retry_if_exception_type(TransientBackendError),
        reraise=True,
    ):
        with retrying:
            started = time.perf_counter()
            try:
                return await backend.chat(model, messages, schema, options)
            except PanelError as error:
                attempts.append(
                    attempt_record(
                        len(attempts) + 1,
                        messages,
                        None,
                        started,
                        outcome="transport_error",
                        error=str(error),
                    )
                )
                raise
    raise AssertionError("unreachable: tenacity re-raises the last error")


@lru_cache(maxsize=64)
def verdict_shape(persona_json: str) -> tuple[type[BaseModel], dict[str, Any]]:
    """The persona's verdict model and JSON schema, built once per persona: pydantic's
    create_model costs milliseconds, which a batch of thousands of panels would feel.
    Callers must not change the returned schema."""
    shape = verdict_model(Persona.model_validate_json(persona_json))
    return shape, shape.model_json_schema()


def remember_valid_reply(
    backend: Backend,
    model: str,
    messages: list[dict[str, str]],
    schema: dict[str, Any],
    options: dict[str, Any],
    reply: ChatReply,
) -> None:
    """Tell a caching backend (panel.cache.CachedBackend) that this reply validated: only valid
    replies may be cached. Backends without a cache have no `remember_valid` and are skipped."""
    remember = getattr(backend, "remember_valid", None)
    if remember is not None:
        remember(model, messages, schema, options, reply)


async def review_persona(
    backend: Backend,
    persona: Persona,
    model: str,
    messages: list[dict[str, str]],
    options: dict[str, Any],
    *,
    max_attempts: int,
    transport_retries: int,
    prompts_dir: Path | None = None,
    max_quote_chars: int | None = None,
    quality_gate: Callable[[Verdict], str | None] | None = None,
) -> PersonaReview:
    """Get one valid verdict from the model, or a failed review that keeps every raw output.
    `quality_gate` (panel.quality) names what makes a parsed verdict unusable, or returns None."""
    shape, schema = verdict_shape(persona.model_dump_json())
    conversation = list(messages)
    attempts: list[Attempt] = []
    last_error = "no attempt was made"
    for _ in range(max_attempts):
        started = time.perf_counter()
        try:
            reply = await chat_with_transport_retries(
                backend, model, conversation, schema, options, transport_retries, attempts
            )
        except PanelError as error:
            return PersonaReview(
                persona=persona.id,
                model=model,
                status="failed",
                error=str(error),
                attempts=attempts,
            )
        try:
            verdict = parse_verdict(reply, shape, persona.id, max_quote_chars)
            problem = quality_gate(verdict) if quality_gate else None
            if problem:
                raise InvalidOutput(f"quality gate: {problem}")
        except InvalidOutput as error:
            last_error = str(error)
            attempts.append(
                attempt_record(
                    len(attempts) + 1,
                    conversation,
                    reply,
                    started,
                    outcome="invalid",
                    error=last_error,
                )
            )
            conversation = conversation + [
                {
                    "role": "assistant",
                    "content": reply.content[:FEEDBACK_ECHO_LIMIT] or "(empty reply)",
                },
                {"role": "user", "content": render_retry(last_error, prompts_dir)},
            ]
            continue
        attempts.append(attempt_record(len(attempts) + 1, conversation, reply, started, outcome="valid"))
        remember_valid_reply(backend, model, conversation, schema, options, reply)
        return PersonaReview(persona=persona.id, model=model, status="ok", verdict=verdict, attempts=attempts)
    return PersonaReview(
        persona=persona.id,
        model=model,
        status="failed",
        error=f"no valid verdict after {max_attempts} attempts; last problem: {last_error}",
        attempts=attempts,
    )
