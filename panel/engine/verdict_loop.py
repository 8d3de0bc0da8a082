"""Ask for a verdict, validate it, feed the error back, retry; record every attempt.

Transport errors (connection, 5xx, timeout) are retried by tenacity with exponential backoff
and jitter. Invalid output (not JSON, wrong shape, empty, cut off) is re-asked with the reply
and the error in the conversation; a verdict that fails a quality gate is asked afresh, with the
problem noted, another seed and a warmer temperature. This is the only retry layer: the graph adds none.
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

from panel.backends import Backend
from panel.engine.prompts import render_redo, render_retry
from panel.errors import (
    KeyRefused,
    PanelError,
    TransientBackendError,
    UnreadableReply,
    describe_validation_error,
)
from panel.records.chat import ChatReply, ChatRequest
from panel.records.personas import COMMON_VERDICT_FIELDS, Persona, verdict_model
from panel.records.progress import ProgressCallback, attempt_started, report_progress, transport_retry
from panel.records.verdicts import Attempt, PersonaReview, Verdict

# Replaced in tests so that backoff does not slow them down.
TRANSPORT_WAIT = wait_random_exponential(multiplier=0.5, max=8)
# How much of a bad reply goes back to the model; the whole reply stays in the transcript.
FEEDBACK_ECHO_LIMIT = 4000


class InvalidOutput(Exception):
    """The model answered, but not with a usable verdict."""


class FailedGate(InvalidOutput):
    """The verdict parsed but failed a quality gate (panel.engine.quality)."""


class DuplicateKey(ValueError):
    """A JSON object names one key twice: which value the model meant is not known."""


def refuse_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """json.loads' object hook: the plain decoder keeps the last of two equal keys silently."""
    data: dict[str, Any] = {}
    for key, value in pairs:
        if key in data:
            raise DuplicateKey(key)
        data[key] = value
    return data


# A re-ask samples with another seed, derived from the call's own, so that a model does not
# write the same reply again and a seeded run stays reproducible. The step is a prime far from
# the 1, 2, 3 steps between the samples of `panel stability`.
RE_ASK_SEED_STEP = 7919
# And a little warmer each time, up to a ceiling: a new seed alone left small models writing the
# same copy of the card five times in a row (issue 22). A temperature already above the ceiling
# is kept, never lowered.
RE_ASK_TEMPERATURE_STEP = 0.1
RE_ASK_TEMPERATURE_CEILING = 1.0


def attempt_options(options: dict[str, Any], attempt_index: int) -> dict[str, Any]:
    """The sampling options of attempt `attempt_index` (0 = the first ask)."""
    if attempt_index == 0:
        return options
    changed = dict(options)
    if options.get("seed") is not None:
        changed["seed"] = (int(options["seed"]) + attempt_index * RE_ASK_SEED_STEP) % 2**31
    if options.get("temperature") is not None:
        temperature = float(options["temperature"])
        warmer = min(temperature + attempt_index * RE_ASK_TEMPERATURE_STEP, RE_ASK_TEMPERATURE_CEILING)
        changed["temperature"] = round(max(temperature, warmer), 2)
    return changed


def re_ask_conversation(
    messages: list[dict[str, str]],
    reply: ChatReply,
    error: InvalidOutput,
    prompts_dir: Path | None = None,
) -> list[dict[str, str]]:
    """The conversation for the next attempt: the first request and one step after it, so it
    never grows past that however many attempts there are. A reply that did not parse goes back
    to the model with the error, so it can mend it. A reply that failed a quality gate does not:
    small models copy whatever reply they are shown, so they are asked afresh, with the problem
    said in words at the end of the brief (the shared system message stays first, unchanged)."""
    if isinstance(error, FailedGate):
        *head, brief = messages
        note = render_redo(str(error), prompts_dir)
        return [*head, {**brief, "content": brief["content"] + "\n\n" + note}]
    return messages + [
        {"role": "assistant", "content": reply.content[:FEEDBACK_ECHO_LIMIT] or "(empty reply)"},
        {"role": "user", "content": render_retry(str(error), prompts_dir)},
    ]


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
        data = json.loads(content, object_pairs_hook=refuse_duplicate_keys)
    except json.JSONDecodeError as error:
        raise InvalidOutput(
            f"the reply is not valid JSON ({error.msg} at line {error.lineno} column {error.colno})"
        ) from None
    except DuplicateKey as error:
        raise InvalidOutput(
            f"the reply names the key {str(error)[:100]!r} twice; write each key once"
        ) from None
    except ValueError:  # an integer past Python's digit limit
        raise InvalidOutput(
            "the reply holds a number too long to read; write numbers with few digits"
        ) from None
    except RecursionError:
        raise InvalidOutput("the reply nests too deeply to read; write one flat JSON object") from None
    if not isinstance(data, dict):
        raise InvalidOutput("the reply must be a JSON object")
    data = {key: value.strip() if isinstance(value, str) else value for key, value in data.items()}
    try:
        checked = model.model_validate(data).model_dump()
    except ValidationError as error:
        raise InvalidOutput(
            f"the JSON does not match the verdict schema: {describe_validation_error(error)}"
        ) from None
    except RecursionError:
        raise InvalidOutput("the reply nests too deeply to read; write one flat JSON object") from None
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
            "host": reply.host,
            "model_digest": reply.model_digest,
            "model": reply.model,
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
    request: ChatRequest,
    retries: int,
    attempts: list[Attempt],
    on_retry: Callable[[str], None] | None = None,
) -> ChatReply:
    """One model call, retried on transport errors; each failed try is recorded in `attempts`,
    and `on_retry` is told the error before each retry."""
    async for retrying in AsyncRetrying(
        stop=stop_after_attempt(retries),
        wait=TRANSPORT_WAIT,
        retry=retry_if_exception_type(TransientBackendError),
        reraise=True,
        before_sleep=(lambda state: on_retry(str(state.outcome.exception()))) if on_retry else None,
    ):
        with retrying:
            started = time.perf_counter()
            try:
                return await backend.chat(request)
            except UnreadableReply:
                raise  # an answer, not a transport failure: the caller records it and re-asks
            except PanelError as error:
                attempts.append(
                    attempt_record(
                        len(attempts) + 1,
                        request.messages,
                        None,
                        started,
                        outcome="transport_error",
                        error=str(error),
                        raw=getattr(error, "raw", None),  # an engine crash keeps its last log lines
                    )
                )
                raise
    raise AssertionError("unreachable: tenacity re-raises the last error")


async def next_reply(
    backend: Backend,
    request: ChatRequest,
    retries: int,
    attempts: list[Attempt],
    on_retry: Callable[[str], None] | None = None,
) -> tuple[ChatReply, str | None]:
    """The model's next reply, and what makes it unreadable when the server's answer was not a
    chat reply at all: that answer is kept raw and asked again like any invalid output."""
    try:
        return await chat_with_transport_retries(backend, request, retries, attempts, on_retry), None
    except UnreadableReply as error:
        return ChatReply(content=error.raw), str(error)


@lru_cache(maxsize=64)
def verdict_shape(persona_json: str) -> tuple[type[BaseModel], dict[str, Any]]:
    """The persona's verdict model and JSON schema, built once per persona: pydantic's
    create_model costs milliseconds, which a batch of thousands of panels would feel.
    Callers must not change the returned schema."""
    shape = verdict_model(Persona.model_validate_json(persona_json))
    return shape, shape.model_json_schema()


def remember_valid_reply(backend: Backend, request: ChatRequest, reply: ChatReply) -> None:
    """Tell a caching backend (panel.backends.response_cache.CachedBackend) that this reply validated: only valid
    replies may be cached. Backends without a cache have no `remember_valid` and are skipped."""
    remember = getattr(backend, "remember_valid", None)
    if remember is not None:
        remember(request, reply)


async def review_persona(
    backend: Backend,
    persona: Persona,
    model: str,
    messages: list[dict[str, str]],
    options: dict[str, Any],
    *,
    max_attempts: int,
    transport_retries: int,
    max_quote_chars: int | None = None,
    quality_gate: Callable[[Verdict], str | None] | None = None,
    prompts_dir: Path | None = None,
    on_progress: ProgressCallback | None = None,
) -> PersonaReview:
    """Get one valid verdict from the model, or a failed review that keeps every raw output.
    `quality_gate` (panel.engine.quality) names what makes a parsed verdict unusable, or returns None;
    `on_progress` (panel.records.progress) is told of each attempt as it is sent."""
    shape, schema = verdict_shape(persona.model_dump_json())
    conversation = list(messages)
    attempts: list[Attempt] = []
    last_error = "no attempt was made"
    for attempt_index in range(max_attempts):
        started = time.perf_counter()
        ask_options = attempt_options(options, attempt_index)
        step = attempt_started(persona.id, attempt_index + 1, max_attempts, last_error, attempts)
        report_progress(on_progress, step)
        try:
            request = ChatRequest(model, conversation, schema, ask_options)
            on_retry = transport_retry(on_progress, step)
            reply, unreadable = await next_reply(backend, request, transport_retries, attempts, on_retry)
        except KeyRefused:
            raise  # every call would be refused: the run stops (exit 3) instead of failing each reviewer
        except PanelError as error:
            return PersonaReview(
                persona=persona.id,
                model=model,
                status="failed",
                error=str(error),
                attempts=attempts,
            )
        if reply.prompt_truncated:
            return truncated_review(persona.id, model, conversation, reply, started, options, attempts)
        try:
            if unreadable is not None:
                raise InvalidOutput(unreadable)
            verdict = parse_verdict(reply, shape, persona.id, max_quote_chars)
            problem = quality_gate(verdict) if quality_gate else None
            if problem:
                raise FailedGate(f"quality gate: {problem}")
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
                    seed=ask_options.get("seed"),
                )
            )
            conversation = re_ask_conversation(messages, reply, error, prompts_dir)
            continue
        attempts.append(
            attempt_record(
                len(attempts) + 1, conversation, reply, started, outcome="valid", seed=ask_options.get("seed")
            )
        )
        remember_valid_reply(backend, request, reply)
        return PersonaReview(persona=persona.id, model=model, status="ok", verdict=verdict, attempts=attempts)
    return PersonaReview(
        persona=persona.id,
        model=model,
        status="failed",
        error=f"no valid verdict after {max_attempts} attempts; last problem: {last_error}",
        attempts=attempts,
    )


def truncated_review(
    persona_id: str,
    model: str,
    conversation: list[dict[str, str]],
    reply: ChatReply,
    started: float,
    options: dict[str, Any],
    attempts: list[Attempt],
) -> PersonaReview:
    """The server cut the prompt to fit its context: whatever came back rests on part of the
    card, and asking again with a longer conversation cannot help. Kept, not used."""
    error = (
        f"Ollama cut the prompt to fit its context window ({reply.prompt_tokens} tokens read of "
        f"num_ctx {options.get('num_ctx')}), so the reviewer did not see the whole card; raise "
        "PANEL_NUM_CTX or shorten the card"
    )
    attempts.append(
        attempt_record(len(attempts) + 1, conversation, reply, started, outcome="invalid", error=error)
    )
    return PersonaReview(persona=persona_id, model=model, status="failed", error=error, attempts=attempts)
