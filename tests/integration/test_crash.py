"""Crash safety: kill -9 a 50-panel batch at random moments, ten times, rerunning after each.
Every panel must end present exactly once, and every file left in the folder must parse."""

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from panel.batch.run import BatchOptions, run_batch
from panel.settings import Settings
from panel.store.transcripts import load_transcript
from tests.support.batches import BATCH_CHILD, manifest_hashes, transcripts, write_jsonl
from tests.support.ollama_fake import start_fake_ollama, stop_fake_ollama
from tests.support.paths import ROOT

PANELS = 50
KILLS = 10


def test_ten_random_kill_9s_then_every_panel_exactly_once(tmp_path: Path):
    chooser = random.Random(20261125)
    fake = start_fake_ollama(latency=0.5)
    source = write_jsonl(tmp_path / "tools.jsonl", PANELS)
    out = tmp_path / "out"
    script = BATCH_CHILD.format(root=str(ROOT), url=fake.url, out=str(out), source=str(source))
    killed = 0
    try:
        for _ in range(KILLS):
            child = subprocess.Popen(
                [sys.executable, "-c", script], env={**os.environ, "PYTHONPATH": str(ROOT)}
            )
            # Start-up (imports) takes about a second; kill anywhere from before the first panel
            # to well into the batch.
            time.sleep(chooser.uniform(0.3, 2.2))
            if child.poll() is None:
                child.send_signal(signal.SIGKILL)
                killed += 1
            child.wait()
        settings = Settings(backend="ollama", host=fake.url, timeout=5, out_dir=out)
        summary = run_batch(source, settings, BatchOptions(hosts=[fake.url]))
    finally:
        stop_fake_ollama(fake)
    assert killed == KILLS, "every run should have been killed mid-way"
    assert summary.ok
    hashes = manifest_hashes(out)
    assert len(hashes) == len(set(hashes)) == PANELS
    names = sorted(load_transcript(path).card.name for path in transcripts(out))
    assert names == sorted(f"tool {number}" for number in range(PANELS))
    for path in out.iterdir():
        if path.suffix == ".json":
            json.loads(path.read_text())
        elif path.name == "manifest.jsonl":
            for line in path.read_text().splitlines():
                json.loads(line)
