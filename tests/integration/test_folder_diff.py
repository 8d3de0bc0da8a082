"""Diffing two batch folders matches tools by name, and reports the slugs they share."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from panel.cli import app
from tests.support.batches import CARD, run_batch_noting
from tests.support.diffs import runs_with_failures

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args))


def test_folder_diff_finds_a_flip_hidden_by_a_slug_collision(ollama, settings, tmp_path: Path):
    source = tmp_path / "tools.jsonl"
    source.write_text("\n".join(json.dumps({**CARD, "name": name}) for name in ("Foo!", "foo?")) + "\n")
    run_a = settings.model_copy(update={"out_dir": tmp_path / "a"})
    run_b = settings.model_copy(update={"out_dir": tmp_path / "b"})
    run_batch_noting(source, run_a, use_cache=False)

    def foo_bang_skips(body, verdict):
        about_foo_bang = '"name": "Foo!"' in body["messages"][0]["content"]
        return {**verdict, "decision": "skip"} if about_foo_bang else verdict

    ollama.verdict_hook = foo_bang_skips
    run_batch_noting(source, run_b, use_cache=False)
    result = invoke("diff", str(tmp_path / "a"), str(tmp_path / "b"), "--format", "json")
    assert result.exit_code == 1, result.output
    report = json.loads(result.output)
    assert report["matched"] == 2 and len(report["flips"]) == 4
    assert [tool["tool"] for tool in report["changed"]] == ["Foo!"]
    assert report["slug_collisions"] == {"foo": ["Foo!", "foo?"]}
    terminal = invoke("diff", str(tmp_path / "a"), str(tmp_path / "b"))
    assert terminal.exit_code == 1 and "sharing the slug foo" in terminal.output


def test_folder_diff_counts_and_names_failed_reviewers(ollama, settings, tmp_path: Path):
    runs_with_failures(ollama, settings, tmp_path)
    a, b = str(tmp_path / "run-1"), str(tmp_path / "run-2")
    report = json.loads(invoke("diff", a, b, "--format", "json").output)
    [tool] = report["changed"]
    assert tool["header"] == "100% (4 of 4) → 50% (2 of 4)" and tool["flips"] == ["futures"]
    assert [f["persona"] for f in tool["panel_after"]["failed"]] == ["business", "dx"]
    assert report["flips_per_persona"] == {"business": 0, "competition": 0, "dx": 0, "futures": 1}
    markdown = invoke("diff", a, b, "--format", "md").output
    assert "| pgvector | 100% (4 of 4) | 50% (2 of 4) | futures | B: business, dx |" in markdown
    assert "- **No verdict in pgvector, B:** business (no valid verdict after 5 attempts" in markdown
    terminal = invoke("diff", a, b).output
    assert "100% (4 of 4)" in terminal and "No verdict in pgvector, B: business (no valid" in terminal
