"""How `panel run`, `compare` and `rerun` show a run as it happens: one line per reviewer on
stderr, updated in place from the engine's progress events (panel.records.progress). Nothing is
drawn when stderr is not a terminal or with --quiet; stdout is never touched."""

from __future__ import annotations

from types import TracebackType
from typing import Self

from rich.console import Console
from rich.progress import Progress, ProgressColumn, SpinnerColumn, Task, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Column
from rich.text import Text

from panel.records.progress import ProgressEvent, progress_text

# The style of a reviewer's line by the kind of its latest event.
KIND_STYLES = {"re_ask": "yellow", "retrying": "yellow", "done": "green", "failed": "red", "waiting": "dim"}
FINISHED_MARKS = {"done": Text("✓", style="green"), "failed": Text("✗", style="red")}


class MarkColumn(SpinnerColumn):
    """A spinner while the reviewer works, then ✓ for a verdict or ✗ for a failure."""

    def render(self, task: Task) -> Text:
        if task.finished:
            return FINISHED_MARKS[task.fields["kind"]]
        return super().render(task)  # type: ignore[return-value]


class StateColumn(ProgressColumn):
    """The reviewer's latest step in words, cut to the line (model text is never markup)."""

    def __init__(self) -> None:
        super().__init__(table_column=Column(no_wrap=True, overflow="ellipsis", ratio=1))

    def render(self, task: Task) -> Text:
        return Text(task.fields["state"], style=KIND_STYLES.get(task.fields["kind"], ""))


class LiveBar:
    """A rich Progress drawn only while `live`: entering the view starts it, leaving stops it."""

    bar: Progress
    live: bool

    def __enter__(self) -> Self:
        if self.live:
            self.bar.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self.live:
            self.bar.stop()


class ReviewerProgressView(LiveBar):
    """A context manager whose `update` is the engine's `on_progress` callback. `show_tool`
    puts the tool's name before each persona (a comparison reviews two tools)."""

    def __init__(self, console: Console, *, quiet: bool = False, show_tool: bool = False) -> None:
        self.live = console.is_terminal and not quiet
        self.show_tool = show_tool
        self.rows: dict[tuple[str, str], TaskID] = {}
        self.bar = Progress(
            MarkColumn(),
            TextColumn("{task.description}", markup=False, style="bold"),
            StateColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=False,
            expand=True,
        )

    def update(self, event: ProgressEvent) -> None:
        if not self.live:
            return
        row = self.row_for(event)
        self.bar.update(row, state=progress_text(event), kind=event.kind)
        if event.finished:
            self.bar.update(row, total=1, completed=1)
        self.bar.refresh()  # every step is drawn, even one that lasts less than a refresh tick

    def row_for(self, event: ProgressEvent) -> TaskID:
        """The reviewer's line, added when it is first heard of (the runner reports every
        reviewer waiting before any starts, so the lines keep the personas' order)."""
        key = (event.tool, event.persona)
        if key not in self.rows:
            label = f"{event.tool} · {event.persona}" if self.show_tool else event.persona
            self.rows[key] = self.bar.add_task(label, total=None, state="", kind=event.kind)
        return self.rows[key]
