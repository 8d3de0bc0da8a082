"""The studio's panel page in the real Chromium names the prompt set the panel was written with."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from panel import run_panel
from panel.engine.prompt_sets import load_prompt_set
from tests.support.optional_packages import import_or_skip
from tests.support.paths import EXAMPLES, TERSE_PROMPTS

import_or_skip("playwright.sync_api", "the browser tests need playwright (the dev extra)")
for module in ("starlette", "uvicorn", "multipart"):
    import_or_skip(module, "the studio tests need the studio extra")
from tests.support.studio_server import running_studio  # noqa: E402


def test_the_panel_page_names_the_prompt_set(page, settings, ollama, tmp_path):
    terse = settings.model_copy(update={"prompts_dir": TERSE_PROMPTS})
    with ThreadPoolExecutor(1) as pool:  # Playwright's sync API holds an event loop in this thread
        path = pool.submit(run_panel, EXAMPLES / "pgvector.toml", terse).result().path
    assert path is not None
    with running_studio(settings.out_dir, settings, tmp_path / "published") as studio:
        page.goto(f"{studio.url}/panels/{path.name}")
        shown = page.locator("#prompt-set").inner_text()
    assert shown == f"prompts terse v1 (sha256 {load_prompt_set(TERSE_PROMPTS).sha256[:12]})"
