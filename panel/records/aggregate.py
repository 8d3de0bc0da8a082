"""Pure panel maths: ship %, split, consensus, and which of two tools to ship with."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel

from panel.records.verdicts import Decision, PersonaReview


class Aggregate(BaseModel):
    """The panel's read of one tool. A failed persona is not a vote."""

    ship_pct: int | None
    ships: int
    skips: int
    split: dict[Decision, list[str]]
    consensus: Literal["unanimous", "majority", "split", "none"]
    majority: Decision | None
    failed: list[str]
    incomplete: bool
    mean_ship_confidence: float | None


# A call needs at least three quarters of each panel's reviewers (3 of 4, 4 of 5, all of 2 or 3):
# below that, one reviewer's mood decides, and the call is declined.
MIN_REVIEWERS_SHARE = (3, 4)
Side = Literal["a", "b"]


class ReviewerCount(BaseModel):
    """How many of a panel's reviewers gave a valid verdict."""

    valid: int
    of: int


class Comparison(BaseModel):
    """Which of two tools the panel would ship with, and why, in one sentence. `called` is False
    (and `winner` "none") when a panel has too few valid verdicts to call; `rerun` names each
    side's reviewers with no verdict. Comparisons saved before these fields load as called."""

    winner: Literal["a", "b", "tie", "none"]
    reason: str
    called: bool = True
    reviewers: dict[Side, ReviewerCount] = {}
    rerun: dict[Side, list[str]] = {}


def percent(part: int, whole: int) -> int:
    """Round half up, so 1 of 8 is 13%, not Python's banker's 12%."""
    return math.floor(100 * part / whole + 0.5)


def tally_reviews(reviews: Sequence[PersonaReview]) -> Aggregate:
    """Ship % = round(100 × ships / valid verdicts); failed personas listed, panel incomplete."""
    verdicts = [review.verdict for review in reviews if review.status == "ok" and review.verdict]
    failed = [review.persona for review in reviews if review.status != "ok" or not review.verdict]
    ship = [v.persona for v in verdicts if v.decision == "ship"]
    skip = [v.persona for v in verdicts if v.decision == "skip"]
    valid = len(verdicts)
    ship_confidences = [v.confidence for v in verdicts if v.decision == "ship"]
    if valid == 0:
        consensus, majority = "none", None
    elif not ship or not skip:
        consensus, majority = "unanimous", ("ship" if ship else "skip")
    elif len(ship) == len(skip):
        consensus, majority = "split", None
    else:
        consensus, majority = "majority", ("ship" if len(ship) > len(skip) else "skip")
    return Aggregate(
        ship_pct=percent(len(ship), valid) if valid else None,
        ships=len(ship),
        skips=len(skip),
        split={"ship": ship, "skip": skip},
        consensus=consensus,
        majority=majority,
        failed=failed,
        incomplete=bool(failed),
        mean_ship_confidence=(
            round(sum(ship_confidences) / len(ship_confidences), 4) if ship_confidences else None
        ),
    )


def reviewer_count(aggregate: Aggregate) -> ReviewerCount:
    valid = aggregate.ships + aggregate.skips
    return ReviewerCount(valid=valid, of=valid + len(aggregate.failed))


def reviewers_needed(panel_size: int) -> int:
    """The fewest valid verdicts a panel of this size needs for a call (3 of 4)."""
    part, whole = MIN_REVIEWERS_SHARE
    return max(1, -(-part * panel_size // whole))


def compare_aggregates(
    a: Aggregate, b: Aggregate, a_name: str, b_name: str, prices: tuple[str, str] | None = None
) -> Comparison:
    """Which tool to ship with, and a sentence that says what the call rests on. Below the minimum
    of valid reviewers on either side there is no call, and the sentence says whom to rerun; a
    call on an incomplete panel says how many reviewers it rests on."""
    counts = {"a": reviewer_count(a), "b": reviewer_count(b)}
    rerun = {"a": list(a.failed), "b": list(b.failed)}
    short = [
        (name, count, failed)
        for name, count, failed in ((a_name, counts["a"], a.failed), (b_name, counts["b"], b.failed))
        if count.valid < reviewers_needed(count.of)
    ]
    if short:
        return Comparison(
            winner="none", reason=declined_reason(short), called=False, reviewers=counts, rerun=rerun
        )
    call = call_between(a, b, a_name, b_name, prices)
    if a.incomplete or b.incomplete:
        rests_on = (
            f" The call rests on {counts['a'].valid} of {counts['a'].of} reviewers for {a_name} and "
            f"{counts['b'].valid} of {counts['b'].of} for {b_name}."
        )
        call = call.model_copy(update={"reason": call.reason + rests_on})
    return call.model_copy(update={"reviewers": counts, "rerun": rerun})


def declined_reason(short: list[tuple[str, ReviewerCount, list[str]]]) -> str:
    """No call, why, and whom to rerun: "No call: B has 1 of 4 reviewers (a call needs 3 of 4 on
    each side). Rerun dx, futures and business on B first." """
    has = " and ".join(f"{name} has {count.valid} of {count.of} reviewers" for name, count, _ in short)
    needed = " and ".join(sorted({f"{reviewers_needed(count.of)} of {count.of}" for _, count, _ in short}))
    reruns = "; ".join(f"{listed(failed) if failed else 'the panel'} on {name}" for name, _, failed in short)
    return f"No call: {has} (a call needs {needed} on each side). Rerun {reruns} first."


def listed(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + f" and {items[-1]}"


def call_between(
    a: Aggregate, b: Aggregate, a_name: str, b_name: str, prices: tuple[str, str] | None
) -> Comparison:
    """Higher ship % wins; a tie goes to the higher mean confidence of the ships; else a tie,
    whose reason names the entry prices (the cards' `pricing`) when given."""
    assert a.ship_pct is not None and b.ship_pct is not None, "compare_aggregates declines first"
    if a.ship_pct != b.ship_pct:
        winner = "a" if a.ship_pct > b.ship_pct else "b"
        high, low = (a, b) if winner == "a" else (b, a)
        name, other = (a_name, b_name) if winner == "a" else (b_name, a_name)
        return Comparison(
            winner=winner,
            reason=f"Ship with {name}: {high.ship_pct}% of the panel ships it against {low.ship_pct}% for {other}.",
        )
    a_conf, b_conf = a.mean_ship_confidence or 0.0, b.mean_ship_confidence or 0.0
    if a_conf != b_conf:
        winner = "a" if a_conf > b_conf else "b"
        name, high, low = (a_name, a_conf, b_conf) if winner == "a" else (b_name, b_conf, a_conf)
        return Comparison(
            winner=winner,
            reason=(
                f"Ship with {name}: both panels ship at {a.ship_pct}%, and its shipping reviewers are "
                f"surer ({high:.2f} against {low:.2f} mean confidence)."
            ),
        )
    return Comparison(
        winner="tie",
        reason=f"A tie: both panels ship at {a.ship_pct}% with the same confidence; {tie_breaker(a_name, b_name, prices)}",
    )


def tie_breaker(a_name: str, b_name: str, prices: tuple[str, str] | None) -> str:
    if prices is None:
        return "pick on price or fit."
    a_price, b_price = prices
    if a_price.strip().lower() == b_price.strip().lower():
        return f"both cost {a_price}, so pick on fit."
    return f"pick on price ({a_name} {a_price}, {b_name} {b_price}) or fit."


def percent_text(value: int | None) -> str:
    """A percentage as every face shows it; a dash when there is none (no verdict counted)."""
    return "—" if value is None else f"{value}%"
