"""The installed package's version, which `panel --version` prints and every transcript records."""

from __future__ import annotations

from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version


@lru_cache(maxsize=1)
def panel_version() -> str:
    try:
        return version("reviewer-panel")
    except PackageNotFoundError:
        return "0+unknown"
