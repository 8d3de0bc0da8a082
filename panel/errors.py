"""The few error types a user can cause or meet; the CLI turns each into a message and exit code."""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import ValidationError


class SettingNames(dict[str, str]):
    """How a face names the settings a hint refers to; a setting it does not rename keeps its
    library name (`out_dir`, `force`), which is what a Python caller sets."""

    def __missing__(self, key: str) -> str:
        return LIBRARY_NAMES.get(key, key)


# Hint settings whose library form is more than their name.
LIBRARY_NAMES = {
    "no_cache": "use_cache=False",
    "unlock_edit": "edit_verdict(..., unlock=True)",
}


def literal(text: str) -> str:
    """Text a hint must show as it is (a model name): its braces name no setting."""
    return text.replace("{", "{{").replace("}", "}}")


class PanelError(Exception):
    """Base error: `str(error)` is a one-paragraph message for the user.

    `hint`, when there is one, is the advice that ends the paragraph, naming the settings that
    fix the problem as `{out_dir}`, `{force}`: each face fills them in with its own words (the
    CLI with its flags, see `phrased`), so no library message speaks in one face's terms."""

    exit_code = 2

    def __init__(self, message: str = "", *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def phrased(self, names: Mapping[str, str] | None = None) -> str:
        """The message and its hint, the settings named as `names` names them."""
        if not self.hint:
            return self.message
        return f"{self.message} {self.hint.format_map(SettingNames(names or {}))}"

    def __str__(self) -> str:
        return self.phrased()


class CardError(PanelError):
    """A tool card that cannot be read or does not validate."""


class PersonaError(PanelError):
    """A persona file that cannot be read or does not validate."""


class ConfigError(PanelError):
    """A bad setting: a flag, an environment variable or panel.toml."""


class TranscriptError(PanelError):
    """A transcript that cannot be read, or cannot be written."""


class BackendUnavailable(PanelError):
    """The model backend cannot run a panel at all (server down, model not pulled)."""

    exit_code = 3


class KeyRefused(BackendUnavailable):
    """The server refused the API key (401/403): every call would be refused, so a run stops
    rather than failing one reviewer after another."""


class ModelUnavailable(BackendUnavailable):
    """The server answered, but cannot serve this model (not pulled, or too big to load)."""


class ModelNotFound(ModelUnavailable):
    """The server answered, but does not have the model."""


class BackendOutage(BackendUnavailable):
    """Every host stayed unreachable past the patience: a batch stops, resumable."""


class TransientBackendError(PanelError):
    """A failure worth retrying: connection refused or reset, 5xx, timeout."""

    exit_code = 3


class ModelServerError(TransientBackendError):
    """The server took the request and failed it for this model (5xx, stall, deadline): worth
    retrying, but the host itself is up, so only the (host, model) pair is set aside."""


class UnreadableReply(PanelError):
    """An answer that is not a chat reply at all (not JSON, no `message`); `raw` keeps it."""

    exit_code = 3

    def __init__(self, message: str, raw: str) -> None:
        super().__init__(message)
        self.raw = raw


class BackendRequestError(PanelError):
    """The backend refused the request itself (a 4xx other than 404); retrying will not help."""

    exit_code = 3


class EngineCrashed(PanelError):
    """The embedded llama.cpp engine died during a call: that call fails (not retried), and the
    engine restarts for the next ones. `raw` keeps the engine's last log lines."""

    exit_code = 3

    def __init__(self, message: str, raw: str = "") -> None:
        super().__init__(message)
        self.raw = raw


# A row with thousands of unknown columns must still give a short message.
LISTED_PROBLEMS = 5


MAX_PLACE_CHARS = 80


def describe_validation_error(error: ValidationError) -> str:
    """Render pydantic errors as 'field.path: what was wrong' lines (the first few of them)."""
    lines = []
    problems = error.errors()
    for item in problems[:LISTED_PROBLEMS]:
        place = ".".join(str(part) for part in item["loc"]) or "(top level)"
        if len(place) > MAX_PLACE_CHARS:
            place = place[:MAX_PLACE_CHARS] + "…"
        message = item["msg"]
        if item["type"] == "extra_forbidden":
            message = "unknown field (check the spelling)"
        lines.append(f"{place}: {message}")
    if len(problems) > LISTED_PROBLEMS:
        lines.append(f"and {len(problems) - LISTED_PROBLEMS:,} more problems")
    return "; ".join(lines)
