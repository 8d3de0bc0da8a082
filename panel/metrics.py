"""The measures `panel eval` reports, as pure functions over decisions and texts.

Every rate is a fraction from 0 to 1 (None when there is nothing to measure); discrimination is
a difference of two rates, from -1 to 1.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass

from panel.cards import ToolCard
from panel.quality import card_texts, words
from panel.verdicts import Verdict

DISTINCTNESS_METHOD = (
    "TF-IDF (words and word pairs, log-scaled counts) nearest-centroid, leave-one-card-out: each "
    "quote is assigned to the persona whose centroid, built from that persona's quotes on the "
    "other cards, is most similar by cosine; distinctness is the share assigned to their own persona"
)
GROUNDING_METHOD = (
    "a verdict is grounded when one of its texts names a term of its card beyond the tool's name: "
    "a word of 4+ letters or a number from the card that is not a common word and not in the "
    "prompts or persona files"
)
NUMBER = re.compile(r"\$?\d[\d,.]*\d|\$\d")
# Common words that say nothing specific about a card.
STOPWORDS = set(
    [
        "about",
        "above",
        "after",
        "again",
        "against",
        "also",
        "among",
        "another",
        "because",
        "been",
        "before",
        "being",
        "below",
        "between",
        "both",
        "built",
        "could",
        "does",
        "doing",
        "down",
        "during",
        "each",
        "every",
        "from",
        "further",
        "have",
        "having",
        "here",
        "into",
        "itself",
        "just",
        "more",
        "most",
        "much",
        "must",
        "only",
        "other",
        "over",
        "same",
        "should",
        "since",
        "some",
        "such",
        "than",
        "that",
        "their",
        "them",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "under",
        "until",
        "very",
        "what",
        "when",
        "where",
        "which",
        "while",
        "will",
        "with",
        "within",
        "without",
        "would",
        "your",
        "yours",
        "used",
        "uses",
        "using",
        "make",
        "makes",
        "made",
        "like",
        "well",
        "first",
        "last",
        "one",
        "two",
    ]
)


def rate(hits: Iterable[bool]) -> float | None:
    values = list(hits)
    return round(sum(values) / len(values), 4) if values else None


def cohen_kappa(predicted: Sequence[str], expected: Sequence[str]) -> float | None:
    """Cohen's kappa of two raters over the same items; None when chance agreement is total
    (one decision only), where kappa is undefined."""
    count = len(predicted)
    if count == 0 or count != len(expected):
        return None
    observed = sum(a == b for a, b in zip(predicted, expected, strict=True)) / count
    left, right = Counter(predicted), Counter(expected)
    chance = sum(left[label] * right[label] for label in set(left) | set(right)) / count**2
    if chance >= 1:
        return None
    return round((observed - chance) / (1 - chance), 4)


def discrimination(ship_rates: Sequence[tuple[str, float]]) -> float | None:
    """Mean ship rate on cards labelled ship minus on cards labelled skip; None unless both occur."""
    by_label: dict[str, list[float]] = defaultdict(list)
    for label, value in ship_rates:
        by_label[label].append(value)
    if not by_label["ship"] or not by_label["skip"]:
        return None
    mean = {label: sum(values) / len(values) for label, values in by_label.items()}
    return round(mean["ship"] - mean["skip"], 4)


def card_terms(card: ToolCard, common: set[str]) -> set[str]:
    """Terms specific to this card: its numbers and prices, and its longer words that are not
    common English, not in the prompts or persona files (`common`) and not the tool's name."""
    name = set(words(card.name))
    texts = card_texts(card)
    terms = {match.group(0).lstrip("$").replace(",", "") for text in texts for match in NUMBER.finditer(text)}
    for text in texts:
        terms.update(word for word in words(text) if len(word) >= 4 and word not in STOPWORDS | common | name)
    return terms - name


def is_grounded(verdict: Verdict, terms: set[str]) -> bool:
    texts = [verdict.headline, verdict.quote, *verdict.fields.values()]
    found = set()
    for text in texts:
        found.update(words(text))
        found.update(match.group(0).lstrip("$").replace(",", "") for match in NUMBER.finditer(text))
    return bool(found & terms)


# -- distinctness --------------------------------------------------------------------------


@dataclass(frozen=True)
class Quote:
    card: Hashable
    persona: str
    text: str


def features(text: str) -> Counter[str]:
    tokens = [word for word in words(text) if word not in STOPWORDS]
    return Counter(tokens + [f"{a} {b}" for a, b in zip(tokens, tokens[1:], strict=False)])


def tfidf_vectors(quotes: Sequence[Quote]) -> list[dict[str, float]]:
    counts = [features(quote.text) for quote in quotes]
    document_frequency = Counter(term for count in counts for term in count)
    total = len(quotes)
    vectors = []
    for count in counts:
        vector = {
            term: (1 + math.log(n)) * math.log((1 + total) / (1 + document_frequency[term])) + 1e-9
            for term, n in count.items()
        }
        vectors.append(normalised(vector))
    return vectors


def normalised(vector: dict[str, float]) -> dict[str, float]:
    norm = math.sqrt(sum(value * value for value in vector.values()))
    return {term: value / norm for term, value in vector.items()} if norm else vector


def centroid(vectors: Iterable[dict[str, float]]) -> dict[str, float]:
    total: dict[str, float] = defaultdict(float)
    for vector in vectors:
        for term, value in vector.items():
            total[term] += value
    return normalised(dict(total))


def cosine(a: dict[str, float], b: dict[str, float]) -> float:
    if len(a) > len(b):
        a, b = b, a
    return sum(value * b.get(term, 0.0) for term, value in a.items())


def distinctness(quotes: Sequence[Quote]) -> tuple[float | None, dict[str, float | None]]:
    """Share of quotes told apart from the other personas' (see DISTINCTNESS_METHOD), overall
    and per persona. None when fewer than two personas have quotes on two or more cards."""
    personas = sorted({quote.persona for quote in quotes})
    cards_of = {p: {quote.card for quote in quotes if quote.persona == p} for p in personas}
    if len(personas) < 2 or any(len(cards) < 2 for cards in cards_of.values()):
        return None, {persona: None for persona in personas}
    vectors = tfidf_vectors(quotes)
    hits: dict[str, list[bool]] = defaultdict(list)
    for card in {quote.card for quote in quotes}:
        centroids = {
            persona: centroid(
                vector
                for quote, vector in zip(quotes, vectors, strict=True)
                if quote.persona == persona and quote.card != card
            )
            for persona in personas
        }
        for quote, vector in zip(quotes, vectors, strict=True):
            if quote.card == card:
                guess = max(personas, key=lambda persona: cosine(vector, centroids[persona]))
                hits[quote.persona].append(guess == quote.persona)
    overall = rate(hit for persona in personas for hit in hits[persona])
    return overall, {persona: rate(hits[persona]) for persona in personas}
