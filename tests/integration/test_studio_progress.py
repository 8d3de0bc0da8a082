"""The studio's live run over real HTTP: each reviewer's steps arrive on the run's SSE stream as
they happen, before its review and before the end of the run."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import httpx
import pytest

from tests.support.optional_packages import import_or_skip

for module in ("starlette", "uvicorn", "multipart"):
    import_or_skip(module, "the studio tests need the studio extra")
from tests.support.cards import STUDIO_FORM as CARD  # noqa: E402
from tests.support.studio_server import RunningStudio, running_studio  # noqa: E402

PERSONAS = ["dx", "competition", "futures", "business"]


@pytest.fixture
def studio(settings, tmp_path) -> Iterator[RunningStudio]:
    with running_studio(settings.out_dir, settings, tmp_path / "published") as running:
        yield running


def run_events(studio: RunningStudio) -> list[tuple[str, dict]]:
    """Start a run from the new-panel form and read its event stream to the end."""
    with httpx.Client(base_url=studio.url, timeout=30) as client:
        form = client.get("/new").text
        csrf = re.search(r'name="csrf-token" content="([0-9a-f]+)"', form)
        assert csrf
        started = client.post("/new", data={**CARD, "csrf": csrf.group(1)})
        assert started.status_code == 303
        with client.stream("GET", started.headers["location"] + "/events") as stream:
            text = "".join(stream.iter_text())
    events = []
    for block in text.strip().split("\n\n"):
        kind, data = block.split("\n", 1)
        events.append((kind.removeprefix("event: "), json.loads(data.removeprefix("data: "))))
    return events


def test_each_reviewer_s_steps_stream_before_its_review_and_the_end(studio, ollama):
    ollama.enqueue("this is not JSON")  # one reviewer is re-asked
    events = run_events(studio)
    assert events[-1][0] == "done"
    for persona in PERSONAS:
        own = [(kind, data) for kind, data in events if data.get("persona") == persona]
        assert [data.get("kind") for kind, data in own if kind == "progress"][:2] == ["waiting", "attempt"]
        assert own[-2][1]["kind"] == "done" and own[-2][1]["text"].startswith("done: ship · attempt")
        assert own[-1][0] == "review"  # its verdict comes after its last step
    [re_ask] = [data for _, data in events if data.get("kind") == "re_ask"]
    assert re_ask["attempt"] == 2 and re_ask["tool"] == "pgvector"
    assert re_ask["text"].startswith("attempt 2 of 5 · 120 tokens — re-asked: the reply is not valid JSON")
