"""Diffing two batch folders matches tools by name, and reports the slugs they share."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from panel.batch.run import BatchOptions, run_batch
from panel.cli import app
from tests.support.batches import CARD

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args))


def batch(source: Path, settings, **options):
    notices: list[str] = []
    summary = run_batch(
        source, settings, BatchOptions(hosts=[settings.host], **options), notice=notices.append
    )
    return summary, notices


def test_folder_diff_finds_a_flip_hidden_by_a_slug_collision(ollama, settings, tmp_path: Path):
    source = tmp_path / "tools.jsonl"
    source.write_text("\n".join(json.dumps({**CARD, "name": name}) for name in ("Foo!", "foo?")) + "\n")
    run_a = settings.model_copy(update={"out_dir": tmp_path / "a"})
    run_b = settings.model_copy(update={"out_dir": tmp_path / "b"})
    batch(source, run_a, use_cache=False)

    def foo_bang_skips(body, verdict):
        about_foo_bang = '"name": "Foo!"' in body["messages"][0]["content"]
        return {**verdict, "decision": "skip"} if about_foo_bang else verdict

    ollama.verdict_hook = foo_bang_skips
    batch(source, run_b, use_cache=False)
    result = invoke("diff", str(tmp_path / "a"), str(tmp_path / "b"), "--format", "json")
    assert result.exit_code == 1, result.output
    report = json.loads(result.output)
    assert report["matched"] == 2 and len(report["flips"]) == 4
    assert [tool["tool"] for tool in report["changed"]] == ["Foo!"]
    assert report["slug_collisions"] == {"foo": ["Foo!", "foo?"]}
    terminal = invoke("diff", str(tmp_path / "a"), str(tmp_path / "b"))
    assert terminal.exit_code == 1 and "sharing the slug foo" in terminal.output
