"""One chat completion on a loaded llama.cpp model: the verdict schema as a grammar, Ollama-style
options as llama.cpp sampling arguments, and the blocking call itself."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from panel.backends import ChatReply
from panel.errors import BackendRequestError

if TYPE_CHECKING:
    from panel.backends.embedded import LoadedModel

# Ollama's documented defaults, so a persona's options mean the same on both backends.
OLLAMA_SAMPLING_DEFAULTS = {
    "temperature": 0.8,
    "top_p": 0.9,
    "top_k": 40,
    "min_p": 0.0,
    "repeat_penalty": 1.1,
}
# llama.cpp's JSON-schema grammar ignores minimum/maximum, so a bounded number becomes a choice
# among this many evenly spaced values; pydantic still validates the reply against the real schema.
BOUNDED_NUMBER_STEPS = 20
# A small model can loop inside one string until the token limit cuts the whole reply off. The
# grammar closes a string at these lengths instead (in characters; generous for a real model),
# which keeps a whole verdict within the default num_predict of 1024 tokens.
STRING_CAP = 500
STRING_CAPS = {"quote": 1000, "headline": 160}
STRICT_CHAR_RULE = r'char ::= [^"\\\x7F\x00-\x1F] | [\\] (["\\/bfnrt] | "u" [0-9a-fA-F]{4})'
# The quote as two to six sentences, as the brief asks: a small model otherwise stops after one
# and the quality gate re-asks it. This rule replaces the converter's capped string rule for the
# quote (so the quote's STRING_CAPS entry is not what bounds it): a stop followed by a non-space
# ("Node.js", "3.5") stays inside a sentence, and each sentence is capped, so the whole quote
# stays under about 1,300 characters. The helper rules' names start with "panel-" so that no
# persona field's rule (named after the field) can clash with them.
QUOTE_RULES = (
    'quote ::= "\\"" panel-quote-sentence (" " panel-quote-sentence){1,5} "\\"" space',
    r"panel-quote-sentence ::= panel-quote-char{12,200} [.!?]",
    r'panel-quote-char ::= [^"\\\x7F\x00-\x1F.!?] | [.!?] [^ "\\\x7F\x00-\x1F] | [\\] (["\\/bfnrt] | "u" [0-9a-fA-F]{4})',
)


def decoding_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema handed to llama.cpp's grammar: the same object, but every number bounded on
    both sides becomes an enum of evenly spaced values (the grammar cannot bound numbers), and
    every string gets a maximum length. Replies are still validated against the real schema."""
    properties = {}
    for name, spec in schema.get("properties", {}).items():
        low, high = spec.get("minimum"), spec.get("maximum")
        if spec.get("type") == "number" and low is not None and high is not None and high > low:
            step = (high - low) / BOUNDED_NUMBER_STEPS
            values = [round(low + index * step, 6) for index in range(BOUNDED_NUMBER_STEPS + 1)]
            spec = {key: value for key, value in spec.items() if key not in ("minimum", "maximum", "type")}
            spec["enum"] = values
        elif spec.get("type") == "string" and "enum" not in spec and "maxLength" not in spec:
            spec = {**spec, "maxLength": STRING_CAPS.get(name, STRING_CAP)}
        properties[name] = spec
    return {**schema, "properties": properties}


def sampling_arguments(options: dict[str, Any]) -> dict[str, Any]:
    """Ollama-style options -> create_chat_completion arguments. num_ctx is a load-time option."""
    arguments: dict[str, Any] = {
        name: options.get(name, default) for name, default in OLLAMA_SAMPLING_DEFAULTS.items()
    }
    if options.get("seed") is not None:
        arguments["seed"] = int(options["seed"])
    if options.get("num_predict") is not None and int(options["num_predict"]) > 0:
        arguments["max_tokens"] = int(options["num_predict"])
    return arguments


def schema_grammar(schema: dict[str, Any]) -> str:
    """GBNF for the schema. llama-cpp-python's converter lets raw control characters (a bare
    newline) into strings, which JSON forbids; its `char` rule is swapped for llama.cpp's
    strict one so that every reply parses."""
    from llama_cpp import llama_grammar

    gbnf = llama_grammar.json_schema_to_gbnf(json.dumps(decoding_schema(schema)))
    lines = []
    for line in gbnf.splitlines():
        if line.startswith("char ::="):
            line = STRICT_CHAR_RULE
        elif line.startswith("quote ::="):
            lines.extend(QUOTE_RULES[1:])
            line = QUOTE_RULES[0]
        lines.append(line)
    return "\n".join(lines)


def grammar_for(model: LoadedModel, schema: dict[str, Any]) -> Any:
    """The compiled grammar for a schema, cached per model. A schema the converter cannot handle
    is an error, not llama-cpp-python's silent fallback to unconstrained JSON."""
    from llama_cpp import LlamaGrammar

    key = json.dumps(schema, sort_keys=True)
    if key not in model.grammars:
        try:
            model.grammars[key] = LlamaGrammar.from_string(schema_grammar(schema), verbose=False)
        except Exception as error:  # the converter raises assorted types for unsupported schemas
            raise BackendRequestError(
                f"llama.cpp cannot turn the verdict schema into a grammar: {error!r}"
            ) from None
    return model.grammars[key]


def complete(
    model: LoadedModel,
    messages: list[dict[str, str]],
    schema: dict[str, Any],
    options: dict[str, Any],
) -> ChatReply:
    """One chat completion, blocking; run it in a worker thread."""
    import llama_cpp

    with model.lock:
        grammar = grammar_for(model, schema)
        context = model.llama.ctx
        llama_cpp.llama_perf_context_reset(context)
        started = time.perf_counter()
        try:
            response = model.llama.create_chat_completion(
                messages=messages,
                grammar=grammar,
                **sampling_arguments(options),
            )
        except ValueError as error:  # "Requested tokens (...) exceed context window of ..."
            raise BackendRequestError(
                f"The conversation does not fit the embedded model's context ({error}). "
                "Shorten the tool card, or raise num_ctx (PANEL_NUM_CTX) if the model allows it."
            ) from None
        total_ms = (time.perf_counter() - started) * 1000
        perf = llama_cpp.llama_perf_context(context)
    choice = response["choices"][0]
    usage = response.get("usage") or {}
    return ChatReply(
        content=choice["message"].get("content") or "",
        done_reason=choice.get("finish_reason"),
        prompt_tokens=usage.get("prompt_tokens"),
        completion_tokens=usage.get("completion_tokens"),
        durations_ms={
            "total": round(total_ms, 3),
            "prompt_eval": round(perf.t_p_eval_ms, 3),
            "eval": round(perf.t_eval_ms, 3),
        },
    )
