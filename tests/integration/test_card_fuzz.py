"""Fuzzed tool cards: whatever the file holds, the loader returns a card or a CardError that
names the file, and the CLI exits 2 with one paragraph and no traceback."""

import json
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from panel.cli import app
from panel.errors import CardError
from panel.records.cards import ToolCard, load_card
from tests.support.cards import GOOD

FIELDS = list(GOOD)
odd_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",)), min_size=0, max_size=40
) | st.sampled_from(["", " ", "\u202e", "\ufeffname", "𝕊𝕙𝕚𝕡", "a\u0000b", "\n\n", "x" * 20_000, "é" * 9000])
scalar = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | odd_text
value = st.recursive(
    scalar,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(odd_text, inner, max_size=3),
    max_leaves=8,
)


@st.composite
def mutated_cards(draw) -> dict:
    card = json.loads(json.dumps(GOOD))
    for _ in range(draw(st.integers(1, 3))):
        action = draw(st.sampled_from(["drop", "retype", "unknown", "huge", "odd"]))
        field = draw(st.sampled_from(FIELDS))
        if action == "drop":
            card.pop(field, None)
        elif action == "retype":
            card[field] = draw(value)
        elif action == "unknown":
            card[draw(odd_text.filter(lambda k: k not in FIELDS))] = draw(value)
        elif action == "huge":
            card[field] = "y" * draw(st.sampled_from([301, 8001, 60_000]))
        else:
            card[field] = draw(odd_text)
    return card


def toml_value(item) -> str:
    if isinstance(item, bool):
        return "true" if item else "false"
    if isinstance(item, int | float):
        return repr(item)
    if isinstance(item, list):
        return "[" + ", ".join(toml_value(x) for x in item if x is not None) + "]"
    if isinstance(item, dict):
        return (
            "{"
            + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in item.items() if v is not None)
            + "}"
        )
    return json.dumps(item)


def as_file(tmp_path: Path, card: dict, form: str) -> Path:
    path = tmp_path / f"card.{form}"
    if form == "json":
        path.write_text(json.dumps(card), encoding="utf-8")
    elif form == "yaml":
        path.write_text(yaml.safe_dump(card, allow_unicode=True), encoding="utf-8")
    else:
        lines = [f"{json.dumps(k)} = {toml_value(v)}" for k, v in card.items() if v is not None]
        path.write_text("\n".join(lines), encoding="utf-8")
    return path


def check(path: Path) -> str:
    try:
        card = load_card(path)
    except CardError as error:
        assert str(path) in str(error)
        return "rejected"
    assert isinstance(card, ToolCard)
    return "accepted"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(card=mutated_cards(), form=st.sampled_from(["json", "yaml", "toml"]))
def test_mutated_cards(tmp_path: Path, card: dict, form: str):
    check(as_file(tmp_path, card, form))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(blob=st.binary(max_size=2000), form=st.sampled_from(["json", "yaml", "toml"]))
def test_arbitrary_bytes(tmp_path: Path, blob: bytes, form: str):
    path = tmp_path / f"card.{form}"
    path.write_bytes(blob)
    check(path)


def test_hostile_yaml_and_edge_files(tmp_path: Path):
    laughs = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join('*' + chr(97 + i) for _ in range(9))}]\n"
        for i in range(8)
    )
    cases = {
        "laughs.yaml": laughs,
        "empty.toml": "",
        "empty.json": "",
        "empty.yaml": "",
        "null.json": "null",
        "deep.json": "[" * 30_000 + "]" * 30_000,
        "nul.toml": 'name = "a\x00b"',
        "scalar.yaml": "just a string",
    }
    for name, text in cases.items():
        path = tmp_path / name
        path.write_text(text)
        assert check(path) == "rejected", name


def test_cli_exits_2_without_traceback_or_transcript(tmp_path: Path):
    runner = CliRunner()
    out = tmp_path / "out"
    bad = [
        {k: v for k, v in GOOD.items() if k != "name"},
        {**GOOD, "facts": "not a list"},
        {**GOOD, "pricing": "x" * 500},
        {**GOOD, "surprise": True},
    ]
    for number, card in enumerate(bad):
        path = as_file(tmp_path, card, "json").rename(tmp_path / f"bad{number}.json")
        result = runner.invoke(app, ["run", str(path), "--backend", "ollama", "--out", str(out)])
        assert result.exit_code == 2, result.output
        assert "Traceback" not in result.output and f"bad{number}.json" in result.stderr
    assert not out.exists()
