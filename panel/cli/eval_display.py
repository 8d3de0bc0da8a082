"""How `panel eval` shows its report: rich tables on a terminal, or Markdown (`--format md`)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from rich.console import Console
from rich.table import Table
from rich.text import Text

from panel.measure.baseline import Change, ThresholdCheck
from panel.measure.report import PANEL_METRICS, PERSONA_METRICS, EvalReport
from panel.measure.tally import MIN_CARDS, Count

CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# Shown first, in this order; the reply_* rates and first-try validity follow.
LABELS = {
    "panel_agreement": "panel agreement",
    "panel_kappa": "panel kappa",
    "panel_discrimination": "panel discrimination",
    "agreement": "agreement",
    "kappa": "kappa",
    "discrimination": "discrimination",
    "echo_rate": "echo rate",
    "degenerate_rate": "degenerate rate",
    "grounding": "grounding",
    "distinctness": "distinctness",
    "validity": "validity",
    "first_try_validity": "valid at first try",
    "reply_echo_rate": "echo rate, all replies",
    "reply_degenerate_rate": "degenerate, all replies",
    "stability": "stability",
}


def plain(text: str) -> str:
    """Card- and model-written text without control characters (no escapes reach the terminal)."""
    return CONTROL.sub("", text)


def metric_text(metric: str, value: float | None) -> str:
    if value is None:
        return "—"
    if "kappa" in metric:
        return f"{value:+.2f}"
    if "discrimination" in metric:
        return f"{value * 100:+.0f} pts"
    return f"{value:.0%}"


FEW = "†"
FEW_NOTE = (
    f"{FEW} rests on fewer than {MIN_CARDS} cards: one card more or less moves it a lot; "
    "read it as a hint, not a measure."
)
COUNT_NOTE = (
    "(h of n): h of the n verdicts (cards for the panel rows, replies for 'all replies') "
    "count for the metric; n=: what it was computed over. A tie in distinctness counts a fraction."
)


Cell = tuple[str, str, bool]


def number(value: float) -> str:
    """A count as an integer, or with one decimal when a shared tie made it fractional."""
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"


def count_text(count: Count | None) -> str:
    if count is None or count.n == 0:
        return ""
    if count.hits is None:
        return f"(n={count.n})"
    return f"({number(count.hits)} of {count.n})"


def few(value: float | None, count: Count | None) -> bool:
    """A measured value resting on fewer than MIN_CARDS cards."""
    return value is not None and count is not None and count.cards < MIN_CARDS


def cell(metric: str, value: float | None, count: Count | None) -> Cell:
    """(value, count, few) of one metric; the count is empty in reports older than counts."""
    return metric_text(metric, value), count_text(count), few(value, count)


def cell_text(parts: Cell) -> str:
    value, count, marked = parts
    return " ".join(part for part in (value, count, FEW if marked else "") if part)


def metric_rows(report: EvalReport) -> list[tuple[str, Cell, list[Cell]]]:
    """(metric, overall, per persona) for every metric, panel-level ones first."""
    personas = list(report.personas)
    overall = report.overall_counts
    rows: list[tuple[str, Cell, list[Cell]]] = [
        (
            metric,
            cell(metric, report.overall.get(metric), overall.get(metric)),
            [("", "", False) for _ in personas],
        )
        for metric in PANEL_METRICS
    ]
    for metric in PERSONA_METRICS:
        cells = [
            cell(
                metric,
                report.personas[persona].get(metric),
                report.persona_counts.get(persona, {}).get(metric),
            )
            for persona in personas
        ]
        rows.append((metric, cell(metric, report.overall.get(metric), overall.get(metric)), cells))
    return rows


def any_few(rows: Sequence[tuple[str, Cell, list[Cell]]]) -> bool:
    return any(marked for _, overall, cells in rows for _, _, marked in (overall, *cells))


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


def thresholds_table(checks: Sequence[ThresholdCheck]) -> Table:
    table = Table(title="Thresholds", title_justify="left")
    for column in ("", "threshold", "needs", "measured"):
        table.add_column(column)
    for (mark, name, limit, value), check in zip(threshold_rows(checks), checks, strict=True):
        table.add_row(Text(mark, style="green" if check.passed else "red"), name, limit, value)
    return table


def title(report: EvalReport) -> str:
    models = ", ".join(sorted(set(report.models.values()))) or "no model"
    backend = report.backend.get("kind") or report.backend.get("name") or "?"
    return (
        f"panel eval: {report.suite} ({report.cards} cards, {report.verdicts} verdicts, {backend}: {models})"
    )


def metrics_table(
    report: EvalReport, rows: Sequence[tuple[str, Cell, list[Cell]]], stacked: bool = False
) -> Table:
    table = Table(title=plain(title(report)), title_justify="left")
    table.add_column("metric")
    table.add_column("overall", justify="right")
    for persona in report.personas:
        table.add_column(persona, justify="right")
    for metric, overall, cells in rows:
        table.add_row(
            LABELS[metric], rich_cell(overall, stacked), *(rich_cell(parts, stacked) for parts in cells)
        )
    return table


def print_eval(
    console: Console,
    report: EvalReport,
    changes: Sequence[Change] | None,
    path: str,
    checks: Sequence[ThresholdCheck] = (),
) -> None:
    rows = metric_rows(report)
    table = metrics_table(report, rows)
    if console.measure(table, options=console.options.update_width(10_000)).maximum > console.width:
        table = metrics_table(report, rows, stacked=True)
    console.print(table)
    if any_few(rows):
        console.print(Text(FEW_NOTE, style="yellow"))
    cards = Table(title="Cards", title_justify="left")
    cards.add_column("card", overflow="ellipsis", no_wrap=True, max_width=14)
    for column in ("label", "ship %", "call"):
        cards.add_column(column, no_wrap=True, min_width=4)
    for persona in report.personas:
        cards.add_column(persona, overflow="ellipsis", no_wrap=True, min_width=4)
    for row in report.rows:
        decisions = [decision_text(row.decisions.get(p), row.expected.get(p)) for p in report.personas]
        call_style = "green" if row.call == row.label else "red"
        cards.add_row(
            Text(plain(row.name)),
            row.label,
            "—" if row.ship_pct is None else f"{row.ship_pct}%",
            Text(row.call or "—", style=call_style),
            *decisions,
        )
    console.print(cards)
    if changes:
        console.print(changes_table(changes))
    if checks:
        console.print(thresholds_table(checks))
    if report.missing:
        console.print(Text(f"No transcript for: {plain(', '.join(report.missing))}", style="yellow"))
    console.print(Text(f"Report: {path}", style="dim"), soft_wrap=True)


def decision_text(decision: str | None, expected: str | None) -> Text:
    if decision is None:
        return Text("—")
    if decision == "failed":
        return Text("fail", style="yellow")
    if expected is None:
        return Text(decision)
    return Text(decision, style="green" if decision == expected else "red")


def changes_table(changes: Sequence[Change]) -> Table:
    table = Table(title="Against the baseline", title_justify="left")
    for column in ("scope", "metric", "before", "after", "change"):
        table.add_column(column)
    for change in changes:
        if not change.delta:
            continue
        style = "green" if change.better else "red"
        table.add_row(
            change.scope,
            LABELS[change.metric],
            metric_text(change.metric, change.before),
            metric_text(change.metric, change.after),
            Text(delta_text(change), style=style),
        )
    return table


def delta_text(change: Change) -> str:
    if change.delta is None:
        return "—"
    if "kappa" in change.metric:
        return f"{change.delta:+.2f}"
    return f"{change.delta * 100:+.0f} pts"


def markdown_cell(text: str) -> str:
    return plain(text).replace("|", "\\|").replace("\n", " ")


def eval_markdown(
    report: EvalReport, changes: Sequence[Change] | None = None, checks: Sequence[ThresholdCheck] = ()
) -> str:
    """The report as Markdown tables, for a pull request or a README."""
    personas = list(report.personas)
    lines = [f"**{markdown_cell(title(report))}**", ""]
    lines.append("| metric | overall | " + " | ".join(personas) + " |")
    lines.append("| --- | ---: |" + " ---: |" * len(personas))
    rows = metric_rows(report)
    for metric, overall, cells in rows:
        lines.append(
            f"| {LABELS[metric]} | {cell_text(overall)} | "
            + " | ".join(cell_text(parts) for parts in cells)
            + " |"
        )
    if report.overall_counts:
        lines += ["", COUNT_NOTE + (" " + FEW_NOTE if any_few(rows) else "")]
    lines += ["", "| card | label | ship % | call | " + " | ".join(personas) + " |"]
    lines.append("| --- | --- | ---: | --- |" + " --- |" * len(personas))
    for row in report.rows:
        decisions = [
            (
                row.decisions.get(p, "—")
                + ("" if p not in row.expected else " ✓" if row.decisions.get(p) == row.expected[p] else " ✗")
            )
            for p in personas
        ]
        ship = "—" if row.ship_pct is None else f"{row.ship_pct}%"
        lines.append(
            f"| {markdown_cell(row.name)} | {row.label} | {ship} | {row.call or '—'} | "
            + " | ".join(decisions)
            + " |"
        )
    if changes:
        lines += ["", "| scope | metric | before | after | change |", "| --- | --- | ---: | ---: | ---: |"]
        for change in changes:
            if change.delta:
                lines.append(
                    f"| {change.scope} | {LABELS[change.metric]} | {metric_text(change.metric, change.before)} | "
                    f"{metric_text(change.metric, change.after)} | {delta_text(change)} |"
                )
    if checks:
        lines += ["", "| | threshold | needs | measured |", "| --- | --- | --- | ---: |"]
        lines += [
            f"| {mark} | {name} | {limit} | {value} |" for mark, name, limit, value in threshold_rows(checks)
        ]
    return "\n".join(lines) + "\n"
