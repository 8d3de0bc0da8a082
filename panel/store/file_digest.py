"""sha256 of a large file (a GGUF model), computed once per file version: cached in memory and in
the user's cache folder by path, size and modification time."""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path

from panel.settings import user_cache_dir

_digests: dict[tuple[str, int, int], str] = {}
_digests_lock = threading.Lock()


def digest_cache_file() -> Path:
    return user_cache_dir() / "gguf-sha256.json"


def hash_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_digest_cache(cache: Path) -> dict[str, str]:
    try:
        data = json.loads(cache.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def write_digest_cache(cache: Path, entries: dict[str, str]) -> None:
    """Best effort: the disk cache only saves time, so a read-only home is not an error."""
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        temporary = cache.with_name(f"{cache.name}.{os.getpid()}.tmp")
        temporary.write_text(json.dumps(entries, indent=1, sort_keys=True), encoding="utf-8")
        os.replace(temporary, cache)
    except OSError:
        pass


def file_sha256(path: Path) -> str:
    """sha256 of the file, cached in memory and on disk by path, size and mtime."""
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    with _digests_lock:
        if key in _digests:
            return _digests[key]
        cache = digest_cache_file()
        entries = read_digest_cache(cache)
        disk_key = f"{key[0]}|{key[1]}|{key[2]}"
        digest = entries.get(disk_key)
        if digest is None:
            digest = hash_file(path)
            entries[disk_key] = digest
            write_digest_cache(cache, entries)
        _digests[key] = digest
        return digest
