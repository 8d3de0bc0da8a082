"""Diff two batch folders: tools matched by name, each pair diffed as two transcripts, and
the provenance changes the folders share grouped into one line each; and `diff_paths`, which
takes two transcripts or two folders."""

from __future__ import annotations

from pathlib import Path

from panel.errors import PanelError, TranscriptError
from panel.publish.diff import (
    Diff,
    FolderDiff,
    FolderProvenanceChange,
    ProvenanceChange,
    ToolChange,
    diff_transcripts,
    varies_per_tool,
)
from panel.records.transcript import PanelTranscript
from panel.store.transcripts import load_panel_transcript, panel_transcripts_in


def read_folder(folder: Path) -> dict[str, tuple[PanelTranscript, Path]]:
    """The panel transcripts in a batch folder by tool name, the newest run of each tool.

    Other JSON files (a manifest, comparisons) are passed over."""
    newest: dict[str, tuple[PanelTranscript, Path]] = {}
    for transcript, path in panel_transcripts_in(folder):
        current = newest.get(transcript.card.name)
        if current is None or transcript.created_at >= current[0].created_at:
            newest[transcript.card.name] = (transcript, path)
    if not newest:
        raise TranscriptError(
            f'{folder} holds no panel transcripts (*.json with kind "panel").',
            hint="Diff the {out_dir} folder of a panel run or a batch.",
        )
    return newest


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
                panel_before=diff.panel_before,
                panel_after=diff.panel_after,
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
