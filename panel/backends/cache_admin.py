"""`panel cache info|clear`: what the response cache holds, and emptying it.

Clearing deletes the rows and compacts the file rather than removing it: another process (a
batch in another terminal) may have it open, and SQLite keeps that process's view consistent.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from pydantic import BaseModel

from panel.backends.response_cache import ResponseCache
from panel.errors import ConfigError

# SQLite's write-ahead log and its index live beside the file and count toward its size.
COMPANION_SUFFIXES = ("", "-wal", "-shm")


class CacheInfo(BaseModel):
    path: Path
    exists: bool
    bytes: int
    entries: int
    entries_by_model: dict[str, int]


def size_on_disk(path: Path) -> int:
    files = (Path(f"{path}{suffix}") for suffix in COMPANION_SUFFIXES)
    return sum(file.stat().st_size for file in files if file.is_file())


def cache_info(path: Path) -> CacheInfo:
    """The cache at `path` as it is; a missing file is an empty cache (and is not created)."""
    if not os.path.lexists(path):
        return CacheInfo(path=path, exists=False, bytes=0, entries=0, entries_by_model={})
    cache = ResponseCache(path)
    try:
        rows = cache.connection.execute("SELECT model, count(*) FROM replies GROUP BY model").fetchall()
    except sqlite3.Error as error:
        raise ConfigError(f"Cannot read the response cache {path} ({error}).") from None
    finally:
        cache.close()
    by_model = {str(model): int(count) for model, count in sorted(rows)}
    return CacheInfo(
        path=path,
        exists=True,
        bytes=size_on_disk(path),
        entries=sum(by_model.values()),
        entries_by_model=by_model,
    )


def clear_cache(path: Path) -> int:
    """Delete every stored reply and compact the file; returns how many were deleted."""
    if not os.path.lexists(path):
        return 0
    cache = ResponseCache(path)
    try:
        deleted = cache.connection.execute("DELETE FROM replies").rowcount
        cache.connection.execute("VACUUM")
    except sqlite3.Error as error:
        raise ConfigError(f"Cannot clear the response cache {path} ({error}).") from None
    finally:
        cache.close()
    return deleted
