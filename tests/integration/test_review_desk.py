"""Review mode by id: start, read the pause, answer it, until the panel is saved."""

import pytest

from panel.editor.review_desk import ReviewDesk, UnknownReview
from panel.records.cards import load_card
from panel.records.transcript import PanelTranscript
from panel.store.revisions import InvalidVerdict, find_review
from panel.store.transcripts import load_transcript
from tests.support.paths import EXAMPLES


def edit_values(review, **changes):
    verdict = review.verdict
    return {
        **verdict.fields,
        **verdict.model_dump(include={"decision", "confidence", "headline", "quote"}),
        **changes,
    }


def test_review_started_and_resumed_by_id(ollama, settings):
    desk = ReviewDesk()
    review_id = desk.start(load_card(EXAMPLES / "pgvector.toml"), settings, by="Ed")
    paused = desk.wait(review_id, timeout=30)
    assert paused.stage == "paused" and paused.open_ids == ["business", "competition", "dx", "futures"]

    dx = next(review for review in paused.reviews if review.persona == "dx")
    with pytest.raises(InvalidVerdict):
        desk.resume(review_id, {"dx": "edit"}, {"dx": edit_values(dx, confidence="lots")})
    assert desk.state(review_id).stage == "paused"

    ollama.decisions["CompetitionVerdict"] = "skip"
    desk.resume(
        review_id,
        {"competition": "rerun", "dx": "edit", "business": "lock"},
        {"dx": edit_values(dx, decision="skip", headline="Edited in review")},
    )
    again = desk.wait(review_id, timeout=30)
    assert again.stage == "paused" and again.open_ids == ["competition"]
    desk.resume(review_id, {})
    saved = desk.wait(review_id, timeout=30)
    assert saved.stage == "saved" and saved.path is not None

    transcript = load_transcript(saved.path)
    assert isinstance(transcript, PanelTranscript)
    assert [(r.action, r.persona) for r in transcript.revisions] == [
        ("run", None),
        ("edit", "dx"),
        ("rerun", "competition"),
        ("review", None),
    ]
    assert find_review(transcript, "dx").verdict.headline == "Edited in review"
    assert find_review(transcript, "dx").written_by == "person:Ed"
    assert find_review(transcript, "business").locked
    assert transcript.aggregate.ship_pct == 50

    with pytest.raises(UnknownReview):
        desk.state("nope")
