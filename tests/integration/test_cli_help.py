"""Every command's --help, read as a stranger would: no Python types, choices listed, plain usage."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
import typer
from typer.testing import CliRunner

from panel.cli import app

runner = CliRunner()
COMMANDS = sorted(typer.main.get_command(app).commands)  # type: ignore[attr-defined]
# What Typer or Click print when a parameter has no metavar: a Python type in angle brackets
# (`<str>`, `<path>`, `<int range>`, `<list[str]>`), braces around a required argument, a
# doubled bracket around an optional one, and Click's `x>=1`.
TYPE_LABEL = re.compile(r"<[a-z][a-z ]*>|list\[|\{[A-Za-z_]+\}|\[\[|x>=|x<=")


def help_of(*command: str) -> str:
    result = runner.invoke(app, [*command, "--help"], terminal_width=100)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_every_command_is_covered() -> None:
    expected = {"run", "compare", "show", "personas", "doctor", "rerun", "edit", "stability"}
    assert expected | {"diff", "render", "batch"} <= set(COMMANDS)


@pytest.mark.parametrize("command", ["", *COMMANDS])
def test_help_shows_no_python_types(command: str) -> None:
    text = help_of(*([command] if command else []))
    assert TYPE_LABEL.findall(text) == [], text


def test_usage_lines_name_arguments_plainly() -> None:
    assert "run [OPTIONS] CARD\n" in help_of("run")
    assert "compare [OPTIONS] CARD_A CARD_B\n" in help_of("compare")
    assert "personas [OPTIONS] [ID]\n" in help_of("personas")
    assert "render [OPTIONS] TRANSCRIPT [TRANSCRIPT_B]\n" in help_of("render")
    assert "stability [OPTIONS] CARD|DIR\n" in help_of("stability")


@pytest.mark.parametrize(
    ("command", "option", "choices"),
    [
        ("run", "--backend", "<auto|ollama|openai|embedded>"),
        ("batch", "--backend", "<auto|ollama|openai|embedded>"),
        ("doctor", "--backend", "<auto|ollama|openai|embedded>"),
        ("diff", "--format", "<json|md|html>"),
        ("diff", "--fail-on", "<none|flip|any>"),
        ("render", "--format", "<html|md>"),
    ],
)
def test_help_lists_the_choices(command: str, option: str, choices: str) -> None:
    assert f"{option} {choices}" in help_of(command)


@pytest.mark.parametrize(
    ("command", "shown"),
    [
        ("run", "--persona-model ID=MODEL"),
        ("run", "--host URL"),
        ("batch", "--host URL"),
        ("batch", "--slots N"),
        ("batch", "--cache FILE"),
        ("rerun", "--persona ID"),
        ("stability", "--samples N"),
        ("render", "-o, --output FILE"),
    ],
)
def test_options_take_named_values(command: str, shown: str) -> None:
    assert shown in help_of(command)


def test_a_bad_choice_is_a_usage_error() -> None:
    result = runner.invoke(app, ["diff", "a.json", "b.json", "--fail-on", "sometimes"])
    assert result.exit_code == 2
    assert "sometimes" in result.output and "none" in result.output


def test_a_lower_bound_is_said_in_words() -> None:
    assert "at least 1" in " ".join(help_of("batch").split())


def test_python_dash_m_panel_is_the_panel_command():
    result = subprocess.run(
        [sys.executable, "-m", "panel", "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0 and result.stdout.startswith("Usage: panel [OPTIONS] COMMAND")
