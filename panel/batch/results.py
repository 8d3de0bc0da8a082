"""One line per tool of a batch: which tool got which ship %, and whether its panel is complete.

The batch summary carries these so that nobody has to read manifest.jsonl to learn the outcome.
"""

from __future__ import annotations

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
