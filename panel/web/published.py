"""Which panels the studio has published, and at which revision: a small JSON ledger beside the
pages (`published.json` in the publish folder), for the list's "published" marker."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from panel.store.transcripts import now_utc, write_atomic

LEDGER = "published.json"
MAX_LEDGER_BYTES = 4 * 1024 * 1024


@dataclass
class PublishedPages:
    """Transcript file name -> the pages written from it (folder-relative path, revision, when)."""

    publish_dir: Path

    @property
    def path(self) -> Path:
        return self.publish_dir / LEDGER

    def read(self) -> dict[str, list[dict[str, Any]]]:
        """The ledger; {} when there is none or it cannot be read (a marker is not worth an error)."""
        try:
            if self.path.stat().st_size > MAX_LEDGER_BYTES:
                return {}
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def pages_of(self, name: str) -> list[dict[str, Any]]:
        pages = self.read().get(name, [])
        return pages if isinstance(pages, list) else []

    def record(self, revisions: dict[str, int], page: Path) -> None:
        """Note that `page` was written from each transcript in `revisions` (name -> revision)."""
        ledger = self.read()
        shown = (
            str(page.relative_to(self.publish_dir)) if page.is_relative_to(self.publish_dir) else str(page)
        )
        for name, revision in revisions.items():
            kept = [entry for entry in ledger.get(name, []) if entry.get("page") != shown]
            ledger[name] = [*kept, {"page": shown, "revision": revision, "at": now_utc().isoformat()}]
        write_atomic(self.path, json.dumps(ledger, indent=2) + "\n")


def latest_published(pages: list[dict[str, Any]]) -> int | None:
    """The newest revision any of these pages was written from."""
    revisions = [entry.get("revision") for entry in pages if isinstance(entry.get("revision"), int)]
    return max(revisions) if revisions else None
