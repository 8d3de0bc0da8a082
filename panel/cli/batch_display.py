"""How `panel batch` shows itself: a rich progress bar on a terminal, plain periodic lines
elsewhere (logs, CI), nothing when quiet; and the summary table. Only the CLI imports it."""

from __future__ import annotations

import time

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from panel.batch.run import BatchSummary, ProgressEvent
from panel.cli.progress_display import LiveBar
from panel.records.aggregate import percent_text

# Seconds between two plain progress lines when the output is not a terminal.
PLAIN_INTERVAL = 10.0
# The summary table lists this many panels; --json has them all.
LISTED_RESULTS = 100


def format_seconds(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def eta(summary: BatchSummary) -> str:
    """Remaining rows at the pace of the panels run so far (finished and bad rows cost nothing)."""
    if summary.panels_run == 0:
        return "?"
    remaining = max(0, summary.total - summary.done)
    return format_seconds(remaining * summary.wall_seconds / summary.panels_run)


def progress_line(summary: BatchSummary) -> str:
    return (
        f"batch: {summary.done}/{summary.total} rows, {summary.complete + summary.already_done + summary.recovered} "
        f"complete, {summary.incomplete} incomplete, {summary.rows_skipped} skipped, "
        f"{summary.model_calls} model calls, {summary.tokens_per_second:g} tokens/s, "
        f"elapsed {format_seconds(summary.wall_seconds)}, ETA {eta(summary)}"
    )


class BatchProgressView(LiveBar):
    """A context manager whose `update` is the batch's progress callback."""

    def __init__(self, console: Console, *, quiet: bool = False) -> None:
        self.console = console
        self.quiet = quiet
        self.live = console.is_terminal and not quiet
        self.last_line = 0.0
        self.bar = Progress(
            TextColumn("[bold]panels"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[failures]} failed · {task.fields[skipped]} skipped"),
            TextColumn("{task.fields[rate]} tok/s"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self.latest: BatchSummary | None = None  # the summary at the last event, for Ctrl-C
        self.task = self.bar.add_task("batch", total=None, failures=0, skipped=0, rate=0, start=False)

    def update(self, event: ProgressEvent, summary: BatchSummary, detail: str | None) -> None:
        self.latest = summary
        if self.quiet:
            return
        if event == "bad_row" and detail:
            self.console.print(Text(f"skipped: {detail}", style="yellow"), soft_wrap=True)
        if self.live:
            if event == "start":
                self.bar.start_task(self.task)
            self.bar.update(
                self.task,
                total=summary.total,
                completed=summary.done,
                failures=summary.incomplete,
                skipped=summary.rows_skipped,
                rate=f"{summary.tokens_per_second:g}",
            )
            return
        now = time.monotonic()
        if event in ("start", "finish") or now - self.last_line >= PLAIN_INTERVAL:
            self.last_line = now
            self.console.print(progress_line(summary), highlight=False, soft_wrap=True)


def print_batch_results(console: Console, summary: BatchSummary) -> None:
    """Which tool got which ship %, one row per tool; a long batch lists the first rows only."""
    if not summary.results:
        return
    table = Table(title="Panels", title_justify="left")
    for column in ("tool", "ship %", "complete", "failed", "transcript"):
        table.add_column(column, overflow="fold")
    for result in summary.results[:LISTED_RESULTS]:
        table.add_row(
            Text(result.tool),
            percent_text(result.ship_pct),
            Text("yes" if result.complete else "no", style="" if result.complete else "bold yellow"),
            Text(", ".join(result.failed) or "—"),
            Text(result.transcript, style="dim"),
        )
    console.print(table)
    hidden = len(summary.results) - LISTED_RESULTS
    if hidden > 0:
        console.print(Text(f"… and {hidden} more panels; --json lists them all.", style="dim"))


def print_batch_summary(console: Console, summary: BatchSummary, resume: str) -> None:
    table = Table(title="Batch summary", show_header=False)
    table.add_column("what")
    table.add_column("count", justify="right")
    rows = [
        ("panels run now", summary.panels_run),
        ("  complete", summary.complete),
        ("  incomplete", summary.incomplete),
        ("  redone: its transcript was missing or damaged", summary.redone),
        ("already done (manifest)", summary.already_done),
        ("recovered after a crash", summary.recovered),
        ("duplicate rows", summary.duplicates),
        ("left alone (changed by an editor)", summary.left_alone),
        ("rows skipped (bad input)", summary.rows_skipped),
        ("model calls", summary.model_calls),
        ("cache hits", summary.cache_hits),
        ("tokens (prompt + completion)", summary.prompt_tokens + summary.completion_tokens),
        ("wall time", format_seconds(summary.wall_seconds)),
    ]
    for name, value in rows:
        table.add_row(name, str(value))
    console.print(table)
    print_batch_results(console, summary)
    for panel in summary.incomplete_panels:
        console.print(
            Text(
                f"incomplete: {panel['source']} (no verdict from {', '.join(panel['failed'])}): {panel['transcript']}",
                style="yellow",
            )
        )
    console.print(Text(f"Manifest: {summary.manifest}   Cache: {summary.cache or 'off'}", style="dim"))
    finished = sum(result.complete for result in summary.results)
    console.print(Text(f"{finished} of {summary.total} rows have a complete panel."))
    if not summary.ok:
        console.print(
            Text(
                "Fix the skipped rows, or run the same command again (finished panels are skipped, "
                f"incomplete ones retried): {resume}"
            ),
            soft_wrap=True,
        )
