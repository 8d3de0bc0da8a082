"""The measures `panel eval` reports, as pure functions over decisions and texts.

Every rate is a fraction from 0 to 1 (None when there is nothing to measure); discrimination is
a difference of two rates, from -1 to 1.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass

from panel.engine.quality import words

DISTINCTNESS_METHOD = (
    "TF-IDF (words and word pairs, log-scaled counts) nearest-centroid, leave-one-card-out: each "
    "quote is assigned to the persona whose centroid, built from that persona's quotes on the "
    "other cards, is most similar by cosine; distinctness is the share assigned to their own persona "
    "(a tie between k personas counts 1/k; identical quotes on one card share their credit evenly)"
)
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


def add_into(total: dict[str, float], vector: dict[str, float]) -> None:
    for term, value in vector.items():
        total[term] = total.get(term, 0.0) + value


def held_out_score(
    vector: dict[str, float], total: dict[str, float], own: dict[str, float], norm: float
) -> float:
    """Cosine of `vector` with the centroid of `total - own` (a persona's quotes without one
    card's), `norm` being that difference's length; 0 for an empty centroid."""
    if not norm:
        return 0.0
    return sum(value * (total.get(term, 0.0) - own.get(term, 0.0)) for term, value in vector.items()) / norm


def held_out_norm(total: dict[str, float], squared_total: float, own: dict[str, float]) -> float:
    """The length of `total - own`, computed over `own`'s terms only. Every value is positive and
    every quote vector a unit (or empty), so a non-empty sum has length 1 or more: anything
    far below is an empty centroid seen through rounding."""
    squared = squared_total + sum(
        (total[term] - value) ** 2 - total[term] ** 2 for term, value in own.items()
    )
    return math.sqrt(squared) if squared > 0.25 else 0.0


def tied_best(scores: dict[str, float]) -> list[str]:
    """The personas whose score is the highest, within rounding: a tie is a tie."""
    best = max(scores.values())
    return [
        persona for persona, score in scores.items() if math.isclose(score, best, rel_tol=1e-9, abs_tol=1e-12)
    ]


def distinctness_counts(quotes: Sequence[Quote]) -> dict[str, tuple[float, int]] | None:
    """Per persona, (quotes credited to their own persona, quotes scored); None when fewer than
    two personas have quotes on two or more cards (see `distinctness`).

    A quote tied between k personas' centroids is credited 1/k when its own persona is among
    them; quotes that are identical (the same terms) on one card share their credit evenly, so
    every persona involved scores the same: the expected score of a coin toss, not the first
    persona in alphabetical order.

    Each persona's vectors are summed once; a card's held-out centroid is that sum less the
    card's own quotes, so the cost grows with the number of quotes, not with cards x quotes."""
    personas = sorted({quote.persona for quote in quotes})
    cards_of: dict[str, set[Hashable]] = defaultdict(set)
    for quote in quotes:
        cards_of[quote.persona].add(quote.card)
    if len(personas) < 2 or any(len(cards_of[persona]) < 2 for persona in personas):
        return None
    vectors = tfidf_vectors(quotes)
    totals: dict[str, dict[str, float]] = {persona: {} for persona in personas}
    by_card: dict[Hashable, list[int]] = defaultdict(list)
    for index, quote in enumerate(quotes):
        add_into(totals[quote.persona], vectors[index])
        by_card[quote.card].append(index)
    squared = {persona: sum(value * value for value in totals[persona].values()) for persona in personas}
    credit: dict[str, float] = {persona: 0.0 for persona in personas}
    scored: dict[str, int] = {persona: 0 for persona in personas}
    for members in by_card.values():
        own: dict[str, dict[str, float]] = {persona: {} for persona in personas}
        same: dict[tuple[tuple[str, float], ...], list[int]] = defaultdict(list)
        for index in members:
            add_into(own[quotes[index].persona], vectors[index])
            same[tuple(sorted(vectors[index].items()))].append(index)
        norms = {
            persona: held_out_norm(totals[persona], squared[persona], own[persona]) for persona in personas
        }
        for group in same.values():
            vector = vectors[group[0]]
            best = tied_best(
                {
                    persona: held_out_score(vector, totals[persona], own[persona], norms[persona])
                    for persona in personas
                }
            )
            authors = {quotes[index].persona for index in group}
            # The guess is one of `best` at random; if it names an author, one of the
            # indistinguishable authors at random.
            share = len(authors.intersection(best)) / (len(best) * len(authors))
            for index in group:
                credit[quotes[index].persona] += share
                scored[quotes[index].persona] += 1
    return {persona: (credit[persona], scored[persona]) for persona in personas}


def distinctness(quotes: Sequence[Quote]) -> tuple[float | None, dict[str, float | None]]:
    """Share of quotes told apart from the other personas' (see DISTINCTNESS_METHOD), overall
    and per persona. None when fewer than two personas have quotes on two or more cards."""
    counts = distinctness_counts(quotes)
    if counts is None:
        return None, {persona: None for persona in sorted({quote.persona for quote in quotes})}
    total = sum(n for _, n in counts.values())
    overall = round(sum(credit for credit, _ in counts.values()) / total, 4) if total else None
    return overall, {persona: round(credit / n, 4) if n else None for persona, (credit, n) in counts.items()}
