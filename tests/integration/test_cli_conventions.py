"""What users of llm, ollama and promptfoo expect of a CLI: -h, a fast --version, shell
completion, JSON errors under --json (issue 21 item 8)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from panel.cli import app
from panel.version import panel_version

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args))


@pytest.mark.parametrize("command", [[], ["run"], ["batch"], ["diff"]])
def test_dash_h_is_help(command: list[str]) -> None:
    short, long = invoke(*command, "-h"), invoke(*command, "--help")
    assert short.exit_code == 0
    assert short.stdout == long.stdout
    assert short.stdout.startswith("Usage: panel")


def test_version() -> None:
    result = invoke("--version")
    assert result.exit_code == 0
    assert result.stdout == f"reviewer-panel {panel_version()}\n"


def test_the_cli_loads_no_engine_until_a_panel_runs() -> None:
    """`panel --version` and `--help` stay fast because LangGraph, the backends and the page
    templates load only inside the commands that use them (bench/cli_startup.py times it)."""
    code = (
        "import sys; from panel.cli import app; import typer; typer.main.get_command(app); "
        "print(' '.join(sorted(sys.modules)))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout.split()
    heavy = ("langgraph", "langchain_core", "httpx", "jinja2", "panel.engine", "panel.backends")
    assert [name for name in loaded if name.startswith(heavy)] == []


def test_import_panel_loads_a_public_name_on_first_use() -> None:
    code = "import sys, panel; before = 'langgraph' in sys.modules; panel.run_panel; print(before, 'langgraph' in sys.modules)"
    shown = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert shown == "False True\n"


def test_every_public_name_of_panel_resolves() -> None:
    import panel

    assert [name for name in panel.__all__ if getattr(panel, name, None) is None] == []
    with pytest.raises(AttributeError):
        panel.no_such_name  # noqa: B018


def test_shell_completion_script() -> None:
    result = invoke("--show-completion", "bash")
    assert result.exit_code == 0
    assert "_PANEL_COMPLETE" in result.stdout


def test_a_library_error_under_json_is_json_on_stdout(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.json"
    result = invoke("show", str(missing), "--json")
    error = json.loads(result.stdout)["error"]
    assert result.exit_code == 2
    assert error["exit_code"] == 2
    assert str(missing) in error["message"]
    assert result.stderr == ""


def test_a_usage_error_under_json_is_json() -> None:
    result = invoke("diff", "a.json", "b.json", "--fail-on", "sometimes", "--json")
    error = json.loads(result.stdout)["error"]
    assert result.exit_code == 2
    assert error["type"] == "UsageError"
    assert "sometimes" in error["message"]


def test_without_json_an_error_stays_a_paragraph_on_stderr(tmp_path: Path) -> None:
    result = invoke("show", str(tmp_path / "nowhere.json"))
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith("Error: ")


def commands_of(group, path=()):
    """Every command under `group`, with the words that reach it (`cache info`)."""
    for name, command in group.commands.items():
        if hasattr(command, "commands"):
            yield from commands_of(command, (*path, name))
        else:
            yield (*path, name), command


def test_every_option_an_environment_variable_sets_shows_it_in_help() -> None:
    """The settings flags, --cache and batch's --out read PANEL_* (and OLLAMA_HOST) through the
    settings; their help says which variable, as `[env: NAME]`."""
    import typer

    from panel.cli.common import CacheOption
    from panel.cli.settings_flags import OPTIONS
    from panel.settings import ENVIRONMENT

    setting_of = {"hosts": "host", "personas": "personas_dir", "prompts": "prompts_dir", "out": "out_dir"}
    variable_of = {setting: name for name, setting in ENVIRONMENT.items()}
    declared = {
        name: typing_option(option).help for name, option in {**OPTIONS, "cache": CacheOption}.items()
    }
    missing = []
    for path, command in commands_of(typer.main.get_command(app)):
        for param in command.params:
            variable = variable_of.get(setting_of.get(param.name, param.name))
            if variable and declared.get(param.name) == param.help and f"[env: {variable}]" not in param.help:
                missing.append(f"panel {' '.join(path)} --{param.name}: {variable}")
    assert missing == []
    batch_out = next(p for p in typer.main.get_command(app).commands["batch"].params if p.name == "out")
    assert "[env: PANEL_OUT]" in batch_out.help


def typing_option(annotated):
    from typing import get_args

    return get_args(annotated)[1]
