"""Files the panel writes: partials left by a kill are cleaned when old; pages and transcripts
respect the umask."""

from __future__ import annotations

import os
import time
from pathlib import Path

from typer.testing import CliRunner

from panel.cli import app
from tests.support.batches import good_row, run_batch_noting
from tests.support.paths import EXAMPLES

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args))


def test_partials_left_by_a_kill_are_cleaned_when_old(ollama, settings, tmp_path: Path):
    out = settings.out_dir
    out.mkdir(parents=True)
    hour_ago = time.time() - 7200
    old = out / ".tool-1-abc.json.k3j4h5g6.tmp"
    fresh = out / ".tool-2-def.json.a1b2c3d4.tmp"
    unrelated = out / ".notes.tmp"
    elsewhere = tmp_path / "keep.txt"
    link = out / ".tool-3-ghi.json.z9y8x7w6.tmp"
    for path in (old, fresh, unrelated, elsewhere):
        path.write_text("{")
    link.symlink_to(elsewhere)
    for path in (old, unrelated, elsewhere):
        os.utime(path, (hour_ago, hour_ago))
    os.utime(link, (hour_ago, hour_ago), follow_symlinks=False)
    source = tmp_path / "tools.jsonl"
    source.write_text(good_row(1) + "\n")
    summary, _ = run_batch_noting(source, settings)
    assert summary.complete == 1
    assert not old.exists()
    assert fresh.exists() and unrelated.exists() and link.is_symlink() and elsewhere.exists()


def test_pages_and_transcripts_respect_the_umask(ollama, tmp_path: Path):
    umask = os.umask(0o022)
    os.umask(umask)
    expected = 0o666 & ~umask
    out = tmp_path / "out"
    assert (
        invoke("run", str(EXAMPLES / "pgvector.toml"), "--host", ollama.url, "--out", str(out)).exit_code == 0
    )
    transcript = next(out.glob("*.json"))
    page = tmp_path / "page.html"
    assert invoke("render", str(transcript), "-o", str(page)).exit_code == 0
    assert oct(transcript.stat().st_mode & 0o777) == oct(expected)
    assert oct(page.stat().st_mode & 0o777) == oct(expected)
