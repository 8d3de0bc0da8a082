"""The Ollama path over real HTTP, against a local server that speaks Ollama's documented API."""

import json
import shutil
import time
from pathlib import Path

import pytest
from werkzeug import Response

from panel import run_panel
from panel.errors import BackendUnavailable, ModelNotFound
from panel.records.chat import ChatRequest
from panel.records.personas import default_personas_dir, load_personas, verdict_schema
from panel.settings import Settings
from panel.store.transcripts import load_transcript
from tests.support.ollama_fake import (
    Drip,
    Hang,
    chat_body,
    free_port_url,
    prompt_tokens,
    start_fake_ollama,
    stop_fake_ollama,
)


@pytest.fixture
def one_persona(tmp_path: Path) -> Path:
    """A panel of just `dx`, so scripted replies reach a known persona."""
    folder = tmp_path / "one"
    folder.mkdir()
    shutil.copy(default_personas_dir() / "dx.toml", folder)
    return folder


def test_good_panel(ollama, settings, card_path):
    ollama.decisions["BusinessVerdict"] = "skip"
    result = run_panel(card_path, settings)
    transcript = result.transcript
    assert transcript.aggregate.ship_pct == 75
    assert transcript.aggregate.split["skip"] == ["business"]
    assert [review.status for review in transcript.reviews] == ["ok"] * 4
    assert result.path.parent == settings.out_dir and result.path.is_file()
    saved = load_transcript(result.path)
    assert saved == transcript
    assert saved.models["dx"].digest == ollama.models["llama3.1:8b"]
    assert saved.backend == {"name": "ollama", "host": ollama.url, "version": "0.12.6"}
    first = saved.reviews[0].attempts[0]
    assert first.prompt_tokens == prompt_tokens(first.messages)
    # prepare loaded the model with the panel's num_ctx, so no call waited for a load
    assert [load["options"]["num_ctx"] for load in ollama.loads] == [settings.num_ctx]
    assert all("load" not in review.attempts[0].durations_ms for review in saved.reviews)

    assert len(ollama.chats) == 4
    personas = {lp.persona.id: lp.persona for lp in load_personas()}
    for request in ollama.chats:
        assert request["model"] == "llama3.1:8b" and request["stream"] is True
        assert "think" not in request or request["think"] is None  # model lacks the capability
        assert request["options"]["seed"] == 7
        assert request["options"]["num_ctx"] == settings.num_ctx
        assert request["options"]["num_predict"] == settings.num_predict
        assert request["messages"][0]["role"] == "system"
    schemas = [request["format"] for request in ollama.chats]
    assert sorted(schema["title"] for schema in schemas) == sorted(
        verdict_schema(p)["title"] for p in personas.values()
    )
    assert len({request["messages"][0]["content"] for request in ollama.chats}) == 1


def test_thinking_model_gets_think_false_on_a_server_that_then_keeps_the_schema(ollama, settings, card_path):
    ollama.capabilities = ["completion", "thinking"]
    ollama.version = "0.31.2"
    result = run_panel(card_path, settings)
    assert all(request["think"] is False for request in ollama.chats)
    assert result.transcript.aggregate.ship_pct == 100


def test_invalid_json_is_re_asked_with_the_error(ollama, settings, card_path, one_persona):
    ollama.enqueue("this is not JSON")
    result = run_panel(card_path, settings.model_copy(update={"personas_dir": one_persona}))
    review = result.transcript.reviews[0]
    assert review.status == "ok"
    assert [a.outcome for a in review.attempts] == ["invalid", "valid"]
    assert review.attempts[0].raw == "this is not JSON"
    second = ollama.chats[1]["messages"]
    assert second[-2] == {"role": "assistant", "content": "this is not JSON"}
    assert "not valid JSON" in second[-1]["content"] and second[-1]["role"] == "user"


def test_a_re_ask_shows_only_the_last_bad_reply(ollama, settings, card_path, one_persona):
    ollama.enqueue("first bad reply", "second bad reply")
    result = run_panel(card_path, settings.model_copy(update={"personas_dir": one_persona}))
    review = result.transcript.reviews[0]
    assert [a.outcome for a in review.attempts] == ["invalid", "invalid", "valid"]
    first, _, third = (chat["messages"] for chat in ollama.chats)
    # the first request, then the last bad reply and its error: the conversation does not grow
    # with the number of attempts, so num_ctx need not either
    assert third[:2] == first and len(third) == 4
    assert third[2] == {"role": "assistant", "content": "second bad reply"}
    assert "first bad reply" not in json.dumps(third)


@pytest.mark.parametrize(
    "bad_reply",
    [
        {"message": {"role": "assistant", "content": ""}},
        {"message": {"role": "assistant", "content": '{"primitive": "a lib'}, "done_reason": "length"},
        json.dumps({"primitive": "x", "decision": "ship"}),
    ],
    ids=["empty", "truncated", "schema-violation"],
)
def test_bad_output_is_retried(ollama, settings, card_path, one_persona, bad_reply):
    ollama.enqueue(bad_reply)
    review = run_panel(
        card_path, settings.model_copy(update={"personas_dir": one_persona})
    ).transcript.reviews[0]
    assert [a.outcome for a in review.attempts] == ["invalid", "valid"]
    assert "could not be used" in ollama.chats[1]["messages"][-1]["content"]


def test_persona_fails_after_last_attempt_and_panel_goes_on(ollama, settings, card_path, tmp_path):
    folder = tmp_path / "two"
    folder.mkdir()
    for name in ("dx.toml", "business.toml"):
        shutil.copy(default_personas_dir() / name, folder)

    def reply(body):
        from tests.support.ollama_fake import json_response, verdict_for_schema

        if body["format"]["title"] == "DxVerdict":
            return json_response(chat_body(body["model"], "garbage"))
        return json_response(chat_body(body["model"], json.dumps(verdict_for_schema(body["format"], "skip"))))

    ollama.enqueue(*[reply] * 4)
    result = run_panel(card_path, settings.model_copy(update={"personas_dir": folder, "attempts": 3}))
    transcript = result.transcript
    dx = next(r for r in transcript.reviews if r.persona == "dx")
    assert dx.status == "failed" and "after 3 attempts" in dx.error
    assert [a.raw for a in dx.attempts] == ["garbage"] * 3
    assert transcript.aggregate.failed == ["dx"] and transcript.aggregate.incomplete
    assert transcript.aggregate.ship_pct == 0  # business skipped; dx is not a vote


def test_500_then_success(ollama, settings, card_path, one_persona):
    ollama.enqueue(500)
    review = run_panel(
        card_path, settings.model_copy(update={"personas_dir": one_persona})
    ).transcript.reviews[0]
    assert [a.outcome for a in review.attempts] == ["transport_error", "valid"]
    assert "500" in review.attempts[0].error


def test_call_hanging_past_the_timeout_is_retried(ollama, settings, card_path, one_persona):
    ollama.enqueue(Hang(30))
    started = time.perf_counter()
    review = run_panel(
        card_path, settings.model_copy(update={"personas_dir": one_persona, "timeout": 0.5})
    ).transcript.reviews[0]
    assert time.perf_counter() - started < 10
    assert [a.outcome for a in review.attempts] == ["transport_error", "valid"]
    assert "no complete reply from Ollama within 0.5 s" in review.attempts[0].error


def test_transport_errors_exhausted_fail_the_persona(ollama, settings, card_path, one_persona):
    ollama.enqueue(503, 503, 503)
    result = run_panel(card_path, settings.model_copy(update={"personas_dir": one_persona}))
    review = result.transcript.reviews[0]
    assert review.status == "failed" and "503" in review.error
    assert len(review.attempts) == 3 and result.transcript.aggregate.incomplete


def test_model_vanishing_mid_run_fails_the_persona_with_pull_advice(ollama, settings, card_path, one_persona):
    ollama.enqueue(404)
    review = run_panel(
        card_path, settings.model_copy(update={"personas_dir": one_persona})
    ).transcript.reviews[0]
    assert review.status == "failed"
    assert "ollama pull llama3.1:8b" in review.error
    assert len(review.attempts) == 1  # a 404 is not retried


def test_model_not_pulled_is_caught_before_the_panel(ollama, settings, card_path):
    with pytest.raises(ModelNotFound, match="ollama pull qwen3:8b"):
        run_panel(card_path, settings.model_copy(update={"model": "qwen3:8b"}))
    assert ollama.chats == []


def test_connection_refused(card_path, tmp_path):
    settings = Settings(backend="ollama", host=free_port_url(), timeout=2, out_dir=tmp_path)
    with pytest.raises(BackendUnavailable, match="ollama serve"):
        run_panel(card_path, settings)


def test_server_dying_mid_panel_fails_personas_not_the_process(card_path, tmp_path, one_persona):
    fake = start_fake_ollama()
    settings = Settings(
        backend="ollama", host=fake.url, timeout=2, out_dir=tmp_path, personas_dir=one_persona
    )

    def die(body):
        fake.server.stop()
        raise ConnectionError("server gone")

    fake.enqueue(die)
    try:
        review = run_panel(card_path, settings).transcript.reviews[0]
    finally:
        stop_fake_ollama(fake)
    assert review.status == "failed"
    assert all(a.outcome == "transport_error" for a in review.attempts)


def reset_connection(request_environ_socket):
    """A scripted reply that sends half a response, then drops the TCP connection."""
    import socket
    import struct

    def reply(_body):
        sock = request_environ_socket()
        sock.sendall(
            b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 900\r\n\r\n{"model": "llama'
        )
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.shutdown(socket.SHUT_RDWR)
        raise ConnectionResetError("reset by the test")

    return reply


def test_connection_reset_mid_response_is_retried(ollama, settings, card_path, one_persona):
    from werkzeug import Request

    captured = {}
    real_chat = ollama.chat

    def chat(request: Request):
        captured["socket"] = request.environ["werkzeug.socket"]
        return real_chat(request)

    ollama.server.clear()
    ollama.chat = chat
    ollama.install()
    ollama.enqueue(reset_connection(lambda: captured["socket"]))
    review = run_panel(
        card_path, settings.model_copy(update={"personas_dir": one_persona})
    ).transcript.reviews[0]
    assert [a.outcome for a in review.attempts] == ["transport_error", "valid"]
    assert "connection to Ollama failed" in review.attempts[0].error


# -- issue 10, what broke: 3. raw model output lost; 8. --timeout ignored by a slow drip ----------


def no_message(body):
    return Response(
        json.dumps({"model": body["model"], "done": True}) + "\n", content_type="application/x-ndjson"
    )


@pytest.mark.parametrize(
    ("reply", "kept"),
    [
        ('{"confidence": ' + "7" * 5000 + "}", "7" * 5000),
        ("[" * 200_000 + "]" * 200_000, "[" * 1000),
        (lambda body: Response("<html>502 from the proxy</html>", content_type="text/html"), "<html>502"),
        (no_message, '"done": true'),
    ],
    ids=["5000-digit-number", "nested-200000-deep", "http-200-not-json", "http-200-no-message"],
)
def test_raw_output_is_kept_as_an_attempt_and_re_asked_with_feedback(
    ollama, settings, card_path, one_persona, reply, kept
):
    ollama.enqueue(reply)
    review = run_panel(
        card_path, settings.model_copy(update={"personas_dir": one_persona})
    ).transcript.reviews[0]
    assert [a.outcome for a in review.attempts] == ["invalid", "valid"]
    assert kept in review.attempts[0].raw
    assert review.attempts[0].error
    feedback = ollama.chats[1]["messages"][-1]
    assert feedback["role"] == "user" and "could not be used" in feedback["content"]


def chunk_every(seconds: float, count: int):
    """A reply whose every chunk comes quickly after the last, but the whole takes count x seconds."""

    def reply(body):
        def chunks():
            for _ in range(count):
                line = {
                    "model": body["model"],
                    "message": {"role": "assistant", "content": " "},
                    "done": False,
                }
                yield json.dumps(line) + "\n"
                time.sleep(seconds)

        return Response(chunks(), content_type="application/x-ndjson")

    return reply


@pytest.mark.parametrize(
    "drip", [Drip(0.2), chunk_every(0.3, 30)], ids=["one-byte-at-a-time", "one-chunk-at-a-time"]
)
def test_timeout_is_kept_by_a_slow_drip(ollama, settings, card_path, one_persona, drip):
    ollama.enqueue(drip)
    started = time.perf_counter()
    review = run_panel(
        card_path, settings.model_copy(update={"personas_dir": one_persona, "timeout": 1.5})
    ).transcript.reviews[0]
    assert [a.outcome for a in review.attempts] == ["transport_error", "valid"]
    assert review.attempts[0].seconds < 2.5 and "1.5 s" in review.attempts[0].error
    assert time.perf_counter() - started < 10


def test_ollama_streaming_flood_is_capped_like_a_whole_reply(ollama):
    import asyncio

    from panel.backends.ollama import MAX_REPLY_CHARS, OllamaBackend
    from panel.errors import UnreadableReply

    ollama.enqueue("x" * (20 * MAX_REPLY_CHARS))  # an endless stream, as far as the panel is concerned

    async def ask():
        backend = OllamaBackend(ollama.url, timeout=60)
        try:
            await backend.chat(ChatRequest("llama3.1:8b", [{"role": "user", "content": "hi"}], {}, {}))
        finally:
            await backend.aclose()

    started = time.monotonic()
    with pytest.raises(UnreadableReply, match="stopped reading") as error:
        asyncio.run(ask())
    assert len(error.value.raw) == MAX_REPLY_CHARS
    assert time.monotonic() - started < 30  # stopped at the cap, not at the timeout
