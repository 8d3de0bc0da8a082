import time

from panel import run_panel
from panel.settings import Settings
from tests.support.ollama_fake import start_fake_ollama, stop_fake_ollama


def test_personas_run_in_parallel(card_path, tmp_path):
    """Four calls that take 0.5 s each, served concurrently, finish well under 2 s."""
    fake = start_fake_ollama(latency=0.5)
    try:
        settings = Settings(backend="ollama", host=fake.url, seed=1, timeout=10, out_dir=tmp_path)
        started = time.perf_counter()
        result = run_panel(card_path, settings)
        elapsed = time.perf_counter() - started
    finally:
        stop_fake_ollama(fake)
    assert len(result.transcript.verdicts) == 4
    assert elapsed < 1.5, f"panel took {elapsed:.2f} s; the personas did not run in parallel"


def test_one_persona_crashing_does_not_cancel_the_others(ollama, settings, card_path, monkeypatch):
    from panel.engine import graph

    real = graph.review_persona

    async def flaky(backend, persona, *args, **kwargs):
        if persona.id == "futures":
            raise RuntimeError("unexpected bug")
        return await real(backend, persona, *args, **kwargs)

    monkeypatch.setattr(graph, "review_persona", flaky)
    transcript = run_panel(card_path, settings).transcript
    statuses = {review.persona: review.status for review in transcript.reviews}
    assert statuses == {"business": "ok", "competition": "ok", "dx": "ok", "futures": "failed"}
    assert "RuntimeError: unexpected bug" in transcript.reviews[3].error
    assert transcript.aggregate.ship_pct == 100 and transcript.aggregate.incomplete
