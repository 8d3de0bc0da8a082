"""A comparison says what its call rests on, and declines below 3 of 4 reviewers (issue 22 item 4)."""

from panel.records.aggregate import compare_aggregates, reviewers_needed, tally_reviews
from panel.records.verdicts import PersonaReview, Verdict

PERSONAS = ("dx", "competition", "futures", "business")


def panel(*decisions: str | None, confidence: float = 0.8):
    """An aggregate of the four personas' decisions in order; None is a reviewer with no verdict."""
    reviews = []
    for persona, decision in zip(PERSONAS, decisions, strict=True):
        if decision is None:
            reviews.append(PersonaReview(persona=persona, model="m", status="failed", error="boom"))
            continue
        verdict = Verdict(
            persona=persona, decision=decision, confidence=confidence, headline="h", quote="q", fields={}
        )
        reviews.append(PersonaReview(persona=persona, model="m", status="ok", verdict=verdict))
    return tally_reviews(reviews)


def test_one_reviewer_against_four_is_no_call_and_says_whom_to_rerun():
    # the call from the issue: 1 of 4 shipping at 100% beat 4 of 4 shipping at 100%
    one = panel("ship", None, None, None, confidence=0.9)
    four = panel("ship", "ship", "ship", "ship", confidence=0.7)
    call = compare_aggregates(one, four, "Code Llama 4", "StarCoder2")
    assert call.winner == "none" and not call.called
    assert call.reason == (
        "No call: Code Llama 4 has 1 of 4 reviewers (a call needs 3 of 4 on each side). "
        "Rerun competition, futures and business on Code Llama 4 first."
    )
    assert call.reviewers["a"].model_dump() == {"valid": 1, "of": 4}
    assert call.reviewers["b"].model_dump() == {"valid": 4, "of": 4}
    assert call.rerun == {"a": ["competition", "futures", "business"], "b": []}


def test_both_sides_short_are_both_named():
    call = compare_aggregates(panel("ship", None, None, "skip"), panel(None, None, None, None), "A", "B")
    assert not call.called
    assert call.reason.startswith("No call: A has 2 of 4 reviewers and B has 0 of 4 reviewers")
    assert (
        "Rerun competition and futures on A; dx, competition, futures and business on B first." in call.reason
    )


def test_a_call_on_three_of_four_says_so_in_the_sentence():
    call = compare_aggregates(
        panel("ship", "ship", "ship", None), panel("ship", "skip", "skip", "skip"), "A", "B"
    )
    assert call.called and call.winner == "a"
    assert call.reason == (
        "Ship with A: 100% of the panel ships it against 25% for B. "
        "The call rests on 3 of 4 reviewers for A and 4 of 4 for B."
    )
    assert call.rerun == {"a": ["business"], "b": []}


def test_a_complete_comparison_reads_as_before():
    call = compare_aggregates(
        panel("ship", "ship", "ship", "skip"), panel("ship", "ship", "skip", "skip"), "A", "B"
    )
    assert call.called and call.reason == "Ship with A: 75% of the panel ships it against 50% for B."
    assert call.reviewers["a"].model_dump() == call.reviewers["b"].model_dump() == {"valid": 4, "of": 4}


def test_the_minimum_is_three_quarters_of_each_panel():
    assert [reviewers_needed(size) for size in (1, 2, 3, 4, 5, 8)] == [1, 2, 3, 3, 4, 6]


def test_a_comparison_saved_before_these_fields_still_loads_as_called():
    from panel.records.aggregate import Comparison

    old = Comparison.model_validate({"winner": "a", "reason": "Ship with A."})
    assert old.called and old.reviewers == {} and old.rerun == {}
