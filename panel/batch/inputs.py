"""Reading a batch's input: the rows of a JSONL file, a CSV file or a folder of cards, as a
stream in bounded memory; a bad row carries its error instead of a card."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TextIO

from panel.errors import CardError
from panel.records.cards import CARD_SUFFIXES, ToolCard, parse_card, read_card_data
from panel.regular_files import MAX_CARD_BYTES, FileKind, open_regular_file

# CSV cells that hold lists: items separated by " | "; a link is "label=url" (or a bare url), the
# card model's one text syntax for a link (panel.records.cards.link_from_text).
LIST_SEPARATOR = " | "
# JSONL lines are read in pieces of at most this many characters past the card limit.
LINE_CHUNK = 64 * 1024
LINE_ENDS = ("\n", "\r")
BATCH_INPUT = FileKind(
    noun="file or folder", expected="a .jsonl or .csv file, or a folder of cards", error=CardError
)


def json_problem(error: json.JSONDecodeError) -> str:
    """json's message with its place: `msg` alone can end in "at" with the position cut off."""
    return f"{error.msg.removesuffix(' at')} at column {error.colno}"


@dataclass
class InputRow:
    """One row of the input: its place ('tools.csv row 3'), and the card or what was wrong."""

    source: str
    card: ToolCard | None = None
    error: str | None = None


def input_kind(path: Path) -> Literal["folder", "jsonl", "csv"]:
    if path.is_dir():
        return "folder"
    if not path.exists():
        raise CardError(f"{path}: no such file or folder. Give a .jsonl or .csv file, or a folder of cards.")
    open_regular_file(path, BATCH_INPUT).close()  # a FIFO or a device is refused before its suffix
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    if suffix == ".csv":
        return "csv"
    raise CardError(
        f"{path}: a batch reads a .jsonl file (one card per line), a .csv file (one card per "
        "row) or a folder of card files; this is none of those."
    )


def open_input_text(path: Path) -> TextIO:
    """A JSONL or CSV input as text, once it has been shown to be a regular file (a FIFO or a
    device is refused). utf-8-sig: a byte order mark (Excel writes one) is not part of the first
    column's name."""
    return io.TextIOWrapper(
        open_regular_file(path, BATCH_INPUT), encoding="utf-8-sig", errors="replace", newline=""
    )


def card_files(folder: Path) -> Iterator[Path]:
    """Every card file of the folder; one that is not a regular file (a FIFO, a link to a
    device) is listed too, so that reading it reports it as a bad row."""
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() in CARD_SUFFIXES and not path.is_dir():
            yield path


def count_rows(path: Path) -> int:
    """How many rows the input holds, read as a stream, for the progress bar's total."""
    kind = input_kind(path)
    if kind == "folder":
        return sum(1 for _ in card_files(path))
    with open_input_text(path) as stream:
        if kind == "jsonl":
            return sum(1 for _, line, _ in bounded_lines(stream, LINE_CHUNK) if line is None or line.strip())
        return max(0, sum(1 for _ in csv_rows(csv.reader(stream))) - 1)


def bounded_lines(stream: TextIO, limit: int) -> Iterator[tuple[int, str | None, int]]:
    """Each line of a text stream as (number, text, length); a line over `limit` characters
    comes back as None, read past in pieces, so memory never holds a huge line whole."""
    number = 0
    while line := stream.readline(limit + 1):
        number += 1
        if line.endswith(LINE_ENDS) or len(line) <= limit:
            yield number, line, len(line)
            continue
        length = len(line)
        while not line.endswith(LINE_ENDS) and (line := stream.readline(LINE_CHUNK)):
            length += len(line)
        yield number, None, length


def split_list(cell: str) -> list[str]:
    return [item.strip() for item in cell.split(LIST_SEPARATOR.strip()) if item.strip()]


def card_from_csv_row(row: dict[str | None, Any]) -> dict[str, Any]:
    """A CSV row as card data: empty cells are left out; `facts` and `links` hold lists, as a
    JSON array or as items separated by ' | ' (a link is 'label=url', read and checked by the card
    model like every other input's)."""
    data: dict[str, Any] = {}
    for column, value in row.items():
        if column is None:
            raise CardError("the row has more cells than the header has columns")
        if value is None or not value.strip():
            continue
        value = value.strip()
        if column in ("facts", "links"):
            if value.startswith("["):
                data[column] = json_array(column, value)
                continue
            data[column] = split_list(value)
        else:
            data[column] = value
    return data


def json_array(column: str, value: str) -> Any:
    try:
        return json.loads(value)
    except (ValueError, RecursionError) as error:
        # ValueError: bad JSON, or an integer past Python's digit limit; RecursionError: nesting.
        detail = json_problem(error) if isinstance(error, json.JSONDecodeError) else str(error)[:200]
        raise CardError(f"{column}: not a valid JSON array ({detail or 'nested too deeply'})") from None


def validated(data: Any, source: str) -> InputRow:
    try:
        return InputRow(source=source, card=parse_card(data, source))
    except CardError as error:
        return InputRow(source=source, error=str(error))


def csv_rows(reader: Iterator[Any]) -> Iterator[Any]:
    """The rows of a csv reader, with a row the csv module refuses (a cell over its size limit,
    a NUL byte) yielded as the CardError it is, so one bad row does not stop the file."""
    while True:
        try:
            yield next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            yield CardError(f"not a readable CSV row ({error})")


def jsonl_row(line: str, source: str) -> InputRow:
    try:
        data = json.loads(line)
    except json.JSONDecodeError as error:
        return InputRow(source=source, error=f"{source} is not valid JSON: {json_problem(error)}.")
    except ValueError as error:  # an integer past Python's digit limit
        return InputRow(source=source, error=f"{source} is not usable JSON: {str(error)[:200]}.")
    except RecursionError:
        return InputRow(source=source, error=f"{source} is nested too deeply to be a tool card.")
    return validated(data, source)


def read_rows(path: Path, max_card_bytes: int = MAX_CARD_BYTES) -> Iterator[InputRow]:
    """Every row of the input in order, as a stream; a bad row carries its error instead."""
    kind = input_kind(path)
    if kind == "folder":
        for file in card_files(path):
            try:
                yield validated(read_card_data(file, max_card_bytes), str(file))
            except CardError as error:
                yield InputRow(source=str(file), error=str(error))
        return
    with open_input_text(path) as stream:
        if kind == "jsonl":
            for number, line, length in bounded_lines(stream, max_card_bytes):
                if line is not None and not line.strip():
                    continue
                source = f"{path} line {number}"
                if line is None:
                    yield InputRow(
                        source=source,
                        error=f"{source} is {length:,} characters; a card may be at most "
                        f"{max_card_bytes:,} (PANEL_MAX_CARD_BYTES).",
                    )
                    continue
                yield jsonl_row(line, source)
            return
        reader = csv.DictReader(stream)
        # Rows are numbered as a spreadsheet shows them: the header is row 1.
        for number, row in enumerate(csv_rows(reader), 2):
            source = f"{path} row {number}"
            try:
                if isinstance(row, CardError):
                    raise row
                data = card_from_csv_row(row)
            except CardError as error:
                yield InputRow(source=source, error=f"{source}: {error}.")
                continue
            yield validated(data, source)
