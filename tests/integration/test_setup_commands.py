"""`panel init`, `panel models` and `panel cache info|clear` through the CLI (issue 21 item 8)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from typer.testing import CliRunner

from panel.backends.response_cache import ResponseCache
from panel.cli import app
from panel.records.cards import load_card
from panel.records.chat import ChatReply
from panel.settings import resolve_settings
from tests.support.ollama_fake import FakeOllama, free_port_url
from tests.support.paths import EXAMPLES

runner = CliRunner()


def invoke(*args: str, **kwargs):
    return runner.invoke(app, list(args), **kwargs)


# --- init ------------------------------------------------------------------------------------


def test_init_writes_a_card_and_settings_that_load(tmp_path: Path) -> None:
    result = invoke("init", str(tmp_path / "new"))
    card, settings_file = tmp_path / "new" / "my-tool.toml", tmp_path / "new" / "panel.toml"
    assert result.exit_code == 0, result.output
    assert f"Wrote {card}" in result.stdout and f"Wrote {settings_file}" in result.stdout
    assert f"panel run {card}" in result.stdout
    assert load_card(card).name == "My Tool"
    assert resolve_settings(environ={}, config_path=settings_file).out_dir == Path("transcripts")


def test_init_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    (tmp_path / "panel.toml").write_text("seed = 1\n")
    refused = invoke("init", str(tmp_path))
    assert refused.exit_code == 2
    assert "panel.toml already exists" in refused.stderr and "--force" in refused.stderr
    assert (tmp_path / "panel.toml").read_text() == "seed = 1\n"
    assert not (tmp_path / "my-tool.toml").exists()
    forced = invoke("init", str(tmp_path), "--force")
    assert forced.exit_code == 0
    assert (tmp_path / "panel.toml").read_text().startswith("# panel.toml")


def test_init_writes_into_the_current_folder_by_default(tmp_path: Path) -> None:
    assert invoke("init").exit_code == 0  # the autouse fixture runs each test in tmp_path
    assert sorted(path.name for path in tmp_path.iterdir() if path.suffix == ".toml") == [
        "my-tool.toml",
        "panel.toml",
    ]


# --- models ----------------------------------------------------------------------------------


def test_models_lists_ollama_and_what_each_persona_would_use(ollama: FakeOllama) -> None:
    ollama.models = {"llama3.1:8b": "ab" * 32, "qwen3:8b": "cd" * 32}
    result = invoke(
        "models", "--backend", "ollama", "--host", ollama.url, "--persona-model", "dx=mistral:7b", "--json"
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    offers = {offer["backend"]: offer for offer in report["backends"]}
    assert offers["ollama"]["status"] == "ok"
    assert offers["ollama"]["models"] == ["llama3.1:8b", "qwen3:8b"]
    assert offers["openai"]["status"] == "skipped"
    chosen = {choice["persona"]: (choice["model"], choice["offered"]) for choice in report["personas"]}
    assert chosen["dx"] == ("mistral:7b", False)
    assert chosen["business"] == ("llama3.1:8b", True)
    assert report["backend"] == "ollama"


def test_models_says_a_backend_does_not_answer_and_goes_on() -> None:
    host = free_port_url()
    result = invoke("models", "--backend", "ollama", "--host", host)
    assert result.exit_code == 0, result.output
    line = next(line for line in result.stdout.splitlines() if line.startswith("ollama"))
    assert "not answering" in line and host in line
    assert "A run would use the ollama backend" in result.stdout


def test_models_asks_an_openai_compatible_server_for_its_list(httpserver) -> None:
    httpserver.expect_request("/v1/models").respond_with_json(
        {"object": "list", "data": [{"id": "qwen3:8b"}, {"id": "llama3.1:8b"}]}
    )
    result = invoke("models", "--backend", "openai", "--host", httpserver.url_for("/v1"), "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    openai = next(offer for offer in report["backends"] if offer["backend"] == "openai")
    assert openai["status"] == "ok" and openai["models"] == ["qwen3:8b", "llama3.1:8b"]
    assert {choice["offered"] for choice in report["personas"]} == {True}


def test_models_names_the_embedded_file(tmp_path: Path) -> None:
    gguf = tmp_path / "tiny.gguf"
    gguf.write_bytes(b"GGUF" + bytes(60))
    result = invoke("models", "--backend", "embedded", "--gguf", str(gguf), "--json")
    report = json.loads(result.stdout)
    embedded = next(offer for offer in report["backends"] if offer["backend"] == "embedded")
    assert embedded["models"] == ["tiny.gguf"] and embedded["where"] == str(gguf)
    assert {choice["model"] for choice in report["personas"]} == {"tiny.gguf"}


# --- cache -----------------------------------------------------------------------------------


def filled_cache(path: Path, replies: int) -> Path:
    cache = ResponseCache(path)
    for number in range(replies):
        cache.put(f"key-{number}", "llama3.1:8b", ChatReply(content="{}", model="llama3.1:8b"))
    cache.close()
    return path


def test_cache_info_reports_path_size_and_entries(tmp_path: Path) -> None:
    path = filled_cache(tmp_path / "cache.sqlite", 3)
    result = invoke("cache", "info", "--cache", str(path), "--json")
    info = json.loads(result.stdout)
    assert result.exit_code == 0
    assert info["path"] == str(path) and info["entries"] == 3 and info["bytes"] > 0
    assert info["entries_by_model"] == {"llama3.1:8b": 3}


def test_cache_info_of_the_default_cache_that_does_not_exist_yet(tmp_path: Path) -> None:
    result = invoke("cache", "info")
    assert result.exit_code == 0
    assert str(tmp_path / "user-cache" / "reviewer-panel" / "panel-cache.sqlite") in result.stdout
    assert "no cache yet" in result.stdout
    assert not (tmp_path / "user-cache").exists()


def test_cache_clear_asks_first(tmp_path: Path) -> None:
    path = filled_cache(tmp_path / "cache.sqlite", 2)
    declined = invoke("cache", "clear", "--cache", str(path), input="n\n")
    assert declined.exit_code == 0 and "Nothing was deleted" in declined.stderr
    assert len(ResponseCache(path)) == 2
    accepted = invoke("cache", "clear", "--cache", str(path), input="y\n")
    assert accepted.exit_code == 0 and "Deleted 2 cached replies" in accepted.stdout
    assert len(ResponseCache(path)) == 0


def test_cache_clear_yes_does_not_ask(tmp_path: Path) -> None:
    path = filled_cache(tmp_path / "cache.sqlite", 2)
    result = invoke("cache", "clear", "--cache", str(path), "--yes", "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == {"path": str(path), "deleted": 2}


# --- show --latest ---------------------------------------------------------------------------


def test_show_latest_shows_the_transcript_written_last(ollama: FakeOllama, tmp_path: Path) -> None:
    out = tmp_path / "runs"
    flags = ("--backend", "ollama", "--host", ollama.url, "--out", str(out))
    for card in ("pgvector.toml", "github-copilot.toml"):
        assert invoke("run", str(EXAMPLES / card), *flags).exit_code == 0
    (out / "notes.json").write_text("{}")  # other JSON in the folder is passed over
    copilot = next(out.glob("github-copilot-*.json"))
    os.utime(copilot, (time.time() + 60, time.time() + 60))
    shown = invoke("show", "--latest", "--out", str(out), "--json")
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)["transcript"] == str(copilot)


def test_show_latest_in_an_empty_folder_says_so(tmp_path: Path) -> None:
    result = invoke("show", "--latest", "--out", str(tmp_path / "none"))
    assert result.exit_code == 2
    assert f"No transcript in {tmp_path / 'none'}" in result.stderr and "--out" in result.stderr


def test_show_needs_a_transcript_or_latest() -> None:
    result = invoke("show")
    assert result.exit_code == 2 and "--latest" in result.stderr


# --- run --no-cache --------------------------------------------------------------------------


def test_run_reuses_the_cache_for_the_same_seed_unless_no_cache(ollama: FakeOllama, tmp_path: Path) -> None:
    cache = tmp_path / "cache.sqlite"
    flags = ("--backend", "ollama", "--host", ollama.url, "--seed", "5", "--cache", str(cache))
    card = str(EXAMPLES / "pgvector.toml")
    assert invoke("run", card, *flags).exit_code == 0
    asked = len(ollama.chats)
    assert asked >= 4 and len(ResponseCache(cache)) == 4
    assert invoke("run", card, *flags).exit_code == 0
    assert len(ollama.chats) == asked  # every reply came from the cache
    assert invoke("run", card, *flags, "--no-cache").exit_code == 0
    assert len(ollama.chats) == 2 * asked
