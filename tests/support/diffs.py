"""Two runs of one tool for the diff tests: run B loses two reviewers (invalid output on every
attempt) and a third flips, so the diff has something honest to say about missing reviewers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from panel import run_panel
from panel.settings import Settings
from tests.support.ollama_fake import FakeOllama
from tests.support.paths import EXAMPLES

PGVECTOR = EXAMPLES / "pgvector.toml"
FAILING = ("BusinessVerdict", "DxVerdict")


def loses_two(body: dict[str, Any], verdict: dict[str, Any]) -> dict[str, Any]:
    """Business and dx answer "maybe" on every attempt (never valid); futures skips."""
    title = body["format"]["title"]
    if title in FAILING:
        return {"decision": "maybe"}
    if title == "FuturesVerdict":
        return {**verdict, "decision": "skip", "confidence": 0.6}
    return verdict


def runs_with_failures(ollama: FakeOllama, settings: Settings, tmp_path: Path) -> tuple[Path, Path]:
    """(run A: 100% of 4 reviewers, run B: 50% of 2, business and dx failed, futures flipped)."""
    paths = []
    for seed, hook in ((1, None), (2, loses_two)):
        ollama.verdict_hook = hook
        update = {"seed": seed, "out_dir": tmp_path / f"run-{seed}"}
        result = run_panel(PGVECTOR, settings.model_copy(update=update))
        assert result.path is not None
        paths.append(result.path)
    return paths[0], paths[1]
