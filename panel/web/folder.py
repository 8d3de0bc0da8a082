"""The studio's view of the transcripts folder: what is in it, a file by its name (never outside
the folder), a panel as it stood at one revision, and the community votes file."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from panel.errors import PanelError, TranscriptError
from panel.publish.page_facts import panel_size
from panel.publish.render import Vote, load_votes
from panel.records.transcript import ComparisonTranscript, PanelTranscript, Transcript
from panel.store.revisions import history, revision_number
from panel.store.transcripts import load_transcript

SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,200}\.json")
VOTES_FILES = ("votes.csv", "votes.json")


class NotInFolder(PanelError):
    """A name that is not a transcript file directly in the studio's folder."""


@dataclass
class Entry:
    """One row of the studio's list."""

    name: str
    kind: str
    tool: str
    ship_pct: int | None
    status: list[str]
    created_at: datetime
    models: list[str]
    # What the list's filter reads besides the tool's name (both sides' for a comparison).
    about: str = ""
    revision: int | None = None


# The list's columns an editor can sort by, and what each sorts on.
SORT_COLUMNS = {
    "tool": lambda entry: entry.tool.casefold(),
    "ship": lambda entry: -1 if entry.ship_pct is None else entry.ship_pct,
    "status": lambda entry: " ".join(entry.status),
    "when": lambda entry: entry.created_at,
    "model": lambda entry: ", ".join(entry.models).casefold(),
}


def sort_entries(entries: list[Entry], column: str, descending: bool) -> list[Entry]:
    """The entries by one of SORT_COLUMNS; ties keep their order (newest first)."""
    return sorted(entries, key=SORT_COLUMNS[column], reverse=descending)


def transcript_path(folder: Path, name: str) -> Path:
    """The transcript called `name` in `folder`; NotInFolder for anything else (a path, `..`,
    a hidden or temporary file, a link leading out)."""
    if not SAFE_NAME.fullmatch(name):
        raise NotInFolder(f"{name!r} is not a transcript name.")
    root = folder.resolve()
    path = (root / name).resolve()
    if path.parent != root or not path.is_file():
        raise NotInFolder(f"No transcript {name!r} in the studio's folder.")
    return path


def load_panel(folder: Path, name: str) -> tuple[PanelTranscript, Path]:
    path = transcript_path(folder, name)
    transcript = load_transcript(path)
    if not isinstance(transcript, PanelTranscript):
        raise NotInFolder(f"{name} is a comparison, not a panel.")
    return transcript, path


def panel_files_for(folder: Path, name: str) -> list[tuple[PanelTranscript, Path]]:
    """The panels a name stands for, with their files: one panel, or the two sides of a comparison."""
    path = transcript_path(folder, name)
    transcript = load_transcript(path)
    if isinstance(transcript, PanelTranscript):
        return [(transcript, path)]
    return [
        load_panel(folder, Path(side).name) for side in (transcript.a_transcript, transcript.b_transcript)
    ]


def panels_for(folder: Path, name: str) -> list[PanelTranscript]:
    """The panels a name stands for: one panel, or the two sides of a comparison."""
    return [panel for panel, _ in panel_files_for(folder, name)]


def status_of(transcript: Transcript) -> list[str]:
    if isinstance(transcript, ComparisonTranscript):
        return ["comparison"]
    counted, total = panel_size(transcript.aggregate)
    status = ["complete" if counted == total else f"incomplete ({counted} of {total})"]
    if any(review.written_by for review in transcript.reviews):
        status.append("edited")
    if any(review.locked for review in transcript.reviews):
        status.append("locked")
    return status


def entry_for(path: Path, transcript: Transcript) -> Entry:
    if isinstance(transcript, ComparisonTranscript):
        return Entry(
            name=path.name,
            kind="comparison",
            tool=f"{transcript.a_tool} vs {transcript.b_tool}",
            ship_pct=None,
            status=status_of(transcript),
            created_at=transcript.created_at,
            models=[],
            about=f"{transcript.a_tool} {transcript.b_tool}",
        )
    return Entry(
        name=path.name,
        kind="panel",
        tool=transcript.card.name,
        ship_pct=transcript.aggregate.ship_pct,
        status=status_of(transcript),
        created_at=history(transcript)[-1].created_at,
        models=sorted({info.name for info in transcript.models.values()}),
        about=f"{transcript.card.tagline}\n{transcript.card.description}",
        revision=revision_number(transcript),
    )


def list_folder(folder: Path, query: str = "") -> list[Entry]:
    """Panels and comparisons in the folder, newest first (the file written last first among
    those of the same second); `query` keeps those whose tool name, tagline or description holds it."""
    entries: list[tuple[Entry, int]] = []
    for path in folder.glob("*.json") if folder.is_dir() else []:
        if not SAFE_NAME.fullmatch(path.name):
            continue
        try:
            transcript = load_transcript(path)
        except TranscriptError:
            continue  # not a transcript (a manifest, a report); the CLI says why when asked
        entry = entry_for(path, transcript)
        if query.casefold() in f"{entry.tool}\n{entry.about}".casefold():
            entries.append((entry, path.stat().st_mtime_ns))
    entries.sort(key=lambda found: (found[0].created_at, found[1]), reverse=True)
    return [entry for entry, _ in entries]


def folder_votes(folder: Path) -> dict[str, Vote] | None:
    """The community votes file kept beside the transcripts (votes.csv or votes.json), if any."""
    for name in VOTES_FILES:
        if (folder / name).is_file():
            return load_votes(folder / name)
    return None
