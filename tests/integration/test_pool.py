import asyncio
import json
import threading
import time

import pytest
from werkzeug import Response

from panel.backends.pool import HostPool
from panel.errors import BackendOutage, ModelNotFound
from panel.records.chat import ChatRequest
from tests.support.ollama_fake import chat_body, free_port_url, start_fake_ollama, stop_fake_ollama

MODEL = "llama3.1:8b"
SCHEMA = {"title": "DxVerdict", "type": "object", "properties": {"decision": {"enum": ["ship", "skip"]}}}


def ask(pool: HostPool, number: int = 0):
    messages = [{"role": "user", "content": f"question {number}"}]
    return pool.chat(ChatRequest(MODEL, messages, SCHEMA, {"seed": number}))


@pytest.fixture
def second_ollama():
    fake = start_fake_ollama()
    yield fake
    stop_fake_ollama(fake)


class ConcurrencyProbe:
    """A scripted reply that records how many chats the server was answering at once."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.now = 0
        self.peak = 0
        self.lock = threading.Lock()

    def __call__(self, body):
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)
        time.sleep(self.seconds)
        with self.lock:
            self.now -= 1
        return Response(json.dumps(chat_body(MODEL, "{}")), content_type="application/json")


def test_failover_when_one_of_two_hosts_is_down(ollama):
    async def scenario():
        pool = HostPool([free_port_url(), ollama.url], timeout=5, slots=2, cooldown=60)
        try:
            infos = await pool.prepare([MODEL])
            replies = await asyncio.gather(*(ask(pool, n) for n in range(6)))
            return infos, replies, pool.host_stats()
        finally:
            await pool.aclose()

    infos, replies, stats = asyncio.run(scenario())
    assert infos[MODEL].digest == ollama.models[MODEL]
    assert len(replies) == 6 and all(reply.content for reply in replies)
    assert len(ollama.chats) == 6
    dead, live = list(stats.values())
    assert dead["calls"] == 0 and dead["failures"] >= 1 and "Cannot reach" in dead["last_error"]
    assert live["calls"] == 6


def test_a_host_that_answers_5xx_is_set_aside_and_its_calls_go_elsewhere(ollama, second_ollama):
    ollama.enqueue(500, 503, 500, 500)

    async def scenario():
        pool = HostPool([ollama.url, second_ollama.url], timeout=5, slots=1, cooldown=60)
        try:
            await pool.prepare([MODEL])
            replies = [await ask(pool, n) for n in range(4)]
            return replies, pool.host_stats()
        finally:
            await pool.aclose()

    replies, stats = asyncio.run(scenario())
    assert len(replies) == 4 and all(reply.content for reply in replies)
    # One failed call set the first host aside for the cooldown; everything else went to the second.
    assert len(ollama.chats) == 1
    assert len(second_ollama.chats) == 4
    assert stats[ollama.url]["failures"] == 1 and "500" in stats[ollama.url]["last_error"]


def test_calls_in_flight_never_exceed_the_slots(ollama):
    probe = ConcurrencyProbe(seconds=0.05)
    ollama.enqueue(*[probe] * 12)

    async def scenario():
        pool = HostPool([ollama.url], timeout=5, slots=3)
        try:
            await pool.prepare([MODEL])
            await asyncio.gather(*(ask(pool, n) for n in range(12)))
        finally:
            await pool.aclose()

    asyncio.run(scenario())
    assert probe.peak == 3


def test_calls_go_to_the_least_busy_host(ollama, second_ollama):
    probes = ConcurrencyProbe(seconds=0.1), ConcurrencyProbe(seconds=0.1)
    ollama.enqueue(*[probes[0]] * 4)
    second_ollama.enqueue(*[probes[1]] * 4)

    async def scenario():
        pool = HostPool([ollama.url, second_ollama.url], timeout=5, slots=4)
        try:
            await pool.prepare([MODEL])
            await asyncio.gather(*(ask(pool, n) for n in range(4)))
        finally:
            await pool.aclose()

    asyncio.run(scenario())
    assert len(ollama.chats) == 2 and len(second_ollama.chats) == 2


def test_a_host_without_the_model_is_passed_over(ollama, second_ollama):
    ollama.models = {}

    async def scenario():
        pool = HostPool([ollama.url, second_ollama.url], timeout=5, slots=1)
        try:
            await pool.prepare([MODEL])
            return [await ask(pool, n) for n in range(3)]
        finally:
            await pool.aclose()

    assert len(asyncio.run(scenario())) == 3
    assert len(ollama.chats) == 0 and len(second_ollama.chats) == 3


def test_no_host_with_the_model_is_a_clear_error(ollama):
    ollama.models = {}

    async def scenario():
        pool = HostPool([ollama.url], timeout=5)
        try:
            await pool.prepare([MODEL])
        finally:
            await pool.aclose()

    with pytest.raises(ModelNotFound, match="ollama pull llama3.1:8b"):
        asyncio.run(scenario())


def test_calls_fail_only_after_every_host_stayed_down_for_the_patience(ollama):
    async def scenario():
        pool = HostPool([ollama.url], timeout=5, cooldown=0.05, outage_patience=0.4)
        try:
            await pool.prepare([MODEL])
            ollama.server.stop()
            started = time.monotonic()
            with pytest.raises(BackendOutage, match="No Ollama host answered"):
                await ask(pool)
            return time.monotonic() - started, pool.host_stats()[ollama.url]["failures"]
        finally:
            await pool.aclose()

    waited, failures = asyncio.run(scenario())
    assert 0.35 <= waited < 3
    # The host was tried again after each cooldown, not given up on at the first error.
    assert failures >= 2


def test_a_host_down_at_the_start_joins_when_it_comes_back(ollama):
    async def scenario():
        pool = HostPool([ollama.url], timeout=5, cooldown=0.05, outage_patience=5)
        pool.hosts[0].down_until = time.monotonic() + 0.2  # as if it had just failed
        pool.hosts[0].prepared = False
        pool.models = [MODEL]
        try:
            return await ask(pool), pool.hosts[0].prepared
        finally:
            await pool.aclose()

    reply, prepared = asyncio.run(scenario())
    assert reply.content and prepared
