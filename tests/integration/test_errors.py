"""A library error's hint names settings in library words; the CLI phrases it in flags."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from panel.cli import app
from panel.errors import PersonaError
from panel.records.personas import load_personas
from tests.support.paths import EXAMPLES

runner = CliRunner()


def test_a_library_error_names_the_setting_not_the_flag(tmp_path: Path):
    with pytest.raises(PersonaError) as raised:
        load_personas(tmp_path / "nowhere")
    assert str(raised.value) == (
        f"{tmp_path / 'nowhere'}: no such personas folder. "
        "Point personas_dir at a folder of persona .toml files."
    )


def test_the_cli_phrases_the_same_hint_in_its_flags(tmp_path: Path):
    missing = tmp_path / "nowhere"
    result = runner.invoke(app, ["run", str(EXAMPLES / "pgvector.toml"), "--personas", str(missing)])
    assert result.exit_code == 2
    assert "Point --personas at a folder of persona .toml files." in " ".join(result.stderr.split())


def test_a_model_name_with_braces_reaches_the_hint_as_it_is():
    from panel.backends.ollama_server import not_pulled

    error = not_pulled("odd{name}", "http://localhost:11434")
    assert "Run `ollama pull odd{name}` there, or choose another with --model" in error.phrased(
        {"model": "--model"}
    )
