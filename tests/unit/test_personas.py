import shutil
from pathlib import Path

import pytest

from panel.errors import PersonaError
from panel.records.personas import default_personas_dir, load_personas, verdict_model, verdict_schema

FIFTH = """
id = "security"
name = "The Auditor"
lens = "Security: what an attacker does with this tool."
voice = "A penetration tester who reads the docs for what they leave out."
moves = ["Name the attack surface.", "Say what breaks first."]
ships_when = "The attack surface is small and documented."
skips_when = "Secrets or code leave the machine without saying so."
model = "llama3.1:8b"

[fields]
attack_surface = "What an attacker can reach."
first_break = "What breaks first."
"""


def test_default_panel_has_the_four_reviewers():
    ids = [loaded.persona.id for loaded in load_personas()]
    assert ids == ["business", "competition", "dx", "futures"]


@pytest.mark.parametrize("loaded", load_personas(), ids=lambda lp: lp.persona.id)
def test_schema_is_flat_and_holds_exactly_the_persona_fields(loaded):
    schema = verdict_schema(loaded.persona)
    text = str(schema)
    assert "$ref" not in text and "$defs" not in text and "anyOf" not in text and "const" not in text
    assert set(schema["properties"]) == {
        *loaded.persona.fields,
        "quote",
        "headline",
        "decision",
        "confidence",
    }
    assert set(schema["required"]) == set(schema["properties"])
    assert schema["properties"]["decision"]["enum"] == ["ship", "skip"]
    assert schema["additionalProperties"] is False


def test_verdict_model_rejects_missing_persona_field():
    persona = load_personas()[0].persona
    model = verdict_model(persona)
    good = {name: "x" for name in persona.fields} | {
        "quote": "q",
        "headline": "h",
        "decision": "ship",
        "confidence": 0.5,
    }
    model.model_validate(good)
    missing = dict(good)
    missing.pop(next(iter(persona.fields)))
    with pytest.raises(ValueError):
        model.model_validate(missing)


def test_fifth_persona_needs_no_code(tmp_path: Path):
    folder = tmp_path / "personas"
    shutil.copytree(default_personas_dir(), folder)
    (folder / "security.toml").write_text(FIFTH)
    loaded = {lp.persona.id: lp for lp in load_personas(folder)}
    assert len(loaded) == 5
    assert set(verdict_schema(loaded["security"].persona)["properties"]) >= {"attack_surface", "first_break"}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('model = "llama3.1:8b"', 'model = "llama3.1:8b"\ncolour = "red"'), "colour: unknown field"),
        (('attack_surface = "What an attacker can reach."', 'quote = "clash"'), "reserved"),
        (("[fields]", "[options]\nnum_ctx = 4096\n\n[fields]"), "only sampling options"),
        (('id = "security"', 'id = "other"'), "must match the file name"),
    ],
)
def test_bad_persona_files(tmp_path: Path, change, message):
    (tmp_path / "security.toml").write_text(FIFTH.replace(*change))
    with pytest.raises(PersonaError, match=message):
        load_personas(tmp_path)


def test_empty_or_missing_folder(tmp_path: Path):
    with pytest.raises(PersonaError, match="no persona files"):
        load_personas(tmp_path)
    with pytest.raises(PersonaError, match="no such personas folder"):
        load_personas(tmp_path / "absent")
