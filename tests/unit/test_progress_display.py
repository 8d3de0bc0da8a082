"""The terminal's live progress (panel.cli.progress_display): one line per reviewer, drawn on a
terminal console, silent elsewhere and with --quiet."""

from __future__ import annotations

from io import StringIO

from panel.cli.progress_display import ReviewerProgressView
from panel.cli.terminal import CONTROL_SEQUENCE, TerminalConsole
from panel.records.progress import ProgressEvent

RE_ASKED = "quality gate: the quote copies the card"
RUN = [
    ProgressEvent("dx", "waiting", tool="pgvector"),
    ProgressEvent("competition", "waiting", tool="pgvector"),
    ProgressEvent("dx", "attempt", tool="pgvector", attempt=1, attempts=3),
    ProgressEvent("competition", "attempt", tool="pgvector", attempt=1, attempts=3),
    ProgressEvent(
        "competition", "re_ask", tool="pgvector", attempt=2, attempts=3, detail=RE_ASKED, tokens=120
    ),
    ProgressEvent("dx", "done", tool="pgvector", attempt=1, attempts=3, detail="ship", tokens=140),
]


def drawn(events: list[ProgressEvent], *, terminal: bool = True, quiet: bool = False, **view: bool) -> str:
    """What the view writes on the CLI's stderr console, 120 columns wide, with each cursor
    move as a line break (the last lines are what the terminal shows at the end)."""
    out = StringIO()
    console = TerminalConsole(file=out, force_terminal=terminal, width=120, color_system=None)
    with ReviewerProgressView(console, quiet=quiet, **view) as progress:
        for event in events:
            progress.update(event)
    return CONTROL_SEQUENCE.sub("\n", out.getvalue())


def last_lines(text: str, count: int) -> list[str]:
    return [line.rstrip() for line in text.splitlines() if line.strip()][-count:]


def test_each_reviewer_has_one_line_that_ends_at_its_latest_step():
    dx, competition = last_lines(drawn(RUN), 2)
    assert dx.startswith("✓ dx") and "done: ship · attempt 1 of 3 · 140 tokens" in dx
    assert competition.split()[1] == "competition"
    assert f"attempt 2 of 3 · 120 tokens — re-asked: {RE_ASKED}" in competition


def test_a_failed_reviewer_is_marked_and_says_why():
    failed = ProgressEvent(
        "dx", "failed", tool="pgvector", attempt=3, attempts=3, detail="the reply was empty"
    )
    [line] = last_lines(drawn([RUN[0], failed]), 1)
    assert line.startswith("✗ dx") and "failed: the reply was empty" in line


def test_a_comparison_names_the_tool_before_each_reviewer():
    events = [ProgressEvent("dx", "waiting", tool=tool) for tool in ("pgvector", "Chroma")]
    lines = last_lines(drawn(events, show_tool=True), 2)
    assert [line.split("waiting")[0].split(maxsplit=1)[1].strip() for line in lines] == [
        "pgvector · dx",
        "Chroma · dx",
    ]


def test_a_long_reason_is_cut_to_the_line():
    long = ProgressEvent("dx", "re_ask", attempt=2, attempts=3, detail="word " * 200)
    [line] = last_lines(drawn([long]), 1)
    assert len(line) <= 120 and line.rstrip().endswith("0:00:00")


def test_model_text_is_shown_as_text_never_as_markup():
    hostile = ProgressEvent(
        "dx", "failed", attempt=1, attempts=3, detail="[bold red]boom[/] \x1b]0;title\x07"
    )
    [line] = last_lines(drawn([hostile]), 1)
    assert "[bold red]boom[/]" in line and "title" not in line


def test_nothing_is_drawn_off_a_terminal_or_when_quiet():
    assert drawn(RUN, terminal=False) == ""
    assert drawn(RUN, quiet=True) == ""
