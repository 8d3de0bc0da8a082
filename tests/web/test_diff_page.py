"""`panel diff --format html` in the real Chromium: honest headers (how many reviewers each ship %
rests on, who gave no verdict and why) and unchanged parts folded away without JavaScript."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from panel.cli import app
from panel.settings import Settings
from tests.support.diffs import runs_with_failures
from tests.support.ollama_fake import FakeOllama
from tests.support.optional_packages import import_or_skip

import_or_skip("playwright.sync_api", "the browser tests need playwright (the dev extra)")
runner = CliRunner()


def test_diff_page_names_failed_reviewers_and_folds_unchanged_parts(
    ollama: FakeOllama, settings: Settings, tmp_path: Path, page: Any
):
    with ThreadPoolExecutor(1) as pool:  # the panels run their own event loop, Playwright has one here
        a, b = pool.submit(runs_with_failures, ollama, settings, tmp_path).result()
    html = tmp_path / "diff.html"
    result = runner.invoke(app, ["diff", str(a), str(b), "-o", str(html), "--fail-on", "none"])
    assert result.exit_code == 0, result.output
    page.goto(html.as_uri())
    assert page.locator("script").count() == 0

    summary = page.locator(".summary")
    assert "panel ships, A → B: 100% (4 of 4) → 50% (2 of 4)" in summary.inner_text()
    assert "1 FLIPPED futures" in " ".join(summary.inner_text().split())
    missing = page.locator(".no-verdict")
    assert missing.is_visible() and "No verdict in B: 2 of 4 reviewers failed." in missing.inner_text()
    for persona in ("business", "dx"):
        assert f"{persona}: no valid verdict after 5 attempts; last problem:" in missing.inner_text()
        section = page.locator(f"#persona-{persona}")
        badges = section.locator("h3 .badge").all_inner_texts()
        assert [badge.lower() for badge in badges] == ["no verdict in b"]  # not "flipped"
        reason = section.locator("td .error")
        assert reason.is_visible() and "Field required" in reason.inner_text()

    # A reviewer that changed shows its changed rows; the rest are folded under one summary line.
    futures = page.locator("#persona-futures")
    shown = futures.locator(":scope > table tr td.what").all_inner_texts()
    assert shown == ["decision", "confidence"]
    folded = futures.locator("details.unchanged")
    assert folded.locator("summary").inner_text().startswith("Unchanged: headline, quote, ")
    assert not folded.locator("table").is_visible()

    # An unchanged reviewer is one closed line, opened by a click (no script needed).
    competition = page.locator("#persona-competition")
    assert competition.locator(":scope > table").count() == 0
    details = competition.locator("details.unchanged")
    assert details.locator("summary").inner_text().startswith("Nothing changed: decision, confidence,")
    assert not details.locator("table").is_visible()
    details.locator("summary").click()
    assert details.locator("table").is_visible()
    assert "same" in details.locator("table").inner_text()

    if os.environ.get("PANEL_SCREENSHOTS"):
        page.screenshot(
            path=str(Path(os.environ["PANEL_SCREENSHOTS"]) / "diff-failed-reviewers.png"), full_page=True
        )
