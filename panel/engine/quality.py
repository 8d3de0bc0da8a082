"""Quality gates: a verdict that echoes the instructions, copies the card, contradicts the card,
is filler or junk, is cut off mid-sentence, or has a quote off its persona's lens.

Pure text checks on one verdict, used twice: in the verdict loop (structured.py asks again,
afresh, with the problem noted) and by `panel eval`, which counts how often verdicts echo or are
filler. The thresholds live here, in `QualityGates`, and can be
changed under `[quality]` in panel.toml.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from pathlib import Path

from panel.engine.card_claims import CardFacts, contradiction_problem, read_card_facts
from panel.engine.junk import junk_problem
from panel.engine.prompts import TEMPLATE_NAMES, default_prompts_dir
from panel.engine.truncation import WHOLE_ADVICE, cut_field_problem
from panel.records.cards import ToolCard
from panel.records.personas import Persona
from panel.records.verdicts import Verdict
from panel.settings import QualityGates

WORD = re.compile(r"[a-z0-9]+(?:['’][a-z]+)?")
JINJA_TAG = re.compile(r"{{.*?}}|{%.*?%}", re.DOTALL)
SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+")
# A citation: a short run in double quotation marks, which may repeat the card's own words.
CITATION = re.compile(r'“[^”]{1,300}”|"[^"]{1,300}"')
MAX_CITED_WORDS = 30
# Values that say nothing: what small models put in a field they cannot fill.
PLACEHOLDERS = {
    "",
    "n a",
    "na",
    "none",
    "null",
    "tbd",
    "todo",
    "string",
    "text",
    "value",
    "unknown",
    "placeholder",
    "lorem ipsum",
    "yes",
    "no",
    "ship",
    "skip",
}
# The schema's own descriptions of the common fields, which a model may copy back.
COMMON_FIELD_DESCRIPTIONS = (
    "One paragraph in your own voice that makes your moves.",
    "Your call in one line.",
    "How sure you are, from 0 to 1.",
)


# The advice the gates feed back to the model. It is in the prompt of a re-ask, so copying it
# counts as echoing the instructions too.
OWN_WORDS = "Say it in your own words: what you think of this tool, not the brief's wording"
NOT_THE_CARD = "Say it in your own words; name the tool, don't describe it"
FILL_IT = "fill it with what you think of this tool"
HEADLINE_ADVICE = "write your call on the tool in one line"
QUOTE_ADVICE = "write one paragraph of three to six sentences that makes your moves"
OWN_FIELD = "each field says something of its own"
GATE_ADVICE = (OWN_WORDS, NOT_THE_CARD, FILL_IT, HEADLINE_ADVICE, QUOTE_ADVICE, OWN_FIELD, WHOLE_ADVICE)


def words(text: str) -> list[str]:
    return WORD.findall(text.lower())


def word_runs(tokens: list[str], size: int) -> set[tuple[str, ...]]:
    return {tuple(tokens[index : index + size]) for index in range(len(tokens) - size + 1)}


def shingles(text: str, size: int) -> set[tuple[str, ...]]:
    return word_runs(words(text), size)


def first_shared_run(tokens: list[str], reference: AbstractSet[tuple[str, ...]], size: int) -> str | None:
    """The first run of `size` consecutive tokens found in the reference, or None."""
    for index in range(len(tokens) - size + 1):
        if tuple(tokens[index : index + size]) in reference:
            return " ".join(tokens[index : index + size])
    return None


def copied_run(text: str, reference: AbstractSet[tuple[str, ...]], size: int) -> str | None:
    """The first run of `size` consecutive words of `text` found in the reference, or None."""
    return first_shared_run(words(text), reference, size)


@lru_cache(maxsize=8)
def template_texts(prompts_dir: str) -> tuple[str, ...]:
    """The prompt templates' own words: each run of text between Jinja tags is one piece, so that
    a run of words never spans a place the template fills in."""
    pieces = []
    for name in TEMPLATE_NAMES:
        path = Path(prompts_dir) / name
        if path.is_file():
            pieces.extend(JINJA_TAG.split(path.read_text(encoding="utf-8")))
    return tuple(piece for piece in pieces if piece.strip())


def persona_texts(persona: Persona) -> list[str]:
    """Everything the persona file tells the model, house-style examples included."""
    texts = [persona.lens, persona.voice, persona.ships_when, persona.skips_when, *persona.moves]
    texts.extend(persona.fields.values())
    for example in persona.examples:
        texts.extend(str(value) for value in example.card.values())
        texts.extend(str(value) for value in example.verdict.values())
    return texts


def card_texts(card: ToolCard) -> list[str]:
    return [card.tagline, card.category, card.description, card.maker, card.pricing, *card.facts]


@dataclass(frozen=True)
class References:
    """What a verdict must not copy: runs of words of the instructions and of the card."""

    instructions: frozenset[tuple[str, ...]]
    card: frozenset[tuple[str, ...]]
    persona_name: str
    lens_words: tuple[str, ...] = ()
    lens: str = ""
    # Names every review must use (the tool, its maker, licence and price): never copying.
    card_names: tuple[str, ...] = ()
    facts: CardFacts | None = field(default=None)


def build_references(
    persona: Persona, card: ToolCard, gates: QualityGates, prompts_dir: Path | None = None
) -> References:
    instruction_pieces: Iterable[str] = (
        *template_texts(str(prompts_dir or default_prompts_dir())),
        *persona_texts(persona),
        *COMMON_FIELD_DESCRIPTIONS,
        *GATE_ADVICE,
        lens_advice(persona.lens),
    )
    instructions = {run for text in instruction_pieces for run in shingles(text, gates.instruction_words)}
    names = card_names(card)
    copied = {
        run for text in card_texts(card) for run in word_runs(card_words(text, names), gates.card_words)
    }
    return References(
        frozenset(instructions),
        frozenset(copied),
        persona.name,
        tuple(persona.lens_words),
        persona.lens,
        names,
        read_card_facts(card, date.today().year),
    )


def card_names(card: ToolCard) -> tuple[str, ...]:
    """The card's names, longest first so that "Llama 3.1 Community License" goes before "Llama"."""
    names = {card.name, card.maker, card.license, card.pricing}
    return tuple(sorted((name for name in names if name.strip()), key=len, reverse=True))


def card_words(text: str, names: Iterable[str]) -> list[str]:
    """The words a card copy check counts: names of the tool, maker, licence and price, and any
    word with a digit in it, are what every review must mention, not copying."""
    for name in names:
        text = re.sub(re.escape(name), " ", text, flags=re.IGNORECASE)
    return [word for word in words(text) if not any(char.isdigit() for char in word)]


def without_citations(text: str) -> str:
    """The text with its short quotations taken out: citing the card in quotation marks is not
    copying it."""
    return CITATION.sub(
        lambda found: " " if len(words(found.group(0))) <= MAX_CITED_WORDS else found.group(0), text
    )


def text_fields(verdict: Verdict) -> dict[str, str]:
    return {"headline": verdict.headline, "quote": verdict.quote, **verdict.fields}


def sentences(text: str) -> list[str]:
    return [part for part in SENTENCE_END.split(text.strip()) if len(words(part)) >= 2]


def echo_problem(verdict: Verdict, references: References, gates: QualityGates) -> str | None:
    """Why the verdict echoes its instructions or copies the card, or None."""
    for name, text in text_fields(verdict).items():
        run = copied_run(text, references.instructions, gates.instruction_words)
        if run:
            return f'"{name}" copies the instructions word for word: "{run}". {OWN_WORDS}'
        run = card_copy(text, references, gates.card_words)
        if run:
            return f'"{name}" copies the tool card word for word: "{run}". {NOT_THE_CARD}'
    return None


def card_copy(text: str, references: References, size: int) -> str | None:
    """The first run of `size` words the text shares with the card, citations, names and
    numbers aside, or None."""
    tokens = card_words(without_citations(text), references.card_names)
    return first_shared_run(tokens, references.card, size)


def degenerate_problem(verdict: Verdict, persona_name: str, gates: QualityGates) -> str | None:
    """Why the verdict is filler or junk (placeholder, own name as headline or as subject, one-line
    quote, a value repeated in two fields, numbers or JSON in place of words), or None."""
    fields = text_fields(verdict)
    junk = junk_problem(fields, persona_name)
    if junk:
        return junk
    for name, text in fields.items():
        if " ".join(words(text)) in PLACEHOLDERS:
            return f'"{name}" is a placeholder ({text!r}); {FILL_IT}'
    if words(verdict.headline) == words(persona_name):
        return f'"headline" is your own name; {HEADLINE_ADVICE}'
    if len(sentences(verdict.quote)) < gates.min_quote_sentences:
        return f'"quote" has fewer than {gates.min_quote_sentences} sentences; {QUOTE_ADVICE}'
    seen: dict[str, str] = {}
    for name, text in fields.items():
        key = " ".join(words(text))
        if key in seen:
            return f'"{name}" repeats "{seen[key]}" word for word; {OWN_FIELD}'
        seen[key] = name
    return None


def cut_problem(verdict: Verdict) -> str | None:
    """Why a field of the verdict reads as cut off (a truncated field is never published), or None."""
    return cut_field_problem(text_fields(verdict))


def uses_lens_word(text: str, lens_words: Iterable[str]) -> bool:
    """Whether a word of the text starts with one of the lens words ("pric" matches "pricing")."""
    stems = tuple(lens_words)
    return any(word.startswith(stems) for word in words(text))


def lens_problem(verdict: Verdict, references: References, gates: QualityGates) -> str | None:
    """Why the quote does not speak from its persona's lens, or None. Only for personas whose
    file lists lens_words: a quote that could have come from any reviewer is not this one's."""
    if not gates.lens_words or not references.lens_words:
        return None
    if uses_lens_word(verdict.quote, references.lens_words):
        return None
    return f'"quote" does not speak from your lens; {lens_advice(references.lens)}'


def lens_advice(lens: str) -> str:
    return f"say what this tool means for your lens: {lens}"


def quality_problem(verdict: Verdict, references: References, gates: QualityGates) -> str | None:
    """The first gate the verdict fails, phrased as feedback for the model, or None."""
    return (
        echo_problem(verdict, references, gates)
        or claims_problem(verdict, references)
        or degenerate_problem(verdict, references.persona_name, gates)
        or cut_problem(verdict)
        or lens_problem(verdict, references, gates)
    )


def claims_problem(verdict: Verdict, references: References) -> str | None:
    """Why the verdict states a price, date, funding or user count its card contradicts, or None
    (panel.engine.card_claims says what counts)."""
    if references.facts is None:
        return None
    return contradiction_problem(text_fields(verdict), references.facts)


def verdict_gate(
    persona: Persona, card: ToolCard, gates: QualityGates, prompts_dir: Path | None = None
) -> Callable[[Verdict], str | None] | None:
    """The check the verdict loop runs on each parsed reply (None when gates are off)."""
    if not gates.enabled:
        return None
    references = build_references(persona, card, gates, prompts_dir)
    return lambda verdict: quality_problem(verdict, references, gates)
