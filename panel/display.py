"""Terminal output with rich: panel tables, quotes, personas, error messages. Only the CLI uses it."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console, Group
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from panel.personas import LoadedPersona
from panel.transcripts import ComparisonTranscript, PanelTranscript

DECISION_STYLE = {"ship": "bold green", "skip": "bold red"}


def ship_pct_text(ship_pct: int | None) -> str:
    return "—" if ship_pct is None else f"{ship_pct}%"


def verdict_table(transcript: PanelTranscript) -> Table:
    table = Table(
        title=f"{escape(transcript.card.name)} — panel ships {ship_pct_text(transcript.aggregate.ship_pct)}"
    )
    for column in ("persona", "decision", "confidence", "headline"):
        table.add_column(column, overflow="fold")
    for review in transcript.reviews:
        if review.verdict:
            verdict = review.verdict
            table.add_row(
                review.persona,
                Text(verdict.decision, style=DECISION_STYLE[verdict.decision]),
                f"{verdict.confidence:.2f}",
                Text(verdict.headline),
            )
        else:
            table.add_row(review.persona, Text("failed", style="bold yellow"), "—", Text(review.error or ""))
    return table


def print_panel(console: Console, transcript: PanelTranscript, path: Path | None) -> None:
    aggregate = transcript.aggregate
    console.print(verdict_table(transcript))
    split = f"ship: {', '.join(aggregate.split['ship']) or '—'}   skip: {', '.join(aggregate.split['skip']) or '—'}"
    console.print(
        Text(f"Pricing: {transcript.card.pricing}   Split: {split}   Consensus: {aggregate.consensus}")
    )
    if aggregate.failed:
        console.print(
            Text(
                f"Incomplete panel: no verdict from {', '.join(aggregate.failed)} (raw output kept in the transcript).",
                style="yellow",
            )
        )
    for review in transcript.reviews:
        if review.verdict:
            console.print(
                Panel(
                    Text(review.verdict.quote),
                    title=escape(f"{review.persona} · {review.verdict.decision}"),
                    title_align="left",
                    border_style=DECISION_STYLE[review.verdict.decision].split()[-1],
                )
            )
    if path:
        console.print(Text(f"Transcript: {path}", style="dim"))


def print_comparison(console: Console, transcript: ComparisonTranscript, path: Path | None) -> None:
    table = Table(title="Which one to ship with")
    for column in ("tool", "ship %", "split", "failed"):
        table.add_column(column)
    for name, aggregate in (
        (transcript.a_tool, transcript.a_aggregate),
        (transcript.b_tool, transcript.b_aggregate),
    ):
        table.add_row(
            Text(name),
            ship_pct_text(aggregate.ship_pct),
            f"{aggregate.ships} ship / {aggregate.skips} skip",
            ", ".join(aggregate.failed) or "—",
        )
    console.print(table)
    console.print(Text(transcript.comparison.reason, style="bold"))
    if path:
        console.print(Text(f"Comparison: {path}", style="dim"))


def print_personas(console: Console, personas: list[LoadedPersona]) -> None:
    table = Table(title="Reviewers")
    for column in ("id", "name", "lens", "model"):
        table.add_column(column, overflow="fold")
    for loaded in personas:
        persona = loaded.persona
        table.add_row(persona.id, persona.name, persona.lens, persona.model)
    console.print(table)


def print_persona(console: Console, loaded: LoadedPersona) -> None:
    persona = loaded.persona
    moves = Text("\n".join(f"{number}. {move}" for number, move in enumerate(persona.moves, 1)))
    fields = Table.grid(padding=(0, 2))
    for name, description in persona.fields.items():
        fields.add_row(Text(name, style="bold"), Text(description))
    body = Group(
        Text(persona.lens, style="italic"),
        Text(f"\nVoice: {persona.voice}\n"),
        Text("Moves:", style="bold"),
        moves,
        Text("\nFields:", style="bold"),
        fields,
        Text(f"\nShips when: {persona.ships_when}\nSkips when: {persona.skips_when}"),
        Text(
            f"\nModel: {persona.model}   Options: {persona.options}   File: {loaded.path}",
            style="dim",
        ),
    )
    console.print(Panel(body, title=escape(f"{persona.id} — {persona.name}"), title_align="left"))


def print_error(console: Console, message: str) -> None:
    """One paragraph, not wrapped by rich, so it stays greppable and copy-pasteable."""
    console.print(Text.assemble(("Error: ", "bold red"), message), soft_wrap=True)
