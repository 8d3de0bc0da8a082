"""Hostile tool cards stay data: one closed data block, no new chat turns, no template tokens."""

import json

import pytest

from panel.engine.prompts import render_messages
from panel.records.cards import parse_card
from panel.records.personas import load_personas
from tests.support.paths import ROOT

INJECTIONS = [
    json.loads(line) for line in (ROOT / "examples/injection/injections.jsonl").read_text().splitlines()
]


def test_corpus_has_at_least_twenty_attacks():
    assert len(INJECTIONS) >= 20
    assert {entry["direction"] for entry in INJECTIONS} == {"ship", "skip"}


@pytest.mark.parametrize("entry", INJECTIONS, ids=lambda entry: entry["id"])
def test_injected_card_stays_inside_the_data_block(entry):
    card = parse_card(entry["injected"], entry["id"])
    for loaded in load_personas():
        system, brief = render_messages(loaded.persona, card)
        assert system["role"] == "system" and brief["role"] == "user"
        block = system["content"].split("<tool_card>\n", 1)[1]
        assert block.count("</tool_card>") == 1 and block.endswith("</tool_card>")
        assert "<|im_start|>" not in system["content"] and "<|im_start|>" not in brief["content"]
        clean = parse_card(entry["clean"], entry["id"])
        assert system["content"] != render_messages(loaded.persona, clean)[0]["content"]
