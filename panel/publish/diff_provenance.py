"""What went into two runs of the panel and differs (backend, models, prompts, persona files,
seed, options, the card, who wrote each verdict): the likely cause of what `panel diff` finds."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel

from panel.records.transcript import PanelTranscript


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


# The provenance item that names both prompt sets, "default v1 (sha256 …)" → "terse v1 (sha256 …)".
PROMPTS_ITEM = "prompts"


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
    if a.prompts.sha256 != b.prompts.sha256:  # a name alone (an older transcript has none) is no change
        changes.append(
            ProvenanceChange(item=PROMPTS_ITEM, personas=[], before=a.prompts.label, after=b.prompts.label)
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


def varies_per_tool(item: str) -> bool:
    """Items whose values are each tool's own (a batch derives each panel's seed from its row)."""
    return item.startswith("card.") or item == "seed"
