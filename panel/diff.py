"""Diff persona outputs between two runs of the panel: two transcripts, or two batch folders.

Pure logic: it reads transcripts and returns pydantic models; the CLI shows them and
`panel.render` writes them as Markdown or HTML.
"""

from __future__ import annotations

import difflib
import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from panel.errors import PanelError, TranscriptError
from panel.transcripts import PanelTranscript, load_panel_transcript
from panel.verdicts import Decision, PersonaReview

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


class PersonaDiff(BaseModel):
    """One reviewer's verdict in run A against run B."""

    persona: str
    status_before: Literal["ok", "failed", "absent"]
    status_after: Literal["ok", "failed", "absent"]
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


class ProvenanceChange(BaseModel):
    """Something that went into the run and differs: the likely cause of what changed."""

    item: str
    personas: list[str]
    before: str | None
    after: str | None


class FolderProvenanceChange(ProvenanceChange):
    """A provenance change across a folder diff, with the tools it holds for. A card field or a
    seed differs per tool (see `varies_per_tool`): there before and after are left out."""

    tools: list[str]


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
    personas: list[PersonaDiff]
    provenance: list[ProvenanceChange]

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
    flips: list[str]
    changed_personas: list[str]
    a_path: str
    b_path: str

    @property
    def headline_change(self) -> bool:
        """Worth a row in the table: the ship % moved or a decision flipped."""
        return self.ship_pct_before != self.ship_pct_after or bool(self.flips)


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


def shown(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True)


def per_persona_changes(
    item: str, before: dict[str, Any], after: dict[str, Any], personas: list[str]
) -> list[ProvenanceChange]:
    """Group personas that changed the same way, so a panel-wide model swap is one line."""
    groups: dict[tuple[str | None, str | None], list[str]] = {}
    for persona in personas:
        old, new = shown(before.get(persona)), shown(after.get(persona))
        if old != new:
            groups.setdefault((old, new), []).append(persona)
    return [
        ProvenanceChange(item=item, personas=names, before=old, after=new)
        for (old, new), names in groups.items()
    ]


def diff_provenance(a: PanelTranscript, b: PanelTranscript, personas: list[str]) -> list[ProvenanceChange]:
    """What went into the two runs and differs: backend, models, digests, prompts, personas,
    seed, options, the card itself, the panel version."""
    changes = per_persona_changes(
        "written by",
        {review.persona: review.written_by or "model" for review in a.reviews},
        {review.persona: review.written_by or "model" for review in b.reviews},
        personas,
    )

    def whole_panel(item: str, before: Any, after: Any) -> None:
        if shown(before) != shown(after):
            changes.append(ProvenanceChange(item=item, personas=[], before=shown(before), after=shown(after)))

    for key in sorted(set(a.backend) | set(b.backend)):
        whole_panel(f"backend.{key}", a.backend.get(key), b.backend.get(key))
    for attribute in ("name", "digest"):
        item = "model" if attribute == "name" else "model digest"
        changes += per_persona_changes(
            item,
            {p: getattr(info, attribute) for p, info in a.models.items()},
            {p: getattr(info, attribute) for p, info in b.models.items()},
            personas,
        )
    for name in sorted(set(a.prompt_templates) | set(b.prompt_templates)):
        whole_panel(f"prompt template {name}", a.prompt_templates.get(name), b.prompt_templates.get(name))
    changes += per_persona_changes(
        "persona file sha256",
        {record.id: record.sha256 for record in a.personas},
        {record.id: record.sha256 for record in b.personas},
        personas,
    )
    whole_panel("seed", a.seed, b.seed)
    option_keys = sorted({key for options in (*a.options.values(), *b.options.values()) for key in options})
    for key in option_keys:
        if key == "seed":
            continue  # already reported once for the whole panel
        changes += per_persona_changes(
            f"options.{key}",
            {p: options.get(key) for p, options in a.options.items()},
            {p: options.get(key) for p, options in b.options.items()},
            personas,
        )
    card_a, card_b = a.card.model_dump(), b.card.model_dump()
    for key in card_a:
        whole_panel(f"card.{key}", card_a[key], card_b.get(key))
    whole_panel("panel version", a.panel_version, b.panel_version)
    return changes


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
        personas=[diff_persona(p, reviews_a.get(p), reviews_b.get(p)) for p in personas],
        provenance=diff_provenance(a, b, personas),
    )


def read_folder(folder: Path) -> dict[str, tuple[PanelTranscript, Path]]:
    """The panel transcripts in a batch folder by tool name, the newest run of each tool.

    Other JSON files (a manifest, comparisons) are passed over."""
    newest: dict[str, tuple[PanelTranscript, Path]] = {}
    for path in sorted(folder.glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError):  # ValueError: bad UTF-8 or JSON, huge ints
            continue
        if not isinstance(data, dict) or data.get("kind") != "panel":
            continue
        transcript = load_panel_transcript(path, "diff")
        current = newest.get(transcript.card.name)
        if current is None or transcript.created_at >= current[0].created_at:
            newest[transcript.card.name] = (transcript, path)
    if not newest:
        raise TranscriptError(
            f'{folder} holds no panel transcripts (*.json with kind "panel"); point diff at the '
            "--out folder of `panel run` or `panel batch`."
        )
    return newest


def varies_per_tool(item: str) -> bool:
    """Items whose values are each tool's own (a batch derives each panel's seed from its row)."""
    return item.startswith("card.") or item == "seed"


def folder_provenance(per_tool: list[tuple[str, list[ProvenanceChange]]]) -> list[FolderProvenanceChange]:
    """The same change in many tools is one line (a model swapped for the whole batch), with
    the tools it holds for."""
    grouped: dict[tuple[str, tuple[str, ...], str | None, str | None], list[str]] = {}
    for slug, changes in per_tool:
        for change in changes:
            before, after = (None, None) if varies_per_tool(change.item) else (change.before, change.after)
            grouped.setdefault((change.item, tuple(change.personas), before, after), []).append(slug)
    return [
        FolderProvenanceChange(item=item, personas=list(personas), before=before, after=after, tools=tools)
        for (item, personas, before, after), tools in grouped.items()
    ]


def slug_collisions(*sides: dict[str, tuple[PanelTranscript, Path]]) -> dict[str, list[str]]:
    """Slugs that more than one tool name maps to, in either folder."""
    names: dict[str, set[str]] = {}
    for side in sides:
        for name, (transcript, _) in side.items():
            names.setdefault(transcript.tool_slug, set()).add(name)
    return {slug: sorted(group) for slug, group in sorted(names.items()) if len(group) > 1}


def by_slug(names: set[str], side: dict[str, tuple[PanelTranscript, Path]]) -> list[str]:
    """The names in the order of their slugs (as the lists have always been sorted)."""
    return sorted(names, key=lambda name: (side[name][0].tool_slug, name))


def slugs_of(names: set[str], side: dict[str, tuple[PanelTranscript, Path]]) -> list[str]:
    return [side[name][0].tool_slug for name in by_slug(names, side)]


def diff_folders(a_dir: Path, b_dir: Path) -> FolderDiff:
    """Tools matched by name: which ones changed, flips per persona, tools on one side only."""
    side_a, side_b = read_folder(Path(a_dir)), read_folder(Path(b_dir))
    changed: list[ToolChange] = []
    unchanged: list[str] = []
    flips_per_persona: dict[str, int] = {}
    provenance: list[tuple[str, list[ProvenanceChange]]] = []
    for name in by_slug(set(side_a) & set(side_b), side_b):
        (a, a_path), (b, b_path) = side_a[name], side_b[name]
        slug = b.tool_slug
        diff = diff_transcripts(a, b, str(a_path), str(b_path))
        provenance.append((slug, diff.provenance))
        for persona in diff.personas:
            flips_per_persona.setdefault(persona.persona, 0)
            flips_per_persona[persona.persona] += int(persona.flipped)
        if not diff.changed:
            unchanged.append(slug)
            continue
        changed.append(
            ToolChange(
                tool=diff.tool,
                slug=slug,
                ship_pct_before=diff.ship_pct_before,
                ship_pct_after=diff.ship_pct_after,
                flips=diff.flips,
                changed_personas=[persona.persona for persona in diff.personas if persona.changed],
                a_path=str(a_path),
                b_path=str(b_path),
            )
        )
    return FolderDiff(
        a_dir=str(a_dir),
        b_dir=str(b_dir),
        matched=len(changed) + len(unchanged),
        changed=changed,
        unchanged=unchanged,
        flips_per_persona=flips_per_persona,
        only_in_a=slugs_of(set(side_a) - set(side_b), side_a),
        only_in_b=slugs_of(set(side_b) - set(side_a), side_b),
        slug_collisions=slug_collisions(side_a, side_b),
        provenance=folder_provenance(provenance),
    )


def diff_paths(a: str | Path, b: str | Path) -> Diff:
    """Diff two transcripts, or two folders of transcripts."""
    a, b = Path(a), Path(b)
    for path in (a, b):
        if not path.exists():
            raise TranscriptError(f"{path}: no such transcript or folder.")
    if a.is_dir() and b.is_dir():
        return diff_folders(a, b)
    if a.is_dir() or b.is_dir():
        folder, single = (a, b) if a.is_dir() else (b, a)
        raise PanelError(
            f"{folder} is a folder but {single} is a file; diff takes two transcripts or two folders."
        )
    return diff_transcripts(
        load_panel_transcript(a, "diff"), load_panel_transcript(b, "diff"), str(a), str(b)
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
    if isinstance(diff, TranscriptDiff):
        data["changed"] = diff.changed
        for persona, model in zip(data["personas"], diff.personas, strict=True):
            persona["changed"] = model.changed
            persona["changed_parts"] = model.changed_parts
            for field, field_model in zip(persona["fields"], model.fields, strict=True):
                field["changed"] = field_model.changed
            persona["headline"]["changed"] = model.headline.changed
    return data
