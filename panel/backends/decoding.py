"""What a grammar-constrained server is sent for a verdict: the schema reshaped so the grammar can
enforce it, and Ollama-style options as chat-completion sampling parameters.

Replies are always validated against the real schema (panel.engine.verdict_loop); this module only shapes
what the decoder is held to.
"""

from __future__ import annotations

from typing import Any

# Ollama's documented defaults, so a persona's options mean the same on every backend.
OLLAMA_SAMPLING_DEFAULTS = {
    "temperature": 0.8,
    "top_p": 0.9,
    "top_k": 40,
    "min_p": 0.0,
    "repeat_penalty": 1.1,
}
# Grammar converters ignore minimum/maximum, so a bounded number becomes a choice among this many
# evenly spaced values.
BOUNDED_NUMBER_STEPS = 20
# A small model can loop inside one string until the token limit cuts the whole reply off. The
# grammar closes a string at these lengths instead (in characters; generous for a real model).
# A string closed there is cut mid-sentence, and panel.engine.quality re-asks it: the grammar is not
# made to end at a word instead, since a forced stop at the cap would make a cut read as whole.
STRING_CAP = 500
STRING_CAPS = {"quote": 1000, "headline": 160}
# The quote as two to six sentences of 12 to 200 characters, as the brief asks: a small model
# otherwise stops after one and the quality gate re-asks it. A stop followed by a non-space
# ("Node.js", "3.5") stays inside a sentence. No quote mark, backslash or control character, so
# the pattern describes the text exactly as JSON carries it. llama.cpp's converter (LLGuidance)
# enforces a pattern only when it is anchored with ^ and $; otherwise it accepts any string.
QUOTE_CHAR = r'(?:[^.!?"\\\x00-\x1F\x7F]|[.!?][^ "\\\x00-\x1F\x7F])'
QUOTE_SENTENCE = QUOTE_CHAR + r"{12,200}[.!?]"
QUOTE_PATTERN = f"^{QUOTE_SENTENCE}(?: {QUOTE_SENTENCE}){{1,5}}$"


def decoding_schema(schema: dict[str, Any], quote_pattern: bool = False) -> dict[str, Any]:
    """The same object schema, but every number bounded on both sides becomes an enum of evenly
    spaced values and every string gets a maximum length; with `quote_pattern`, the quote must be
    two to six sentences (for servers that enforce `pattern`, as llama.cpp's does)."""
    properties = {}
    for name, spec in schema.get("properties", {}).items():
        low, high = spec.get("minimum"), spec.get("maximum")
        if spec.get("type") == "number" and low is not None and high is not None and high > low:
            step = (high - low) / BOUNDED_NUMBER_STEPS
            values = [round(low + index * step, 6) for index in range(BOUNDED_NUMBER_STEPS + 1)]
            spec = {key: value for key, value in spec.items() if key not in ("minimum", "maximum", "type")}
            spec["enum"] = values
        elif name == "quote" and quote_pattern and spec.get("type") == "string":
            spec = {**spec, "pattern": QUOTE_PATTERN}
        elif spec.get("type") == "string" and "enum" not in spec and "maxLength" not in spec:
            spec = {**spec, "maxLength": STRING_CAPS.get(name, STRING_CAP)}
        properties[name] = spec
    return {**schema, "properties": properties}


def sampling_parameters(options: dict[str, Any], extended: bool) -> dict[str, Any]:
    """Ollama-style options -> chat-completion parameters. OpenAI's own API takes temperature,
    top_p, seed and max_tokens; `extended` adds llama.cpp's top_k, min_p and repeat_penalty,
    with Ollama's defaults for what a persona leaves unset (strict servers refuse unknown ones)."""
    names = OLLAMA_SAMPLING_DEFAULTS if extended else {"temperature": None, "top_p": None}
    parameters = {
        name: options.get(name, default)
        for name, default in names.items()
        if options.get(name, default) is not None
    }
    if options.get("seed") is not None:
        parameters["seed"] = int(options["seed"])
    if options.get("num_predict") is not None and int(options["num_predict"]) > 0:
        parameters["max_tokens"] = int(options["num_predict"])
    return parameters
