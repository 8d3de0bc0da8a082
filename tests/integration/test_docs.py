"""The docs: a short README, and a CLI reference page generated from the Typer app at build time."""

from __future__ import annotations

import html
import importlib.util
import subprocess
import sys
from types import ModuleType
from typing import Any

import pytest
import typer

from panel.cli import app
from tests.support.paths import ROOT

HOOK = ROOT / "docs" / "hooks" / "cli_reference.py"


def load_hook() -> ModuleType:
    spec = importlib.util.spec_from_file_location("cli_reference_hook", HOOK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def commands_and_options() -> list[tuple[str, list[str]]]:
    """Every command path of the app (`panel`, `panel run`, …) with its option flags."""
    found: list[tuple[str, list[str]]] = []

    def walk(command: Any, context: Any, path: list[str]) -> None:
        flags = [
            max(param.opts, key=len)
            for param in command.get_params(context)
            if param.param_type_name == "option" and not getattr(param, "hidden", False)
        ]
        found.append((" ".join(path), flags))
        if hasattr(command, "list_commands"):
            for name in command.list_commands(context):
                sub = command.get_command(context, name)
                walk(sub, sub.context_class(sub, info_name=name, parent=context), [*path, name])

    group = typer.main.get_command(app)
    walk(group, group.context_class(group, info_name="panel"), ["panel"])
    return found


def test_readme_is_short_and_keeps_the_ci_test_command():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 200
    assert "python -m pytest -q" in readme
    assert "mkdocs build --strict" in readme


def test_the_cli_reference_has_no_hand_written_source():
    assert not (ROOT / "docs" / "cli.md").exists()


def test_the_cli_reference_names_every_command_and_option_of_the_app():
    page = load_hook().cli_reference_markdown()
    found = commands_and_options()
    assert len(found) > 10
    for path, flags in found:
        assert f"`{path}`" in page, path
        for flag in flags:
            assert flag in page, (path, flag)


def test_the_built_site_has_the_generated_cli_reference(tmp_path):
    pytest.importorskip("material", reason="the docs site needs mkdocs-material (the dev extra)")
    site = tmp_path / "site"
    build = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, build.stderr
    page = html.unescape((site / "cli" / "index.html").read_text(encoding="utf-8"))
    for path, flags in commands_and_options():
        assert f'id="{path.replace(" ", "-")}"' in page, path
        for flag in flags:
            assert flag in page, (path, flag)
