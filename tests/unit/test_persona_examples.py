from pathlib import Path

import pytest

from panel.engine.prompts import render_messages
from panel.errors import PersonaError
from panel.records.cards import load_card
from panel.records.personas import load_persona_file, load_personas
from tests.support.paths import EXAMPLES, ROOT

EXAMPLE = """
[[examples]]
card = { name = "Cronhook", tagline = "Hosted cron jobs", pricing = "$12/mo" }

[examples.verdict]
primitive = "A scheduler in front of an HTTP client"
dx_bet = "They own retries and the clock"
moment_of_truth = "Pasting a URL works; there is no Terraform provider"
weekend_test = "Yes: a GitHub Actions schedule does it"
deciding_decision = "Signed retries, not enough"
quote = "A scheduler glued to an HTTP client. GitHub Actions already owns a free cron."
headline = "GitHub Actions does it free"
decision = "skip"
confidence = 0.7
"""


def persona_folder(tmp_path: Path, extra: str) -> Path:
    folder = tmp_path / "personas"
    folder.mkdir()
    for path in (ROOT / "personas").glob("*.toml"):
        text = path.read_text()
        (folder / path.name).write_text(text + extra if path.stem == "dx" else text)
    return folder


def test_examples_follow_the_brief_and_leave_the_shared_system_message_alone(tmp_path: Path):
    card = load_card(EXAMPLES / "pgvector.toml")
    plain = {lp.persona.id: render_messages(lp.persona, card) for lp in load_personas()}
    styled = {
        lp.persona.id: render_messages(lp.persona, card)
        for lp in load_personas(persona_folder(tmp_path, EXAMPLE))
    }
    assert {messages[0]["content"] for messages in styled.values()} == {plain["dx"][0]["content"]}
    dx = styled["dx"][1]["content"]
    assert dx.startswith(plain["dx"][1]["content"])
    assert 'Example card: {"name": "Cronhook"' in dx
    assert 'Example verdict: {"primitive": "A scheduler in front of an HTTP client"' in dx
    assert styled["business"] == plain["business"]


def test_an_example_that_misses_a_field_is_a_clear_persona_error(tmp_path: Path):
    folder = persona_folder(
        tmp_path, EXAMPLE.replace('weekend_test = "Yes: a GitHub Actions schedule does it"\n', "")
    )
    with pytest.raises(PersonaError, match="examples 1: the verdict does not fit .*weekend_test"):
        load_persona_file(folder / "dx.toml")
