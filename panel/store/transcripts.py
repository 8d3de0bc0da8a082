"""Transcripts on disk: written atomically under a safe name, read back through the guarded
reader, scanned by folder."""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import time
import unicodedata
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from panel.errors import TranscriptError, describe_validation_error
from panel.records.cards import AS_STORED
from panel.records.transcript import (
    MAX_SLUG_LENGTH,
    PARTIAL_NAME,
    PARTIAL_SUFFIX,
    SCHEMA_VERSION,
    STALE_PARTIAL_SECONDS,
    WINDOWS_RESERVED,
    ComparisonTranscript,
    PanelTranscript,
    Transcript,
    TranscriptFile,
)
from panel.regular_files import FileKind, read_regular_text


def safe_slug(name: str) -> str:
    """A file-name-safe slug: ASCII letters, digits and dashes, never a path or a device name.

    Names that lose everything (all non-Latin) or get cut keep a short hash, so two such tools
    do not share a slug."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")
    fingerprint = hashlib.sha256(name.encode("utf-8")).hexdigest()[:6]
    if not slug:
        return f"tool-{fingerprint}"
    if len(slug) > MAX_SLUG_LENGTH:
        slug = f"{slug[: MAX_SLUG_LENGTH - 7].strip('-')}-{fingerprint}"
    return f"{slug}-tool" if slug in WINDOWS_RESERVED else slug


def now_utc() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def transcript_name(slug: str, created_at: datetime, transcript_id: str) -> str:
    return f"{slug}-{created_at.strftime('%Y%m%dT%H%M%SZ')}-{transcript_id[:6]}.json"


@cache
def file_mode() -> int:
    """The mode a new file gets under this process's umask (mkstemp's own is 0600). Read once:
    setting the umask to read it is process-wide, so it is not done again from other threads."""
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


def write_atomic(path: Path, text: str) -> None:
    """Write to a temporary file in the same folder, fsync, then rename over the target."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=PARTIAL_SUFFIX)
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(handle, file_mode())
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_file(path: Path, text: str, failure: str, hint: str | None = None) -> None:
    """write_atomic, with an OSError reported as a TranscriptError: `failure` says what could
    not be written ("Cannot write the transcript to PATH"), the OS error follows."""
    try:
        write_atomic(path, text)
    except OSError as error:
        raise TranscriptError(f"{failure}: {error}.", hint=hint) from None


def remove_stale_partials(folder: Path, older_than: float = STALE_PARTIAL_SECONDS) -> int:
    """Delete the temporary files write_atomic leaves when killed mid-write: only names it
    makes (`.NAME.json.XXXX.tmp`), only plain files, only ones untouched for `older_than`
    seconds (a write in progress is never that old). Returns how many went."""
    removed = 0
    cutoff = time.time() - older_than
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return 0
    for entry in entries:
        if not PARTIAL_NAME.fullmatch(entry.name):
            continue
        try:
            if entry.is_file(follow_symlinks=False) and entry.stat(follow_symlinks=False).st_mtime < cutoff:
                os.unlink(entry.path)
                removed += 1
        except OSError:
            continue
    return removed


def save_transcript(transcript: Transcript, out_dir: Path, slug: str) -> Path:
    """Write the transcript under `out_dir` with a safe, unique name; return its path."""
    path = Path(out_dir) / transcript_name(safe_slug(slug), transcript.created_at, transcript.id)
    remove_stale_partials(path.parent)
    text = transcript.model_dump_json(indent=2) + "\n"
    write_file(path, text, f"Cannot write the transcript to {path}", hint="Choose another {out_dir} folder.")
    return path


def load_panel_transcript(path: str | Path, command: str) -> PanelTranscript:
    """A panel transcript, or a TranscriptError naming the command that needs one."""
    return panel_only(load_transcript(path), path, command)


def panel_only(loaded: Transcript, path: str | Path, command: str) -> PanelTranscript:
    if not isinstance(loaded, PanelTranscript):
        raise TranscriptError(
            f"{path} is a comparison transcript; {command} works on panel transcripts. Use one of "
            f"the two panels it names: {loaded.a_transcript} or {loaded.b_transcript}."
        )
    return loaded


def panel_transcripts_in(folder: Path) -> list[tuple[PanelTranscript, Path]]:
    """Every panel transcript in the folder, by file name. Other JSON (a manifest, comparisons,
    stability reports) is passed over; a .json file that is not readable JSON is reported, not
    passed over, so a damaged transcript never goes unseen."""
    found = []
    for path in sorted(Path(folder).glob("*.json")):
        data = read_transcript_data(path, "JSON file")
        if isinstance(data, dict) and data.get("kind") == "panel":
            found.append(
                (panel_only(transcript_from_data(data, path), path, "reading a folder of panels"), path)
            )
    return found


def resolve_side(side: str, comparison_path: Path) -> Path:
    """A comparison names its panels by the path they were written to; try it as given, then
    beside the comparison file (the folder may have moved)."""
    path = Path(side)
    if path.exists():
        return path
    return Path(comparison_path).parent / path.name


TRANSCRIPT_FILE = FileKind(noun="transcript", expected="a transcript file (.json)", error=TranscriptError)


def read_transcript_data(path: Path, what: str = "transcript JSON file") -> Any:
    """The JSON in a transcript file (a regular file, read with the cap)."""
    text = read_regular_text(path, TRANSCRIPT_FILE)
    try:
        return json.loads(text)
    except RecursionError:
        raise TranscriptError(f"{path} is not a transcript: its JSON is nested too deeply.") from None
    except ValueError as error:  # bad JSON, or an integer past Python's digit limit
        detail = " ".join(str(error).split())[:300]
        raise TranscriptError(f"{path} is not a readable {what} ({detail}).") from None


def load_transcript(path: str | Path) -> Transcript:
    """Read a panel or comparison transcript, checking its schema version."""
    path = Path(path)
    return transcript_from_data(read_transcript_data(path), path)


def transcript_from_data(data: Any, path: Path) -> Transcript:
    if not isinstance(data, dict) or data.get("schema_version") != SCHEMA_VERSION:
        found = data.get("schema_version") if isinstance(data, dict) else None
        raise TranscriptError(
            f"{path}: transcript schema version {found!r} is not {SCHEMA_VERSION}; "
            "it was written by another version of reviewer-panel."
        )
    try:
        # AS_STORED: a card's links were checked when it ran; an older transcript still opens.
        return TranscriptFile.model_validate({"transcript": data}, context=AS_STORED).transcript
    except ValidationError as error:
        raise TranscriptError(
            f"{path} is not a valid transcript: {describe_validation_error(error)}."
        ) from None


def summarize_panel(transcript: PanelTranscript, path: Path | None) -> dict[str, Any]:
    """The stable JSON summary of a panel that `--json` prints and scripts rely on."""
    aggregate = transcript.aggregate
    return {
        "tool": transcript.card.name,
        "slug": transcript.tool_slug,
        "pricing": transcript.card.pricing,
        "ship_pct": aggregate.ship_pct,
        "split": aggregate.split,
        "consensus": aggregate.consensus,
        "verdicts": [
            {
                "persona": verdict.persona,
                "decision": verdict.decision,
                "confidence": verdict.confidence,
                "headline": verdict.headline,
                "quote": verdict.quote,
                "fields": verdict.fields,
            }
            for verdict in transcript.verdicts
        ],
        "failed": aggregate.failed,
        "errors": {review.persona: review.error for review in transcript.reviews if review.status != "ok"},
        "incomplete": aggregate.incomplete,
        "backend": transcript.backend.get("name"),
        "models": {persona: info.name for persona, info in transcript.models.items()},
        "seed": transcript.seed,
        "prompts": {"name": transcript.prompts.name, "sha256": transcript.prompts.sha256},
        "seconds": transcript.seconds,
        "transcript": str(path) if path else None,
    }


def summarize_comparison(
    transcript: ComparisonTranscript, a: dict[str, Any], b: dict[str, Any], path: Path | None
) -> dict[str, Any]:
    winner = {"a": transcript.a_tool, "b": transcript.b_tool}.get(transcript.comparison.winner)
    return {
        "a": a,
        "b": b,
        "winner": winner,
        "winner_side": transcript.comparison.winner,
        "reason": transcript.comparison.reason,
        "called": transcript.comparison.called,
        "reviewers": {side: count.model_dump() for side, count in transcript.comparison.reviewers.items()},
        "rerun": transcript.comparison.rerun,
        "transcript": str(path) if path else None,
    }
