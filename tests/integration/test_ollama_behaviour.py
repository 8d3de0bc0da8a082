"""Real Ollama behaviour (issue 10, items 1-6), over the fake in its honest shape: each test is
named after the behaviour it pins down."""

import asyncio
import json
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest
from werkzeug import Response

from panel import run_panel
from panel.backends.doctor import diagnose
from panel.backends.ollama import OllamaBackend
from panel.errors import BackendUnavailable, CardError, ModelServerError, ModelUnavailable
from panel.records.chat import ChatRequest
from panel.records.personas import default_personas_dir
from panel.settings import Settings
from tests.support.cards import long_card
from tests.support.ollama_fake import MEMORY_ERROR, Hang, start_fake_ollama, stop_fake_ollama

MODEL = "llama3.1:8b"
SCHEMA = {"title": "DxVerdict", "type": "object", "properties": {"decision": {"enum": ["ship", "skip"]}}}


@pytest.fixture
def one_persona(tmp_path: Path) -> Path:
    folder = tmp_path / "one"
    folder.mkdir()
    shutil.copy(default_personas_dir() / "dx.toml", folder)
    return folder


def ask(backend: OllamaBackend, options: dict | None = None):
    messages = [{"role": "user", "content": "question"}]
    return backend.chat(ChatRequest(MODEL, messages, SCHEMA, options or {"num_ctx": 8192}))


# -- 1. thinking models with a schema ---------------------------------------------------------


def test_thinking_model_on_a_server_before_0_31_2_gets_no_think_so_the_schema_holds(
    ollama, settings, card_path
):
    ollama.capabilities = ["completion", "thinking"]
    ollama.version = "0.12.6"
    result = run_panel(card_path, settings)
    assert all("think" not in request for request in ollama.chats)
    assert [len(review.attempts) for review in result.transcript.reviews] == [1, 1, 1, 1]
    assert result.transcript.aggregate.ship_pct == 100


def test_gpt_oss_gets_think_low_because_it_ignores_think_false(ollama, settings, card_path):
    ollama.capabilities = ["completion", "thinking"]
    ollama.family = "gptoss"
    ollama.version = "0.31.2"
    result = run_panel(card_path, settings)
    assert {request["think"] for request in ollama.chats} == {"low"}
    assert result.transcript.aggregate.ship_pct == 100


def test_prepare_records_the_server_version(ollama, settings, card_path):
    ollama.version = "0.31.4"
    assert run_panel(card_path, settings).transcript.backend["version"] == "0.31.4"


def test_doctor_warns_about_think_on_a_server_before_0_31_2(ollama, settings):
    ollama.capabilities = ["completion", "thinking"]
    report = diagnose(settings)
    warnings = [check for check in report.checks if check.status == "warn"]
    assert report.ready
    assert len(warnings) == 1 and "0.31.2" in warnings[0].detail and MODEL in warnings[0].detail


def test_doctor_warns_that_gpt_oss_gets_think_low(ollama, settings):
    ollama.capabilities = ["completion", "thinking"]
    ollama.family = "gptoss"
    warnings = [check.detail for check in diagnose(settings).checks if check.status == "warn"]
    assert len(warnings) == 1 and 'think="low"' in warnings[0]


# -- 2. queueing: streamed replies, stall timeout, deadline per call, preload ----------------------


def test_queued_calls_are_not_timed_out_while_they_wait_their_turn(ollama, settings, card_path):
    ollama.slots = 1  # OLLAMA_NUM_PARALLEL=1: the four personas queue on the server
    ollama.latency = 0.6
    ollama.load_seconds = 0.8
    ollama.install()
    started = time.perf_counter()
    result = run_panel(card_path, settings.model_copy(update={"timeout": 1.0}))
    assert time.perf_counter() - started >= 4 * 0.6  # they did queue
    assert [len(review.attempts) for review in result.transcript.reviews] == [1, 1, 1, 1]
    assert result.transcript.aggregate.ship_pct == 100


def test_queued_calls_behind_a_stuck_call_are_not_kept_waiting(ollama):
    ollama.slots = 1
    ollama.install()
    ollama.enqueue(Hang(30))  # the first call never finishes; the other three queue behind it

    async def scenario():
        backend = OllamaBackend(ollama.url, timeout=1.0)
        try:
            started = time.perf_counter()
            results = await asyncio.gather(*(ask(backend) for _ in range(4)), return_exceptions=True)
            return results, time.perf_counter() - started
        finally:
            await backend.aclose()

    results, waited = asyncio.run(scenario())
    assert all(isinstance(result, ModelServerError) for result in results)
    assert waited < 2.5  # one timeout, not one per call in the queue


def test_prepare_preloads_the_model_so_no_call_waits_for_the_load(ollama, settings, card_path):
    ollama.load_seconds = 0.3
    result = run_panel(card_path, settings)
    assert len(ollama.loads) == 1 and ollama.loads[0]["options"]["num_ctx"] == settings.num_ctx
    assert all("load" not in review.attempts[0].durations_ms for review in result.transcript.reviews)


def test_the_first_token_may_wait_for_the_load_but_a_stall_mid_reply_times_out(ollama):
    ollama.load_seconds = 0.8

    def stall_after_one_chunk(body):
        def chunks():
            yield (
                json.dumps({"model": MODEL, "message": {"role": "assistant", "content": "{"}, "done": False})
                + "\n"
            )
            ollama.released.wait(30)

        return Response(chunks(), content_type="application/x-ndjson")

    async def scenario():
        backend = OllamaBackend(ollama.url, timeout=5, stall_seconds=0.3)
        try:
            loaded = await ask(backend)  # not preloaded: the first chunk waits 0.8 s for the load
            ollama.enqueue(stall_after_one_chunk)
            started = time.perf_counter()
            with pytest.raises(ModelServerError, match="stalled"):
                await ask(backend)
            return loaded, time.perf_counter() - started
        finally:
            await backend.aclose()

    loaded, stalled_after = asyncio.run(scenario())
    assert loaded.durations_ms["load"] >= 800
    assert stalled_after < 2


# -- 3. context overflow --------------------------------------------------------------------------


def test_a_card_past_num_ctx_raises_num_ctx_for_every_persona_alike(ollama, settings):
    result = run_panel(long_card(), settings)
    sizes = {request["options"]["num_ctx"] for request in ollama.chats}
    assert len(sizes) == 1 and sizes.pop() > settings.num_ctx
    assert ollama.truncated == []
    assert result.transcript.aggregate.ship_pct == 100


def test_a_card_past_the_models_context_length_is_refused_with_a_clear_message(ollama, settings):
    ollama.context_length = 8192
    with pytest.raises(CardError, match="too long for llama3.1:8b"):
        run_panel(long_card(), settings)
    assert ollama.chats == []


def test_a_reply_whose_prompt_eval_count_shows_truncation_is_flagged(
    ollama, settings, card_path, one_persona
):
    ollama.bytes_per_token = 0.5  # a tokenizer far denser than the panel's estimate
    result = run_panel(card_path, settings.model_copy(update={"personas_dir": one_persona, "num_ctx": 2048}))
    review = result.transcript.reviews[0]
    assert len(ollama.truncated) == 1
    assert review.status == "failed" and "cut the prompt" in review.error
    assert review.attempts[0].raw  # the reply is kept, not used
    assert result.transcript.aggregate.incomplete


# -- 4. /api/show without model_info -----------------------------------------------------------


def test_show_without_model_info_does_not_crash_the_run(ollama, settings, card_path):
    ollama.model_info = False  # older servers, cloud models
    result = run_panel(card_path, settings)
    assert result.transcript.aggregate.ship_pct == 100


# -- 5. permanent 500s, names, redirects ------------------------------------------------------


def test_a_model_too_big_to_load_is_unavailable_with_the_servers_message(ollama, settings, card_path):
    ollama.too_big.add(MODEL)
    with pytest.raises(ModelUnavailable, match="requires more system memory") as raised:
        run_panel(card_path, settings)
    assert raised.value.exit_code == 3
    assert ollama.chats == []  # found at the load in prepare, before any persona asked


def test_a_permanent_500_mid_run_is_not_retried(ollama, settings, card_path, one_persona):
    ollama.enqueue(lambda body: Response(json.dumps({"error": MEMORY_ERROR}), status=500))
    review = run_panel(
        card_path, settings.model_copy(update={"personas_dir": one_persona})
    ).transcript.reviews[0]
    assert review.status == "failed" and "requires more system memory" in review.error
    assert len(ollama.chats) == 1


def test_a_crashed_ollama_runner_sets_the_model_aside_with_a_hint(ollama, settings, card_path, one_persona):
    """What Ollama answers when its llama.cpp runner segfaults: a crashed model, not a transient
    error to retry."""
    crash = "llama runner process has terminated: signal: segmentation fault"
    ollama.enqueue(lambda body: Response(json.dumps({"error": crash}), status=500))
    review = run_panel(
        card_path, settings.model_copy(update={"personas_dir": one_persona})
    ).transcript.reviews[0]
    assert review.status == "failed"
    assert f"The model '{MODEL}' crashed on the Ollama server at {ollama.url} ({crash})" in review.error
    assert "look at that server's log" in review.error
    assert len(ollama.chats) == 1  # not retried


def test_model_names_match_case_insensitively(ollama, settings, card_path):
    ollama.models = {"Llama3.1:8B": "cd" * 32}
    transcript = run_panel(card_path, settings).transcript
    assert transcript.models["dx"].digest == "cd" * 32
    assert transcript.aggregate.ship_pct == 100


def test_an_http_to_https_redirect_is_not_followed_past_tls_checks(ollama, tmp_path, card_path):
    with socket.socket() as target:
        target.bind(("127.0.0.1", 0))
        target.listen(8)
        port = target.getsockname()[1]
        redirect = Response(status=301, headers={"Location": f"https://127.0.0.1:{port}/api/tags"})
        ollama.server.clear()
        ollama.server.expect_request("/api/version").respond_with_json({"version": "0.31.2"})
        ollama.server.expect_request("/api/tags").respond_with_response(redirect)
        settings = Settings(backend="ollama", host=ollama.url, timeout=2, out_dir=tmp_path)
        with pytest.raises(BackendUnavailable, match="redirects"):
            run_panel(card_path, settings)
        target.setblocking(False)
        with pytest.raises(BlockingIOError):
            target.accept()  # nothing ever connected to the https:// address


# -- 6. the fake, made honest -------------------------------------------------------------------


def test_the_fake_answers_as_the_real_server_does(ollama):
    import httpx

    ollama.slots, ollama.latency, ollama.load_seconds = 1, 0.3, 0.4
    ollama.install()
    tags = httpx.get(f"{ollama.url}/api/tags").json()["models"][0]
    assert ":" not in tags["digest"] and len(tags["digest"]) == 64  # bare hex
    ollama.model_info = False
    assert "model_info" not in httpx.post(f"{ollama.url}/api/show", json={"model": MODEL}).json()
    request = {
        "model": MODEL,
        "messages": [{"role": "user", "content": "x" * 40_000}],
        "options": {"num_ctx": 2048},
    }
    bodies: list[dict] = []

    def post() -> None:
        lines = httpx.post(f"{ollama.url}/api/chat", json=request, timeout=10).text.splitlines()
        bodies.append(json.loads(lines[-1]))  # streamed: the last line holds the metrics

    started = time.perf_counter()
    threads = [threading.Thread(target=post) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert time.perf_counter() - started >= 0.4 + 2 * 0.3  # one at a time, one load
    assert sorted("load_duration" in body for body in bodies) == [False, True]  # empty metrics omitted
    assert {body["prompt_eval_count"] for body in bodies} == {2048}  # cut to num_ctx, no error
    assert len(ollama.truncated) == 2
    thinking = httpx.post(f"{ollama.url}/api/chat", json={**request, "think": True, "stream": False})
    assert thinking.status_code == 400 and "does not support thinking" in thinking.json()["error"]


def test_the_fake_can_come_back_on_the_same_port():
    import httpx

    first = start_fake_ollama()
    port = int(first.url.rsplit(":", 1)[1])
    stop_fake_ollama(first)
    again = start_fake_ollama(port=port)
    try:
        assert again.url == first.url
        assert httpx.get(f"{again.url}/api/version").json() == {"version": again.version}
    finally:
        stop_fake_ollama(again)
