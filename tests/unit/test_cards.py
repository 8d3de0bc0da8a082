import json
from pathlib import Path

import pytest

from panel.errors import CardError
from panel.records.cards import load_card, parse_card
from tests.support.cards import GOOD
from tests.support.paths import EXAMPLES


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.toml")), ids=lambda p: p.name)
def test_every_example_card_loads(path: Path):
    card = load_card(path)
    assert card.name and card.pricing and card.facts


@pytest.mark.parametrize("suffix", [".json", ".yaml", ".yml"])
def test_json_and_yaml_cards(tmp_path: Path, suffix: str):
    path = tmp_path / f"tool{suffix}"
    path.write_text(json.dumps(GOOD))  # JSON is valid YAML too
    assert load_card(path).links[0].url == "https://example.com"


def test_missing_field_names_file_and_field(tmp_path: Path):
    path = tmp_path / "bad.toml"
    path.write_text('name = "x"\ntagline = "y"\n')
    with pytest.raises(CardError) as caught:
        load_card(path)
    message = str(caught.value)
    assert str(path) in message and "category: Field required" in message


def test_nested_field_path_and_unknown_field():
    data = {**GOOD, "links": [{"label": "Home", "url": 5}], "colour": "red"}
    with pytest.raises(CardError) as caught:
        parse_card(data, "row 3")
    message = str(caught.value)
    assert "row 3" in message and "links.0.url" in message and "colour: unknown field" in message


def test_syntax_error_and_unknown_suffix_and_missing_file(tmp_path: Path):
    broken = tmp_path / "broken.toml"
    broken.write_text("name = \n")
    with pytest.raises(CardError, match="not valid TOML"):
        load_card(broken)
    (tmp_path / "card.txt").write_text("name = 'x'\n")
    with pytest.raises(CardError, match="unknown card format"):
        load_card(tmp_path / "card.txt")
    with pytest.raises(CardError, match="no such file"):
        load_card(tmp_path / "absent.toml")


def test_binary_file_and_non_table(tmp_path: Path):
    binary = tmp_path / "card.json"
    binary.write_bytes(b"\xff\xfe\x00\x01")
    with pytest.raises(CardError, match="UTF-8"):
        load_card(binary)
    listing = tmp_path / "list.yaml"
    listing.write_text("- a\n- b\n")
    with pytest.raises(CardError, match="table of fields"):
        load_card(listing)


def test_card_size_limit_is_configurable(tmp_path: Path):
    path = tmp_path / "big.json"
    path.write_text(json.dumps({**GOOD, "facts": ["f" * 400] * 10}))
    with pytest.raises(CardError, match="at most 2,048"):
        load_card(path, max_bytes=2048)
    assert load_card(path).facts
