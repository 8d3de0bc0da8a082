from __future__ import annotations

import importlib
import os
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from tenacity import wait_none

from panel.engine import verdict_loop as structured
from panel.settings import Settings
from tests.ollama_fake import FakeOllama, start_fake_ollama, stop_fake_ollama

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "tools"
REQUIRE_BROWSER = "PANEL_REQUIRE_BROWSER"


def import_or_skip(module: str, reason: str) -> ModuleType:
    """pytest.importorskip, except where PANEL_REQUIRE_BROWSER=1 (set by .ci/run): there a
    missing studio or browser package fails the tests instead of quietly skipping them."""
    if os.environ.get(REQUIRE_BROWSER) != "1":
        return pytest.importorskip(module, reason=reason)
    try:
        return importlib.import_module(module)
    except ImportError as error:
        pytest.fail(f"{reason}, and {REQUIRE_BROWSER}=1 forbids skipping them ({error}).", pytrace=False)


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test runs in a temp folder with no PANEL_*/OLLAMA_HOST from the developer's shell,
    and its own user cache folder."""
    monkeypatch.chdir(tmp_path)
    for name in ("OLLAMA_HOST", "PANEL_BACKEND", "PANEL_MODEL", "PANEL_SEED", "PANEL_GGUF", "PANEL_OUT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("PANEL_CACHE", raising=False)
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
