"""`panel doctor` through the CLI, against the Ollama-speaking test server and against nothing."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from typer.testing import CliRunner

from panel.backends.embedded import bundled_gguf
from panel.cli import app
from tests.support.ollama_fake import FakeOllama, free_port_url, start_fake_ollama, stop_fake_ollama

runner = CliRunner()


def doctor(*args: str) -> tuple[int, dict]:
    result = runner.invoke(app, ["doctor", "--json", *args])
    return result.exit_code, json.loads(result.stdout)


def check(report: dict, name: str) -> dict:
    return next(item for item in report["checks"] if item["name"] == name)


def test_server_with_every_model_is_ready(ollama: FakeOllama) -> None:
    code, report = doctor("--host", ollama.url)
    assert code == 0
    assert report["backend"] == "ollama" and report["ready"]
    assert check(report, "ollama") == {
        "name": "ollama",
        "status": "ok",
        "detail": f"Ollama 0.12.6 at {ollama.url}",
        "fix": None,
    }
    model = check(report, "model llama3.1:8b")
    assert model["status"] == "ok"
    assert model["detail"] == "available (completion); used by business, competition, dx, futures"


def test_missing_model_gives_the_exact_pull_command() -> None:
    fake = start_fake_ollama(models={"qwen3:8b": "sha256:" + "cd" * 32})
    try:
        result = runner.invoke(app, ["doctor", "--host", fake.url])
        code, report = doctor("--host", fake.url)
    finally:
        stop_fake_ollama(fake)
    assert result.exit_code == code == 3
    shown = " ".join(result.stdout.split())
    assert shown.count("ollama pull llama3.1:8b") == 2  # its row's fix, and the summary
    assert check(report, "model llama3.1:8b") == {
        "name": "model llama3.1:8b",
        "status": "missing",
        "detail": "not on the server; used by business, competition, dx, futures",
        "fix": "ollama pull llama3.1:8b",
    }
    assert report["summary"].count("ollama pull") == 1
    # auto sticks with a server that answers, so the embedded model cannot rescue this panel
    assert report["backend"] == "ollama" and not report["ready"]


def test_no_server_falls_back_to_the_bundled_model() -> None:
    host = free_port_url()
    code, report = doctor("--host", host)
    assert code == 0
    assert report["backend"] == "embedded" and report["ready"]
    assert check(report, "ollama")["status"] == "missing"
    assert "ollama serve" in check(report, "ollama")["fix"]
    assert check(report, "model llama3.1:8b")["status"] == "skipped"
    assert check(report, "embedded")["status"] == "ok"
    size_mb = bundled_gguf().stat().st_size / 1_000_000
    assert check(report, "gguf")["detail"].startswith(f"SmolLM2-135M-Instruct.Q4_1.gguf, {size_mb:.1f} MB")
    assert host in report["summary"] and "135M" in report["summary"]


def test_table_output_ends_with_the_verdict() -> None:
    result = runner.invoke(app, ["doctor", "--host", free_port_url()])
    assert result.exit_code == 0
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert lines[0].startswith("missing") and "ollama" in lines[0]
    assert "Ready: panels run on the embedded model" in result.stdout


def test_backend_ollama_without_server_is_not_ready() -> None:
    code, report = doctor("--backend", "ollama", "--host", free_port_url())
    assert code == 3
    assert report["backend"] == "ollama" and not report["ready"]
    assert "ollama serve" in report["summary"]


def test_missing_gguf_is_not_ready(tmp_path: Path) -> None:
    missing = tmp_path / "nope.gguf"
    code, report = doctor("--host", free_port_url(), "--gguf", str(missing))
    assert code == 3
    assert check(report, "gguf")["status"] == "missing"
    assert str(missing) in report["summary"]


def test_other_gguf_is_reported_without_the_weak_model_warning(tmp_path: Path) -> None:
    other = tmp_path / "other.gguf"
    other.write_bytes(b"GGUF" + bytes(2_000_000))
    code, report = doctor("--host", free_port_url(), "--gguf", str(other))
    assert code == 0
    assert check(report, "gguf")["detail"] == f"other.gguf, 2.0 MB, from --gguf: {other}"
    assert "135M" not in report["summary"]


def test_embedded_backend_without_xllamacpp(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "xllamacpp", None)  # makes `import xllamacpp` fail
    result = runner.invoke(app, ["doctor", "--backend", "embedded", "--host", free_port_url()])
    assert result.exit_code == 3
    code, report = doctor("--backend", "embedded", "--host", free_port_url())
    assert check(report, "embedded")["status"] == "missing"
    assert 'pip install -e ".[embedded]"' in report["summary"]
    assert "Traceback" not in result.output


def test_the_embedded_engine_reports_no_amx_kernel() -> None:
    """llama.cpp's AMX kernels crash (llama.cpp #20824): the engine the panel runs has none, and
    the doctor shows what it has, so a machine without AMX proves the point too."""
    xllamacpp = pytest.importorskip("xllamacpp")
    features = xllamacpp.get_system_info()
    assert "AVX2 = 1" in features and "AMX" not in features
    code, report = doctor("--backend", "embedded", "--host", free_port_url())
    assert code == 0
    assert "AVX2 = 1" in check(report, "embedded")["detail"]
    assert "AMX" not in check(report, "embedded")["detail"]


def test_environment_host_is_honoured(ollama: FakeOllama, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OLLAMA_HOST", ollama.url)
    code, report = doctor()
    assert code == 0 and report["backend"] == "ollama"


def test_a_file_that_is_not_gguf_is_not_a_model(tmp_path):
    fake = tmp_path / "model.gguf"
    fake.write_text("root:x:0:0:root:/root:/bin/bash\n")
    result = CliRunner().invoke(app, ["doctor", "--backend", "embedded", "--gguf", str(fake)])
    assert result.exit_code == 3
    assert "not a GGUF model file" in " ".join(result.output.split())


def test_model_flags_choose_what_is_checked_one_line_per_model() -> None:
    fake = start_fake_ollama(models={"qwen3:8b": "sha256:" + "cd" * 32})
    try:
        code, report = doctor("--host", fake.url, "--model", "qwen3:8b", "--persona-model", "dx=phi4")
    finally:
        stop_fake_ollama(fake)
    assert code == 3
    assert check(report, "model qwen3:8b")["detail"].endswith("used by business, competition, futures")
    assert check(report, "model phi4") == {
        "name": "model phi4",
        "status": "missing",
        "detail": "not on the server; used by dx",
        "fix": "ollama pull phi4",
    }
    assert [c["name"] for c in report["checks"] if c["name"].startswith("model")] == [
        "model qwen3:8b",
        "model phi4",
    ]


def test_a_model_the_server_shows_but_does_not_list_is_ready() -> None:
    """`run` asks /api/show; doctor must agree with it, whatever /api/tags lists."""
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    server.expect_request("/api/tags", method="GET").respond_with_json({"models": []})
    fake = FakeOllama(server=server).install()
    try:
        code, report = doctor("--host", fake.url)
    finally:
        stop_fake_ollama(fake)
    assert code == 0 and report["ready"]
    assert check(report, "model llama3.1:8b")["status"] == "ok"


def test_a_model_the_server_cannot_describe_is_named_in_the_summary() -> None:
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    server.expect_request("/api/show", method="POST").respond_with_json({"error": "boom"}, status=500)
    fake = FakeOllama(server=server).install()
    try:
        code, report = doctor("--host", fake.url, "--backend", "ollama")
    finally:
        stop_fake_ollama(fake)
    assert code == 3 and not report["ready"]
    assert check(report, "model llama3.1:8b")["status"] == "missing"
    assert "failed a check" in report["summary"] and "llama3.1:8b" in report["summary"]
