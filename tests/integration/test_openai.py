"""The OpenAI-compatible backend over real HTTP (pytest-httpserver), and the registry that builds it."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from typer.testing import CliRunner
from werkzeug import Request, Response

from panel.backends.openai import MAX_REPLY_BYTES, OpenAIBackend
from panel.backends.pool import HostPool
from panel.backends.registry import PoolOptions, backend_names, build_backend, get_spec
from panel.cli import app
from panel.errors import (
    BackendRequestError,
    BackendUnavailable,
    ConfigError,
    ModelNotFound,
    ModelServerError,
    PanelError,
    TransientBackendError,
    UnreadableReply,
)
from panel.records.chat import ChatRequest
from panel.settings import Settings, resolve_settings
from tests.support.ollama_fake import free_port_url
from tests.support.paths import EXAMPLES

SCHEMA = {
    "type": "object",
    "properties": {
        "decision": {"enum": ["ship", "skip"]},
        "confidence": {"type": "number", "minimum": 0, "maximum": 1},
    },
    "required": ["decision", "confidence"],
}
MESSAGES = [{"role": "user", "content": "judge it"}]
OPTIONS = {"temperature": 0.6, "top_p": 0.9, "top_k": 40, "seed": 7, "num_ctx": 8192, "num_predict": 512}
VERDICT = '{"decision": "ship", "confidence": 0.8}'


def completion(model: str, content: str = VERDICT, finish_reason: str = "stop") -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": model,
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": finish_reason}
        ],
        "usage": {"prompt_tokens": 31, "completion_tokens": 12, "total_tokens": 43},
    }


def reply(status: int, body: dict[str, Any]) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json")


class FakeOpenAI:
    """Answers GET /v1/models with `models` and POST /v1/chat/completions from `answer`."""

    def __init__(self, server: HTTPServer, models: list[str]) -> None:
        self.server = server
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.answer = lambda body: reply(200, completion(body["model"]))
        listing = {"object": "list", "data": [{"id": model, "object": "model"} for model in models]}
        server.expect_request("/v1/models").respond_with_json(listing)
        server.expect_request("/v1/chat/completions", method="POST").respond_with_handler(self.handle)

    def handle(self, request: Request) -> Response:
        body = json.loads(request.data)
        self.requests.append(body)
        self.headers.append(dict(request.headers))
        return self.answer(body)

    @property
    def url(self) -> str:
        return self.server.url_for("/v1")


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    server = HTTPServer(host="127.0.0.1")
    server.start()
    yield FakeOpenAI(server, ["qwen3:8b", "llama3.1:8b"])
    server.clear()
    server.stop()


def talk(backend: OpenAIBackend, model: str, calls: int = 1):
    async def scenario():
        try:
            infos = await backend.prepare([model])
            replies = [
                await backend.chat(ChatRequest(infos[model].name, MESSAGES, SCHEMA, OPTIONS))
                for _ in range(calls)
            ]
            return infos, replies
        finally:
            await backend.aclose()

    return asyncio.run(scenario())


def test_strict_json_schema_with_seed_and_max_tokens(fake: FakeOpenAI, monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret")
    backend = OpenAIBackend(fake.url, timeout=5)
    infos, [answer] = talk(backend, "qwen3:8b")
    [request] = fake.requests
    assert request["model"] == "qwen3:8b" and request["messages"] == MESSAGES
    assert request["response_format"]["type"] == "json_schema"
    assert request["response_format"]["json_schema"]["strict"] is True
    assert request["response_format"]["json_schema"]["schema"]["required"] == ["decision", "confidence"]
    assert (request["seed"], request["max_tokens"], request["temperature"], request["top_p"]) == (
        7,
        512,
        0.6,
        0.9,
    )
    assert "top_k" not in request and "num_ctx" not in request
    assert fake.headers[0]["Authorization"] == "Bearer sk-secret"
    assert (answer.content, answer.prompt_tokens, answer.completion_tokens) == (VERDICT, 31, 12)
    assert answer.model == "qwen3:8b" and infos["qwen3:8b"].name == "qwen3:8b"
    assert "sk-secret" not in json.dumps(backend.describe())
    assert backend.describe()["structured_output"] == "json_schema"


def test_a_server_without_json_schema_gets_json_mode_from_then_on(fake: FakeOpenAI) -> None:
    def llama_cpp_like(body):
        if body["response_format"]["type"] == "json_schema":
            return reply(500, {"error": {"message": "Input should be 'text' or 'json_object'"}})
        return reply(200, completion(body["model"]))

    fake.answer = llama_cpp_like
    backend = OpenAIBackend(fake.url, timeout=5)
    _, answers = talk(backend, "qwen3:8b", calls=2)
    assert [request["response_format"]["type"] for request in fake.requests] == [
        "json_schema",
        "json_object",
        "json_object",
    ]
    assert fake.requests[1]["response_format"]["schema"]["required"] == ["decision", "confidence"]
    assert [answer.content for answer in answers] == [VERDICT, VERDICT]
    assert backend.describe()["structured_output"] == "json_object"


@pytest.mark.parametrize(
    ("status", "error_type"),
    [
        (404, ModelNotFound),
        (503, TransientBackendError),
        (429, TransientBackendError),
        (400, BackendRequestError),
    ],
)
def test_errors_map_onto_the_panel_error_types(fake: FakeOpenAI, status: int, error_type: type) -> None:
    fake.answer = lambda body: reply(status, {"error": {"message": "no"}})
    with pytest.raises(error_type):
        talk(OpenAIBackend(fake.url, timeout=5), "qwen3:8b")


def test_a_refused_key_names_the_variable_not_the_key(fake: FakeOpenAI, monkeypatch) -> None:
    monkeypatch.setenv("MY_KEY", "sk-wrong")
    fake.answer = lambda body: reply(401, {"error": {"message": "invalid api key"}})
    with pytest.raises(BackendUnavailable, match=r"\$MY_KEY") as caught:
        talk(OpenAIBackend(fake.url, timeout=5, api_key_env="MY_KEY"), "qwen3:8b")
    assert "sk-wrong" not in str(caught.value)


def test_a_model_the_server_does_not_serve(fake: FakeOpenAI) -> None:
    with pytest.raises(ModelNotFound, match="it serves qwen3:8b, llama3.1:8b"):
        talk(OpenAIBackend(fake.url, timeout=5), "phi4")


def test_a_one_model_server_serves_its_model_whatever_was_asked(httpserver: HTTPServer) -> None:
    fake = FakeOpenAI(httpserver, ["/models/SmolLM2.gguf"])
    infos, [answer] = talk(OpenAIBackend(fake.url, timeout=5), "llama3.1:8b")
    assert fake.requests[0]["model"] == "/models/SmolLM2.gguf"
    assert infos["llama3.1:8b"].name == "/models/SmolLM2.gguf"
    assert infos["llama3.1:8b"].details["requested"] == "llama3.1:8b"


def test_nothing_listening_is_unreachable() -> None:
    with pytest.raises(BackendUnavailable, match="Cannot reach an OpenAI-compatible server"):
        talk(OpenAIBackend(free_port_url() + "/v1", timeout=5), "qwen3:8b")


def test_a_bare_host_gets_the_v1_path() -> None:
    backend = OpenAIBackend("http://localhost:8000", timeout=5)
    asyncio.run(backend.aclose())
    assert backend.host == "http://localhost:8000/v1"


def test_the_registry_knows_every_backend_and_refuses_others(tmp_path) -> None:
    assert backend_names() == ["auto", "ollama", "openai", "embedded"]
    assert get_spec("openai").capabilities.http and not get_spec("embedded").capabilities.http
    with pytest.raises(ConfigError, match="backend must be one of auto, ollama, openai, embedded"):
        resolve_settings({"backend": "vllm"}, environ={}, config_path=tmp_path / "none.toml")


def test_the_registry_spreads_an_http_backend_over_several_hosts(
    fake: FakeOpenAI, httpserver: HTTPServer
) -> None:
    second = FakeOpenAI(httpserver, ["qwen3:8b"])
    settings = Settings(backend="openai", timeout=5)

    async def scenario():
        pool = build_backend(get_spec("openai"), settings, [fake.url, second.url], PoolOptions(slots=1))
        try:
            await pool.prepare(["qwen3:8b"])
            await asyncio.gather(
                *(pool.chat(ChatRequest("qwen3:8b", MESSAGES, SCHEMA, OPTIONS)) for _ in range(4))
            )
            return pool
        finally:
            await pool.aclose()

    pool = asyncio.run(scenario())
    assert isinstance(pool, HostPool) and pool.name == "openai"
    assert all(isinstance(host.backend, OpenAIBackend) for host in pool.hosts)
    assert len(fake.requests) > 0 and len(second.requests) > 0


# --- issue 19: the OpenAI-compatible path as hard as Ollama's --------------------------------


def test_openai_timeout_is_a_deadline_for_a_server_dripping_a_byte_at_a_time(fake: FakeOpenAI) -> None:
    """Each read is quick, the whole reply never ends: --timeout bounds the call as a whole."""

    def drip(body: dict[str, Any]) -> Response:
        def one_byte_at_a_time():
            for byte in json.dumps(completion(body["model"])).encode() * 1000:
                time.sleep(0.05)
                yield bytes([byte])

        return Response(one_byte_at_a_time(), status=200, content_type="application/json")

    fake.answer = drip
    started = time.monotonic()
    with pytest.raises(ModelServerError, match="no complete reply from .* within 1 s"):
        talk(OpenAIBackend(fake.url, timeout=1), "qwen3:8b")
    assert time.monotonic() - started < 5


def test_openai_endless_reply_is_capped_and_reading_stops(fake: FakeOpenAI) -> None:
    """A fast body that never ends: read up to the cap, kept raw, and the call is invalid output."""
    sent: list[int] = []

    def flood(body: dict[str, Any]) -> Response:
        def forever():
            while True:
                sent.append(1)
                yield b"x" * 65536

        return Response(forever(), status=200, content_type="application/json")

    fake.answer = flood
    with pytest.raises(UnreadableReply, match="more than 1,000,000 bytes") as caught:
        talk(OpenAIBackend(fake.url, timeout=30), "qwen3:8b")
    assert len(caught.value.raw) == MAX_REPLY_BYTES
    assert len(sent) < 320  # it stopped reading: the server got 20 MB out at most, not 2.4 GB


@pytest.mark.parametrize("status", [400, 401, 500])
def test_openai_key_echoed_by_the_server_is_redacted(fake: FakeOpenAI, monkeypatch, status: int) -> None:
    secret = "sk-live-0123456789abcdef"
    monkeypatch.setenv("OPENAI_API_KEY", secret)

    def echo(body: dict[str, Any]) -> Response:
        return reply(status, {"error": {"message": f"bad request, headers: Authorization: Bearer {secret}"}})

    fake.answer = echo
    with pytest.raises(PanelError) as caught:
        talk(OpenAIBackend(fake.url, timeout=5), "qwen3:8b")
    assert fake.headers[0]["Authorization"] == f"Bearer {secret}"  # it was sent...
    assert secret not in str(caught.value) and "0123456789abcdef" not in str(caught.value)  # ...never shown
    assert "Bearer [redacted]" in str(caught.value)


def test_openai_key_echoed_is_not_in_the_terminal_or_the_transcript(
    fake: FakeOpenAI, monkeypatch, tmp_path
) -> None:
    secret = "sk-live-0123456789abcdef"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    fake.answer = lambda body: reply(400, {"error": {"message": f"rejected: {secret} and sk-other-999999"}})
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app,
        [
            "run",
            str(EXAMPLES / "pgvector.toml"),
            "--backend",
            "openai",
            "--host",
            fake.url,
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 1  # every reviewer failed; the panel is incomplete
    written = "".join(path.read_text() for path in out.glob("*.json"))
    assert "[redacted]" in written
    for text in (result.output, written):
        assert secret not in text and "sk-other-999999" not in text


def test_openai_401_on_chat_after_models_succeeded_exits_3(fake: FakeOpenAI, monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-expired-000000")
    fake.answer = lambda body: reply(401, {"error": {"message": "invalid api key"}})
    result = CliRunner().invoke(
        app, ["run", str(EXAMPLES / "pgvector.toml"), "--backend", "openai", "--host", fake.url]
    )
    assert result.exit_code == 3
    assert "$OPENAI_API_KEY" in result.stderr and "Traceback" not in result.output
    # The four reviewers ask at once; the first refusal stops the run, so none is retried or re-asked.
    assert 1 <= len(fake.requests) <= 4
