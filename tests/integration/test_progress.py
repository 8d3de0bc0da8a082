"""Live progress from the library: the events a panel run sends to `on_progress`, in the order
they happen, over the Ollama fake (real HTTP)."""

from __future__ import annotations

from pathlib import Path

from panel.engine.runner import compare_tools, run_panel
from panel.records.progress import ProgressEvent, progress_text
from panel.settings import Settings
from tests.support.paths import EXAMPLES, ROOT


def dx_only(tmp_path: Path, settings: Settings) -> Settings:
    folder = tmp_path / "dx-only"
    folder.mkdir()
    (folder / "dx.toml").write_text((ROOT / "personas" / "dx.toml").read_text())
    return settings.model_copy(update={"personas_dir": folder})


def steps(events: list[ProgressEvent]) -> list[tuple[str, int]]:
    return [(event.kind, event.attempt) for event in events]


def test_a_reviewer_s_steps_arrive_in_order_with_the_re_ask_and_the_retry(
    ollama, settings: Settings, card_path, tmp_path
):
    ollama.enqueue("this is not JSON", 503)  # a re-ask, then a transport error that is retried
    events: list[ProgressEvent] = []
    result = run_panel(card_path, dx_only(tmp_path, settings), on_progress=events.append)
    assert result.transcript.reviews[0].status == "ok"
    assert steps(events) == [("waiting", 0), ("attempt", 1), ("re_ask", 2), ("retrying", 2), ("done", 2)]
    assert {(event.persona, event.tool, event.attempts) for event in events[1:]} == {
        ("dx", "pgvector", settings.attempts)
    }
    waiting, first, re_ask, retrying, done = events
    assert "not valid JSON" in re_ask.detail
    assert progress_text(re_ask).startswith(
        "attempt 2 of 5 · 120 tokens — re-asked: the reply is not valid JSON"
    )
    assert "503" in retrying.detail
    assert done.detail == "ship"
    # tokens so far: none before the first reply, then the completion tokens of the replies
    assert (first.tokens, re_ask.tokens, done.tokens) == (None, 120, 240)
    assert progress_text(done) == "done: ship · attempt 2 of 5 · 240 tokens"


def test_a_reviewer_that_never_answers_well_ends_failed_with_the_reason(
    ollama, settings: Settings, card_path, tmp_path
):
    ollama.enqueue(*["{}"] * settings.attempts)
    events: list[ProgressEvent] = []
    run_panel(card_path, dx_only(tmp_path, settings), on_progress=events.append)
    assert steps(events) == [("waiting", 0), ("attempt", 1)] + [("re_ask", n) for n in range(2, 6)] + [
        ("failed", 5)
    ]
    assert events[-1].detail.startswith("no valid verdict after 5 attempts")
    assert progress_text(events[-1]).startswith("failed: no valid verdict after 5 attempts")


def test_every_reviewer_of_both_tools_waits_asks_and_finishes(ollama, settings: Settings):
    events: list[ProgressEvent] = []
    compare_tools(EXAMPLES / "pgvector.toml", EXAMPLES / "qwen3-8b.toml", settings, on_progress=events.append)
    reviewers = {(event.tool, event.persona) for event in events}
    assert len(reviewers) == 8 and {tool for tool, _ in reviewers} == {"pgvector", "Qwen3 8B"}
    for tool, persona in reviewers:
        own = [event.kind for event in events if (event.tool, event.persona) == (tool, persona)]
        assert own == ["waiting", "attempt", "done"], (tool, persona)


def test_a_callback_that_raises_does_not_fail_the_review(ollama, settings: Settings, card_path, tmp_path):
    def broken(event: ProgressEvent) -> None:
        raise RuntimeError("the display fell over")

    result = run_panel(card_path, dx_only(tmp_path, settings), on_progress=broken)
    assert result.transcript.reviews[0].status == "ok"
