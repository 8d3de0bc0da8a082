"""One figure of an eval report as `panel eval` shows it: the value, the count it rests on and
the mark for too few cards, for the terminal and for Markdown alike."""

from __future__ import annotations

import re
from collections.abc import Sequence

from rich.text import Text

from panel.measure.baseline import Change, ThresholdCheck
from panel.measure.tally import MIN_CARDS, Count

CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
LABELS = {
    "reply_echo_rate": "echo",
    "reply_degenerate_rate": "degenerate",
    "reply_contradiction_rate": "contradicts the card",
    "reply_unreadable_rate": "unreadable (not a verdict)",
    "first_try_validity": "valid at first try",
    "calls_per_valid": "calls per valid review",
    "gate_catch_rate": "refused by a gate",
    "validity": "validity",
    "complete_panels": "complete panels",
    "echo_rate": "echo, published",
    "degenerate_rate": "degenerate, published",
    "contradiction_rate": "contradicts the card, published",
    "grounding": "grounding (claims checked)",
    "distinctness": "distinctness",
    "agreement": "agreement",
    "kappa": "kappa",
    "discrimination": "discrimination",
    "stability": "stability",
    "panel_agreement": "panel agreement",
    "panel_kappa": "panel kappa",
    "panel_discrimination": "panel discrimination",
}
FEW = "†"
FEW_NOTE = (
    f"{FEW} rests on fewer than {MIN_CARDS} cards: one card more or less moves it a lot; "
    "read it as a hint, not a measure."
)
COUNT_NOTE = (
    "(h of n): h of the n items count for the metric: replies in 'what the model wrote' and "
    "'what the gates refused', verdicts or reviews below, cards for the panel rows; n=: what it "
    "was computed over; (c calls / v): model calls per valid review. A tie in distinctness "
    "counts a fraction."
)

Cell = tuple[str, str, bool]


def plain(text: str) -> str:
    """Card- and model-written text without control characters (no escapes reach the terminal)."""
    return CONTROL.sub("", text)


def markdown_cell(text: str) -> str:
    return plain(text).replace("|", "\\|").replace("\n", " ")


def metric_text(metric: str, value: float | None) -> str:
    if value is None:
        return "—"
    if "kappa" in metric:
        return f"{value:+.2f}"
    if "discrimination" in metric:
        return f"{value * 100:+.0f} pts"
    if metric == "calls_per_valid":
        return f"{value:.2f}"
    return f"{value:.0%}"


def number(value: float) -> str:
    """A count as an integer, or with one decimal when a shared tie made it fractional."""
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"


def count_text(count: Count | None) -> str:
    if count is None or (count.n == 0 and count.total is None):
        return ""
    if count.total is not None:
        return f"({count.total} calls / {count.n})"
    if count.hits is None:
        return f"(n={count.n})"
    return f"({number(count.hits)} of {count.n})"


def few(value: float | None, count: Count | None) -> bool:
    """A measured value resting on fewer than MIN_CARDS cards."""
    return value is not None and count is not None and count.cards < MIN_CARDS


def cell(metric: str, value: float | None, count: Count | None) -> Cell:
    """(value, count, few) of one metric; the count is empty in reports older than counts."""
    return metric_text(metric, value), count_text(count), few(value, count)


EMPTY: Cell = ("", "", False)


def cell_text(parts: Cell) -> str:
    value, count, marked = parts
    return " ".join(part for part in (value, count, FEW if marked else "") if part)


def rich_cell(parts: Cell, stacked: bool = False) -> Text:
    """One cell on one line, or (`stacked`, for a narrow terminal) the count under the value."""
    value, count, marked = parts
    text = Text(value)
    if marked and stacked:
        text.append(" " + FEW, style="bold yellow")
    if count:
        text.append(("\n" if stacked else " ") + count, style="dim")
    if marked and not stacked:
        text.append(" " + FEW, style="bold yellow")
    return text


def any_few(cells: Sequence[Cell]) -> bool:
    return any(marked for _, _, marked in cells)


def limit_text(check: ThresholdCheck) -> str:
    return f"{'≥' if check.under else '≤'} {metric_text(check.metric, check.limit)}"


def threshold_rows(checks: Sequence[ThresholdCheck]) -> list[tuple[str, str, str, str]]:
    """(mark, threshold, required, measured) for each threshold."""
    return [
        (
            "✓" if check.passed else "✗",
            check.name,
            limit_text(check),
            "not measured" if check.value is None else metric_text(check.metric, check.value),
        )
        for check in checks
    ]


def delta_text(change: Change) -> str:
    if change.delta is None:
        return "—"
    if "kappa" in change.metric or change.metric == "calls_per_valid":
        return f"{change.delta:+.2f}"
    return f"{change.delta * 100:+.0f} pts"


def decision_text(decision: str | None, expected: str | None) -> Text:
    if decision is None:
        return Text("—")
    if decision == "failed":
        return Text("fail", style="yellow")
    if expected is None:
        return Text(decision)
    return Text(decision, style="green" if decision == expected else "red")
