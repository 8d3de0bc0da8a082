"""What makes a batch's panel the same panel (its input hash), and the manifest of finished
panels with the transcripts it points at: the state that makes a batch resumable."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import threading
import uuid
from pathlib import Path
from typing import Any

from panel.engine.prompt_sets import load_prompt_set
from panel.engine.runner import sampling_options
from panel.errors import PanelError, TranscriptError
from panel.records.cards import ToolCard
from panel.records.personas import LoadedPersona
from panel.records.transcript import SCHEMA_VERSION, PanelTranscript
from panel.settings import Settings, resolve_seed
from panel.store.revisions import is_locked
from panel.store.transcripts import load_transcript, now_utc, safe_slug

# Earlier transcripts of panels that were redone (incomplete, or forced) are copied here.
REPLACED_FOLDER = "replaced"
MANIFEST_NAME = "manifest.jsonl"


def panel_fingerprint(personas: list[LoadedPersona], settings: Settings) -> dict[str, Any]:
    """Everything but the card that decides a panel's output: persona files, prompt templates,
    models, options (the seed setting included) and the transcript schema."""
    return {
        "schema_version": SCHEMA_VERSION,
        "personas": {lp.persona.id: lp.sha256 for lp in personas},
        "templates": load_prompt_set(settings.prompts_dir).templates,
        "models": {lp.persona.id: settings.model_for(lp.persona.id, lp.persona.model) for lp in personas},
        "options": {lp.persona.id: sampling_options(lp.persona, settings, seed=0) for lp in personas},
        "seed": settings.seed,
        "attempts": settings.attempts,
        "quality": settings.quality.model_dump(),
    }


def build_identities(builds: list[tuple[str | None, str | None]]) -> list[str]:
    """What the manifest knows of the builds that answer for a model: each host's digest (a
    pool's hosts serving one build count once), or, where a server reports none, its host, so
    that another server under the same model id is another panel."""
    return sorted({digest if digest is not None else f"host {host}" for host, digest in builds})


def input_hash(card: ToolCard, fingerprint: dict[str, Any]) -> str:
    payload = {"card": card.model_dump(mode="json"), **fingerprint}
    text = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def seed_for(digest: str, settings: Settings) -> int:
    """The panel's seed: the one set, else one derived from the input hash, so that a rerun
    asks the same questions and finds its answers in the cache."""
    return resolve_seed(settings.seed, default=int(digest[:8], 16) % 2**31)


def transcript_path(out_dir: Path, card: ToolCard, digest: str) -> Path:
    return out_dir / f"{safe_slug(card.name)}-{digest[:12]}.json"


# -- the manifest --------------------------------------------------------------------------


class Manifest:
    """manifest.jsonl: one line per complete panel, appended and flushed.

    Lines are not fsynced one by one: the transcript, written atomically and fsynced first, is
    the durable record, and a line lost to a power cut is rebuilt on the next run by adopting
    that transcript. A flushed line survives kill -9. The file is fsynced once when it closes.
    A torn last line (the process died mid-write) is cut off when the file is opened. The file
    is locked while a batch writes to it, so two batches cannot share an output folder.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.finished: set[str] = set()
        self.entries: dict[str, dict[str, Any]] = {}
        self.lock = threading.Lock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.stream = path.open("a+b")
        except OSError as error:
            raise TranscriptError(
                f"Cannot open the manifest {path}: {error}.", hint="Choose another {out_dir} folder."
            ) from None
        self.hold_lock()
        self.load()

    def hold_lock(self) -> None:
        try:
            import fcntl
        except ImportError:  # Windows: no advisory locks; one batch per folder is on the user
            return
        try:
            fcntl.flock(self.stream.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self.stream.close()
            raise TranscriptError(
                f"Another batch is writing to {self.path.parent}.",
                hint="Wait for it to finish, or give this one another {out_dir} folder.",
            ) from None

    def load(self) -> None:
        self.stream.seek(0)
        good_end = 0
        for line in self.stream:
            if not line.endswith(b"\n"):
                break
            try:
                entry = json.loads(line)
                self.finished.add(str(entry["input_hash"]))
                self.entries[str(entry["input_hash"])] = entry
            except (ValueError, KeyError, TypeError):
                pass
            good_end += len(line)
        self.stream.truncate(good_end)
        self.stream.seek(0, os.SEEK_END)

    def __contains__(self, digest: str) -> bool:
        return digest in self.finished

    def append(self, entry: dict[str, Any]) -> None:
        line = (json.dumps(entry, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")
        with self.lock:
            self.stream.write(line)
            self.stream.flush()
            self.finished.add(entry["input_hash"])
            self.entries[entry["input_hash"]] = entry

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.fsync(self.stream.fileno())
        self.stream.close()


def manifest_entry(digest: str, source: str, transcript: PanelTranscript, path: Path) -> dict[str, Any]:
    return {
        "input_hash": digest,
        "source": source,
        "tool": transcript.card.name,
        "transcript": path.name,
        "ship_pct": transcript.aggregate.ship_pct,
        "finished_at": transcript.created_at.isoformat(),
    }


def existing_transcript(path: Path) -> PanelTranscript | None:
    """The panel transcript already at this row's path, if one parses there."""
    if not path.is_file():
        return None
    try:
        transcript = load_transcript(path)
    except PanelError:
        return None
    return transcript if isinstance(transcript, PanelTranscript) else None


def adopt_orphan(transcript: PanelTranscript | None) -> PanelTranscript | None:
    """A complete transcript written just before a crash, before its manifest line."""
    return transcript if transcript is not None and not transcript.aggregate.incomplete else None


def keep_previous(path: Path) -> None:
    """Copy a transcript about to be redone (an incomplete panel's failed attempts, or a forced
    redo of an edited one) into OUT/replaced/, so no raw output is lost."""
    if path.is_file():
        archive = (
            path.parent
            / REPLACED_FOLDER
            / f"{path.stem}-{now_utc().strftime('%Y%m%dT%H%M%SZ')}-{uuid.uuid4().hex[:6]}.json"
        )
        archive.parent.mkdir(exist_ok=True)
        shutil.copy2(path, archive)


def edited_by_hand(transcript: PanelTranscript | None) -> bool:
    """An editor reran, edited or locked a verdict here: redoing the panel would throw that away."""
    return transcript is not None and (
        bool(transcript.revisions) or any(is_locked(review) for review in transcript.reviews)
    )
