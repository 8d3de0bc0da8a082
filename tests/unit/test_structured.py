import json

import pytest

from panel.engine.verdict_loop import InvalidOutput, parse_verdict
from panel.records.chat import ChatReply
from panel.records.personas import load_personas, verdict_model

DX = next(lp.persona for lp in load_personas() if lp.persona.id == "dx")
SHAPE = verdict_model(DX)


def good(**changes):
    verdict = {name: f"about {name}" for name in DX.fields}
    verdict |= {"quote": "It works.", "headline": "Ship it", "decision": "ship", "confidence": 0.7}
    return json.dumps(verdict | changes)


def test_valid_reply_becomes_a_verdict():
    verdict = parse_verdict(ChatReply(content=good()), SHAPE, "dx")
    assert verdict.decision == "ship" and verdict.confidence == 0.7
    assert set(verdict.fields) == set(DX.fields)


@pytest.mark.parametrize(
    ("reply", "problem"),
    [
        (ChatReply(content=""), "empty"),
        (ChatReply(content="   "), "empty"),
        (ChatReply(content='{"quote": "cut', done_reason="length"), "cut off"),
        (ChatReply(content="Sure! Here is my verdict"), "not valid JSON"),
        (ChatReply(content="[1, 2]"), "JSON object"),
        (ChatReply(content=good(decision="maybe")), "decision"),
        (ChatReply(content=good(confidence=7)), "confidence"),
        (ChatReply(content=good(primitive="  ")), "primitive"),
        (ChatReply(content=good(extra="x")), "extra"),
    ],
)
def test_invalid_replies_say_what_is_wrong(reply, problem):
    with pytest.raises(InvalidOutput, match=problem):
        parse_verdict(reply, SHAPE, "dx")


def test_overlong_quote_is_invalid_and_says_the_limit():
    with pytest.raises(InvalidOutput, match="under 200 characters"):
        parse_verdict(ChatReply(content=good(quote="word " * 100)), SHAPE, "dx", max_quote_chars=200)
    assert parse_verdict(ChatReply(content=good(quote="short")), SHAPE, "dx", max_quote_chars=200)


def test_boolean_confidence_is_not_a_number():
    with pytest.raises(InvalidOutput, match="confidence"):
        parse_verdict(ChatReply(content=good(confidence=True)), SHAPE, "dx")
    assert parse_verdict(ChatReply(content=good(confidence=1)), SHAPE, "dx").confidence == 1.0


def test_duplicate_json_keys_are_invalid_output():
    reply = good(decision="skip")[:-1] + ', "decision": "ship"}'
    with pytest.raises(InvalidOutput, match="'decision' twice"):
        parse_verdict(ChatReply(content=reply), SHAPE, "dx")
    nested = '{"a": {"b": 1, "b": 2}}'
    with pytest.raises(InvalidOutput, match="'b' twice"):
        parse_verdict(ChatReply(content=nested), SHAPE, "dx")
