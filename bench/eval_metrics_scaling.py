"""How `panel eval`'s distinctness scales with the size of the suite: the leave-one-card-out
nearest-centroid measure (panel.measure.metrics.distinctness) against the implementation it replaced,
which rebuilt every persona's centroid for every card (cards x quotes). Four personas, one
quote each per card, quotes of about 60 words drawn from a persona's own words and shared
ones. Prints one table (or JSON with --json); checks that both give the same result where the
old one runs (the old one gave a tie to the first persona, the new one shares it; these random
quotes never tie, so the two agree). Not a test.

    python bench/eval_metrics_scaling.py                    # 250 .. 10000 cards, old up to 1000
    python bench/eval_metrics_scaling.py --cards 250,500 --old-up-to 500
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from panel.measure.metrics import Quote, distinctness, normalised, rate, tfidf_vectors  # noqa: E402

PERSONAS = ("business", "competition", "dx", "futures")
SHARED = [f"shared{number}" for number in range(400)]


def persona_words(persona: str) -> list[str]:
    return [f"{persona}word{number}" for number in range(150)]


def suite_quotes(cards: int, seed: int = 7) -> list[Quote]:
    """One quote per persona per card: half its persona's words, half shared ones, plus the
    card's own name (as quotes name the tool), so personas overlap as real ones do."""
    draw = random.Random(seed)
    own = {persona: persona_words(persona) for persona in PERSONAS}
    quotes = []
    for card in range(cards):
        for persona in PERSONAS:
            words = draw.choices(own[persona], k=30) + draw.choices(SHARED, k=30) + [f"tool{card}"]
            draw.shuffle(words)
            quotes.append(Quote(card, persona, " ".join(words)))
    return quotes


# -- the replaced implementation, kept here as the reference ---------------------------------


def old_centroid(vectors: Iterable[dict[str, float]]) -> dict[str, float]:
    total: dict[str, float] = defaultdict(float)
    for vector in vectors:
        for term, value in vector.items():
            total[term] += value
    return normalised(dict(total))


def old_cosine(a: dict[str, float], b: dict[str, float]) -> float:
    if len(a) > len(b):
        a, b = b, a
    return sum(value * b.get(term, 0.0) for term, value in a.items())


def old_distinctness(quotes: Sequence[Quote]) -> tuple[float | None, dict[str, float | None]]:
    personas = sorted({quote.persona for quote in quotes})
    cards_of = {p: {quote.card for quote in quotes if quote.persona == p} for p in personas}
    if len(personas) < 2 or any(len(cards) < 2 for cards in cards_of.values()):
        return None, {persona: None for persona in personas}
    vectors = tfidf_vectors(quotes)
    hits: dict[str, list[bool]] = defaultdict(list)
    for card in {quote.card for quote in quotes}:
        centroids = {
            persona: old_centroid(
                vector
                for quote, vector in zip(quotes, vectors, strict=True)
                if quote.persona == persona and quote.card != card
            )
            for persona in personas
        }
        for quote, vector in zip(quotes, vectors, strict=True):
            if quote.card == card:
                guess = max(personas, key=lambda persona: old_cosine(vector, centroids[persona]))
                hits[quote.persona].append(guess == quote.persona)
    overall = rate(hit for persona in personas for hit in hits[persona])
    return overall, {persona: rate(hits[persona]) for persona in personas}


def timed(function, quotes: list[Quote]) -> tuple[float, object]:
    started = time.perf_counter()
    result = function(quotes)
    return time.perf_counter() - started, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--cards", default="250,500,1000,2000,5000,10000", help="suite sizes, comma-separated"
    )
    parser.add_argument("--old-up-to", type=int, default=1000, help="largest suite the old code runs on")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    options = parser.parse_args()
    rows = []
    for cards in (int(size) for size in options.cards.split(",")):
        quotes = suite_quotes(cards)
        new_seconds, new_result = timed(distinctness, quotes)
        row = {
            "cards": cards,
            "quotes": len(quotes),
            "new_s": round(new_seconds, 3),
            "distinctness": new_result[0],
        }
        if cards <= options.old_up_to:
            old_seconds, old_result = timed(old_distinctness, quotes)
            if old_result != new_result:
                raise SystemExit(f"{cards} cards: old {old_result} != new {new_result}")
            row |= {"old_s": round(old_seconds, 3), "speedup": round(old_seconds / new_seconds, 1)}
        rows.append(row)
    for row, previous in zip(rows[1:], rows, strict=False):
        growth = row["cards"] / previous["cards"]
        # 1.0 is linear; 2.0 would be quadratic (cards x quotes).
        row["new_exponent"] = round(math.log(row["new_s"] / previous["new_s"]) / math.log(growth), 2)
        if "old_s" in row and "old_s" in previous:
            row["old_exponent"] = round(math.log(row["old_s"] / previous["old_s"]) / math.log(growth), 2)
    if options.json:
        print(json.dumps(rows, indent=2))
        return
    print(
        f"{'cards':>6} {'quotes':>7} {'old s':>8} {'new s':>7} {'old/new':>8} {'old exp':>8} {'new exp':>8}"
    )
    for row in rows:
        print(
            f"{row['cards']:>6} {row['quotes']:>7} {row.get('old_s', '-'):>8} {row['new_s']:>7} "
            f"{row.get('speedup', '-'):>8} {row.get('old_exponent', '-'):>8} {row.get('new_exponent', '-'):>8}"
        )


if __name__ == "__main__":
    main()
