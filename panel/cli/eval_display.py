"""How `panel eval` shows one report: rich tables on a terminal, or Markdown (`--format md`).
The cells are panel.cli.eval_cells; several variants side by side are panel.cli.eval_matrix."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.table import Table
from rich.text import Text

from panel.cli.batch_display import format_seconds
from panel.cli.eval_cells import (
    COUNT_NOTE,
    EMPTY,
    FEW_NOTE,
    LABELS,
    Cell,
    any_few,
    cell,
    cell_text,
    decision_text,
    delta_text,
    markdown_cell,
    metric_text,
    plain,
    rich_cell,
    threshold_rows,
)
from panel.measure.baseline import Change, ThresholdCheck
from panel.measure.report import PANEL_METRICS, SECTIONS, EvalReport

Row = tuple[str, Cell, list[Cell]]


def metric_rows(report: EvalReport) -> list[tuple[str, list[Row]]]:
    """Each section's (metric, overall, per persona) rows, in SECTIONS' order; panel-level
    metrics have an overall value only."""
    personas = list(report.personas)
    sections = []
    for section, metrics in SECTIONS.items():
        rows = []
        for metric in metrics:
            per_persona = [
                EMPTY
                if metric in PANEL_METRICS
                else cell(
                    metric,
                    report.personas[persona].get(metric),
                    report.persona_counts.get(persona, {}).get(metric),
                )
                for persona in personas
            ]
            overall = cell(metric, report.overall.get(metric), report.overall_counts.get(metric))
            rows.append((metric, overall, per_persona))
        sections.append((section, rows))
    return sections


def every_cell(sections: Sequence[tuple[str, list[Row]]]) -> list[Cell]:
    return [parts for _, rows in sections for _, overall, cells in rows for parts in (overall, *cells)]


def title(report: EvalReport) -> str:
    models = ", ".join(sorted(set(report.models.values()))) or "no model"
    backend = report.backend.get("kind") or report.backend.get("name") or "?"
    return (
        f"panel eval: {report.suite} ({report.cards} cards, {report.verdicts} verdicts, {backend}: {models})"
    )


def metrics_table(
    report: EvalReport, sections: Sequence[tuple[str, list[Row]]], stacked: bool = False
) -> Table:
    table = Table(title=plain(title(report)), title_justify="left")
    table.add_column("metric")
    table.add_column("overall", justify="right")
    for persona in report.personas:
        table.add_column(persona, justify="right")
    for section, rows in sections:
        table.add_row(Text(section, style="bold"), end_section=False)
        for metric, overall, cells in rows:
            table.add_row(
                "  " + LABELS[metric],
                rich_cell(overall, stacked),
                *(rich_cell(parts, stacked) for parts in cells),
            )
        table.add_section()
    return table


def thresholds_table(checks: Sequence[ThresholdCheck]) -> Table:
    table = Table(title="Thresholds", title_justify="left")
    for column in ("", "threshold", "needs", "measured"):
        table.add_column(column)
    for (mark, name, limit, value), check in zip(threshold_rows(checks), checks, strict=True):
        table.add_row(Text(mark, style="green" if check.passed else "red"), name, limit, value)
    return table


def gate_kinds_text(kinds: dict[str, int]) -> str:
    return "; ".join(f"{kind}: {count}" for kind, count in kinds.items()) or "none"


def print_eval(
    console: Console,
    report: EvalReport,
    changes: Sequence[Change] | None,
    path: str,
    checks: Sequence[ThresholdCheck] = (),
) -> None:
    sections = metric_rows(report)
    table = metrics_table(report, sections)
    if console.measure(table, options=console.options.update_width(10_000)).maximum > console.width:
        table = metrics_table(report, sections, stacked=True)
    console.print(table)
    if any_few(every_cell(sections)):
        console.print(Text(FEW_NOTE, style="yellow"))
    console.print(Text(f"Refused by the gates, by kind: {plain(gate_kinds_text(report.gate_kinds))}"))
    if report.panel_seconds is not None:
        console.print(Text(f"Panel time: {format_seconds(report.panel_seconds)} (the panels' own, added up)"))
    console.print(cards_table(report))
    if changes:
        console.print(changes_table(changes))
    if checks:
        console.print(thresholds_table(checks))
    if report.missing:
        console.print(Text(f"No transcript for: {plain(', '.join(report.missing))}", style="yellow"))
    console.print(Text(f"Report: {path}", style="dim"), soft_wrap=True)


def cards_table(report: EvalReport) -> Table:
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
    return cards


def changes_table(changes: Sequence[Change]) -> Table:
    table = Table(title="Against the baseline", title_justify="left")
    for column in ("scope", "metric", "before", "after", "change"):
        table.add_column(column)
    for change in changes:
        if not change.delta:
            continue
        style = "green" if change.better else "red" if change.better is False else ""
        table.add_row(
            change.scope,
            LABELS[change.metric],
            metric_text(change.metric, change.before),
            metric_text(change.metric, change.after),
            Text(delta_text(change), style=style),
        )
    return table


def eval_markdown(
    report: EvalReport, changes: Sequence[Change] | None = None, checks: Sequence[ThresholdCheck] = ()
) -> str:
    """The report as Markdown tables, for a pull request or a README."""
    personas = list(report.personas)
    lines = [f"**{markdown_cell(title(report))}**", ""]
    lines.append("| metric | overall | " + " | ".join(personas) + " |")
    lines.append("| --- | ---: |" + " ---: |" * len(personas))
    sections = metric_rows(report)
    for section, rows in sections:
        lines.append(f"| **{section}** | |" + " |" * len(personas))
        for metric, overall, cells in rows:
            lines.append(
                f"| {LABELS[metric]} | {cell_text(overall)} | "
                + " | ".join(cell_text(parts) for parts in cells)
                + " |"
            )
    if report.overall_counts:
        lines += ["", COUNT_NOTE + (" " + FEW_NOTE if any_few(every_cell(sections)) else "")]
    lines += ["", f"Refused by the gates, by kind: {markdown_cell(gate_kinds_text(report.gate_kinds))}."]
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
