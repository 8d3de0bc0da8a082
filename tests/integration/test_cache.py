import asyncio
from pathlib import Path

from panel.backends.ollama import OllamaBackend
from panel.backends.response_cache import CachedBackend, ResponseCache, call_key
from panel.engine.prompts import render_messages
from panel.engine.runner import review_tool
from panel.engine.verdict_loop import review_persona
from panel.records.cards import load_card
from panel.records.chat import ChatRequest
from panel.records.personas import load_personas
from tests.support.paths import EXAMPLES

MODEL = "llama3.1:8b"
PERSONAS = load_personas()
DX = next(lp.persona for lp in PERSONAS if lp.persona.id == "dx")
CARD = load_card(EXAMPLES / "pgvector.toml")


def cached_backend(url: str, cache_path: Path | None) -> CachedBackend:
    cache = ResponseCache(cache_path) if cache_path else None
    return CachedBackend(OllamaBackend(url, timeout=5), cache)


def test_a_cache_hit_makes_no_http_request(ollama, settings, tmp_path: Path):
    cache_file = tmp_path / "cache.sqlite"

    async def one_panel():
        backend = cached_backend(ollama.url, cache_file)
        try:
            result = await review_tool(backend, CARD, PERSONAS, settings, save=False)
            return result.transcript, backend.counts
        finally:
            await backend.aclose()

    first, first_counts = asyncio.run(one_panel())
    requests_after_first = len(ollama.server.log)
    second, second_counts = asyncio.run(one_panel())
    assert first_counts.model_calls == 4 and first_counts.stored == 4
    assert second_counts.model_calls == 0 and second_counts.cache_hits == 4
    # Only the prepare requests (version, tags, show, the model's load), never a question.
    new_requests = [request.path for request, _ in ollama.server.log[requests_after_first:]]
    assert new_requests.count("/api/chat") == 1 and len(ollama.loads) == 2 and len(ollama.chats) == 4
    assert [r.verdict for r in second.reviews] == [r.verdict for r in first.reviews]


def test_only_valid_replies_are_stored(ollama, tmp_path: Path):
    ollama.enqueue("not json at all")
    cache_file = tmp_path / "cache.sqlite"
    messages = render_messages(DX, CARD)
    options = {"seed": 1, "temperature": 0.2}

    async def review():
        backend = cached_backend(ollama.url, cache_file)
        try:
            await backend.prepare([MODEL])
            review = await review_persona(
                backend, DX, MODEL, messages, options, max_attempts=3, transport_retries=1
            )
            return review, backend.counts
        finally:
            await backend.aclose()

    first, counts = asyncio.run(review())
    assert first.status == "ok" and [a.outcome for a in first.attempts] == ["invalid", "valid"]
    assert counts.model_calls == 2 and counts.stored == 1
    assert len(ResponseCache(cache_file)) == 1
    # The first question's bad answer was not kept: asking again goes to the model.
    again, counts = asyncio.run(review())
    assert counts.model_calls == 1 and counts.cache_hits == 0
    assert [a.outcome for a in again.attempts] == ["valid"]


def test_identical_concurrent_calls_coalesce_into_one_model_call(tmp_path: Path):
    from tests.support.ollama_fake import start_fake_ollama, stop_fake_ollama

    fake = start_fake_ollama(latency=0.2)
    messages = [{"role": "user", "content": "same question"}]

    async def ask_three_times():
        backend = cached_backend(fake.url, None)
        try:
            await backend.prepare([MODEL])
            replies = await asyncio.gather(
                *(
                    backend.chat(ChatRequest(MODEL, messages, {"type": "object"}, {"seed": 3}))
                    for _ in range(3)
                )
            )
            different = await backend.chat(ChatRequest(MODEL, messages, {"type": "object"}, {"seed": 4}))
            return replies, different, backend.counts
        finally:
            await backend.aclose()

    try:
        replies, different, counts = asyncio.run(ask_three_times())
    finally:
        stop_fake_ollama(fake)
    assert len(fake.chats) == 2
    assert counts.model_calls == 2 and counts.coalesced == 2
    assert replies[0] == replies[1] == replies[2] and different.content


def test_the_key_covers_host_digest_messages_schema_and_options():
    base = dict(
        backend="ollama",
        model=MODEL,
        build=("http://a:11434", "sha256:aa"),
        messages=[{"role": "user", "content": "hi"}],
        schema={"type": "object"},
        options={"seed": 1, "temperature": 0.5},
    )
    key = call_key(**base)
    assert call_key(**{**base, "options": {"temperature": 0.5, "seed": 1}}) == key
    for change in (
        {"build": ("http://a:11434", "sha256:bb")},
        {"build": ("http://b:11434", "sha256:aa")},
        {"model": "qwen3:8b"},
        {"messages": [{"role": "user", "content": "hi!"}]},
        {"schema": {"type": "object", "title": "X"}},
        {"options": {"seed": 2, "temperature": 0.5}},
    ):
        assert call_key(**{**base, **change}) != key, change


def test_the_cache_file_persists_and_is_shared(tmp_path: Path):
    from panel.records.chat import ChatReply

    path = tmp_path / "nested" / "cache.sqlite"
    first = ResponseCache(path)
    first.put("k", MODEL, ChatReply(content="{}", completion_tokens=3))
    first.close()
    second = ResponseCache(path)
    assert second.get("k") == ChatReply(content="{}", completion_tokens=3)
    assert second.get("missing") is None


QUESTION = [{"role": "user", "content": "a verdict, please"}]


async def ask_and_keep(backend: CachedBackend, options: dict | None = None):
    """One call through the cache, stored as structured.py stores a valid reply."""
    options = options or {"seed": 1}
    reply = await backend.chat(ChatRequest(MODEL, QUESTION, {"type": "object"}, options))
    backend.remember_valid(ChatRequest(MODEL, QUESTION, {"type": "object"}, options), reply)
    return reply


def test_cache_poisoning_a_hostile_host_claiming_a_genuine_digest_does_not_serve_another_host(tmp_path: Path):
    from tests.support.ollama_fake import start_fake_ollama, stop_fake_ollama

    genuine, hostile = start_fake_ollama(), start_fake_ollama()
    assert genuine.models == hostile.models  # the hostile host claims the genuine digest
    hostile.enqueue("HOSTILE TEXT")
    cache_file = tmp_path / "shared.sqlite"

    async def one_call(url: str):
        backend = cached_backend(url, cache_file)
        try:
            await backend.prepare([MODEL])
            return await ask_and_keep(backend), backend.counts
        finally:
            await backend.aclose()

    try:
        poisoned, _ = asyncio.run(one_call(hostile.url))
        assert poisoned.content == "HOSTILE TEXT"
        reply, counts = asyncio.run(one_call(genuine.url))
        assert counts.cache_hits == 0 and counts.model_calls == 1
        assert reply.content != "HOSTILE TEXT" and reply.host == genuine.url
        # Each host still finds its own replies.
        again, counts = asyncio.run(one_call(genuine.url))
        assert counts.cache_hits == 1 and again.content == reply.content
    finally:
        stop_fake_ollama(genuine)
        stop_fake_ollama(hostile)


class FingerprintServer:
    """An OpenAI-compatible server as the cache sees it: no digest in its model list, a
    system_fingerprint on every reply, and weights that can be swapped under one id."""

    name = "openai"
    host = "http://vllm-box/v1"

    def __init__(self) -> None:
        self.fingerprint = "fp_weights_one"
        self.calls = 0

    async def prepare(self, models):
        from panel.records.chat import ModelInfo

        return {model: ModelInfo(name=model) for model in models}

    async def chat(self, request):
        from panel.records.chat import ChatReply

        self.calls += 1
        return ChatReply(
            content=f"answer of {self.fingerprint}", host=self.host, model_digest=self.fingerprint
        )

    def describe(self):
        return {"name": self.name, "host": self.host}

    async def aclose(self):
        pass


def test_a_model_swapped_under_one_id_is_not_served_from_the_cache(tmp_path: Path):
    server = FingerprintServer()
    cache_file = tmp_path / "shared.sqlite"

    async def two_asks() -> list[str]:
        backend = CachedBackend(server, ResponseCache(cache_file))
        try:
            await backend.prepare([MODEL])
            return [(await ask_and_keep(backend)).content for _ in range(2)]
        finally:
            await backend.aclose()

    assert asyncio.run(two_asks()) == ["answer of fp_weights_one"] * 2
    assert server.calls == 1  # the second ask was served under the fingerprint the reply reported
    server.fingerprint = "fp_weights_two"  # new weights, same model id
    assert asyncio.run(two_asks()) == ["answer of fp_weights_two"] * 2
    assert server.calls == 2


def test_cache_warning_names_the_cli_flag_not_the_library_setting(ollama, tmp_path: Path):
    import json

    from typer.testing import CliRunner

    from panel.cli import app

    source = tmp_path / "tools.jsonl"
    source.write_text(json.dumps(load_card(EXAMPLES / "pgvector.toml").model_dump()) + "\n")
    unusable = tmp_path / "a-folder"  # a folder cannot be the cache's SQLite file
    unusable.mkdir()
    flags = ["--backend", "ollama", "--host", ollama.url, "--cache", str(unusable), "--out", "out"]
    result = CliRunner().invoke(app, ["batch", str(source), *flags])
    assert result.exit_code == 0, result.output
    warning = " ".join(result.stderr.split())
    assert "response cache" in warning and "--no-cache" in warning and "--cache" in warning
    assert "use_cache=False" not in result.output
    quiet = CliRunner().invoke(app, ["batch", str(source), *flags, "--out", "out2", "--json", "--quiet"])
    warnings = json.loads(quiet.stdout)["warnings"]
    assert len(warnings) == 1 and "--no-cache" in warnings[0] and "use_cache=False" not in warnings[0]
