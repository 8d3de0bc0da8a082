"""`panel run`, `compare` and `rerun` show each reviewer's progress on stderr while they work:
on a terminal only, never with --quiet, and never on stdout (which stays what it was)."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from typer.testing import CliRunner

from panel.cli import app, editor_commands, panel_commands
from panel.cli.terminal import TerminalConsole
from tests.support.paths import EXAMPLES

runner = CliRunner()
PGVECTOR = str(EXAMPLES / "pgvector.toml")
QWEN = str(EXAMPLES / "qwen3-8b.toml")


@pytest.fixture
def terminal_stderr(monkeypatch: pytest.MonkeyPatch) -> StringIO:
    """The commands' stderr console as a terminal writing into a buffer."""
    written = StringIO()
    console = TerminalConsole(file=written, force_terminal=True, width=120, color_system=None)
    for module in (panel_commands, editor_commands):
        monkeypatch.setattr(module, "stderr", console)
    return written


def backend_flags(ollama, out: Path) -> list[str]:
    return ["--backend", "ollama", "--host", ollama.url, "--out", str(out)]


def test_run_draws_each_reviewer_on_a_terminal_and_stdout_is_the_panel_as_show_prints_it(
    ollama, tmp_path, terminal_stderr
):
    ollama.enqueue("this is not JSON")  # one reviewer is re-asked
    result = runner.invoke(app, ["run", PGVECTOR, *backend_flags(ollama, tmp_path)])
    assert result.exit_code == 0, result.output
    drawn = terminal_stderr.getvalue()
    for persona in ("dx", "competition", "futures", "business"):
        assert f"{persona} " in drawn
    assert "waiting for the model" in drawn and "done: ship · attempt 1 of 5" in drawn
    assert "re-asked: the reply is not valid JSON" in drawn
    # stdout holds the panel and nothing of the progress: byte for byte what `show` prints
    [transcript] = tmp_path.glob("pgvector-*.json")
    shown = runner.invoke(app, ["show", str(transcript)])
    assert result.stdout == shown.stdout
    assert "attempt" not in result.stdout and "waiting" not in result.stdout


def test_run_quiet_draws_nothing_and_prints_the_same_panel(ollama, tmp_path, terminal_stderr):
    result = runner.invoke(app, ["run", PGVECTOR, *backend_flags(ollama, tmp_path), "-q"])
    assert result.exit_code == 0, result.output
    assert terminal_stderr.getvalue() == ""
    [transcript] = tmp_path.glob("pgvector-*.json")
    assert result.stdout == runner.invoke(app, ["show", str(transcript)]).stdout


def test_off_a_terminal_there_is_no_progress_on_stderr(ollama, tmp_path):
    result = runner.invoke(app, ["run", PGVECTOR, *backend_flags(ollama, tmp_path)])
    assert result.exit_code == 0, result.output
    assert "attempt" not in result.stderr and "waiting" not in result.stderr
    assert "panel ships 100%" in result.stdout


def test_compare_names_the_tool_on_each_line(ollama, tmp_path, terminal_stderr):
    result = runner.invoke(app, ["compare", PGVECTOR, QWEN, *backend_flags(ollama, tmp_path)])
    assert result.exit_code == 0, result.output
    drawn = terminal_stderr.getvalue()
    assert "pgvector · dx" in drawn and "Qwen3 8B · business" in drawn
    assert "attempt" not in result.stdout


def test_rerun_draws_its_one_reviewer(ollama, tmp_path, terminal_stderr):
    runner.invoke(app, ["run", PGVECTOR, *backend_flags(ollama, tmp_path), "-q"])
    [transcript] = tmp_path.glob("pgvector-*.json")
    result = runner.invoke(
        app, ["rerun", str(transcript), "--persona", "dx", "--backend", "ollama", "--host", ollama.url]
    )
    assert result.exit_code == 0, result.output
    assert "done: ship · attempt 1 of 5" in terminal_stderr.getvalue()
    assert "competition" not in terminal_stderr.getvalue()
