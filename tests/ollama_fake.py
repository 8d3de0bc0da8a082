"""A local HTTP server that speaks Ollama's API as Ollama documents it, for tests and benchmarks.

It answers /api/version, /api/tags, /api/show and /api/chat with the documented JSON shapes and
error bodies (`{"error": "..."}`). Replies to /api/chat come from a queue of scripted faults and
answers (`enqueue`), else a valid verdict is made up from the JSON schema in `format`.
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


@dataclass
class Hang:
    """Reply only after `seconds` (or when the server stops), to trip the client's timeout."""

    seconds: float


@dataclass
class FakeOllama:
    """Scriptable Ollama. `decisions` maps a schema title ('DxVerdict') to 'ship' or 'skip';
    `verdict_hook(request_json, verdict) -> verdict`, when set, rewrites each made-up verdict, for
    replies that depend on the request (its seed, the tool in the prompt)."""

    server: HTTPServer
    models: dict[str, str] = field(default_factory=lambda: {"llama3.1:8b": "sha256:" + "ab" * 32})
    capabilities: list[str] = field(default_factory=lambda: ["completion"])
    decisions: dict[str, str] = field(default_factory=dict)
    verdict_hook: Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]] | None = None
    latency: float = 0.0
    slots: int = 0
    chats: list[dict[str, Any]] = field(default_factory=list)
    script: deque = field(default_factory=deque)
    lock: threading.Lock = field(default_factory=threading.Lock)
    released: threading.Event = field(default_factory=threading.Event)
    busy: threading.Semaphore | None = None

    @property
    def url(self) -> str:
        return self.server.url_for("").rstrip("/")

    def enqueue(self, *replies: Any) -> None:
        """Queue replies for the next chats: a dict (a chat body), a str (the content), an int
        (an HTTP error status), Hang(seconds), or a callable(request_json) -> werkzeug Response."""
        self.script.extend(replies)

    def install(self) -> FakeOllama:
        if self.slots:
            self.busy = threading.Semaphore(self.slots)
        self.server.expect_request("/api/version", method="GET").respond_with_json({"version": VERSION})
        self.server.expect_request("/api/tags", method="GET").respond_with_handler(self.tags)
        self.server.expect_request("/api/show", method="POST").respond_with_handler(self.show)
        self.server.expect_request("/api/chat", method="POST").respond_with_handler(self.chat)
        return self

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
                        "details": DETAILS,
                    }
                    for name, digest in self.models.items()
                ]
            }
        )

    def known(self, name: str) -> bool:
        return name in self.models or f"{name}:latest" in self.models

    def show(self, request: Request) -> Response:
        name = request.get_json().get("model", "")
        if not self.known(name):
            return error_response(404, f"model '{name}' not found")
        return json_response(
            {
                "modelfile": f"FROM {name}",
                "parameters": 'stop "<|eot_id|>"',
                "template": "{{ .Prompt }}",
                "details": DETAILS,
                "model_info": {"general.architecture": "llama", "llama.context_length": 131072},
                "capabilities": self.capabilities,
                "modified_at": "2026-10-01T10:00:00.000000Z",
            }
        )

    def chat(self, request: Request) -> Response:
        body = request.get_json()
        with self.lock:
            self.chats.append(body)
            scripted = self.script.popleft() if self.script else None
        if self.busy:
            with self.busy:
                return self.answer(body, scripted)
        return self.answer(body, scripted)

    def answer(self, body: dict[str, Any], scripted: Any) -> Response:
        if self.latency:
            time.sleep(self.latency)
        model = body.get("model", "")
        if isinstance(scripted, Hang):
            self.released.wait(scripted.seconds)
            scripted = None
        if isinstance(scripted, int):
            return error_response(scripted, f"scripted error {scripted}")
        if isinstance(scripted, str):
            return json_response(chat_body(model, scripted))
        if isinstance(scripted, dict):
            return json_response({**chat_body(model, ""), **scripted})
        if callable(scripted):
            return scripted(body)
        if not self.known(model):
            return error_response(404, f'model "{model}" not found, try pulling it first')
        schema = body.get("format") or {}
        decision = self.decisions.get(schema.get("title", ""), "ship")
        verdict = verdict_for_schema(schema, decision)
        if self.verdict_hook is not None:
            verdict = self.verdict_hook(body, verdict)
        return json_response(chat_body(model, json.dumps(verdict)))


def start_fake_ollama(**settings: Any) -> FakeOllama:
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
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
