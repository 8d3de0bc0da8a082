"""A labelled suite for `panel eval`: tool cards, each with the call its editors expect.

A suite is a folder of card files (TOML, YAML or JSON) or a JSONL file, one card per line. Each
card carries a `labels` table beside its fields: `panel` ("ship" or "skip", required) and,
where the call is obvious, `personas` (persona id -> "ship" or "skip").
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from panel.batch.inputs import card_files
from panel.errors import CardError, describe_validation_error
from panel.records.cards import ToolCard, parse_card, read_card_data
from panel.records.verdicts import Decision
from panel.regular_files import FileKind, read_regular_file


class Labels(BaseModel):
    """What the editors expect of the panel on one card."""

    model_config = ConfigDict(extra="forbid")

    panel: Decision
    personas: dict[str, Decision] = Field(default_factory=dict)


class LabelledCard(BaseModel):
    source: str
    card: ToolCard
    labels: Labels


class Suite(BaseModel):
    path: str
    name: str
    cards: list[LabelledCard]


def labelled_card(data: Any, source: str) -> LabelledCard:
    """Split one entry into its card and its labels; either being wrong is a CardError."""
    if not isinstance(data, dict):
        raise CardError(f"{source}: a suite entry must be a table of fields, got {type(data).__name__}.")
    data = dict(data)
    raw_labels = data.pop("labels", None)
    if raw_labels is None:
        raise CardError(
            f'{source} has no labels: add a [labels] table with panel = "ship" or "skip" '
            '(and, optionally, personas = { dx = "ship" }).'
        )
    try:
        labels = Labels.model_validate(raw_labels)
    except ValidationError as error:
        raise CardError(f"{source}: bad labels: {describe_validation_error(error)}.") from None
    return LabelledCard(source=source, card=parse_card(data, source), labels=labels)


SUITE_FILE = FileKind(noun="suite", expected="a suite (.jsonl, or a folder of cards)", error=CardError)


def unreadable_json(error: ValueError) -> str:
    """What json.loads refused, past its syntax errors: an integer over Python's digit limit."""
    if "integer string conversion" in str(error):
        return "holds an integer with thousands of digits, more than any field takes"
    return f"is not readable JSON ({' '.join(str(error).split())[:200]})"


def read_jsonl_entries(path: Path) -> list[LabelledCard]:
    entries = []
    lines = read_regular_file(path, SUITE_FILE).splitlines()
    for number, raw in enumerate(lines, 1):
        source = f"{path} line {number}"
        try:
            line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError as error:
            raise CardError(
                f"{source} is not UTF-8 text ({error.reason} at byte {error.start}); save the suite "
                "as UTF-8 and run the eval again."
            ) from None
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as error:
            raise CardError(f"{source} is not valid JSON: {error.msg}.") from None
        except RecursionError:
            raise CardError(f"{source} is nested too deeply to be a labelled card.") from None
        except ValueError as error:
            raise CardError(f"{source} {unreadable_json(error)}.") from None
        entries.append(labelled_card(data, source))
    return entries


def check_label_personas(suite: Suite, known: list[str]) -> None:
    """A persona label must name a persona of the panel: a typo would be left out of agreement."""
    for entry in suite.cards:
        unknown = sorted(set(entry.labels.personas) - set(known))
        if unknown:
            raise CardError(
                f"{entry.source}: the labels name {', '.join(map(repr, unknown))}, which is not a "
                f"persona of this panel; its personas are {', '.join(known)}.",
                hint="Fix the label, or point {personas_dir} at the folder that has that persona.",
            )


def load_suite(path: str | Path) -> Suite:
    """Every labelled card of a folder or a JSONL file; any bad entry stops the eval, since a
    suite with a card missing would not compare with its earlier reports."""
    path = Path(path)
    if path.is_dir():
        cards = [labelled_card(read_card_data(file), str(file)) for file in card_files(path)]
    elif path.is_file() and path.suffix.lower() in (".jsonl", ".ndjson"):
        cards = read_jsonl_entries(path)
    else:
        raise CardError(
            f"{path}: a suite is a folder of labelled card files or a .jsonl file; no such suite."
        )
    if not cards:
        raise CardError(f"{path} holds no labelled cards (*.toml, *.yaml, *.json with a [labels] table).")
    names = [entry.card.name for entry in cards]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise CardError(f"{path}: each card of a suite needs its own name; repeated: {', '.join(repeated)}.")
    name = path.stem if path.is_file() else path.resolve().name
    return Suite(path=str(path), name=name, cards=cards)


def cards_jsonl(suite: Suite) -> str:
    """The suite's cards without their labels, one per line: the input `panel batch` reads."""
    lines = [json.dumps(entry.card.model_dump(mode="json"), ensure_ascii=False) for entry in suite.cards]
    return "\n".join(lines) + "\n"
