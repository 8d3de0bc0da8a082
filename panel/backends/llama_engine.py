"""The embedded engine's child process: llama.cpp's own server (xllamacpp's prebuilt wheels) on a
loopback port, run with `python -m panel.backends.llama_engine '<json settings>'`.

A native crash here ends this process only; the parent sees a failed call and restarts it. The
child never outlives its parent: it exits when its stdin (a pipe the parent holds) reaches end of
file, which the kernel guarantees when the parent dies, even by kill -9.

It prints one JSON line on stdout once the server listens: its address and what engine it is.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from importlib.metadata import version
from typing import Any


def engine_params(settings: dict[str, Any]) -> Any:
    """xllamacpp's CommonParams for one GGUF. llama.cpp's threads spin while they wait for work
    (`poll`); poll 0 lets them sleep, so a busy machine slows the engine in proportion."""
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = settings["gguf"]
    params.n_parallel = settings["slots"]
    params.n_ctx = settings["n_ctx"] * settings["slots"]  # each slot gets n_ctx tokens
    for cpu, threads in (
        (params.cpuparams, settings["threads"]),
        (params.cpuparams_batch, settings["batch_threads"]),
    ):
        cpu.n_threads = threads
        cpu.poll = settings["poll"]
    params.port = settings.get("port", 0)
    params.hostnames = ["127.0.0.1"]
    params.verbosity = settings.get("verbosity", 1)
    if settings.get("aliases"):
        params.model_alias = set(settings["aliases"])
    return params


def watch_parent() -> None:
    """End this process when the parent's end of the stdin pipe closes."""
    sys.stdin.buffer.read()
    os._exit(0)


def main(argv: list[str]) -> None:
    import xllamacpp

    settings = json.loads(argv[0])
    threading.Thread(target=watch_parent, daemon=True).start()
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    server = xllamacpp.Server(engine_params(settings))
    started = {
        "url": server.listening_address,
        "pid": os.getpid(),
        "xllamacpp": version("xllamacpp"),
        "llama_cpp_build": xllamacpp.BUILD_INFO,
        "system_info": xllamacpp.get_system_info().strip(),
    }
    print(json.dumps(started), flush=True)
    threading.Event().wait()  # serve until the parent goes (watch_parent) or SIGTERM


if __name__ == "__main__":
    main(sys.argv[1:])
