"""The guard that keeps CI from passing when the studio or browser packages failed to install."""

from __future__ import annotations

import pytest

from tests.support.optional_packages import REQUIRE_BROWSER, import_or_skip


def test_a_missing_browser_package_skips_on_a_developer_machine(monkeypatch):
    monkeypatch.delenv(REQUIRE_BROWSER, raising=False)
    with pytest.raises(pytest.skip.Exception, match="needs it"):
        import_or_skip("panel_no_such_module", "needs it")


def test_a_missing_browser_package_fails_where_ci_requires_it(monkeypatch):
    monkeypatch.setenv(REQUIRE_BROWSER, "1")
    with pytest.raises(pytest.fail.Exception, match="PANEL_REQUIRE_BROWSER=1 forbids skipping"):
        import_or_skip("panel_no_such_module", "needs it")
    assert import_or_skip("json", "stdlib").dumps([]) == "[]"
