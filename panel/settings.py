"""Settings: a CLI flag beats the environment, which beats panel.toml, which beats the persona file.

Why not pydantic-settings (issue 21 item 9, weighed and declined): `Settings(...)` would then
read PANEL_* itself, so a script's `Settings(backend="ollama")` would silently take the shell's
PANEL_MODEL; panel.toml must be read through the guarded reader (regular file, size cap), so its
TOML source would be replaced anyway; the key-routing refusals need to know which layer set
`host`, which merged sources no longer tell; and a layer that sets `model` drops the per-persona
models below it, which its merge does not express. The three layers below stay plain dicts.
"""

from __future__ import annotations

import os
import random
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from panel.errors import ConfigError, describe_validation_error, literal
from panel.regular_files import MAX_CARD_BYTES, MAX_SETTINGS_FILE_BYTES, FileKind, read_regular_text

# Backend name -> the module whose SPEC declares it (panel.backends.registry imports it).
# One line per backend; here so that settings can check a name without importing a backend.
REGISTRY = {
    "ollama": "panel.backends.ollama_spec",
    "openai": "panel.backends.openai_spec",
    "embedded": "panel.backends.embedded_spec",
}

DEFAULT_HOST = "http://localhost:11434"
# A quote is one paragraph; a model that rambles past this is asked again to be brief.
DEFAULT_MAX_QUOTE_CHARS = 1500
CONFIG_FILE = "panel.toml"
CACHE_FILE = "panel-cache.sqlite"
# Environment variable -> setting. OLLAMA_HOST is Ollama's own name, so it is honoured as is.
ENVIRONMENT = {
    "PANEL_BACKEND": "backend",
    "OLLAMA_HOST": "host",
    "PANEL_MODEL": "model",
    "PANEL_SEED": "seed",
    "PANEL_TEMPERATURE": "temperature",
    "PANEL_TIMEOUT": "timeout",
    "PANEL_NUM_CTX": "num_ctx",
    "PANEL_NUM_PREDICT": "num_predict",
    "PANEL_ATTEMPTS": "attempts",
    "PANEL_PERSONAS": "personas_dir",
    "PANEL_PROMPTS": "prompts_dir",
    "PANEL_OUT": "out_dir",
    "PANEL_GGUF": "gguf",
    "PANEL_EMBEDDED_SLOTS": "embedded_slots",
    "PANEL_CACHE": "cache",
    "PANEL_MAX_QUOTE_CHARS": "max_quote_chars",
    "PANEL_MAX_CARD_BYTES": "max_card_bytes",
    "PANEL_API_KEY_ENV": "api_key_env",
}


def backend_names() -> list[str]:
    """Every name `--backend` accepts."""
    return ["auto", *REGISTRY]


class QualityGates(BaseModel):
    """Where a verdict stops being usable. `[quality]` in panel.toml overrides any of these."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(default=True, description="Re-ask replies that fail a gate.")
    instruction_words: int = Field(
        default=6, ge=3, description="Consecutive words copied from the prompts or the persona file."
    )
    card_words: int = Field(default=12, ge=3, description="Consecutive words copied from the card.")
    min_quote_sentences: int = Field(default=2, ge=1, description="Fewest sentences in a quote.")
    lens_words: bool = Field(
        default=True, description="The quote must use one of its persona's lens_words (if it lists any)."
    )


class Settings(BaseModel):
    """Everything a panel run can be told, after all layers are merged."""

    model_config = ConfigDict(extra="forbid")

    backend: str = Field(default="auto", description="auto, or a name in panel.backends.registry.")
    host: str = DEFAULT_HOST
    model: str | None = None
    persona_models: dict[str, str] = Field(default_factory=dict)
    seed: int | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    timeout: float = Field(default=180.0, gt=0, le=86_400, description="Seconds one model call may take.")
    num_ctx: int = Field(default=8192, ge=512)
    num_predict: int = Field(default=1024, ge=64)
    attempts: int = Field(default=5, ge=1, le=10, description="Tries at a valid verdict per persona.")
    transport_retries: int = Field(default=3, ge=1, le=10)
    max_quote_chars: int = Field(
        default=DEFAULT_MAX_QUOTE_CHARS, ge=100, description="Longest quote accepted."
    )
    max_card_bytes: int = Field(default=MAX_CARD_BYTES, ge=1024, le=1024 * 1024)
    personas_dir: Path | None = None
    prompts_dir: Path | None = Field(default=None, description="Prompt set folder; default: the bundled set.")
    out_dir: Path = Path("transcripts")
    gguf: Path | None = None
    # Embedded calls decoded together. Batched decoding is not bitwise reproducible (the batch's
    # make-up changes float rounding), so 1 is the setting for same seed, same panel.
    embedded_slots: int = Field(default=4, ge=1, le=16)
    # Models whose pages carry the "draft — test model" mark, besides the bundled test model.
    draft_models: list[str] = Field(default_factory=list)
    cache: Path | None = Field(default=None, description="Response cache file; default: user_cache_dir().")
    # The name of the environment variable that holds an API key (never the key itself, so that
    # no transcript, log or settings dump can carry it).
    api_key_env: str = "OPENAI_API_KEY"
    quality: QualityGates = Field(default_factory=QualityGates, description="[quality] in panel.toml.")

    @field_validator("backend")
    @classmethod
    def registered_backend(cls, name: str) -> str:
        if name not in backend_names():
            raise ValueError(f"backend must be one of {', '.join(backend_names())}, not {name!r}")
        return name

    def model_for(self, persona_id: str, persona_default: str) -> str:
        return self.persona_models.get(persona_id) or self.model or persona_default


def user_cache_dir() -> Path:
    """$XDG_CACHE_HOME/reviewer-panel, else ~/.cache/reviewer-panel: out of the working folder."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "reviewer-panel"


def response_cache_path(settings: Settings) -> Path:
    """The response cache file: `cache` from a flag, PANEL_CACHE or panel.toml, else the user's."""
    return settings.cache or user_cache_dir() / CACHE_FILE


OLLAMA_PORT = 11434
# The backends whose host is an Ollama server (auto probes Ollama there first).
OLLAMA_BACKENDS = ("auto", "ollama")


def normalize_host(host: str, backend: str = "ollama") -> str:
    """Accept what OLLAMA_HOST accepts ('localhost', ':11434', '0.0.0.0:8080') as a URL. Only an
    Ollama host without a port gets Ollama's 11434; any other server keeps its scheme's default
    (http://vllm-box/v1 is port 80)."""
    ollama = backend in OLLAMA_BACKENDS
    label, example = (
        ("The Ollama host", "http://localhost:11434")
        if ollama
        else ("The server URL", "http://localhost:8000/v1")
    )
    original = host
    host = host.strip().rstrip("/")
    if "://" not in host:
        host = f"http://{host}"
    try:
        parts = urlsplit(host)
        port = parts.port
    except ValueError as error:
        raise ConfigError(
            f"{label} {original!r} is not a valid URL ({error}).",
            hint=f"Set {{host}} (or OLLAMA_HOST, or panel.toml) to a form like {example}.",
        ) from None
    if parts.scheme not in ("http", "https"):
        raise ConfigError(f"{label} {original!r} must be an http:// or https:// URL.")
    hostname = parts.hostname or "localhost"
    if hostname == "0.0.0.0":
        hostname = "127.0.0.1"
    if ":" in hostname:
        hostname = f"[{hostname}]"
    if port is None and ollama:
        port = 443 if parts.scheme == "https" else OLLAMA_PORT
    return f"{parts.scheme}://{hostname}{f':{port}' if port else ''}{parts.path}"


# panel.toml may use the CLI's names for these.
FILE_ALIASES = {"out": "out_dir", "personas": "personas_dir", "prompts": "prompts_dir"}


SETTINGS_FILE = FileKind(noun="settings file", expected="a settings file (panel.toml)", error=ConfigError)


def read_config_file(path: Path) -> dict[str, Any]:
    if not os.path.lexists(path):
        return {}
    text = read_regular_text(path, SETTINGS_FILE, MAX_SETTINGS_FILE_BYTES)
    try:
        data = tomllib.loads(text)
    except (ValueError, RecursionError) as error:  # ValueError: bad TOML, huge ints
        raise ConfigError(f"{path}: cannot read this settings file ({str(error)[:300]}).") from None
    return {FILE_ALIASES.get(key, key): value for key, value in data.items()}


def read_environment(environ: Mapping[str, str]) -> dict[str, Any]:
    return {setting: environ[name] for name, setting in ENVIRONMENT.items() if environ.get(name)}


def merge_layers(*layers: Mapping[str, Any]) -> dict[str, Any]:
    """Merge from lowest to highest precedence. A layer that names a model for the whole panel
    replaces the per-persona models of the layers below it."""
    merged: dict[str, Any] = {}
    for layer in layers:
        if layer.get("model"):
            merged.pop("persona_models", None)
        for key, value in layer.items():
            if value is None:
                continue
            if key == "persona_models" and isinstance(value, Mapping):
                below = merged.get("persona_models")
                merged["persona_models"] = {**(below if isinstance(below, Mapping) else {}), **value}
            else:
                merged[key] = value
    return merged


def resolve_settings(
    flags: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    config_path: Path | None = None,
) -> Settings:
    """Merge panel.toml, the environment and the CLI flags into validated settings."""
    config_path = config_path or Path(CONFIG_FILE)
    environ = os.environ if environ is None else environ
    file_layer = read_config_file(config_path)
    env_layer = read_environment(environ)
    merged = merge_layers(file_layer, env_layer, flags or {})
    try:
        settings = Settings.model_validate(merged)
    except ValidationError as error:
        raise ConfigError(
            f"Bad setting: {describe_validation_error(error)}. Settings come from the command's "
            f"flags, then PANEL_* environment variables, then {config_path}."
        ) from None
    user_layers = (env_layer, flags or {})
    refuse_key_routing_by_file(config_path, file_layer, user_layers, settings, environ)
    return settings.model_copy(update={"host": normalize_host(settings.host, settings.backend)})


def refuse_key_routing_by_file(
    config_path: Path,
    file_layer: Mapping[str, Any],
    user_layers: tuple[Mapping[str, Any], ...],
    settings: Settings,
    environ: Mapping[str, str],
) -> None:
    """A panel.toml travels with a folder (a cloned repository, an unpacked archive), so it may
    not decide which secret goes to which server: it cannot name the key's variable, and it
    cannot send the user's key to a host only it names. The environment and the flags are the
    user's own; they decide both."""
    if "api_key_env" in file_layer:
        raise ConfigError(
            f"{config_path} sets api_key_env: a settings file in the working folder may not choose "
            "which environment variable's secret is sent to a server (a cloned repository could "
            "send your GITHUB_TOKEN to a host of its choosing). Remove that line and name the "
            "variable yourself with PANEL_API_KEY_ENV."
        )
    host_from_file = "host" in file_layer and not any(layer.get("host") for layer in user_layers)
    if settings.backend == "openai" and host_from_file and environ.get(settings.api_key_env):
        raise ConfigError(
            f"{config_path} points the openai backend at {file_layer['host']!r}, and "
            f"${settings.api_key_env} holds an API key: a settings file in the working folder may "
            "not send your key to a host that only it names.",
            hint="Name that host yourself with {host} (or OLLAMA_HOST) to send the key there, or "
            f"unset ${literal(settings.api_key_env)} for a server that needs no key.",
        )


def resolve_seed(*choices: int | None, default: int | None = None) -> int:
    """The first seed set among `choices` (a flag, then settings.seed, say), else `default`,
    else a random one: every place that decides a seed decides it here."""
    for seed in choices:
        if seed is not None:
            return seed
    return default if default is not None else random.randrange(2**31)
