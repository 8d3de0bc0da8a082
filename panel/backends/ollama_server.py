"""What the panel knows about Ollama servers as they really behave: versions, `think`, the shape
of /api/show, the errors no retry fixes, and the messages that tell a user what to do."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from panel.errors import BackendUnavailable, ModelNotFound, literal

# Before this version, `think: false` with a `format` schema on a thinking model leaves the
# output unconstrained; leaving `think` unset applies the schema after the thinking.
THINK_FALSE_WITH_SCHEMA_SINCE = (0, 31, 2)
# Failures that the same request will meet again: retrying only wastes the wait.
PERMANENT_FAILURES = ("requires more system memory", "model request too large")
# What Ollama answers (a 500) when the llama.cpp runner under it dies: a crashed model on that
# host, which the same request would crash again.
RUNNER_CRASHED = "llama runner process has terminated"


@dataclass
class ShownModel:
    """The parts of POST /api/show the panel uses; every field may be missing."""

    capabilities: list[str] = field(default_factory=list)
    family: str | None = None
    context_length: int | None = None

    def details(self) -> dict[str, Any]:
        found = {"family": self.family, "context_length": self.context_length}
        return {key: value for key, value in found.items() if value is not None}

    @property
    def is_gpt_oss(self) -> bool:
        return (self.family or "").replace("-", "").startswith("gptoss")


def parse_show(body: Any) -> ShownModel:
    """Read /api/show leniently: `model_info` is absent on older servers and cloud models."""
    if not isinstance(body, dict):
        raise ValueError("the answer is not a JSON object")
    details = body.get("details") if isinstance(body.get("details"), dict) else {}
    info = body.get("model_info") if isinstance(body.get("model_info"), dict) else {}
    family = details.get("family") or info.get("general.architecture")
    context = next(
        (value for key, value in info.items() if key.endswith(".context_length") and isinstance(value, int)),
        None,
    )
    capabilities = body.get("capabilities") if isinstance(body.get("capabilities"), list) else []
    return ShownModel(
        capabilities=[str(item) for item in capabilities],
        family=str(family) if family else None,
        context_length=context,
    )


def version_tuple(version: str | None) -> tuple[int, ...] | None:
    """'0.12.6' -> (0, 12, 6); None when the version cannot be read."""
    found = re.match(r"v?(\d+)\.(\d+)(?:\.(\d+))?", version or "")
    return tuple(int(part or 0) for part in found.groups()) if found else None


def think_setting(shown: ShownModel | None, version: str | None) -> bool | str | None:
    """What to send as `think` with a schema: gpt-oss ignores `false`, so "low"; other thinking
    models get `false` where the server then still applies the schema, else nothing; models
    without the capability get nothing (some versions reject the field)."""
    if shown is None:
        return None
    if shown.is_gpt_oss:
        return "low"
    if "thinking" not in shown.capabilities:
        return None
    parsed = version_tuple(version)
    return False if parsed is not None and parsed >= THINK_FALSE_WITH_SCHEMA_SINCE else None


def think_warning(model: str, shown: ShownModel, version: str | None) -> str | None:
    """A line for `panel doctor` when the server or model needs the workaround above."""
    if shown.is_gpt_oss:
        return f'{model} is gpt-oss, which ignores think=false; panels send think="low".'
    if "thinking" in shown.capabilities and think_setting(shown, version) is None:
        return (
            f"{model} thinks, and Ollama {version or '(unknown version)'} ignores the schema with "
            "think=false; panels leave think unset (slower replies). Ollama 0.31.2 or later fixes this."
        )
    return None


def is_permanent_failure(message: str) -> bool:
    return any(marker in message.lower() for marker in (*PERMANENT_FAILURES, RUNNER_CRASHED))


def plain_http_options(host: str) -> dict[str, Any]:
    """For an http:// host, skip building a TLS context (about 20 ms per client, and nothing to
    verify on a connection that has no TLS); https:// hosts keep full verification."""
    return {} if host.startswith("https://") else {"verify": False}


def unreachable(host: str, error: object) -> BackendUnavailable:
    return BackendUnavailable(
        f"Cannot reach an Ollama server at {host} ({error}).",
        hint="Start one with `ollama serve` (or the Ollama app), or point {host} / OLLAMA_HOST at a "
        "running server.",
    )


def not_pulled(model: str, host: str) -> ModelNotFound:
    return ModelNotFound(
        f"The Ollama server at {host} does not have the model {model!r}.",
        hint=f"Run `ollama pull {literal(model)}` there, or choose another with {{model}} or {{persona_models}}.",
    )


def unavailable_message(model: str, host: str, server_message: str) -> str:
    if RUNNER_CRASHED in server_message.lower():
        return (
            f"The model {model!r} crashed on the Ollama server at {host} ({server_message}). "
            "Retrying will not help: look at that server's log (`journalctl -u ollama`, or "
            "~/.ollama/logs/server.log), update Ollama, or choose another model or host."
        )
    return (
        f"The Ollama server at {host} cannot run {model!r}: {server_message}. Retrying will not "
        "help: free memory there, choose a smaller model, or lower PANEL_NUM_CTX."
    )


def redirected(host: str, status: int) -> BackendUnavailable:
    return BackendUnavailable(
        f"The server at {host} redirects ({status}); the panel does not follow redirects, so that "
        "an http:// address cannot lead to a connection without TLS checks.",
        hint="Point {host} / OLLAMA_HOST at the address it redirects to (https:// included).",
    )
