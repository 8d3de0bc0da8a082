"""One line per tool of a batch: which tool got which ship %, and whether its panel is complete.

The batch summary carries these so that nobody has to read manifest.jsonl to learn the outcome.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from panel.records.transcript import PanelTranscript

Outcome = Literal["run", "already_done", "recovered", "left_alone", "redone"]


class BatchResult(BaseModel):
    """A row of the input that has a panel, however it got it."""

    row: int = Field(description="Position of the row in the input, from 1.")
    source: str
    tool: str
    slug: str
    ship_pct: int | None
    complete: bool
    failed: list[str] = Field(default_factory=list, description="Personas with no valid verdict.")
    transcript: str
    outcome: Outcome = Field(
        description="run: panel run now; already_done: in the manifest, read from its transcript; "
        "recovered: adopted after a crash; left_alone: changed by an editor, not redone; redone: in "
        "the manifest, but its transcript was missing or damaged, so the panel ran again."
    )


def result_of_transcript(
    row: int, source: str, transcript: PanelTranscript, path: Path, outcome: Outcome
) -> BatchResult:
    return BatchResult(
        row=row,
        source=source,
        tool=transcript.card.name,
        slug=transcript.tool_slug,
        ship_pct=transcript.aggregate.ship_pct,
        complete=not transcript.aggregate.incomplete,
        failed=list(transcript.aggregate.failed),
        transcript=str(path),
        outcome=outcome,
    )


CSV_COLUMNS = ("row", "tool", "ship_pct", "complete", "failed", "outcome", "source", "transcript")
# A spreadsheet runs a cell that starts with one of these as a formula; a card's name is not one.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_cell(value: object) -> str:
    text = "" if value is None else str(value)
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text


def results_csv(results: list[BatchResult]) -> str:
    """The batch's panels as CSV for a spreadsheet: one row per tool, failed personas joined by
    spaces, an empty ship % where no reviewer gave a verdict."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for result in results:
        values = result.model_dump()
        values["failed"] = " ".join(result.failed)
        values["complete"] = "yes" if result.complete else "no"
        writer.writerow([spreadsheet_cell(values[column]) for column in CSV_COLUMNS])
    return buffer.getvalue()
