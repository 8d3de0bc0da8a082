"""Run the studio on a free loopback port in a thread, for tests that talk to it over HTTP."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from panel.settings import Settings
from panel.web import create_app


@dataclass
class RunningStudio:
    url: str
    folder: Path
    publish_dir: Path
    token: str | None


@contextmanager
def running_studio(
    folder: Path, settings: Settings, publish_dir: Path, token: str | None = None, bind: str = "127.0.0.1"
) -> Iterator[RunningStudio]:
    """The studio listening on 127.0.0.1; `bind` is the address it believes it is bound to (the
    Host names it trusts), to test a studio started with another --bind."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    app = create_app(folder, settings, token=token, publish_dir=publish_dir, bind=bind)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield RunningStudio(f"http://127.0.0.1:{port}", folder, publish_dir, token)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
