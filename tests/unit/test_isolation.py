"""The `isolated` fixture: no settings variable from the developer's shell reaches a test."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from panel.settings import resolve_settings
from tests.support.environment import SETTINGS_VARIABLES

# A value for every variable that panel.settings reads, each one a valid setting unlike the default.
DEVELOPER_SHELL = {
    "PANEL_BACKEND": "openai",
    "OLLAMA_HOST": "http://developer-box:9999",
    "PANEL_MODEL": "developer-model",
    "PANEL_SEED": "99",
    "PANEL_TEMPERATURE": "1.5",
    "PANEL_TIMEOUT": "17",
    "PANEL_NUM_CTX": "1024",
    "PANEL_NUM_PREDICT": "128",
    "PANEL_ATTEMPTS": "2",
    "PANEL_PERSONAS": "developer-personas",
    "PANEL_PROMPTS": "developer-prompts",
    "PANEL_OUT": "developer-transcripts",
    "PANEL_GGUF": "developer.gguf",
    "PANEL_EMBEDDED_SLOTS": "2",
    "PANEL_CACHE": "developer-cache.sqlite",
    "PANEL_MAX_QUOTE_CHARS": "200",
    "PANEL_MAX_CARD_BYTES": "4096",
    "PANEL_API_KEY_ENV": "DEVELOPER_KEY",
    "OPENAI_API_KEY": "sk-developer",
}


@pytest.fixture(scope="module")
def developer_shell() -> Iterator[None]:
    """Every settings variable set, as in a developer's shell. Module-scoped, so it is set before
    the function-scoped `isolated` fixture runs, as the shell is before pytest starts."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in DEVELOPER_SHELL.items():
            patch.setenv(name, value)
        yield


def test_every_settings_variable_has_a_value_here():
    assert set(DEVELOPER_SHELL) == set(SETTINGS_VARIABLES)


def test_each_value_here_would_change_the_settings():
    defaults = resolve_settings(environ={})
    for name, value in DEVELOPER_SHELL.items():
        if name != "OPENAI_API_KEY":  # the key is no setting: it is sent, never stored
            assert resolve_settings(environ={name: value}) != defaults, name


def test_no_settings_variable_from_the_shell_leaks_into_a_test(developer_shell):
    assert [name for name in SETTINGS_VARIABLES if name in os.environ] == []
    assert resolve_settings() == resolve_settings(environ={})
