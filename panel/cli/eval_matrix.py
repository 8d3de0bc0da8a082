"""How `panel eval --variant ...` shows its variants side by side: one column per variant, the
overall figures with their counts, the gates' refusals by kind, and each card's call."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.table import Table
from rich.text import Text

from panel.cli.batch_display import format_seconds
from panel.cli.eval_cells import (
    COUNT_NOTE,
    FEW_NOTE,
    LABELS,
    Cell,
    any_few,
    cell,
    cell_text,
    markdown_cell,
    plain,
    rich_cell,
)
from panel.measure.baseline import ThresholdCheck
from panel.measure.matrix import MatrixReport, describe_changes
from panel.measure.report import SECTIONS, EvalReport

VariantChecks = dict[str, list[ThresholdCheck]]


def overall_cells(report: EvalReport, metric: str) -> Cell:
    return cell(metric, report.overall.get(metric), report.overall_counts.get(metric))


def matrix_rows(matrix: MatrixReport) -> list[tuple[str, list[tuple[str, list[Cell]]]]]:
    """Each section's (metric, one cell per variant) rows."""
    return [
        (
            section,
            [
                (metric, [overall_cells(variant.report, metric) for variant in matrix.variants])
                for metric in metrics
            ],
        )
        for section, metrics in SECTIONS.items()
    ]


def every_cell(matrix: MatrixReport) -> list[Cell]:
    return [parts for _, rows in matrix_rows(matrix) for _, cells in rows for parts in cells]


def model_text(report: EvalReport) -> str:
    backend = report.backend.get("kind") or report.backend.get("name") or "?"
    return f"{backend}: {', '.join(sorted(set(report.models.values()))) or 'no model'}"


def facts_rows(matrix: MatrixReport) -> list[tuple[str, list[str]]]:
    """What each variant ran and how long it took, as (label, one text per variant)."""
    variants = matrix.variants
    return [
        ("changes", [describe_changes(variant.changes) for variant in variants]),
        ("model", [model_text(variant.report) for variant in variants]),
        ("prompts", [variant.report.prompts or "bundled" for variant in variants]),
        ("cards, verdicts", [f"{variant.report.cards}, {variant.report.verdicts}" for variant in variants]),
        ("wall time", [wall_time(variant.report) for variant in variants]),
        ("panel time", [panel_time(variant.report) for variant in variants]),
    ]


def wall_time(report: EvalReport) -> str:
    """This run's wall time: what a resumed eval ran, none for a rescore."""
    return "—" if report.wall_seconds is None else format_seconds(report.wall_seconds)


def panel_time(report: EvalReport) -> str:
    return "—" if report.panel_seconds is None else format_seconds(report.panel_seconds)


def gate_kind_rows(matrix: MatrixReport) -> list[tuple[str, list[int]]]:
    kinds = dict.fromkeys(kind for variant in matrix.variants for kind in variant.report.gate_kinds)
    return [(kind, [variant.report.gate_kinds.get(kind, 0) for variant in matrix.variants]) for kind in kinds]


def call_text(report: EvalReport, card: str) -> str:
    row = next((row for row in report.rows if row.name == card), None)
    if row is None:
        return "—"
    failed = sum(decision == "failed" for decision in row.decisions.values())
    if row.ship_pct is None:
        return f"no verdict, 0 of {len(row.decisions)}"
    incomplete = f", {len(row.decisions) - failed} of {len(row.decisions)}" if failed else ""
    return f"{row.ship_pct}% {row.call or '—'}{incomplete}"


def card_rows(matrix: MatrixReport) -> list[tuple[str, str, list[str]]]:
    """(card, label, each variant's ship %, call and reviewers when incomplete)."""
    labels = {row.name: row.label for variant in matrix.variants for row in variant.report.rows}
    return [
        (card, label, [call_text(v.report, card) for v in matrix.variants]) for card, label in labels.items()
    ]


def check_text(checks: list[ThresholdCheck], name: str) -> str:
    check = next((check for check in checks if check.name == name), None)
    if check is None:
        return ""
    value = "not measured" if check.value is None else f"{check.value:.3g}"
    return f"{'✓' if check.passed else '✗'} {value}"


def print_matrix(console: Console, matrix: MatrixReport, path: str, checks: VariantChecks) -> None:
    names = [variant.name for variant in matrix.variants]
    table = Table(
        title=plain(f"panel eval: {matrix.suite}, {len(names)} variants side by side"), title_justify="left"
    )
    table.add_column("metric")
    for name in names:
        table.add_column(plain(name), justify="right")
    for label, texts in facts_rows(matrix):
        table.add_row(label, *(Text(plain(text)) for text in texts))
    table.add_section()
    for section, rows in matrix_rows(matrix):
        table.add_row(Text(section, style="bold"))
        for metric, cells in rows:
            table.add_row("  " + LABELS[metric], *(rich_cell(parts) for parts in cells))
        table.add_section()
    console.print(table)
    if any_few(every_cell(matrix)):
        console.print(Text(FEW_NOTE, style="yellow"))
    kinds = gate_kind_rows(matrix)
    if kinds:
        side_by_side(console, "Replies refused by the gates, by kind", names, kinds)
    else:
        console.print("No reply was refused by a gate.")
    cards = Table(title="Cards: ship %, call (reviewers when incomplete)", title_justify="left")
    for column in ("card", "label", *names):
        cards.add_column(plain(column), no_wrap=True)
    for card, label, texts in card_rows(matrix):
        cards.add_row(Text(plain(card)), label, *texts)
    console.print(cards)
    threshold_names = list(dict.fromkeys(check.name for found in checks.values() for check in found))
    if threshold_names:
        side_by_side(
            console,
            "Thresholds",
            names,
            [(name, [check_text(checks[n], name) for n in names]) for name in threshold_names],
        )
    console.print(Text(f"Matrix report: {path}", style="dim"), soft_wrap=True)


def side_by_side(
    console: Console, title: str, names: list[str], rows: Sequence[tuple[str, Sequence[object]]]
) -> None:
    table = Table(title=title, title_justify="left")
    table.add_column("")
    for name in names:
        table.add_column(plain(name), justify="right")
    for label, values in rows:
        table.add_row(Text(plain(label)), *(str(value) for value in values))
    console.print(table)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(markdown_cell(text) for text in header) + " |"]
    lines.append("| --- |" + " ---: |" * (len(header) - 1))
    lines += ["| " + " | ".join(markdown_cell(text) for text in row) + " |" for row in rows]
    return lines


def matrix_markdown(matrix: MatrixReport, checks: VariantChecks) -> str:
    """The variants side by side as Markdown tables."""
    names = [variant.name for variant in matrix.variants]
    rows: list[list[str]] = [[label, *texts] for label, texts in facts_rows(matrix)]
    for section, metric_rows in matrix_rows(matrix):
        rows.append([f"**{section}**", *("" for _ in names)])
        rows += [[LABELS[metric], *(cell_text(parts) for parts in cells)] for metric, cells in metric_rows]
    lines = [f"**panel eval: {markdown_cell(matrix.suite)}, {len(names)} variants side by side**", ""]
    lines += markdown_table(["metric", *names], rows)
    lines += ["", COUNT_NOTE + (" " + FEW_NOTE if any_few(every_cell(matrix)) else "")]
    kinds = gate_kind_rows(matrix)
    if kinds:
        lines += [
            "",
            *markdown_table(
                ["refused by the gates (replies)", *names], [[k, *map(str, v)] for k, v in kinds]
            ),
        ]
    lines += [
        "",
        *markdown_table(["card", "label", *names], [[c, label, *t] for c, label, t in card_rows(matrix)]),
    ]
    threshold_names = list(dict.fromkeys(check.name for found in checks.values() for check in found))
    if threshold_names:
        lines += [
            "",
            *markdown_table(
                ["threshold", *names],
                [[name, *(check_text(checks[n], name) for n in names)] for name in threshold_names],
            ),
        ]
    return "\n".join(lines) + "\n"
