"""Make docs/studio-run-form.png: the new-panel form's run choices in the system Chromium, over
the Ollama fake (no model is needed). Run from the repository root:

    .venv/bin/python docs/make_run_form_screenshot.py
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from panel.settings import Settings  # noqa: E402
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from tests.support.ollama_fake import start_fake_ollama, stop_fake_ollama  # noqa: E402
from tests.support.studio_server import running_studio  # noqa: E402

OUTPUT = ROOT / "docs" / "studio-run-form.png"
CARD = {
    "name": "pgvector",
    "tagline": "Vector similarity search inside Postgres",
    "category": "Vector database",
    "description": "A Postgres extension that adds vector similarity search.",
    "maker": "Andrew Kane",
    "license": "PostgreSQL",
    "pricing": "Free",
}


def main() -> None:
    fake = start_fake_ollama()
    fake.models["qwen2.5:7b-instruct"] = "cd" * 32
    try:
        with tempfile.TemporaryDirectory() as folder:
            settings = Settings(backend="ollama", host=fake.url, seed=7, out_dir=Path(folder) / "out")
            with (
                running_studio(settings.out_dir, settings, Path(folder) / "pub") as studio,
                sync_playwright() as pw,
            ):
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 900, "height": 900})
                page.goto(studio.url + "/new")
                for field, value in CARD.items():
                    page.fill(f"#card-{field}", value)
                page.fill("#run-model", "qwen2.5:7b-instruct")
                page.click("#reviewer-models summary")
                page.fill("#run-model-dx", "llama3.1:8b")
                page.locator("#run-choices").screenshot(path=str(OUTPUT))
                browser.close()
    finally:
        stop_fake_ollama(fake)
    print(f"Wrote {OUTPUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
