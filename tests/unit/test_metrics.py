import math
import random
import time

import pytest

from panel.measure.metrics import (
    Quote,
    cohen_kappa,
    discrimination,
    distinctness,
    distinctness_counts,
    rate,
)


def test_rate_is_a_share_and_none_when_empty():
    assert rate([True, False, False, True]) == 0.5
    assert rate([]) is None


def test_kappa_matches_the_textbook_example():
    # 50 items: 20 yes/yes, 5 yes/no, 10 no/yes, 15 no/no -> po 0.7, pe 0.5, kappa 0.4
    left = ["ship"] * 25 + ["skip"] * 25
    right = ["ship"] * 20 + ["skip"] * 5 + ["ship"] * 10 + ["skip"] * 15
    assert cohen_kappa(left, right) == pytest.approx(0.4)


def test_kappa_is_zero_for_a_rater_that_always_ships_and_none_without_variety():
    assert cohen_kappa(["ship"] * 4, ["ship", "ship", "skip", "skip"]) == 0.0
    assert cohen_kappa(["ship"] * 3, ["ship"] * 3) is None
    assert cohen_kappa(["ship", "skip"], ["skip", "ship"]) == -1.0


def test_discrimination_is_ship_rate_on_ship_cards_minus_on_skip_cards():
    assert discrimination([("ship", 1.0), ("ship", 0.5), ("skip", 0.25), ("skip", 0.25)]) == 0.5
    assert discrimination([("ship", 1.0), ("skip", 1.0)]) == 0.0
    assert discrimination([("ship", 1.0)]) is None


VOICES = {
    "dx": "the weekend test fails, the primitive is a wrapper, the moment of truth is pip install",
    "business": "the buyer writes the check, the moat is thin, margins vanish at 10x cheaper",
    "futures": "the thesis for 2027, the trend line bends, timing is early, second-order effects",
}


def test_distinct_voices_are_told_apart():
    quotes = [
        Quote(card, persona, f"{text} for {card} and its users")
        for card in ("a", "b", "c", "d")
        for persona, text in VOICES.items()
    ]
    overall, per_persona = distinctness(quotes)
    assert overall == 1.0 and per_persona == {"business": 1.0, "dx": 1.0, "futures": 1.0}


def test_identical_quotes_cannot_be_told_apart_and_score_the_same_for_every_persona():
    # The tie used to go to the first persona in alphabetical order: business 100%, the rest 0%.
    quotes = [
        Quote(card, persona, f"A solid tool for {card}. I would use it.")
        for card in ("a", "b", "c", "d")
        for persona in VOICES
    ]
    overall, per_persona = distinctness(quotes)
    assert overall == 0.3333  # chance with three personas
    assert per_persona == {"business": 0.3333, "dx": 0.3333, "futures": 0.3333}


def test_eval_distinctness_identical_quotes_on_one_card_share_their_credit():
    # On card d, dx writes business's quote word for word: the two cannot be told apart there,
    # so they share the one hit (half each) instead of business taking it all.
    quotes = [
        Quote(
            card, persona, f"{VOICES['business' if (card, persona) == ('d', 'dx') else persona]} for {card}"
        )
        for card in ("a", "b", "c", "d")
        for persona in VOICES
    ]
    assert distinctness_counts(quotes) == {"business": (3.5, 4), "dx": (3.5, 4), "futures": (4.0, 4)}
    assert distinctness(quotes) == (0.9167, {"business": 0.875, "dx": 0.875, "futures": 1.0})


def test_eval_distinctness_a_tie_between_centroids_counts_a_fraction():
    # A quote with no terms is as close to every persona (0): a three-way tie, a third of a hit.
    quotes = [
        Quote(card, persona, "" if (card, persona) == ("d", "dx") else f"{VOICES[persona]} for {card}")
        for card in ("a", "b", "c", "d")
        for persona in VOICES
    ]
    counts = distinctness_counts(quotes)
    assert counts is not None and counts["dx"][0] == pytest.approx(3 + 1 / 3)
    assert counts["business"] == (4.0, 4) and counts["futures"] == (4.0, 4)
    assert distinctness(quotes)[1]["dx"] == 0.8333


def test_distinctness_needs_two_personas_on_two_cards():
    assert distinctness_counts([Quote("a", "dx", "x y"), Quote("a", "business", "y z")]) is None
    assert distinctness([Quote("a", "dx", "x y"), Quote("a", "business", "y z")]) == (
        None,
        {"business": None, "dx": None},
    )


def held_out_reference(quotes: list[Quote]) -> dict[str, float | None]:
    """Distinctness as DISTINCTNESS_METHOD says it, computed the slow way: every persona's
    centroid rebuilt for every left-out card."""
    from panel.measure.metrics import tfidf_vectors

    vectors = tfidf_vectors(quotes)
    personas = sorted({quote.persona for quote in quotes})
    hits: dict[str, list[bool]] = {persona: [] for persona in personas}
    for quote, vector in zip(quotes, vectors, strict=True):
        scores = {}
        for persona in personas:
            total: dict[str, float] = {}
            for other, other_vector in zip(quotes, vectors, strict=True):
                if other.persona == persona and other.card != quote.card:
                    for term, value in other_vector.items():
                        total[term] = total.get(term, 0.0) + value
            norm = math.sqrt(sum(value * value for value in total.values()))
            scores[persona] = sum(value * total.get(term, 0.0) for term, value in vector.items()) / norm
        hits[quote.persona].append(max(personas, key=scores.__getitem__) == quote.persona)
    return {persona: rate(hits[persona]) for persona in personas}


def random_quotes(cards: int, seed: int) -> list[Quote]:
    draw = random.Random(seed)
    vocabulary = {persona: [f"{persona}{n}" for n in range(12)] for persona in ("dx", "futures", "business")}
    shared = [f"common{n}" for n in range(30)]
    return [
        Quote(card, persona, " ".join(draw.choices(vocabulary[persona], k=4) + draw.choices(shared, k=8)))
        for card in range(cards)
        for persona in vocabulary
    ]


@pytest.mark.parametrize("seed", range(5))
def test_eval_distinctness_keeps_its_meaning_when_computed_per_card(seed: int):
    quotes = random_quotes(12, seed)
    assert distinctness(quotes)[1] == held_out_reference(quotes)


def test_eval_distinctness_on_a_large_suite_is_near_linear():
    # 2,000 cards x 4 personas: the centroids rebuilt per card took minutes (cards x quotes);
    # summed once and corrected per card, it is a second or two.
    quotes = [
        Quote(card, persona, f"{text} for tool{card} and its users")
        for card in range(2000)
        for persona, text in {**VOICES, "competition": "against elastic it wins on price"}.items()
    ]
    started = time.perf_counter()
    overall, _ = distinctness(quotes)
    assert overall == 1.0
    assert time.perf_counter() - started < 20
