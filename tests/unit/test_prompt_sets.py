"""Prompt sets: which folder a run takes its templates from, what it is called, what it hashes
to, and the clear refusal of a folder that is not a whole prompt set."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from panel.engine.prompt_sets import load_prompt_set
from panel.engine.prompts import TEMPLATE_NAMES, default_prompts_dir
from panel.errors import ConfigError
from panel.records.transcript import UNNAMED_PROMPT_SET, prompt_set_hash
from panel.settings import resolve_settings
from tests.support.paths import TERSE_PROMPTS


def own_copy(tmp_path: Path, name: str = "mine") -> Path:
    """A copy of the bundled set's templates (no prompts.toml) to edit."""
    folder = tmp_path / name
    folder.mkdir()
    for template in TEMPLATE_NAMES:
        shutil.copy(default_prompts_dir() / template, folder / template)
    return folder


def test_prompts_flag_beats_environment_beats_file(tmp_path: Path):
    config = tmp_path / "panel.toml"
    config.write_text('prompts = "from-file"\n')
    assert resolve_settings({}, {}, config).prompts_dir == Path("from-file")
    environment = {"PANEL_PROMPTS": "from-env"}
    assert resolve_settings({}, environment, config).prompts_dir == Path("from-env")
    chosen = resolve_settings({"prompts_dir": Path("from-flag")}, environment, config)
    assert chosen.prompts_dir == Path("from-flag")
    config.write_text('prompts_dir = "long-name"\n')
    assert resolve_settings({}, {}, config).prompts_dir == Path("long-name")
    assert resolve_settings({}, {}, tmp_path / "absent.toml").prompts_dir is None


def test_bundled_and_example_sets_are_named_and_hashed_apart():
    bundled, terse = load_prompt_set(), load_prompt_set(TERSE_PROMPTS)
    assert (bundled.name, terse.name) == ("default v1", "terse v1")
    assert set(bundled.templates) == set(terse.templates) == set(TEMPLATE_NAMES)
    assert bundled.sha256 != terse.sha256
    assert terse.record().path == str(TERSE_PROMPTS)
    assert terse.record().label == f"terse v1 (sha256 {terse.sha256[:12]})"


def test_a_set_without_prompts_toml_is_named_after_its_folder(tmp_path: Path):
    folder = own_copy(tmp_path, "shorter-briefs")
    chosen = load_prompt_set(folder)
    assert chosen.name == "shorter-briefs"
    assert chosen.sha256 == load_prompt_set().sha256  # same templates, same hash, whatever the name
    edited = own_copy(tmp_path, "edited")
    (edited / "review.j2").write_text("Review {{ persona.name }}.")
    changed = load_prompt_set(edited)
    assert changed.sha256 != chosen.sha256
    assert changed.templates["review.j2"] != chosen.templates["review.j2"]
    assert changed.templates["system.j2"] == chosen.templates["system.j2"]


def test_older_transcripts_get_the_hash_of_their_templates():
    """A transcript written before prompt sets had names recorded only the template hashes:
    the same templates give the same set hash, so a diff against a new run sees no change."""
    bundled = load_prompt_set()
    assert prompt_set_hash(dict(bundled.templates)) == bundled.sha256
    assert UNNAMED_PROMPT_SET == "unnamed"


def test_a_partial_folder_is_refused_naming_what_is_missing(tmp_path: Path):
    folder = own_copy(tmp_path)
    (folder / "redo.j2").unlink()
    (folder / "examples.j2").unlink()
    with pytest.raises(ConfigError) as raised:
        load_prompt_set(folder)
    message = str(raised.value)
    assert str(folder) in message
    assert "lacks redo.j2, examples.j2" in message
    assert str(default_prompts_dir()) in message  # where to copy them from


def test_a_missing_folder_is_refused(tmp_path: Path):
    with pytest.raises(ConfigError, match="no such prompts folder"):
        load_prompt_set(tmp_path / "nowhere")


def test_a_template_that_does_not_parse_is_named(tmp_path: Path):
    folder = own_copy(tmp_path)
    (folder / "review.j2").write_text("You are {{ persona.name ")
    with pytest.raises(ConfigError, match=r"review\.j2: not a valid Jinja2 template") as raised:
        load_prompt_set(folder)
    assert "line 1" in str(raised.value)


@pytest.mark.parametrize("line", ['name = ""', "name = 3", 'name = "two\\nlines"', f'name = "{"x" * 61}"'])
def test_a_bad_name_in_prompts_toml_is_refused(tmp_path: Path, line: str):
    folder = own_copy(tmp_path)
    (folder / "prompts.toml").write_text(line + "\n")
    with pytest.raises(ConfigError, match="`name` must be one line of text"):
        load_prompt_set(folder)


def test_unreadable_prompts_toml_is_refused(tmp_path: Path):
    folder = own_copy(tmp_path)
    (folder / "prompts.toml").write_text("name = [unclosed\n")
    with pytest.raises(ConfigError, match="cannot read this prompt set file"):
        load_prompt_set(folder)
