"""Skipping tests whose optional packages (the studio extra, Playwright) are missing, except in CI."""

from __future__ import annotations

import importlib
import os
from types import ModuleType

import pytest

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
