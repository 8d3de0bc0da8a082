import json
import os
from pathlib import Path

import pytest

from panel.errors import TranscriptError
from panel.store.transcripts import load_transcript, safe_slug, write_atomic


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("GitHub Copilot", "github-copilot"),
        ("../../etc/passwd", "etc-passwd"),
        ("/absolute/path", "absolute-path"),
        ("...", "tool-" + __import__("hashlib").sha256(b"...").hexdigest()[:6]),
        ("CON", "con-tool"),
        ("Ünïcödé Tööl", "unicode-tool"),
        ("<script>alert(1)</script>", "script-alert-1-script"),
    ],
)
def test_safe_slug(name, slug):
    assert safe_slug(name) == slug


def test_long_names_are_cut():
    slug = safe_slug("x" * 3000)
    assert 0 < len(slug) <= 60 and "/" not in slug
    assert safe_slug("x" * 3000) != safe_slug("x" * 2999)
    assert safe_slug("数据库") != safe_slug("向量") and safe_slug("数据库").startswith("tool-")


def test_write_atomic_replaces_whole_file_and_leaves_no_temp(tmp_path: Path):
    target = tmp_path / "sub" / "file.json"
    write_atomic(target, "first")
    write_atomic(target, "second")
    assert target.read_text() == "second"
    assert os.listdir(target.parent) == ["file.json"]


def test_load_rejects_garbage_and_other_versions(tmp_path: Path):
    garbage = tmp_path / "garbage.json"
    garbage.write_text("{not json")
    with pytest.raises(TranscriptError, match="not a readable transcript"):
        load_transcript(garbage)
    future = tmp_path / "future.json"
    future.write_text(json.dumps({"schema_version": 99, "kind": "panel"}))
    with pytest.raises(TranscriptError, match="schema version 99"):
        load_transcript(future)
    with pytest.raises(TranscriptError, match="no such transcript"):
        load_transcript(tmp_path / "absent.json")
