"""Batch inputs and outputs for tests: JSONL rows of a real card, the transcripts and manifest a
batch leaves, the `panel batch` command, and a batch run in a child process (to be killed)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from panel.batch.run import BatchOptions, BatchSummary, run_batch
from panel.cli import app
from panel.records.cards import load_card
from panel.settings import Settings
from tests.support.paths import EXAMPLES

CARD = load_card(EXAMPLES / "pgvector.toml").model_dump(mode="json")
runner = CliRunner()


def write_jsonl(path: Path, count: int, extra_lines: list[str] = ()) -> Path:
    lines = [json.dumps({**CARD, "name": f"tool {number}"}) for number in range(count)]
    path.write_text("\n".join([*lines, *extra_lines]) + "\n", encoding="utf-8")
    return path


def transcripts(out: Path) -> list[Path]:
    return sorted(out.glob("*.json"))


def manifest_hashes(out: Path) -> list[str]:
    return [json.loads(line)["input_hash"] for line in (out / "manifest.jsonl").read_text().splitlines()]


def good_row(number: int) -> str:
    return json.dumps({**CARD, "name": f"tool {number}"})


def batch_cli(*args: str):
    return runner.invoke(app, ["batch", *args])


def run_batch_noting(source: Path, settings: Settings, **options: Any) -> tuple[BatchSummary, list[str]]:
    """run_batch over the settings' host, and the notices it gave."""
    notices: list[str] = []
    summary = run_batch(
        source, settings, BatchOptions(hosts=[settings.host], **options), notice=notices.append
    )
    return summary, notices


BATCH_CHILD = """
import sys
sys.path.insert(0, {root!r})
from panel.batch.run import BatchOptions, run_batch
from panel.settings import Settings
settings = Settings(backend="ollama", host={url!r}, timeout=5, out_dir={out!r})
run_batch({source!r}, settings, BatchOptions(hosts=[{url!r}], slots=4, concurrency=2))
"""
