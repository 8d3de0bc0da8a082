"""The live run page in the real Chromium: each reviewer's box shows its steps as they happen
(attempt, re-ask, done), then its verdict with the last step kept beneath."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from tests.support.optional_packages import import_or_skip

import_or_skip("playwright.sync_api", "the browser tests need playwright (the dev extra)")
for module in ("starlette", "uvicorn", "multipart"):
    import_or_skip(module, "the studio tests need the studio extra")
from tests.support.studio_server import RunningStudio, running_studio  # noqa: E402

CARD = {
    "name": "pgvector",
    "tagline": "Vector search inside Postgres",
    "category": "Vector database",
    "description": "A Postgres extension that adds vector similarity search.",
    "maker": "Andrew Kane",
    "license": "PostgreSQL",
    "pricing": "Free",
    "facts": "HNSW and IVFFlat indexes.",
}


@pytest.fixture
def studio(settings, tmp_path) -> Iterator[RunningStudio]:
    with running_studio(settings.out_dir, settings, tmp_path / "published") as running:
        yield running


def test_reviewer_boxes_show_each_attempt_then_the_verdict_and_how_it_was_reached(page, studio, ollama):
    # One request at a time, 0.4 s each: the page has time to show every step.
    ollama.latency, ollama.busy = 0.4, threading.Semaphore(1)
    ollama.enqueue("this is not JSON")  # the first reviewer asked is asked again
    page.goto(studio.url + "/new")
    for field, value in CARD.items():
        page.fill(f"#card-{field}", value)
    page.click("#run")
    page.wait_for_selector(".box.waiting .state:text-matches('^attempt 1 of 5')", timeout=20_000)
    re_asked = page.locator(".box", has_text="re-asked: the reply is not valid JSON")
    re_asked.wait_for(timeout=20_000)
    page.wait_for_selector("#job-done:not([hidden])", timeout=30_000)
    steps = page.locator(".box .step").all_inner_texts()
    assert len(steps) == 4 and all(step.startswith("done: ship · attempt ") for step in steps)
    assert sorted(step.split(" · ")[1] for step in steps) == [
        "attempt 1 of 5",
        "attempt 1 of 5",
        "attempt 1 of 5",
        "attempt 2 of 5",
    ]
    assert page.locator(".box.ship .state").all_inner_texts() == ["ship · confidence 0.80"] * 4
