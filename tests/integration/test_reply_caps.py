"""Replies over their caps: a field over its cap is re-asked, a 20 MB reply is cut and kept with its size."""

from __future__ import annotations

from panel.records.cards import load_card
from panel.store.transcripts import load_transcript
from tests.support.paths import EXAMPLES


def test_a_headline_or_field_over_its_cap_is_re_asked(ollama, settings):
    from panel.engine.runner import run_panel

    calls = []

    def first_reply_too_long(body, verdict):
        calls.append(body)
        if len(calls) == 1:
            return {**verdict, "headline": "w" * 5000}
        if len(calls) == 2:
            field = next(key for key in verdict if key not in ("quote", "headline", "decision", "confidence"))
            return {**verdict, field: "x" * 5000}
        return verdict

    ollama.verdict_hook = first_reply_too_long
    transcript = run_panel(load_card(EXAMPLES / "pgvector.toml"), settings).transcript
    assert not transcript.aggregate.incomplete
    errors = [attempt.error for review in transcript.reviews for attempt in review.attempts if attempt.error]
    assert len(errors) == 2
    assert "headline: Value error, 5,000 characters; write at most 300" in errors[0] + errors[1]
    assert "5,000 characters; write at most 2,000" in errors[0] + errors[1]


def test_a_20_mb_reply_is_kept_cut_with_its_size(ollama, settings):
    from panel.backends.ollama import MAX_REPLY_CHARS
    from panel.engine.runner import run_panel
    from panel.records.verdicts import MAX_RAW_CHARS

    ollama.enqueue("x" * 20_000_000)
    # Streaming 20 MB takes seconds on a loaded machine: give the call time to finish.
    result = run_panel(load_card(EXAMPLES / "pgvector.toml"), settings.model_copy(update={"timeout": 120}))
    assert not result.transcript.aggregate.incomplete
    assert result.path.stat().st_size < 1_000_000
    cut = [
        attempt
        for review in load_transcript(result.path).reviews
        for attempt in review.attempts
        if attempt.raw_chars
    ]
    # Reading stopped at the reply cap (round three): the attempt says so and keeps what was read.
    assert len(cut) == 1 and cut[0].raw_chars == MAX_REPLY_CHARS and "stopped reading" in cut[0].error
    assert cut[0].raw.startswith("x" * MAX_RAW_CHARS) and cut[0].raw.endswith(
        "characters, the first 100,000 kept]"
    )
