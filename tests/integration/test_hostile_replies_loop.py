"""Hostile replies through the real verdict loop over the Ollama fake: none is ever published,
and a re-ask names the fault so that the next reply can mend it (issue 22, items 1 and 2)."""

from pathlib import Path

import pytest

from panel.engine.runner import run_panel
from panel.settings import Settings
from tests.support.ollama_fake import chat_body, json_response
from tests.support.paths import EXAMPLES
from tests.support.reviews import HOSTILE, PUBLISHABLE, hostile_review, reply_json

PERSONAS = EXAMPLES.parent.parent / "personas"
REVIEWS = Path(__file__).parent.parent / "support" / "reviews"


def one_persona(tmp_path: Path, persona: str) -> Path:
    folder = tmp_path / "personas"
    folder.mkdir()
    (folder / f"{persona}.toml").write_text((PERSONAS / f"{persona}.toml").read_text())
    return folder


def card_file(name: str) -> Path:
    return EXAMPLES / name if (EXAMPLES / name).is_file() else REVIEWS / name


def answering(review: dict):
    def reply(body):
        return json_response(chat_body(body["model"], reply_json(review)))

    return reply


@pytest.mark.parametrize("reply", HOSTILE, ids=[reply["kind"] for reply in HOSTILE])
def test_no_hostile_reply_is_published(reply, ollama, settings: Settings, tmp_path: Path):
    settings = settings.model_copy(
        update={"personas_dir": one_persona(tmp_path, reply["persona"]), "attempts": 2}
    )
    ollama.enqueue(*[answering(hostile_review(reply))] * 2)
    transcript = run_panel(card_file(reply["card"]), settings).transcript
    review = transcript.reviews[0]
    assert review.status == "failed" and review.verdict is None
    assert all(reply["refused_because"] in attempt.error for attempt in review.attempts)
    assert transcript.aggregate.failed == [reply["persona"]] and transcript.aggregate.ship_pct is None


def test_a_copy_of_the_card_is_re_asked_with_the_copied_run_quoted_and_warmer(
    ollama, settings: Settings, tmp_path: Path
):
    copied = next(reply for reply in HOSTILE if reply["kind"] == "the card copied word for word")
    good = next(r for r in PUBLISHABLE if (r["card"], r["persona"]) == ("pgvector.toml", "dx"))
    settings = settings.model_copy(update={"personas_dir": one_persona(tmp_path, "dx")})
    ollama.enqueue(answering(hostile_review(copied)), answering(good))
    review = run_panel(card_file("pgvector.toml"), settings).transcript.reviews[0]
    assert [attempt.outcome for attempt in review.attempts] == ["invalid", "valid"]
    note = review.attempts[1].messages[-1]["content"]
    # the run it copied, quoted, and a plain instruction
    run = "extension that adds a vector column type and exact and approximate nearest"
    assert f'copies the tool card word for word: "{run}".' in note
    assert "Say it in your own words; name the tool, don't describe it." in note
    assert review.verdict.quote == good["quote"]
    # asked again with another seed and a warmer temperature (dx samples at 0.6)
    first, second = (call["options"] for call in ollama.chats)
    assert (first["seed"], second["seed"]) == (settings.seed, settings.seed + 7919)
    assert (first["temperature"], second["temperature"]) == (0.6, 0.7)
