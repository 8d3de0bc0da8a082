"""A pydantic validation problem in the words an editor reads beside a form field ("Fill this
in.", "Use a number no larger than 1."), not pydantic's ("String should have at least 1
character", "Input should be less than or equal to 1"). The project's own validators' messages
(links, facts, lengths) are plain already and pass through as they are."""

from __future__ import annotations

from typing import Any

from pydantic_core import ErrorDetails


def number_text(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def plain_problem(item: ErrorDetails) -> str:
    """One problem as a sentence for the field it is about."""
    kind, context = item["type"], item.get("ctx") or {}
    given = item.get("input")
    if kind == "missing":
        return "Fill this in."
    if kind == "string_too_short":
        least = context.get("min_length", 1)
        return "Fill this in." if least == 1 else f"Write at least {least:,} characters."
    if kind == "string_too_long":
        size = f" (this has {len(given):,})" if isinstance(given, str) else ""
        return f"Keep it to {context.get('max_length', 0):,} characters or fewer{size}."
    if kind in ("float_type", "float_parsing", "int_type", "int_parsing", "int_from_float"):
        return "Write a whole number." if kind.startswith("int") else "Write a number, like 0.8."
    if kind in ("less_than_equal", "less_than"):
        return f"Use a number no larger than {number_text(context.get('le', context.get('lt')))}."
    if kind in ("greater_than_equal", "greater_than"):
        return f"Use a number no smaller than {number_text(context.get('ge', context.get('gt')))}."
    if kind == "literal_error":
        return f"Choose {context.get('expected', 'one of the offered values')}."
    if kind == "extra_forbidden":
        return "This is not a field of the form; leave it out."
    if kind == "value_error" and "error" in context:
        return str(context["error"])  # the project's own validators already say it plainly
    return item["msg"]
