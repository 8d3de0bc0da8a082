"""Model faults in a batch, against the Ollama-speaking server: the batch always finishes."""

from pathlib import Path

from panel.batch import BatchOptions, run_batch
from panel.transcripts import load_transcript
from tests.test_batch import transcripts, write_jsonl


def test_model_vanishing_mid_batch(ollama, settings, tmp_path: Path):
    source = write_jsonl(tmp_path / "tools.jsonl", 4)
    served = []

    def vanish_after_first_panel(body, verdict):
        served.append(body["model"])
        if len(served) == 4:
            ollama.models.clear()  # `ollama rm` on the server: /api/chat now answers 404
        return verdict

    ollama.verdict_hook = vanish_after_first_panel
    summary = run_batch(source, settings, BatchOptions(hosts=[settings.host], concurrency=1, slots=4))
    assert summary.complete == 1 and summary.incomplete == 3 and not summary.ok
    failed = [load_transcript(path) for path in transcripts(settings.out_dir)]
    broken = [t for t in failed if t.aggregate.incomplete]
    assert len(broken) == 3
    for transcript in broken:
        assert transcript.aggregate.ship_pct is None
        assert all("ollama pull llama3.1:8b" in review.error for review in transcript.reviews)
