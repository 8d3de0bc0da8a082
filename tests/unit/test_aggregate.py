from panel.records.aggregate import Aggregate, compare_aggregates, percent, tally_reviews
from panel.records.verdicts import PersonaReview, Verdict


def review(persona: str, decision: str | None, confidence: float = 0.8) -> PersonaReview:
    if decision is None:
        return PersonaReview(persona=persona, model="m", status="failed", error="boom")
    verdict = Verdict(
        persona=persona, decision=decision, confidence=confidence, headline="h", quote="q", fields={}
    )
    return PersonaReview(persona=persona, model="m", status="ok", verdict=verdict)


def test_three_of_four_ship_is_75_percent():
    aggregate = tally_reviews(
        [
            review("dx", "ship"),
            review("competition", "ship"),
            review("futures", "ship"),
            review("business", "skip"),
        ]
    )
    assert aggregate.ship_pct == 75
    assert aggregate.split == {"ship": ["dx", "competition", "futures"], "skip": ["business"]}
    assert aggregate.consensus == "majority" and aggregate.majority == "ship"
    assert not aggregate.incomplete and aggregate.failed == []


def test_failed_persona_is_not_a_vote_and_marks_incomplete():
    aggregate = tally_reviews(
        [
            review("dx", "ship"),
            review("competition", "skip"),
            review("futures", "ship"),
            review("business", None),
        ]
    )
    assert aggregate.ship_pct == 67  # 2 of 3 valid verdicts
    assert aggregate.failed == ["business"]
    assert aggregate.incomplete


def test_no_valid_votes_has_no_ship_pct():
    aggregate = tally_reviews([review("dx", None), review("business", None)])
    assert aggregate.ship_pct is None
    assert aggregate.consensus == "none" and aggregate.majority is None
    assert aggregate.incomplete and aggregate.failed == ["dx", "business"]


def test_unanimous_and_split():
    assert tally_reviews([review("a", "skip"), review("b", "skip")]).consensus == "unanimous"
    split = tally_reviews([review("a", "ship"), review("b", "skip")])
    assert split.consensus == "split" and split.majority is None and split.ship_pct == 50


def test_percent_rounds_half_up():
    assert percent(1, 8) == 13
    assert percent(1, 3) == 33
    assert percent(2, 3) == 67


def aggregate_of(*decisions: tuple[str, float]) -> Aggregate:
    return tally_reviews([review(f"p{i}", d, c) for i, (d, c) in enumerate(decisions)])


def test_compare_higher_ship_pct_wins():
    a = aggregate_of(("ship", 0.5), ("ship", 0.5), ("skip", 0.9))
    b = aggregate_of(("ship", 0.9), ("skip", 0.9), ("skip", 0.9))
    result = compare_aggregates(a, b, "Alpha", "Beta")
    assert result.winner == "a"
    assert "Alpha" in result.reason and "67%" in result.reason and "33%" in result.reason


def test_compare_tie_broken_by_mean_ship_confidence():
    a = aggregate_of(("ship", 0.6), ("skip", 0.9))
    b = aggregate_of(("ship", 0.8), ("skip", 0.9))
    result = compare_aggregates(a, b, "Alpha", "Beta")
    assert result.winner == "b" and "Beta" in result.reason


def test_compare_exact_tie():
    a = aggregate_of(("ship", 0.7), ("skip", 0.9))
    b = aggregate_of(("ship", 0.7), ("skip", 0.2))
    assert compare_aggregates(a, b, "Alpha", "Beta").winner == "tie"


def test_compare_with_no_valid_votes():
    empty = tally_reviews([review("dx", None)])
    some = aggregate_of(("skip", 0.5))
    # a panel with no valid verdict does not lose by default: there is no call (issue 22 item 4)
    declined = compare_aggregates(empty, some, "Alpha", "Beta")
    assert declined.winner == "none" and not declined.called and "Rerun dx on Alpha" in declined.reason
    assert compare_aggregates(empty, empty, "Alpha", "Beta").winner == "none"
    zero_skips = aggregate_of(("skip", 0.5), ("skip", 0.5))
    assert compare_aggregates(zero_skips, aggregate_of(("skip", 0.9)), "A", "B").winner == "tie"
