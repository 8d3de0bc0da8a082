"""Fixtures only; what tests import lives in tests/support."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tenacity import wait_none

from panel.engine import verdict_loop as structured
from panel.settings import Settings
from tests.support.browser import browser_page, playwright_chromium
from tests.support.environment import SETTINGS_VARIABLES
from tests.support.ollama_fake import FakeOllama, start_fake_ollama, stop_fake_ollama
from tests.support.paths import EXAMPLES


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test runs in a temp folder with none of the settings variables (PANEL_*, OLLAMA_HOST,
    the API key) from the developer's shell, and its own user cache folder."""
    monkeypatch.chdir(tmp_path)
    for name in SETTINGS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    # The response cache lives in the user's cache folder: one per test, never the real one.
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user-cache"))
    monkeypatch.setattr(structured, "TRANSPORT_WAIT", wait_none())


@pytest.fixture
def ollama() -> Iterator[FakeOllama]:
    fake = start_fake_ollama()
    yield fake
    stop_fake_ollama(fake)


@pytest.fixture
def settings(ollama: FakeOllama, tmp_path: Path) -> Settings:
    return Settings(backend="ollama", host=ollama.url, seed=7, timeout=5, out_dir=tmp_path / "out")


@pytest.fixture
def card_path() -> Path:
    return EXAMPLES / "pgvector.toml"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """The system Chromium under Playwright, one per test module."""
    with playwright_chromium() as launched:
        yield launched


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    with browser_page(browser) as opened:
        yield opened
