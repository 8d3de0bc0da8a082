"""The transcript models: one panel or comparison as it is saved, schema-versioned."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from panel.records.aggregate import Aggregate, Comparison
from panel.records.cards import ToolCard
from panel.records.chat import ModelInfo
from panel.records.verdicts import PersonaReview, Verdict

SCHEMA_VERSION = 1
# write_atomic's temporary files, and how old one must be before it counts as left by a kill.
PARTIAL_SUFFIX = ".tmp"
PARTIAL_NAME = re.compile(r"\..+\.json\.[A-Za-z0-9_]+\.tmp")
STALE_PARTIAL_SECONDS = 3600.0
MAX_SLUG_LENGTH = 60
WINDOWS_RESERVED = {
    "con",
    "prn",
    "aux",
    "nul",
    *(f"com{i}" for i in range(10)),
    *(f"lpt{i}" for i in range(10)),
}


class PersonaRecord(BaseModel):
    """A persona file exactly as it was used."""

    id: str
    path: str
    sha256: str
    text: str


class Revision(BaseModel):
    """One step in a panel's history: the first run, a rerun, a hand edit, or a review.

    `reviews` holds the reviews this step produced (all of them for the first run); the
    transcript's top-level `reviews` and `aggregate` are always the latest state."""

    number: int
    created_at: datetime
    by: str
    action: Literal["run", "rerun", "edit", "review"]
    persona: str | None = None
    note: str | None = None
    seed: int | None = None
    reviews: list[PersonaReview] = Field(default_factory=list)
    aggregate: Aggregate


class Document(BaseModel):
    """What every file the panel writes for later reading starts with: the version of its schema
    and when it was written (the subclass adds its `kind`)."""

    schema_version: int = 1
    created_at: datetime


class SavedDocument(Document):
    """A transcript: a Document with an id."""

    schema_version: int = SCHEMA_VERSION
    id: str


class PanelTranscript(SavedDocument):
    """Everything needed to reproduce, audit and diff one panel."""

    kind: Literal["panel"] = "panel"
    tool_slug: str
    card: ToolCard
    card_source: str | None = None
    backend: dict[str, Any]
    models: dict[str, ModelInfo]
    options: dict[str, dict[str, Any]]
    seed: int
    prompt_templates: dict[str, str]
    personas: list[PersonaRecord]
    reviews: list[PersonaReview]
    aggregate: Aggregate
    seconds: float
    panel_version: str
    # Empty for a panel that was only ever run once: its top level is revision 1.
    revisions: list[Revision] = Field(default_factory=list)

    @property
    def verdicts(self) -> list[Verdict]:
        return [review.verdict for review in self.reviews if review.verdict is not None]


class ComparisonTranscript(SavedDocument):
    """An A-vs-B comparison: both panels' transcripts by path, their aggregates and the call."""

    kind: Literal["comparison"] = "comparison"
    a_transcript: str
    b_transcript: str
    a_tool: str
    b_tool: str
    a_aggregate: Aggregate
    b_aggregate: Aggregate
    comparison: Comparison


Transcript = PanelTranscript | ComparisonTranscript


class TranscriptFile(BaseModel):
    transcript: PanelTranscript | ComparisonTranscript = Field(discriminator="kind")
