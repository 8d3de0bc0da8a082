"""Diff persona outputs between two runs of the panel: two transcripts, or two batch folders.

Pure logic: it reads transcripts and returns pydantic models; the CLI shows them and
`panel.publish.render` writes them as Markdown or HTML.
"""

from __future__ import annotations

import difflib
from typing import Any, Literal

from pydantic import BaseModel, Field, computed_field

from panel.errors import PanelError
from panel.publish.diff_provenance import (
    FolderProvenanceChange,
    ProvenanceChange,
    diff_provenance,
    varies_per_tool,  # noqa: F401 (re-exported: the CLI and folder diffs import it from here)
)
from panel.records.aggregate import percent_text
from panel.records.transcript import PanelTranscript
from panel.records.verdicts import Decision, PersonaReview

FailOn = Literal["none", "flip", "any"]
FAIL_ON_CHOICES = ("none", "flip", "any")


class FieldChange(BaseModel):
    """One structured field of a verdict (or the headline), before and after."""

    name: str
    before: str | None
    after: str | None

    @property
    def changed(self) -> bool:
        return self.before != self.after


class QuoteSegment(BaseModel):
    """A run of words the two quotes share (`equal`) or that one side alone has."""

    op: Literal["equal", "delete", "insert"]
    text: str


class FailedReviewer(BaseModel):
    """A reviewer of one run that gave no verdict, and why (its review's `error`)."""

    persona: str
    error: str | None

    @property
    def reason(self) -> str:
        """The error's first line, cut to 200 characters: what a header or a table shows."""
        lines = (self.error or "").strip().splitlines()
        line = lines[0].strip() if lines else "no reason recorded"
        return line if len(line) <= 200 else line[:199].rstrip() + "…"


class PanelSide(BaseModel):
    """One run's panel as a diff header shows it: the ship %, how many verdicts it rests on, and
    the reviewers that gave none, with their reason."""

    ship_pct: int | None
    verdicts: int
    reviewers: int
    failed: list[FailedReviewer]

    @computed_field  # in the JSON too: "100% (4 of 4)"
    @property
    def text(self) -> str:
        return f"{percent_text(self.ship_pct)} ({self.verdicts} of {self.reviewers})"


def panel_side(transcript: PanelTranscript) -> PanelSide:
    aggregate = transcript.aggregate
    errors = {review.persona: review.error for review in transcript.reviews}
    return PanelSide(
        ship_pct=aggregate.ship_pct,
        verdicts=aggregate.ships + aggregate.skips,
        reviewers=aggregate.ships + aggregate.skips + len(aggregate.failed),
        failed=[FailedReviewer(persona=p, error=errors.get(p)) for p in aggregate.failed],
    )


def header_text(before: PanelSide, after: PanelSide) -> str:
    """ "100% (4 of 4) → 50% (2 of 4)"."""
    return f"{before.text} → {after.text}"


class PersonaDiff(BaseModel):
    """One reviewer's verdict in run A against run B. A reviewer that failed in either run has
    no decision there, so it never counts as flipped; its error says why."""

    persona: str
    status_before: Literal["ok", "failed", "absent"]
    status_after: Literal["ok", "failed", "absent"]
    error_before: str | None = None
    error_after: str | None = None
    decision_before: Decision | None
    decision_after: Decision | None
    flipped: bool
    confidence_before: float | None
    confidence_after: float | None
    confidence_change: float | None
    headline: FieldChange
    fields: list[FieldChange]
    quote_changed: bool
    quote: list[QuoteSegment]

    @property
    def changed_parts(self) -> list[str]:
        """What differs, in reading order: status, decision, confidence, headline, quote, fields."""
        parts = [
            name
            for name, differs in (
                ("status", self.status_before != self.status_after),
                ("decision", self.decision_before != self.decision_after),
                ("confidence", self.confidence_before != self.confidence_after),
                ("headline", self.headline.changed),
                ("quote", self.quote_changed),
            )
            if differs
        ]
        return parts + [field.name for field in self.fields if field.changed]

    @property
    def changed(self) -> bool:
        return bool(self.changed_parts)

    @property
    def parts(self) -> list[str]:
        """Every row of the reviewer's table: decision (and status), confidence, headline, quote, fields."""
        return ["decision", "confidence", "headline", "quote"] + [field.name for field in self.fields]

    @property
    def unchanged_parts(self) -> list[str]:
        changed = set(self.changed_parts) | ({"decision"} if "status" in self.changed_parts else set())
        return [part for part in self.parts if part not in changed]


class TranscriptDiff(BaseModel):
    """Two panels of the same tool, persona by persona."""

    kind: Literal["transcripts"] = "transcripts"
    tool: str
    tool_slug: str
    a_path: str
    b_path: str
    a_created_at: str
    b_created_at: str
    ship_pct_before: int | None
    ship_pct_after: int | None
    panel_before: PanelSide
    panel_after: PanelSide
    personas: list[PersonaDiff]
    provenance: list[ProvenanceChange]

    @property
    def header(self) -> str:
        return header_text(self.panel_before, self.panel_after)

    @property
    def flips(self) -> list[str]:
        return [persona.persona for persona in self.personas if persona.flipped]

    @property
    def changed(self) -> bool:
        """Any output changed: ship %, a decision, a confidence, a headline, a field, a quote."""
        return self.ship_pct_before != self.ship_pct_after or any(p.changed for p in self.personas)


class ToolChange(BaseModel):
    """One tool of a folder diff whose panel output changed."""

    tool: str
    slug: str
    ship_pct_before: int | None
    ship_pct_after: int | None
    panel_before: PanelSide
    panel_after: PanelSide
    flips: list[str]
    changed_personas: list[str]
    a_path: str
    b_path: str

    @property
    def header(self) -> str:
        return header_text(self.panel_before, self.panel_after)

    @property
    def headline_change(self) -> bool:
        """Worth a row in the table: the ship % moved, a decision flipped, or other reviewers failed."""
        failed = [[f.persona for f in side.failed] for side in (self.panel_before, self.panel_after)]
        return self.ship_pct_before != self.ship_pct_after or bool(self.flips) or failed[0] != failed[1]


class FolderDiff(BaseModel):
    """Two batch output folders, tools matched by name (their slugs may collide: "Foo!" and
    "foo?" are both `foo`). The lists of tools name them by slug, as before."""

    kind: Literal["folders"] = "folders"
    a_dir: str
    b_dir: str
    matched: int
    changed: list[ToolChange]
    unchanged: list[str]
    flips_per_persona: dict[str, int]
    only_in_a: list[str]
    only_in_b: list[str]
    provenance: list[FolderProvenanceChange] = []
    # slug -> the tool names that share it, in either folder
    slug_collisions: dict[str, list[str]] = Field(default_factory=dict)

    @property
    def flips(self) -> list[str]:
        return [f"{tool.slug}:{persona}" for tool in self.changed for persona in tool.flips]


Diff = TranscriptDiff | FolderDiff


def word_diff(before: str, after: str) -> list[QuoteSegment]:
    """A word-level diff of two texts: runs of shared, deleted and inserted words."""
    old, new = before.split(), after.split()
    segments: list[QuoteSegment] = []
    matcher = difflib.SequenceMatcher(a=old, b=new, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            segments.append(QuoteSegment(op="equal", text=" ".join(old[i1:i2])))
            continue
        if i2 > i1:
            segments.append(QuoteSegment(op="delete", text=" ".join(old[i1:i2])))
        if j2 > j1:
            segments.append(QuoteSegment(op="insert", text=" ".join(new[j1:j2])))
    return segments


def status_of(review: PersonaReview | None) -> Literal["ok", "failed", "absent"]:
    if review is None:
        return "absent"
    return "ok" if review.status == "ok" and review.verdict else "failed"


def diff_persona(persona: str, before: PersonaReview | None, after: PersonaReview | None) -> PersonaDiff:
    old = before.verdict if before and before.status == "ok" else None
    new = after.verdict if after and after.status == "ok" else None
    field_names = list(old.fields if old else {})
    field_names += [name for name in (new.fields if new else {}) if name not in field_names]
    old_quote, new_quote = (old.quote if old else ""), (new.quote if new else "")
    confidence_change = round(new.confidence - old.confidence, 4) if old and new else None
    return PersonaDiff(
        persona=persona,
        status_before=status_of(before),
        status_after=status_of(after),
        error_before=before.error if status_of(before) == "failed" else None,
        error_after=after.error if status_of(after) == "failed" else None,
        decision_before=old.decision if old else None,
        decision_after=new.decision if new else None,
        flipped=bool(old and new and old.decision != new.decision),
        confidence_before=old.confidence if old else None,
        confidence_after=new.confidence if new else None,
        confidence_change=confidence_change,
        headline=FieldChange(
            name="headline", before=old.headline if old else None, after=new.headline if new else None
        ),
        fields=[
            FieldChange(
                name=name,
                before=old.fields.get(name) if old else None,
                after=new.fields.get(name) if new else None,
            )
            for name in field_names
        ],
        quote_changed=(old.quote if old else None) != (new.quote if new else None),
        quote=word_diff(old_quote, new_quote),
    )


def persona_order(a: PanelTranscript, b: PanelTranscript) -> list[str]:
    order = [review.persona for review in a.reviews]
    return order + [review.persona for review in b.reviews if review.persona not in order]


def diff_transcripts(
    a: PanelTranscript, b: PanelTranscript, a_path: str = "A", b_path: str = "B"
) -> TranscriptDiff:
    """Persona by persona, what changed between two panels of one tool, and what went in differently."""
    if a.tool_slug != b.tool_slug:
        raise PanelError(
            f"{a_path} is a panel on {a.card.name!r} but {b_path} is a panel on {b.card.name!r}; "
            "diff compares two runs of the same tool. To put two tools side by side, use "
            "`panel render A B`."
        )
    personas = persona_order(a, b)
    reviews_a = {review.persona: review for review in a.reviews}
    reviews_b = {review.persona: review for review in b.reviews}
    return TranscriptDiff(
        tool=b.card.name,
        tool_slug=b.tool_slug,
        a_path=a_path,
        b_path=b_path,
        a_created_at=a.created_at.isoformat(),
        b_created_at=b.created_at.isoformat(),
        ship_pct_before=a.aggregate.ship_pct,
        ship_pct_after=b.aggregate.ship_pct,
        panel_before=panel_side(a),
        panel_after=panel_side(b),
        personas=[diff_persona(p, reviews_a.get(p), reviews_b.get(p)) for p in personas],
        provenance=diff_provenance(a, b, personas),
    )


def should_fail(diff: Diff, fail_on: FailOn) -> bool:
    """`flip`: a decision flipped; `any`: any output changed (for folders, a tool on one side
    only counts too). Provenance alone is a cause, not a change, and never fails."""
    if fail_on == "none":
        return False
    if fail_on == "flip":
        return bool(diff.flips)
    if isinstance(diff, FolderDiff):
        return bool(diff.changed or diff.only_in_a or diff.only_in_b)
    return diff.changed


def diff_to_json(diff: Diff) -> dict[str, Any]:
    """The stable JSON a script reads: the model, plus the derived flags."""
    data = diff.model_dump(mode="json")
    data["flips"] = diff.flips
    if isinstance(diff, FolderDiff):
        for tool, model in zip(data["changed"], diff.changed, strict=True):
            tool["header"] = model.header
    if isinstance(diff, TranscriptDiff):
        data["header"] = diff.header
        data["changed"] = diff.changed
        for persona, model in zip(data["personas"], diff.personas, strict=True):
            persona["changed"] = model.changed
            persona["changed_parts"] = model.changed_parts
            for field, field_model in zip(persona["fields"], model.fields, strict=True):
                field["changed"] = field_model.changed
            persona["headline"]["changed"] = model.headline.changed
    return data
