"""Grounding as claims checked against the card's facts, not as words shared with the card.

A claim is a sentence of a review that names something checkable: a number, a price, a year or
a name (a capitalised word inside the sentence, other than the tool's own). It is *supported*
when every checkable thing it names is on the card and one sentence of the card says it in the
same context (shares a content word besides those names and numbers): "Google was hacked" is
not supported by a card whose maker is Google. What *contradicts* the card (a sum, a year,
funding or a user count the card rules out) is panel.engine.card_claims' call, the same one the
quality gate makes. A review is grounded when it makes at least one supported claim and
contradicts nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from panel.engine.quality import words
from panel.measure.metrics import STOPWORDS
from panel.records.cards import ToolCard

GROUNDING_METHOD = (
    "a verdict is grounded when at least one of its sentences names a number, price, year or name "
    "that the card states, in the same context as the card (one card sentence shares a content "
    "word with it besides those facts), and it contradicts the card nowhere (panel.engine."
    "card_claims: a sum, year, funding or user count the card rules out); a name shared with the "
    "card is not a claim checked"
)
CONTRADICTION_METHOD = (
    "a reply contradicts the card when one of its texts states a sum, a founding year, funding or a "
    "user count the card rules out (panel.engine.card_claims, as the quality gate checks it)"
)
SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
NUMBER = re.compile(r"(?<![\w.])\$?\d[\d,]*(?:\.\d+)?(?:\s?[kKmMbB]\b)?")
NAME = re.compile(r"(?<![\w$])[A-Z][A-Za-z0-9+#.-]*[A-Za-z0-9+#]|(?<![\w$])[A-Z](?![\w])")
# Sentence words that are capitalised without being names.
NOT_NAMES = {"i", "it", "its", "this", "that", "the", "a", "an", "if", "but", "and", "or", "so", "we"}
MIN_CONTEXT_LETTERS = 4


@dataclass(frozen=True)
class Facts:
    """What a card states, sentence by sentence, in the terms claims are checked with."""

    sentences: tuple[tuple[frozenset[str], frozenset[str]], ...]  # (checkable tokens, words)
    tokens: frozenset[str]
    own_name: frozenset[str]


@dataclass(frozen=True)
class Claim:
    text: str
    supported: bool


SCALES = {"k": 1e3, "m": 1e6, "b": 1e9}


def normalised_number(text: str) -> str:
    """One spelling per number: "$1,200.00" and "1200" are both "1200", "2M" is "2000000"."""
    digits = text.lstrip("$").replace(",", "").replace(" ", "").lower()
    scale = SCALES.get(digits[-1], 1.0) if digits[-1].isalpha() else 1.0
    value = float(digits.rstrip("kmb")) * scale
    return format(value, "f").rstrip("0").rstrip(".")


def numbers_in(text: str) -> set[str]:
    return {normalised_number(match.group(0)) for match in NUMBER.finditer(text)}


def names_in(sentence: str, own_name: frozenset[str]) -> set[str]:
    """Capitalised words inside the sentence (not its first word), lowercased, but the tool's name."""
    found = set()
    for match in NAME.finditer(sentence):
        if match.start() == len(sentence) - len(sentence.lstrip()):
            continue
        word = match.group(0).rstrip(".").lower()
        if word not in NOT_NAMES and word not in own_name:
            found.add(word)
    return found


def checkable(sentence: str, own_name: frozenset[str]) -> set[str]:
    return numbers_in(sentence) | names_in(sentence, own_name)


def context_words(sentence: str, skip: set[str]) -> set[str]:
    return {
        word
        for word in words(sentence)
        if len(word) >= MIN_CONTEXT_LETTERS and word not in STOPWORDS and word not in skip
    }


def split_sentences(texts: Iterable[str]) -> list[str]:
    return [part.strip() for text in texts for part in SENTENCE.split(text) if part.strip()]


def card_facts(card: ToolCard) -> Facts:
    own_name = frozenset(words(card.name))
    texts = [
        card.tagline,
        card.category,
        card.description,
        card.maker,
        card.license,
        card.pricing,
        *card.facts,
    ]
    sentences = []
    for sentence in split_sentences(texts):
        # A card field is often one name ("Parity Labs"): its first word is a name too.
        tokens = checkable(sentence, own_name) | {w for w in words(sentence) if w not in own_name}
        sentences.append((frozenset(tokens), frozenset(words(sentence))))
    return Facts(
        sentences=tuple(sentences),
        tokens=frozenset(token for tokens, _ in sentences for token in tokens),
        own_name=own_name,
    )


def check_claims(texts: Iterable[str], facts: Facts) -> list[Claim]:
    """Each sentence of `texts` that names something checkable, checked against the card."""
    claims = []
    for sentence in split_sentences(texts):
        tokens = checkable(sentence, facts.own_name)
        if not tokens:
            continue
        context = context_words(sentence, tokens | facts.own_name)
        supported = tokens <= facts.tokens and any(
            tokens & card_tokens and context & card_words for card_tokens, card_words in facts.sentences
        )
        claims.append(Claim(sentence, supported))
    return claims


def is_grounded(claims: Iterable[Claim], contradicted: bool) -> bool:
    """At least one supported claim, and no contradiction of the card."""
    return not contradicted and any(claim.supported for claim in claims)
