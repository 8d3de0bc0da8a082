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


class Comparison(BaseModel):
    """Which of two tools the panel would ship with, and why, in one sentence."""

    winner: Literal["a", "b", "tie"]
    reason: str


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


def compare_aggregates(
    a: Aggregate, b: Aggregate, a_name: str, b_name: str, prices: tuple[str, str] | None = None
) -> Comparison:
    """Higher ship % wins; a tie goes to the higher mean confidence of the ships; else a tie,
    whose reason names the entry prices (the cards' `pricing`) when given."""
    if a.ship_pct is None and b.ship_pct is None:
        return Comparison(winner="tie", reason="Neither panel produced a valid verdict, so there is no call.")
    if a.ship_pct is None or b.ship_pct is None:
        winner, name, other = ("b", b_name, a_name) if a.ship_pct is None else ("a", a_name, b_name)
        return Comparison(
            winner=winner,
            reason=f"Ship with {name}: the panel on {other} produced no valid verdict.",
        )
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
