"""The transcript models: one panel or comparison as it is saved, schema-versioned."""

from __future__ import annotations

import hashlib
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


class PromptSetRecord(BaseModel):
    """The prompt set a panel was written with: its name, one hash over its templates, its folder."""

    name: str
    sha256: str
    path: str | None = None

    @property
    def label(self) -> str:
        """ "terse v1 (sha256 3f2a9c0b7d1e)": the name, and the hash that tells two edits of it apart."""
        return f"{self.name} (sha256 {self.sha256[:12]})"


# What a transcript written before prompt sets had names is called.
UNNAMED_PROMPT_SET = "unnamed"


def prompt_set_hash(template_hashes: dict[str, str]) -> str:
    """One sha256 over a prompt set's templates (from each template's own sha256), so that a
    transcript that recorded only the template hashes still gets its set's hash."""
    lines = "".join(f"{name} {digest}\n" for name, digest in sorted(template_hashes.items()))
    return hashlib.sha256(lines.encode("utf-8")).hexdigest()


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
    # A rerun that failed while the earlier verdict worked: its review is on record, not in force.
    kept_earlier: bool = False

    def reviews_in_force(self) -> list[PersonaReview]:
        """The reviews this step put in place: none for a failed rerun that kept the earlier
        verdict (older transcripts say so only in the note)."""
        legacy = self.action == "rerun" and "the earlier verdict is kept" in (self.note or "")
        return [] if self.kept_earlier or legacy else list(self.reviews)


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
    # None in transcripts written before prompt sets had names: see `prompts`.
    prompt_set: PromptSetRecord | None = None
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

    @property
    def prompts(self) -> PromptSetRecord:
        """The prompt set as recorded, or, for an older transcript, unnamed with the hash of its templates."""
        return self.prompt_set or PromptSetRecord(
            name=UNNAMED_PROMPT_SET, sha256=prompt_set_hash(self.prompt_templates)
        )


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
