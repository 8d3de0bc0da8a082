"""The studio and the published page in a real browser: Playwright driving the system Chromium.

The editor's whole flow over the Ollama fake, two tabs in conflict, token and CSRF refusals,
hostile card and model text staying inert, and the vote line at 1280 and 390 px. Screenshots
are kept in $PANEL_SCREENSHOTS when it is set.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from panel import run_panel
from panel.cli import app
from panel.records.transcript import PanelTranscript
from panel.store.revisions import find_review, history
from panel.store.transcripts import load_transcript
from tests.support.optional_packages import import_or_skip
from tests.support.paths import EXAMPLES

sync_api = import_or_skip("playwright.sync_api", "the browser tests need playwright (the dev extra)")
for module in ("starlette", "uvicorn", "multipart"):
    import_or_skip(module, "the studio tests need the studio extra")
from tests.support.studio_server import RunningStudio, running_studio  # noqa: E402

HOSTILE = "<script>alert(1)</script><img src=x onerror=alert(2)>"
runner = CliRunner()


@pytest.fixture
def studio(settings, tmp_path) -> Iterator[RunningStudio]:
    with running_studio(settings.out_dir, settings, tmp_path / "published") as running:
        yield running


def saved_panel(card: Path, settings: Any) -> Path:
    """run_panel in a worker thread: Playwright's sync API holds an event loop in this one."""
    with ThreadPoolExecutor(1) as pool:
        path = pool.submit(run_panel, card, settings).result().path
    assert path is not None
    return path


def keep_screenshot(page: Any, name: str) -> None:
    folder = os.environ.get("PANEL_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


def loaded(path: Path) -> PanelTranscript:
    transcript = load_transcript(path)
    assert isinstance(transcript, PanelTranscript)
    return transcript


def fill_card(page: Any, name: str, tagline: str) -> None:
    values = {
        "name": name,
        "tagline": tagline,
        "category": "Vector database",
        "description": "A Postgres extension that adds vector similarity search.",
        "maker": "Andrew Kane",
        "license": "PostgreSQL",
        "pricing": "Free",
        "links": "Repository=https://github.com/pgvector/pgvector",
        "facts": "HNSW and IVFFlat indexes.\nVectors up to 16,000 dimensions.",
    }
    for field, value in values.items():
        page.fill(f"#card-{field}", value)


def run_to_the_end(page: Any) -> str:
    """Watch the live run until every reviewer's box is filled; open the panel; its file name."""
    page.wait_for_selector("#job-done:not([hidden])", timeout=30_000)
    assert page.locator(".box.waiting").count() == 0
    href = page.get_attribute("#open-panel", "href")
    page.click("#open-panel")
    page.wait_for_selector("#tool-name")
    return href.rsplit("/", 1)[1]


def test_the_editors_whole_flow(page, studio, ollama, tmp_path):
    page.goto(studio.url + "/")
    page.click("text=New panel")
    fill_card(page, "pgvector", "")
    page.click("#run")
    assert page.inner_text(".field.invalid .error") == "Fill this in."  # plain words, not pydantic's
    page.reload()  # the refused form came back by a redirect: a reload sends nothing again
    assert page.dialogs == [] and page.inner_text("#error-tagline") == "Fill this in."
    keep_screenshot(page, "studio-card-error")
    fill_card(page, "pgvector", "Vector search inside Postgres")
    page.click("#run")
    page.wait_for_selector(".box")
    keep_screenshot(page, "studio-run")
    first = run_to_the_end(page)
    assert page.inner_text("#ship-pct") == "100%"

    # Edit the Builder, lock the Rival Watcher, rerun the Futurist: three revisions.
    page.click("#reviewer-dx details.edit summary")
    page.fill("#dx-headline", "Edited in the studio")
    page.select_option("#dx-decision", "skip")
    page.fill("#reviewer-dx input[name=by]", "Ana")
    page.click("#reviewer-dx button.save")
    page.wait_for_selector("#reviewer-dx .tag.edited")
    assert "Edited in the studio" in page.inner_text("#reviewer-dx .headline")
    page.click("#reviewer-competition button.lock")
    page.wait_for_selector("#reviewer-competition .tag.locked")
    ollama.decisions["FuturesVerdict"] = "skip"
    page.fill("#reviewer-futures input[name=seed]", "5")
    page.click("#reviewer-futures button.rerun")
    page.wait_for_selector("#reviewer-futures.skip")
    assert page.inner_text("#ship-pct") == "50%"
    keep_screenshot(page, "studio-panel")
    transcript = loaded(studio.folder / first)
    assert [(r.action, r.persona) for r in history(transcript)] == [
        ("run", None),
        ("edit", "dx"),
        ("edit", "competition"),
        ("rerun", "futures"),
    ]
    assert find_review(transcript, "dx").written_by == "person:Ana"
    assert transcript.options["futures"]["seed"] == 5

    # A second tool from an uploaded card file, then the comparison, then publish.
    page.click("text=New panel")
    page.set_input_files("#card_file", str(EXAMPLES / "github-copilot.toml"))
    page.click("#upload")
    assert page.input_value("#card-name") == "GitHub Copilot"
    page.click("#run")
    second = run_to_the_end(page)
    page.goto(studio.url + "/")
    page.check(f"tr[data-name='{first}'] input[type=checkbox]")
    page.check(f"tr[data-name='{second}'] input[type=checkbox]")
    page.click("#compare")
    assert "GitHub Copilot" in page.inner_text("#call")
    page.frame_locator("iframe.preview").locator("text=Facts side by side").wait_for()
    keep_screenshot(page, "studio-compare")
    page.click("#publish")
    assert "Published" in page.inner_text("h1")

    # The list shows the newest first, so the comparison reads Copilot (left) vs pgvector.
    published = studio.publish_dir / "site" / "github-copilot-vs-pgvector.html"
    rendered = tmp_path / "cli.html"
    paths = [str(studio.folder / second), str(studio.folder / first)]
    assert runner.invoke(app, ["render", *paths, "-o", str(rendered)]).exit_code == 0
    assert published.read_text() == rendered.read_text()
    assert published.with_suffix(".md").is_file()
    assert page.dialogs == []


def test_review_mode_in_the_browser(page, studio, ollama):
    page.goto(studio.url + "/new")
    fill_card(page, "pgvector", "Vector search inside Postgres")
    page.check("#review")
    page.fill("#card-form input[name=by]", "Ed")
    page.click("#run")
    page.wait_for_selector("#review-form", timeout=30_000)
    page.check("#review-dx input[value=edit]")
    page.click("#review-dx details.edit summary")
    page.fill("#dx-headline", "Edited during the review")
    page.fill("#dx-decision", "skip")
    page.check("#review-business input[value=lock]")
    keep_screenshot(page, "studio-review")
    page.click("#resume")
    page.wait_for_selector("#open-panel", timeout=30_000)
    page.click("#open-panel")
    assert "Edited during the review" in page.inner_text("#reviewer-dx .headline")
    assert page.locator("#reviewer-business .tag.locked").count() == 1
    assert page.inner_text("#ship-pct") == "75%"


def test_two_tabs_editing_one_verdict(browser, studio, settings):
    name = saved_panel(EXAMPLES / "pgvector.toml", settings).name
    context = browser.new_context()
    tabs = [context.new_page(), context.new_page()]
    for tab in tabs:
        tab.goto(f"{studio.url}/panels/{name}")
        tab.click("#reviewer-dx details.edit summary")
    tabs[0].fill("#dx-headline", "First tab's headline")
    tabs[0].click("#reviewer-dx button.save")
    tabs[0].wait_for_selector("#reviewer-dx .tag.edited")
    saved = (studio.folder / name).read_bytes()

    tabs[1].fill("#dx-headline", "Second tab's headline")
    tabs[1].click("#reviewer-dx button.save")
    tabs[1].wait_for_selector("#conflict")
    conflict = tabs[1].inner_text("#conflict")
    assert "Not saved" in conflict and "revision 2" in conflict and "First tab's headline" in conflict
    keep_screenshot(tabs[1], "studio-conflict")
    assert (studio.folder / name).read_bytes() == saved
    context.close()


def test_token_and_csrf_refusals_in_the_browser(browser, settings, tmp_path):
    name = saved_panel(EXAMPLES / "pgvector.toml", settings).name
    with running_studio(
        settings.out_dir, settings, tmp_path / "pub", token="tok-123-for-the-browser"
    ) as studio:
        context = browser.new_context()
        tab = context.new_page()
        refused = tab.goto(studio.url + "/")
        assert refused.status == 401 and "access token" in tab.inner_text("body")
        tab.goto(studio.url + "/?token=tok-123-for-the-browser")
        assert tab.url == studio.url + "/" and "pgvector" in tab.inner_text("table")

        # A page from elsewhere posting a lock to the studio, with the right cookie but no CSRF token.
        before = (studio.folder / name).read_bytes()
        forged = tmp_path / "forged.html"
        forged.write_text(
            f'<form method="post" action="{studio.url}/panels/{name}/verdicts/dx/lock">'
            '<input name="base" value="1"><button id="go">go</button></form>'
        )
        tab.goto(forged.as_uri())
        with tab.expect_navigation():
            tab.click("#go")
        assert "access token" in tab.inner_text("body")  # the SameSite cookie stays home
        assert (studio.folder / name).read_bytes() == before

        # From the studio's own page: without the CSRF token refused, with it done.
        tab.goto(studio.url + "/")
        lock = f"/panels/{name}/verdicts/dx/lock"
        script = """async ([url, withToken]) => {
            const headers = {"content-type": "application/x-www-form-urlencoded"};
            if (withToken) headers["x-csrf-token"] = document.querySelector("meta[name=csrf-token]").content;
            const response = await fetch(url, {method: "POST", headers, body: "base=1", redirect: "manual"});
            return [response.status, response.type === "opaqueredirect" ? "" : await response.text()];
        }"""
        status, text = tab.evaluate(script, [lock, False])
        assert status == 403 and "CSRF" in text
        assert (studio.folder / name).read_bytes() == before
        status, _ = tab.evaluate(script, [lock, True])
        assert find_review(loaded(studio.folder / name), "dx").locked
        context.close()


def test_hostile_card_and_model_output_stay_inert(page, studio, ollama):
    # The model's markup differs from the card's: a verdict copying the card would be refused by
    # the quality gates before it ever reached a page.
    model_hostile = "Ship it <img src=y onerror=alert(4)><script>alert(5)</script>"

    def hostile(body: dict[str, Any], verdict: dict[str, Any]) -> dict[str, Any]:
        # Enough words around the markup that the quality gates take it as a quote, not junk.
        words = "It is careful work that teams running Postgres in production can adopt this week. " * 3
        quote = f"{verdict['quote']} {words}{model_hostile} <a href='javascript:alert(3)'>x</a>"
        return {**verdict, "headline": model_hostile, "quote": quote}

    ollama.verdict_hook = hostile
    page.goto(studio.url + "/new")
    fill_card(page, HOSTILE, HOSTILE)
    page.click("#run")
    name = run_to_the_end(page)
    assert HOSTILE in page.inner_text("#tool-name")
    assert model_hostile in page.inner_text("#reviewer-dx .headline")
    for url in ("/", f"/panels/{name}", f"/preview?name={name}"):
        page.goto(studio.url + url)
        assert page.locator("main script, main img, main a[href^='javascript']").count() == 0
    assert HOSTILE in page.inner_text("body")
    keep_screenshot(page, "studio-hostile-preview")
    assert page.dialogs == []


@pytest.mark.parametrize("width", [1280, 390])
def test_vote_line_does_not_wrap(browser, ollama, settings, tmp_path, width):
    a = saved_panel(EXAMPLES / "pgvector.toml", settings)
    b = saved_panel(EXAMPLES / "github-copilot.toml", settings)
    votes = tmp_path / "votes.csv"
    votes.write_text("tool,up,down\npgvector,1234,99\nGitHub Copilot,87,47\n")
    context = browser.new_context(viewport={"width": width, "height": 900})
    tab = context.new_page()
    for pages, label in (([a, b], "pair"), ([a], "single")):
        out = tmp_path / f"{label}.html"
        assert (
            runner.invoke(app, ["render", *map(str, pages), "--votes", str(votes), "-o", str(out)]).exit_code
            == 0
        )
        tab.goto(out.as_uri())
        for vote in tab.locator("dd.vote").all():
            share, count = vote.locator(".share").bounding_box(), vote.locator(".sub").bounding_box()
            assert count["y"] < share["y"] + share["height"], (width, label, vote.inner_text())
            assert vote.bounding_box()["height"] < 2 * share["height"]
        keep_screenshot(tab, f"render-{label}-{width}")
    context.close()


def test_a_new_tool_compared_with_a_saved_panel_in_one_step(page, studio, settings):
    first = saved_panel(EXAMPLES / "pgvector.toml", settings).name
    page.goto(f"{studio.url}/panels/{first}")
    page.click("#compare-new")
    assert page.input_value("#compare_with") == first
    page.set_input_files("#card_file", str(EXAMPLES / "github-copilot.toml"))
    page.click("#upload")
    assert page.input_value("#compare_with") == first  # kept across the card upload
    page.click("#run")
    page.wait_for_selector("#job-done:not([hidden])", timeout=30_000)
    assert page.inner_text("#open-panel") == "Open the comparison"
    page.click("#open-panel")
    assert "Saved as the comparison" in page.inner_text("#saved")
    assert "GitHub Copilot" in page.inner_text("#call")
    comparisons = [load_transcript(path) for path in studio.folder.glob("*-vs-*.json")]
    assert [(c.a_tool, c.b_tool, Path(c.b_transcript).name) for c in comparisons] == [
        ("GitHub Copilot", "pgvector", first)
    ]
    assert page.dialogs == []


def test_a_failed_reviewer_shows_its_problem_and_folded_raw_outputs_live(page, studio, ollama):
    def business_fails(body: dict[str, Any], verdict: dict[str, Any]) -> dict[str, Any]:
        return {"note": HOSTILE} if body["format"]["title"] == "BusinessVerdict" else verdict

    ollama.verdict_hook = business_fails
    page.goto(studio.url + "/new")
    fill_card(page, "pgvector", "Vector search inside Postgres")
    page.click("#run")
    page.wait_for_selector("#job-done:not([hidden])", timeout=30_000)
    failed = page.locator(".box.failed[data-persona=business]")
    assert "failed: no valid verdict" in failed.locator(".state").inner_text()
    raw = failed.locator("details.raw")
    assert raw.get_attribute("open") is None and "Raw outputs (5 attempts)" in raw.inner_text()
    raw.locator("summary").click()
    assert HOSTILE in raw.locator("pre").first.inner_text()
    assert page.locator("#boxes script, #boxes img").count() == 0
    keep_screenshot(page, "studio-run-failed")
    assert page.dialogs == []


def test_the_run_form_chooses_model_and_seed_for_the_run(page, studio, ollama):
    ollama.models["qwen2.5:7b"] = "cd" * 32
    page.goto(studio.url + "/new")
    assert page.input_value("#run-backend") == "ollama"  # the server's defaults, preselected
    assert page.input_value("#run-seed") == "7"
    assert page.get_attribute("#run-seed", "type") == "number"
    assert page.locator("#known-models option").evaluate_all("options => options.map(o => o.value)") == [
        "llama3.1:8b",
        "qwen2.5:7b",
    ]
    fill_card(page, "pgvector", "Vector search inside Postgres")
    page.fill("#run-model", "qwen2.5:7b")
    page.click("#reviewer-models summary")
    page.fill("#run-model-dx", "llama3.1:8b")
    page.fill("#run-seed", "77")
    keep_screenshot(page, "studio-run-form")
    page.click("#run")
    name = run_to_the_end(page)
    transcript = loaded(studio.folder / name)
    assert transcript.seed == 77
    assert transcript.models["dx"].name == "llama3.1:8b" and transcript.models["futures"].name == "qwen2.5:7b"
    assert "The Builder" in page.inner_text("#reviewer-dx h2")


def test_every_studio_page_holds_at_390_px(browser, studio, settings, ollama):
    first = saved_panel(EXAMPLES / "pgvector.toml", settings).name
    second = saved_panel(EXAMPLES / "github-copilot.toml", settings).name
    context = browser.new_context(viewport={"width": 390, "height": 844})
    tab = context.new_page()
    tab.goto(f"{studio.url}/panels/{first}")
    tab.click("#reviewer-dx button.lock")  # a second revision, so the history and revert show
    tab.wait_for_selector("#reviewer-dx .tag.locked")
    pages = {
        "list": "/",
        "new": "/new",
        "panel": f"/panels/{first}",
        "compare": f"/compare?name={first}&name={second}",
    }
    for label, url in pages.items():
        tab.goto(studio.url + url)
        if label == "new":
            tab.click("#reviewer-models summary")
        if label == "panel":
            tab.click("#reviewer-dx details.edit summary")
            tab.click("#reviewer-dx details.more-choices summary")
        width = tab.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, (label, width)
        keep_screenshot(tab, f"studio-390-{label}")
    tab.goto(studio.url + "/new")
    fill_card(tab, "pgvector", "Vector search inside Postgres")
    tab.click("#run")
    tab.wait_for_selector("#job-done:not([hidden])", timeout=30_000)
    assert tab.evaluate("document.documentElement.scrollWidth") <= 390
    keep_screenshot(tab, "studio-390-run")
    context.close()
