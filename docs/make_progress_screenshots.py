"""Make the live-progress pictures in the docs, mid-run, from the real code paths:

- docs/live-progress-cli.svg: the lines `panel run` draws on stderr (panel.cli.progress_display,
  fed by a real panel run), rendered to SVG by rich;
- docs/live-progress-studio.png: the studio's run page in headless Chromium (Playwright).

Both runs go to the Ollama test server (tests/support/ollama_fake.py) with one request at a
time and a pause per request, and one reply that is not JSON, so that one reviewer is re-asked.
Needs the dev and studio extras and /usr/bin/chromium. Run from the repository root:

    .venv/bin/python docs/make_progress_screenshots.py
"""

from __future__ import annotations

import re
import sys
import tempfile
import threading
from io import StringIO
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from panel.cli.progress_display import ReviewerProgressView  # noqa: E402
from panel.cli.terminal import TerminalConsole  # noqa: E402
from panel.engine.runner import run_panel  # noqa: E402
from panel.records.progress import ProgressEvent  # noqa: E402
from panel.settings import Settings  # noqa: E402
from tests.support.ollama_fake import FakeOllama, start_fake_ollama, stop_fake_ollama  # noqa: E402

CARD = ROOT / "examples" / "tools" / "pgvector.toml"
CLI_PICTURE = ROOT / "docs" / "live-progress-cli.svg"
STUDIO_PICTURE = ROOT / "docs" / "live-progress-studio.png"
SECONDS_PER_REQUEST = 0.8


def slow_fake() -> FakeOllama:
    fake = start_fake_ollama(latency=SECONDS_PER_REQUEST)
    fake.busy = threading.Semaphore(1)  # OLLAMA_NUM_PARALLEL=1: the reviewers queue
    fake.enqueue("Sure! Here is my verdict: ship it.")  # not JSON: that reviewer is re-asked
    return fake


def settings_for(fake: FakeOllama, out: Path) -> Settings:
    return Settings(backend="ollama", host=fake.url, seed=7, timeout=30, out_dir=out)


def cli_picture(out: Path) -> None:
    """Snapshot the terminal's lines when the first verdict is in and the re-ask is under way."""
    terminal = TerminalConsole(file=StringIO(), force_terminal=True, width=96)
    view = ReviewerProgressView(terminal)
    seen: list[ProgressEvent] = []

    def update(event: ProgressEvent) -> None:
        view.update(event)
        seen.append(event)
        kinds = [step.kind for step in seen]
        if event.kind == "done" and "re_ask" in kinds and kinds.count("done") == 1:
            picture = TerminalConsole(record=True, width=96, file=StringIO())
            picture.print("$ panel run examples/tools/pgvector.toml", style="bold")
            picture.print(view.bar.make_tasks_table(view.bar.tasks))
            picture.save_svg(str(CLI_PICTURE), title="panel run: live progress on stderr")

    fake = slow_fake()
    try:
        with view:
            run_panel(CARD, settings_for(fake, out), on_progress=update)
    finally:
        stop_fake_ollama(fake)
    print(f"wrote {CLI_PICTURE.relative_to(ROOT)}")


def studio_picture(out: Path) -> None:
    """Start a run from the studio's form and photograph its page while reviewers work."""
    from tests.support.browser import browser_page, playwright_chromium
    from tests.support.studio_server import running_studio

    fake = slow_fake()
    try:
        with (
            running_studio(out, settings_for(fake, out), out / "published") as studio,
            playwright_chromium() as browser,
            browser_page(browser) as page,
        ):
            page.set_viewport_size({"width": 1100, "height": 560})
            page.goto(studio.url + "/new")
            values = {
                "name": "pgvector",
                "tagline": "Vector search inside Postgres",
                "category": "Vector database",
                "description": "A Postgres extension that adds vector similarity search.",
                "maker": "Andrew Kane",
                "license": "PostgreSQL",
                "pricing": "Free",
                "facts": "HNSW and IVFFlat indexes.",
            }
            for field, value in values.items():
                page.fill(f"#card-{field}", value)
            page.click("#run")
            page.locator(".box", has_text=re.compile("re-asked")).wait_for(timeout=30_000)
            page.wait_for_selector(".box.ship", timeout=30_000)
            page.screenshot(path=str(STUDIO_PICTURE))
            page.wait_for_selector("#job-done:not([hidden])", timeout=60_000)
    finally:
        stop_fake_ollama(fake)
    print(f"wrote {STUDIO_PICTURE.relative_to(ROOT)}")


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="panel-screenshots-") as folder:
        cli_picture(Path(folder) / "cli")
        studio_picture(Path(folder) / "studio")


if __name__ == "__main__":
    main()
