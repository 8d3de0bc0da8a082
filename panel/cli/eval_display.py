"""How `panel eval` shows its report: rich tables on a terminal, or Markdown (`--format md`)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from rich.console import Console
from rich.table import Table
from rich.text import Text

from panel.measure.baseline import Change
from panel.measure.report import PANEL_METRICS, PERSONA_METRICS, EvalReport

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


def metric_rows(report: EvalReport) -> list[tuple[str, str, list[str]]]:
    """(metric, overall, per persona) for every metric, panel-level ones first."""
    personas = list(report.personas)
    rows = [
        (metric, metric_text(metric, report.overall.get(metric)), ["" for _ in personas])
        for metric in PANEL_METRICS
    ]
    for metric in PERSONA_METRICS:
        cells = [metric_text(metric, report.personas[persona].get(metric)) for persona in personas]
        rows.append((metric, metric_text(metric, report.overall.get(metric)), cells))
    return rows


def title(report: EvalReport) -> str:
    models = ", ".join(sorted(set(report.models.values()))) or "no model"
    backend = report.backend.get("kind") or report.backend.get("name") or "?"
    return (
        f"panel eval: {report.suite} ({report.cards} cards, {report.verdicts} verdicts, {backend}: {models})"
    )


def print_eval(console: Console, report: EvalReport, changes: Sequence[Change] | None, path: str) -> None:
    table = Table(title=plain(title(report)), title_justify="left")
    table.add_column("metric")
    table.add_column("overall", justify="right")
    for persona in report.personas:
        table.add_column(persona, justify="right")
    for metric, overall, cells in metric_rows(report):
        table.add_row(LABELS[metric], overall, *cells)
    console.print(table)
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


def eval_markdown(report: EvalReport, changes: Sequence[Change] | None = None) -> str:
    """The report as Markdown tables, for a pull request or a README."""
    personas = list(report.personas)
    lines = [f"**{markdown_cell(title(report))}**", ""]
    lines.append("| metric | overall | " + " | ".join(personas) + " |")
    lines.append("| --- | ---: |" + " ---: |" * len(personas))
    for metric, overall, cells in metric_rows(report):
        lines.append(f"| {LABELS[metric]} | {overall} | " + " | ".join(cells) + " |")
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
    return "\n".join(lines) + "\n"
