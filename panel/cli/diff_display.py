"""Terminal view of a diff with rich: run A and run B side by side. Only the CLI uses it."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.markup import escape
from rich.rule import Rule
from rich.table import Table
from rich.text import Text

from panel.cli.display import DECISION_STYLE
from panel.publish.diff import (
    Diff,
    FailedReviewer,
    FolderDiff,
    PanelSide,
    PersonaDiff,
    TranscriptDiff,
    varies_per_tool,
)
from panel.publish.diff_provenance import PROMPTS_ITEM, ProvenanceChange

CHANGED_STYLE = "yellow"


def decision_text(decision: str | None, status: str, error: str | None = None) -> Text:
    if decision is None:
        text = Text(status, style="bold yellow")
        if error:
            text.append(f": {error}", style="yellow")
        return text
    return Text(decision, style=DECISION_STYLE[decision])


def failed_text(failed: list[FailedReviewer]) -> str:
    """ "business (timeout), dx (no valid verdict …)": who gave no verdict, and why."""
    return "; ".join(f"{reviewer.persona} ({reviewer.reason})" for reviewer in failed)


def failed_lines(console: Console, sides: list[tuple[str, PanelSide]]) -> None:
    for label, side in sides:
        if side.failed:
            console.print(Text(f"No verdict in {label}: {failed_text(side.failed)}", style="yellow"))


def print_prompts_change(console: Console, provenance: Sequence[ProvenanceChange]) -> None:
    """ "Prompts: default v1 (sha256 …) → terse v1 (sha256 …)" when the runs had different prompt sets."""
    for change in provenance:
        if change.item == PROMPTS_ITEM:
            console.print(Text(f"Prompts: {change.before} → {change.after}", style="bold"))


def persona_title(persona: PersonaDiff) -> str:
    if persona.flipped:
        return f"{persona.persona} — FLIPPED"
    lost = [
        side
        for side, status in (("A", persona.status_before), ("B", persona.status_after))
        if status == "failed"
    ]
    return f"{persona.persona} — NO VERDICT IN {' AND '.join(lost)}" if lost else persona.persona


def confidence_text(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def quote_sides(persona: PersonaDiff) -> tuple[Text, Text]:
    """The quote twice: A with its removed words struck out, B with its added words marked."""
    before, after = Text(), Text()
    for segment in persona.quote:
        if segment.op != "insert":
            before.append(segment.text + " ", style="red strike" if segment.op == "delete" else "")
        if segment.op != "delete":
            after.append(segment.text + " ", style="bold green" if segment.op == "insert" else "")
    return before, after


def persona_table(persona: PersonaDiff) -> Table:
    table = Table(title=escape(persona_title(persona)), title_justify="left", show_lines=True, expand=True)
    table.add_column("", style="bold", no_wrap=True)
    table.add_column("A", ratio=1, overflow="fold")
    table.add_column("B", ratio=1, overflow="fold")
    table.add_row(
        "decision",
        decision_text(persona.decision_before, persona.status_before, persona.error_before),
        decision_text(persona.decision_after, persona.status_after, persona.error_after),
        style=CHANGED_STYLE if persona.flipped else None,
    )
    change = f" ({persona.confidence_change:+.2f})" if persona.confidence_change else ""
    table.add_row(
        "confidence",
        confidence_text(persona.confidence_before),
        confidence_text(persona.confidence_after) + change,
    )
    if persona.headline.changed:
        table.add_row("headline", Text(persona.headline.before or "—"), Text(persona.headline.after or "—"))
    if "failed" in (persona.status_before, persona.status_after):
        # one side has no verdict: its quote and fields are all "—", so only count them
        count = len(persona.fields) + 1
        table.add_row(
            Text("quote, fields", style="dim"), Text(f"{count} with no verdict to compare", style="dim"), ""
        )
        return table
    if persona.quote_changed:
        table.add_row("quote", *quote_sides(persona))
    unchanged = 0
    for field in persona.fields:
        if field.changed:
            table.add_row(Text(field.name), Text(field.before or "—"), Text(field.after or "—"))
        else:
            unchanged += 1
    if unchanged:
        table.add_row(Text("fields", style="dim"), Text(f"{unchanged} unchanged", style="dim"), "")
    return table


def print_transcript_diff(console: Console, diff: TranscriptDiff) -> None:
    console.print(Rule(Text(f"{diff.tool}: run A → run B")))
    console.print(
        Text(f"A: {diff.a_path} ({diff.a_created_at})\nB: {diff.b_path} ({diff.b_created_at})", style="dim")
    )
    flips = ", ".join(diff.flips) or "none"
    console.print(
        Text.assemble(
            ("Panel ships ", ""),
            (diff.header, "bold"),
            ("   Flipped: ", ""),
            (flips, "bold red" if diff.flips else "green"),
        )
    )
    print_prompts_change(console, diff.provenance)
    failed_lines(console, [("A", diff.panel_before), ("B", diff.panel_after)])
    for persona in diff.personas:
        if persona.changed:
            console.print(persona_table(persona))
        else:
            state = persona.decision_after or persona.status_after
            if persona.error_after:
                state += f": {FailedReviewer(persona=persona.persona, error=persona.error_after).reason}"
            console.print(
                Text(
                    f"{persona.persona}: unchanged ({state}, {confidence_text(persona.confidence_after)})",
                    style="dim",
                )
            )
    table = provenance_table(
        console,
        bool(diff.provenance),
        "same backend, models, prompts, persona files, seed, options and authors",
        ("item", "reviewers", "A", "B"),
    )
    if table is None:
        return
    for change in diff.provenance:
        table.add_row(
            Text(change.item),
            Text(", ".join(change.personas) or "all"),
            Text(change.before if change.before is not None else "—"),
            Text(change.after if change.after is not None else "—"),
        )
    console.print(table)


def print_folder_diff(console: Console, diff: FolderDiff) -> None:
    console.print(Rule(Text(f"{diff.a_dir} → {diff.b_dir}")))
    console.print(
        Text(
            f"{diff.matched} tools in both: {len(diff.changed)} changed, {len(diff.unchanged)} unchanged; "
            f"{len(diff.flips)} decisions flipped."
        )
    )
    print_prompts_change(console, diff.provenance)
    moved = [tool for tool in diff.changed if tool.headline_change]
    if moved:
        table = Table(title="Tools whose ship %, decisions or reviewers changed", title_justify="left")
        for column in ("tool", "ship % A", "ship % B", "flipped", "no verdict"):
            table.add_column(column, overflow="fold")
        for tool in moved:
            table.add_row(
                Text(tool.tool),
                tool.panel_before.text,
                tool.panel_after.text,
                Text(", ".join(tool.flips) or "—", style="bold red" if tool.flips else ""),
                Text(missing_text(tool.panel_before, tool.panel_after), style="yellow"),
            )
        console.print(table)
        for tool in moved:
            failed_lines(
                console, [(f"{tool.tool}, A", tool.panel_before), (f"{tool.tool}, B", tool.panel_after)]
            )
    reworded = [tool.tool for tool in diff.changed if not tool.headline_change]
    if reworded:
        console.print(Text(f"Changed in wording or confidence only: {', '.join(reworded)}", style="dim"))
    flips = Table(title="Flips per reviewer", title_justify="left")
    flips.add_column("reviewer")
    flips.add_column("flips", justify="right")
    for persona, count in diff.flips_per_persona.items():
        flips.add_row(Text(persona), Text(str(count), style="bold red" if count else "dim"))
    console.print(flips)
    for label, slugs in (("Only in A", diff.only_in_a), ("Only in B", diff.only_in_b)):
        console.print(Text(f"{label}: {', '.join(slugs) or 'none'}"))
    for slug, names in diff.slug_collisions.items():
        console.print(
            Text(f"Tools sharing the slug {slug}, matched by name: {', '.join(names)}", style="yellow")
        )
    print_folder_provenance(console, diff)


def missing_text(before: PanelSide, after: PanelSide) -> str:
    """ "A: dx · B: business, dx", or "—"."""
    sides = [(label, side.failed) for label, side in (("A", before), ("B", after)) if side.failed]
    return " · ".join(f"{label}: {', '.join(f.persona for f in failed)}" for label, failed in sides) or "—"


def tools_text(tools: list[str], matched: int) -> str:
    """ "all 12", or the tools themselves when they are a few."""
    if len(tools) == matched:
        return f"all {matched}"
    return ", ".join(tools) if len(tools) <= 3 else f"{len(tools)} of {matched}"


def provenance_table(console: Console, changed: bool, same: str, columns: tuple[str, ...]) -> Table | None:
    """The empty "What went in differently" table, or None after saying nothing did."""
    if not changed:
        console.print(Text(f"Provenance: {same}.", style="dim"))
        return None
    table = Table(title="What went in differently", title_justify="left", expand=True)
    for column in columns:
        table.add_column(column, overflow="fold")
    return table


def print_folder_provenance(console: Console, diff: FolderDiff) -> None:
    table = provenance_table(
        console,
        bool(diff.provenance),
        "every tool had the same backend, models, prompts, persona files, options and authors",
        ("item", "reviewers", "A", "B", "tools"),
    )
    if table is None:
        return
    for change in diff.provenance:
        per_tool = varies_per_tool(change.item)
        table.add_row(
            Text(change.item),
            Text(", ".join(change.personas) or "all"),
            Text("differs per tool" if per_tool else change.before if change.before is not None else "—"),
            Text("" if per_tool else change.after if change.after is not None else "—"),
            Text(tools_text(change.tools, diff.matched)),
        )
    console.print(table)


def print_diff(console: Console, diff: Diff) -> None:
    if isinstance(diff, TranscriptDiff):
        print_transcript_diff(console, diff)
    else:
        print_folder_diff(console, diff)
