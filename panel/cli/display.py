"""Terminal output with rich: panel tables, quotes, personas, error messages. Only the CLI uses it."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console, Group
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from panel.publish.page_facts import panel_size
from panel.records.aggregate import percent_text
from panel.records.personas import LoadedPersona, Persona
from panel.records.transcript import ComparisonTranscript, PanelTranscript
from panel.records.verdicts import PersonaReview

if TYPE_CHECKING:
    from panel.measure.stability import StabilityReport

DECISION_STYLE = {"ship": "bold green", "skip": "bold red"}


def persona_label(review: PersonaReview) -> str:
    """The persona id, marked when a person wrote the verdict or locked it."""
    marks = [review.written_by.removeprefix("person:")] if review.written_by else []
    if review.locked:
        marks.append("locked")
    return f"{review.persona} ({', '.join(marks)})" if marks else review.persona


def verdict_table(transcript: PanelTranscript) -> Table:
    counted, total = panel_size(transcript.aggregate)
    size = f" ({counted} of {total} reviewers)" if counted < total else ""  # never overstate the panel
    return reviews_table(
        f"{escape(transcript.card.name)} — panel ships {percent_text(transcript.aggregate.ship_pct)}{size}",
        transcript.reviews,
    )


def reviews_table(title: str, reviews: list[PersonaReview]) -> Table:
    table = Table(title=title)
    for column in ("persona", "decision", "confidence", "headline"):
        table.add_column(column, overflow="fold")
    for review in reviews:
        if review.verdict:
            verdict = review.verdict
            table.add_row(
                persona_label(review),
                Text(verdict.decision, style=DECISION_STYLE[verdict.decision]),
                f"{verdict.confidence:.2f}",
                Text(verdict.headline),
            )
        else:
            table.add_row(
                persona_label(review), Text("failed", style="bold yellow"), "—", Text(review.error or "")
            )
    return table


def verdict_card(review: PersonaReview) -> Panel:
    """One review in full: decision, confidence, headline, quote and every field (or the error)."""
    title = escape(persona_label(review))
    if review.verdict is None:
        body = Text(f"failed: {review.error or 'no valid verdict'}", style="yellow")
        return Panel(body, title=title, title_align="left", border_style="yellow")
    verdict = review.verdict
    fields = Table.grid(padding=(0, 2))
    for name, value in verdict.fields.items():
        fields.add_row(Text(name, style="bold"), Text(value))
    body = Group(
        Text.assemble(
            (verdict.decision, DECISION_STYLE[verdict.decision]),
            f"  confidence {verdict.confidence:.2f}  ",
            (verdict.headline, "bold"),
        ),
        Text(f"\n{verdict.quote}\n"),
        fields,
    )
    return Panel(
        body, title=title, title_align="left", border_style=DECISION_STYLE[verdict.decision].split()[-1]
    )


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
    if transcript.revisions:
        latest = transcript.revisions[-1]
        about = f" on {latest.persona}" if latest.persona else ""
        console.print(
            Text(
                f"Revision {latest.number} of {len(transcript.revisions)} (history kept in the transcript): "
                f"{latest.action}{about} by {latest.by}, {latest.created_at:%Y-%m-%d %H:%M} UTC"
                + (f" — {latest.note}" if latest.note else ""),
                style="dim",
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
    console.print(Text(f"Prompts: {transcript.prompts.label}", style="dim"))
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
            percent_text(aggregate.ship_pct),
            f"{aggregate.ships} ship / {aggregate.skips} skip",
            ", ".join(aggregate.failed) or "—",
        )
    console.print(table)
    console.print(Text(transcript.comparison.reason, style="bold"))
    commands = rerun_commands(transcript)
    if commands:
        console.print(Text("To fill the panels, rerun the reviewers with no verdict:"))
        for command in commands:
            console.print(Text(f"  {command}"), soft_wrap=True)
    if path:
        console.print(Text(f"Comparison: {path}", style="dim"))


def rerun_commands(transcript: ComparisonTranscript) -> list[str]:
    """The exact `panel rerun` command for each reviewer the comparison is missing."""
    sides = {"a": transcript.a_transcript, "b": transcript.b_transcript}
    return [
        f"panel rerun {shlex.quote(sides[side])} --persona {shlex.quote(persona)}"
        for side, personas in transcript.comparison.rerun.items()
        for persona in personas
    ]


def model_text(persona: Persona, model: str | None) -> str:
    """The model a run would use, and the persona file's own when settings chose another."""
    if model is None or model == persona.model:
        return persona.model
    return f"{model} (persona file: {persona.model})"


def print_personas(
    console: Console, personas: list[LoadedPersona], models: dict[str, str] | None = None
) -> None:
    """`models`: the model each persona would run on after flags, environment and panel.toml."""
    table = Table(title="Reviewers")
    for column in ("id", "name", "lens", "model"):
        table.add_column(column, overflow="fold")
    for loaded in personas:
        persona = loaded.persona
        table.add_row(
            persona.id, persona.name, persona.lens, model_text(persona, (models or {}).get(persona.id))
        )
    console.print(table)


def print_persona(console: Console, loaded: LoadedPersona, model: str | None = None) -> None:
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
            f"\nModel: {model_text(persona, model)}   Options: {persona.options}   File: {loaded.path}",
            style="dim",
        ),
    )
    console.print(Panel(body, title=escape(f"{persona.id} — {persona.name}"), title_align="left"))


def print_error(console: Console, message: str) -> None:
    """One paragraph, not wrapped by rich, so it stays greppable and copy-pasteable."""
    console.print(Text.assemble(("Error: ", "bold red"), message), soft_wrap=True)


def print_stability(
    console: Console, report: StabilityReport, path: Path | None, top_fields: int = 5
) -> None:
    """Per-persona ship and flip rates, the panel ship % with its interval, the most varying fields."""
    table = Table(title=f"{escape(report.tool)} — stability over {len(report.samples)} samples")
    for column in ("persona", "valid", "ship rate", "flip rate", "majority", "confidence"):
        table.add_column(column)
    for persona in report.personas:
        confidence = "—" if persona.mean_confidence is None else f"{persona.mean_confidence:.2f}"
        if persona.sd_confidence is not None:
            confidence += f" ± {persona.sd_confidence:.2f}"
        table.add_row(
            persona.persona,
            f"{persona.valid}/{persona.samples}",
            rate_text(persona.ship_rate),
            rate_text(persona.flip_rate),
            persona.majority or "—",
            confidence,
        )
    console.print(table)
    panel = report.panel
    values = ", ".join(percent_text(sample.ship_pct) for sample in report.samples)
    if panel.mean is None:
        console.print(Text(f"Panel ship %: no sample had a valid verdict ({values})."))
    elif panel.low is None:
        console.print(Text(f"Panel ship %: {panel.mean:.0f}% from one valid sample ({values})."))
    else:
        console.print(
            Text(
                f"Panel ship %: mean {panel.mean:.1f}%, {panel.level:.0%} interval {panel.low:.1f}–{panel.high:.1f}% "
                f"(n={panel.n}; {panel.method}). Samples: {values}."
            )
        )
    if report.varying_fields:
        fields = Table(title="Fields whose wording varies most (1 − mean pairwise difflib ratio)")
        for column in ("persona", "field", "variability", "samples"):
            fields.add_column(column)
        for item in report.varying_fields[:top_fields]:
            fields.add_row(item.persona, item.field, f"{item.variability:.2f}", str(item.samples))
        console.print(fields)
    if report.incomplete_samples:
        console.print(Text(f"{report.incomplete_samples} sample(s) had a failed persona.", style="yellow"))
    if report.model_calls is not None:
        console.print(
            Text(
                f"Model calls: {report.model_calls}; answered from the cache: {report.cache_hits}.",
                style="dim",
            )
        )
    if path:
        console.print(Text(f"Report: {path}", style="dim"))


def rate_text(rate: float | None) -> str:
    return "—" if rate is None else f"{rate:.0%}"
