"""Terminal escapes from cards, file names and models never reach the terminal."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from panel.cli import app
from panel.store.transcripts import load_transcript
from tests.support.batches import CARD, good_row

runner = CliRunner()
HOSTILE = (
    "\x1b[2J\x1b[1A\x1b[2K\x1b]0;pwned\x07\x1b]8;;file:///etc/passwd\x1b\\click\x1b]8;;\x1b\\\x9b31m\x07"
)


def invoke(*args: str):
    return runner.invoke(app, list(args))


def test_escape_sequences_from_card_and_model_are_stripped_in_run_show_and_diff(
    ollama, tmp_path: Path, monkeypatch
):
    # The hostile model echoes the card's escape sequences, which the quality gates would
    # (rightly) refuse as a copy of the card: turn them off so that the verdicts get shown.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "panel.toml").write_text("[quality]\nenabled = false\n")
    card = tmp_path / "card.json"
    card.write_text(json.dumps({**CARD, "name": f"Evil{HOSTILE}Tool", "pricing": f"Free{HOSTILE}"}))

    def hostile_verdict(body, verdict):
        return {
            key: f"{value}{HOSTILE}" if isinstance(value, str) and key != "decision" else value
            for key, value in verdict.items()
        }

    ollama.verdict_hook = hostile_verdict
    out = tmp_path / "out"
    run = invoke("run", str(card), "--host", ollama.url, "--out", str(out), "--seed", "1")
    assert run.exit_code == 0, run.output
    first = next(out.glob("*.json"))
    assert HOSTILE in load_transcript(first).reviews[0].verdict.headline  # kept raw in the file
    again = invoke("run", str(card), "--host", ollama.url, "--out", str(tmp_path / "out2"), "--seed", "2")
    second = next((tmp_path / "out2").glob("*.json"))
    views = {
        "run": run.output,
        "show": invoke("show", str(first)).output,
        "diff": invoke("diff", str(first), str(second), "--fail-on", "none").output,
        "again": again.output,
    }
    pages = {
        "diff-md": invoke("diff", str(first), str(second), "--format", "md", "--fail-on", "none").output,
        "render-md": invoke("render", str(first), "--format", "md").output,
    }
    for command, output in {**views, **pages}.items():
        assert "\x1b" not in output and "\x07" not in output and "\x9b" not in output, command
    for command, output in views.items():
        assert "0;pwned" not in output, command  # the whole sequence went, not only its escape
    assert "EvilclickTool" in views["show"]


def test_escape_sequences_in_batch_progress_are_stripped(ollama, settings, tmp_path: Path):
    # The file name is shown with each skipped row, and a file name may hold escapes too.
    source = tmp_path / "tools\x1b]0;pwned\x07\x1b[2J.jsonl"
    source.write_text("{not json\n" + good_row(1) + "\n")
    result = invoke("batch", str(source), "--host", ollama.url, "--out", str(tmp_path / "out"))
    assert result.exit_code == 1 and "skipped:" in result.output
    assert "\x1b" not in result.output and "\x07" not in result.output and "0;pwned" not in result.output


def test_a_terminal_keeps_rich_styles_and_progress_but_not_injected_sequences():
    import io

    from rich.progress import Progress
    from rich.text import Text

    from panel.cli.terminal import TerminalConsole

    screen = io.StringIO()
    console = TerminalConsole(file=screen, force_terminal=True, width=80)
    with Progress(console=console, auto_refresh=False) as progress:
        task = progress.add_task(f"row{HOSTILE}", total=2)
        progress.advance(task)
        progress.refresh()
        console.print(Text(f"headline{HOSTILE}", style="bold red"))
    output = screen.getvalue()
    assert "\x1b[1;31mheadlineclick\x1b[0m" in output  # rich's own style, the text cleaned
    assert "\x1b[2K" in output  # rich's own line erase for the progress bar
    assert "\x1b[2J" not in output and "\x1b]" not in output and "\x07" not in output
