"""Persona + card -> chat messages, from the Jinja2 templates in prompts/. Pure: no model calls.

The system message (panel rules and the card) is identical for every persona, byte for byte, and
comes first, so Ollama and llama.cpp can reuse the cached prompt prefix across the four calls.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2

from panel.records.cards import ToolCard
from panel.records.personas import Persona

TEMPLATE_NAMES = ("system.j2", "review.j2", "retry.j2", "redo.j2", "examples.j2")


def default_prompts_dir() -> Path:
    """The bundled templates: inside the wheel when installed, else the repository's folder."""
    packaged = Path(__file__).parents[1] / "_data" / "prompts"
    return packaged if packaged.is_dir() else Path(__file__).parents[2] / "prompts"


def prompts_folder(prompts_dir: Path | None) -> str:
    """The folder a prompt set's templates are read from, as the key of the caches below."""
    return str(Path(prompts_dir).resolve() if prompts_dir else default_prompts_dir())


@lru_cache(maxsize=8)
def prompts_environment(folder: str) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(folder),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=False,
        autoescape=False,
        # Templates are read once per process, like their hashes below, so the hash recorded in
        # a transcript is always that of the template used (and no stat() per persona call).
        auto_reload=False,
    )


def escape_brackets(text: str) -> str:
    return text.replace("<", "\\u003c").replace(">", "\\u003e")


def card_as_data(card: ToolCard) -> str:
    """The card as JSON with angle brackets escaped, so its text cannot close the data block."""
    return escape_brackets(json.dumps(card.model_dump(mode="json"), ensure_ascii=False, indent=2))


def card_for_template(card: ToolCard) -> dict[str, Any]:
    """The card's fields for a template outside the data block, each as a JSON string with
    angle brackets escaped, as in the block: a card's text never reaches a prompt raw."""
    return {
        field: escape_brackets(json.dumps(value, ensure_ascii=False))
        for field, value in card.model_dump(mode="json").items()
    }


def render_messages(
    persona: Persona, card: ToolCard, prompts_dir: Path | None = None
) -> list[dict[str, str]]:
    """The first request of a persona: shared system message, then the persona's brief."""
    environment = prompts_environment(prompts_folder(prompts_dir))
    system = environment.get_template("system.j2").render(card_json=card_as_data(card))
    review = environment.get_template("review.j2").render(persona=persona, card=card_for_template(card))
    if persona.examples:  # after the persona's brief, so the system message stays shared
        examples = [(as_json(example.card), as_json(example.verdict)) for example in persona.examples]
        review = review.strip() + "\n\n" + environment.get_template("examples.j2").render(examples=examples)
    return [
        {"role": "system", "content": system.strip()},
        {"role": "user", "content": review.strip()},
    ]


def as_json(data: dict) -> str:
    """Compact JSON in the order the persona file gives (Jinja's tojson sorts the keys)."""
    return json.dumps(data, ensure_ascii=False).replace("<", "\\u003c").replace(">", "\\u003e")


def render_retry(error: str, prompts_dir: Path | None = None) -> str:
    """The message that feeds a validation error back to the model."""
    return render_error_note("retry.j2", error, prompts_dir)


def render_redo(error: str, prompts_dir: Path | None = None) -> str:
    """The note added to the brief when a verdict failed a quality gate and is asked afresh."""
    return render_error_note("redo.j2", error, prompts_dir)


def render_error_note(template: str, error: str, prompts_dir: Path | None = None) -> str:
    environment = prompts_environment(prompts_folder(prompts_dir))
    return environment.get_template(template).render(error=error).strip()


def template_hashes(prompts_dir: Path | None = None) -> dict[str, str]:
    """sha256 of each template, recorded in every transcript."""
    return dict(_template_hashes(prompts_folder(prompts_dir)))


@lru_cache(maxsize=8)
def _template_hashes(folder_name: str) -> tuple[tuple[str, str], ...]:
    folder = Path(folder_name)
    hashes = {}
    for name in TEMPLATE_NAMES:
        path = folder / name
        if path.is_file():
            hashes[name] = hashlib.sha256(path.read_bytes()).hexdigest()
    return tuple(hashes.items())
