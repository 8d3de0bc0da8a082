"""A local HTTP server that speaks Ollama's API as the real server behaves, for tests and benchmarks.

It answers /api/version, /api/tags, /api/show and /api/chat with the shapes and error bodies
(`{"error": "..."}`) of Ollama's server/routes.go and api/types.go: bare-hex digests, empty
metrics omitted, `model_info` optional, chats streamed as NDJSON unless `stream` is false, a chat
with no messages loading the model, one request at a time per model when slots are limited,
prompts past num_ctx cut without an error, and `think` handled as the server's version does.
Replies to /api/chat come from a queue of scripted faults and answers (`enqueue`), else a valid
verdict is made up from the JSON schema in `format`.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

VERSION = "0.12.6"
DETAILS = {
    "parent_model": "",
    "format": "gguf",
    "family": "llama",
    "families": ["llama"],
    "parameter_size": "8.0B",
    "quantization_level": "Q4_K_M",
}
# The server's own context when a request sets no num_ctx (OLLAMA_CONTEXT_LENGTH's default).
DEFAULT_NUM_CTX = 4096
# The fake's tokenizer: about 4 bytes of text a token, plus a few tokens of template a message.
BYTES_PER_TOKEN = 4
CHUNK_CHARS = 64
MEMORY_ERROR = "model requires more system memory (9.2 GiB) than is available (3.1 GiB)"


def error_response(status: int, message: str) -> Response:
    return Response(json.dumps({"error": message}), status=status, content_type="application/json")


def json_response(body: dict[str, Any]) -> Response:
    return Response(json.dumps(body), status=200, content_type="application/json")


def chat_body(model: str, content: str, done_reason: str = "stop", eval_count: int = 120) -> dict[str, Any]:
    """A non-streaming /api/chat response exactly as Ollama documents it."""
    return {
        "model": model,
        "created_at": "2026-11-25T12:00:00.000000Z",
        "message": {"role": "assistant", "content": content},
        "done": True,
        "done_reason": done_reason,
        "total_duration": 4_935_886_791,
        "load_duration": 2_166_792,
        "prompt_eval_count": 412,
        "prompt_eval_duration": 180_000_000,
        "eval_count": eval_count,
        "eval_duration": 4_700_000_000,
    }


def stream_chunks(body: dict[str, Any]) -> list[bytes]:
    """A finished chat body as Ollama streams it: NDJSON lines of content, then a last line
    with `done` and the metrics (content empty)."""
    message = body.get("message") or {}
    content = message.get("content") or ""
    head = {key: body[key] for key in ("model", "created_at") if key in body}
    lines = [
        {
            **head,
            "message": {"role": "assistant", "content": content[start : start + CHUNK_CHARS]},
            "done": False,
        }
        for start in range(0, len(content), CHUNK_CHARS)
    ]
    lines.append({**body, "message": {**message, "content": ""}})
    return [(json.dumps(line) + "\n").encode() for line in lines]


def verdict_for_schema(schema: dict[str, Any], decision: str, confidence: float = 0.8) -> dict[str, Any]:
    """A valid verdict for any persona schema: every string field filled in."""
    verdict: dict[str, Any] = {}
    for name, spec in schema.get("properties", {}).items():
        if "enum" in spec:
            verdict[name] = decision
        elif spec.get("type") == "number":
            verdict[name] = confidence
        elif name == "quote":  # two sentences: a one-line quote fails the quality gates
            verdict[name] = f"The quote from {schema.get('title', 'a reviewer')}. It makes every move."
        else:
            verdict[name] = f"{name.replace('_', ' ')} from {schema.get('title', 'a reviewer')}"
    return verdict


def version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("-")[0].split(".")[:3])


def prompt_tokens(messages: list[dict[str, Any]], bytes_per_token: float = BYTES_PER_TOKEN) -> int:
    return sum(int(len(str(m.get("content", "")).encode()) / bytes_per_token) + 4 for m in messages)


def full_name(name: str) -> str:
    return (name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest").lower()


@dataclass
class Hang:
    """Reply only after `seconds` (or when the server stops), to trip the client's timeout."""

    seconds: float


@dataclass
class Drip:
    """Send a valid reply one byte every `seconds`: each read is quick, the whole is not."""

    seconds: float


@dataclass
class FakeOllama:
    """Scriptable Ollama that behaves as the real server does (server/routes.go, api/types.go).

    `decisions` maps a schema title ('DxVerdict') to 'ship' or 'skip'; `verdict_hook(request_json,
    verdict) -> verdict`, when set, rewrites each made-up verdict. What tests may set:
    `version` (decides what `think: false` does with a schema), `family` ("gptoss" ignores
    `think: false`), `capabilities`, `model_info` (False: /api/show omits it, as older servers
    and cloud models do), `slots` (OLLAMA_NUM_PARALLEL: more requests queue), `load_seconds` (a
    model not loaded, or loaded with another num_ctx, loads first), `too_big` (models whose load
    fails with the server's permanent 500), `chunk_seconds` (pause between streamed chunks).
    A prompt past num_ctx is cut silently, as the real server does, and `truncated` records it.
    """

    server: HTTPServer
    models: dict[str, str] = field(default_factory=lambda: {"llama3.1:8b": "ab" * 32})
    capabilities: list[str] = field(default_factory=lambda: ["completion"])
    decisions: dict[str, str] = field(default_factory=dict)
    verdict_hook: Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]] | None = None
    version: str = VERSION
    family: str = "llama"
    model_info: bool = True
    context_length: int = 131072
    bytes_per_token: float = BYTES_PER_TOKEN
    latency: float = 0.0
    slots: int = 0
    load_seconds: float = 0.0
    chunk_seconds: float = 0.0
    too_big: set[str] = field(default_factory=set)
    chats: list[dict[str, Any]] = field(default_factory=list)
    loads: list[dict[str, Any]] = field(default_factory=list)
    truncated: list[dict[str, Any]] = field(default_factory=list)
    loaded: dict[str, int] = field(default_factory=dict)
    script: deque = field(default_factory=deque)
    lock: threading.Lock = field(default_factory=threading.Lock)
    released: threading.Event = field(default_factory=threading.Event)
    busy: threading.Semaphore | None = None

    @property
    def url(self) -> str:
        return self.server.url_for("").rstrip("/")

    def enqueue(self, *replies: Any) -> None:
        """Queue replies for the next chats: a dict (a chat body), a str (the content), an int
        (an HTTP error status), Hang(seconds), Drip(seconds), or a callable(request_json) ->
        werkzeug Response (sent as it is, whatever the request asked)."""
        self.script.extend(replies)

    def install(self) -> FakeOllama:
        if self.slots:
            self.busy = threading.Semaphore(self.slots)
        self.server.expect_request("/api/version", method="GET").respond_with_handler(
            lambda request: json_response({"version": self.version})
        )
        self.server.expect_request("/api/tags", method="GET").respond_with_handler(self.tags)
        self.server.expect_request("/api/show", method="POST").respond_with_handler(self.show)
        self.server.expect_request("/api/chat", method="POST").respond_with_handler(self.chat)
        return self

    def details(self) -> dict[str, Any]:
        return {**DETAILS, "family": self.family, "families": [self.family]}

    def tags(self, request: Request) -> Response:
        return json_response(
            {
                "models": [
                    {
                        "name": name,
                        "model": name,
                        "modified_at": "2026-10-01T10:00:00.000000Z",
                        "size": 4_920_753_328,
                        "digest": digest,
                        "details": self.details(),
                    }
                    for name, digest in self.models.items()
                ]
            }
        )

    def known(self, name: str) -> bool:
        """The server matches names case-insensitively, a bare name meaning ':latest'."""
        return full_name(name) in {full_name(model) for model in self.models}

    def show(self, request: Request) -> Response:
        name = request.get_json().get("model", "")
        if not self.known(name):
            return error_response(404, f"model '{name}' not found")
        body = {
            "modelfile": f"FROM {name}",
            "parameters": 'stop "<|eot_id|>"',
            "template": "{{ .Prompt }}",
            "details": self.details(),
            "capabilities": self.capabilities,
            "modified_at": "2026-10-01T10:00:00.000000Z",
        }
        if self.model_info:
            body["model_info"] = {
                "general.architecture": self.family,
                f"{self.family}.context_length": self.context_length,
            }
        return json_response(body)

    def chat(self, request: Request) -> Response:
        body = request.get_json()
        scripted = None
        if body.get("messages"):
            with self.lock:
                self.chats.append(body)
                scripted = self.script.popleft() if self.script else None
        if self.busy:
            with self.busy:
                return self.answer(body, scripted)
        return self.answer(body, scripted)

    def load(self, model: str, num_ctx: int) -> int | None:
        """Load the model unless it is loaded with this num_ctx; the load time in ns, if any."""
        if self.loaded.get(model) == num_ctx:
            return None
        time.sleep(self.load_seconds)
        self.loaded[model] = num_ctx
        return int(self.load_seconds * 1e9) + 1

    def answer(self, body: dict[str, Any], scripted: Any) -> Response:
        model = body.get("model", "")
        if callable(scripted):
            return scripted(body)
        if isinstance(scripted, int):
            return error_response(scripted, f"scripted error {scripted}")
        if not self.known(model):
            return error_response(404, f'model "{model}" not found, try pulling it first')
        if model in self.too_big:
            return error_response(500, MEMORY_ERROR)
        think = body.get("think")
        if think and "thinking" not in self.capabilities:
            return error_response(400, f'"{model}" does not support thinking')
        num_ctx = (body.get("options") or {}).get("num_ctx") or DEFAULT_NUM_CTX
        load_ns = self.load(model, num_ctx)
        if not body.get("messages"):  # a load request
            self.loads.append(body)
            reply = {**chat_body(model, ""), "done_reason": "load"}
            return self.send(
                body, {key: reply[key] for key in ("model", "created_at", "message", "done", "done_reason")}
            )
        if self.latency:
            time.sleep(self.latency)
        if isinstance(scripted, Hang):
            self.released.wait(scripted.seconds)
            scripted = None
        reply = (
            self.scripted_body(model, scripted)
            if scripted is not None and not isinstance(scripted, Drip)
            else None
        )
        reply = reply or self.made_up_body(body, model, think)
        tokens = prompt_tokens(body["messages"], self.bytes_per_token)
        if tokens > num_ctx:  # cut without a word, as the real server does
            self.truncated.append(body)
        reply["prompt_eval_count"] = min(tokens, num_ctx)
        reply.pop("load_duration", None)
        if load_ns:
            reply["load_duration"] = load_ns
        if not reply.get("eval_count"):
            reply.pop("eval_count", None)  # empty metrics are omitted
        if isinstance(scripted, Drip):
            return self.drip(reply, scripted.seconds)
        return self.send(body, reply)

    def scripted_body(self, model: str, scripted: Any) -> dict[str, Any]:
        if isinstance(scripted, str):
            return chat_body(model, scripted)
        return {**chat_body(model, ""), **scripted}

    def made_up_body(self, body: dict[str, Any], model: str, think: Any) -> dict[str, Any]:
        schema = body.get("format") or {}
        decision = self.decisions.get(schema.get("title", ""), "ship")
        verdict = verdict_for_schema(schema, decision)
        if self.verdict_hook is not None:
            verdict = self.verdict_hook(body, verdict)
        content = json.dumps(verdict)
        thinking = None
        if "thinking" in self.capabilities:
            if self.family == "gptoss" and think in (False, None):
                content, thinking = "", "The user wants a verdict. Let me think it through at length"
            elif think is False and schema and version_tuple(self.version) < (0, 31, 2):
                content = "Okay, here is what I think of this tool: " + content  # unconstrained
            elif think is not False:
                thinking = "Let me weigh the card first."
        reply = chat_body(model, content, eval_count=120 if content else 0)
        if thinking:
            reply["message"]["thinking"] = thinking
        return reply

    def send(self, request: dict[str, Any], reply: dict[str, Any]) -> Response:
        if request.get("stream") is False:
            return json_response(reply)
        chunks = stream_chunks(reply)

        def paced():
            for chunk in chunks:
                yield chunk
                if self.chunk_seconds:
                    self.released.wait(self.chunk_seconds)

        return Response(paced(), status=200, content_type="application/x-ndjson")

    def drip(self, reply: dict[str, Any], seconds: float) -> Response:
        data = b"".join(stream_chunks(reply))

        def one_byte_at_a_time():
            for index in range(len(data)):
                yield data[index : index + 1]
                if self.released.wait(seconds):
                    return

        return Response(one_byte_at_a_time(), status=200, content_type="application/x-ndjson")


def start_fake_ollama(port: int = 0, **settings: Any) -> FakeOllama:
    """A running fake; `port` brings one back where an earlier one was stopped."""
    server = HTTPServer(host="127.0.0.1", port=port, threaded=True)
    server.start()
    return FakeOllama(server=server, **settings).install()


def stop_fake_ollama(fake: FakeOllama) -> None:
    fake.released.set()
    fake.server.clear()
    if fake.server.is_running():
        fake.server.stop()


def free_port_url() -> str:
    """A URL on loopback where nothing listens: connections are refused."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


ReplyFactory = Callable[[dict[str, Any]], Response]
