"""`panel render`: the published page, checked in headless Chromium, and kept inert against hostile names."""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
from pathlib import Path
from typing import Any

import pytest
from markdown_it import MarkdownIt
from typer.testing import CliRunner

from panel import run_panel
from panel.cli import app
from panel.engine.runner import compare_tools
from panel.publish.render import VotesError, load_for_render, parse_votes, render_page, vote_for
from panel.records.cards import Link, ToolCard, load_card
from panel.settings import Settings
from tests.support.browser import chromium, parse_html
from tests.support.ollama_fake import FakeOllama
from tests.support.paths import EXAMPLES

runner = CliRunner()
PGVECTOR = EXAMPLES / "pgvector.toml"
COPILOT = EXAMPLES / "github-copilot.toml"
WINDOW = (1280, 2600)
QUOTES = {
    (
        "pgvector",
        "DxVerdict",
    ): "It is a Postgres extension, full stop: CREATE EXTENSION vector and you are querying "
    "embeddings next to your rows before lunch.",
    ("pgvector", "CompetitionVerdict"): "Pinecone, Qdrant and Weaviate sell a second database; pgvector wins "
    "wherever the team already runs Postgres and breaks past a few hundred million vectors.",
    (
        "pgvector",
        "FuturesVerdict",
    ): "The bet is that by 2027 vector search is a column type, not a product, and "
    "every managed Postgres shipping it says the bet is already paying.",
    (
        "pgvector",
        "BusinessVerdict",
    ): "Nobody writes a cheque for pgvector itself; the value lands with the cloud "
    "providers that host it, which is great infrastructure and no business.",
    (
        "GitHub Copilot",
        "DxVerdict",
    ): "Tab-complete inside VS Code is the moment of truth and it mostly holds, but "
    "the multi-file edits still need a human reading every diff.",
    (
        "GitHub Copilot",
        "CompetitionVerdict",
    ): "Cursor, Windsurf and Claude Code are eating the agentic end; Copilot "
    "wins on distribution because it is already in the editor the company approved.",
    (
        "GitHub Copilot",
        "FuturesVerdict",
    ): "Its thesis is that every developer pays for an assistant by 2026; the "
    "trend line says yes, and GitHub is on time rather than early.",
    (
        "GitHub Copilot",
        "BusinessVerdict",
    ): "The buyer is the engineering manager, the cheque is Microsoft's seat "
    "licence, and the moat thins every time the models get ten times cheaper.",
}
SKIPS = {
    ("pgvector", "BusinessVerdict"),
    ("GitHub Copilot", "BusinessVerdict"),
    ("GitHub Copilot", "DxVerdict"),
}


def tool_in(body: dict[str, Any]) -> str:
    card = body["messages"][0]["content"]  # the system message holds the card
    return "pgvector" if '"name": "pgvector"' in card else "GitHub Copilot"


def editorial(body: dict[str, Any], verdict: dict[str, Any]) -> dict[str, Any]:
    """A different quote per tool and reviewer; Copilot loses two reviewers, pgvector one."""
    key = (tool_in(body), body["format"]["title"])
    verdict["quote"] = QUOTES[key] + " That is the call."  # two sentences pass the quality gates
    verdict["headline"] = f"{key[0]}: {key[1].removesuffix('Verdict')} reviewer's call"
    verdict["decision"] = "skip" if key in SKIPS else "ship"
    verdict["confidence"] = 0.7 if key in SKIPS else 0.85
    return verdict


@pytest.fixture
def two_tools(ollama: FakeOllama, settings: Settings) -> tuple[Path, Path]:
    ollama.verdict_hook = editorial
    paths = run_panel(PGVECTOR, settings).path, run_panel(COPILOT, settings).path
    assert paths[0] and paths[1]
    return paths[0], paths[1]


def invoke(*args: str | Path):
    return runner.invoke(app, [str(arg) for arg in args])


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return struct.unpack(">II", data[16:24])


def assert_self_contained(html: str) -> None:
    """Nothing that would make the browser fetch: no scripts, external styles, images, fonts, frames."""
    page = parse_html(html)
    assert not {"script", "link", "img", "iframe", "object", "embed", "video", "audio"} & set(page.tags)
    assert not page.fetching_attributes
    style = html.split("<style>", 1)[1].split("</style>", 1)[0].lower()
    assert "url(" not in style and "@import" not in style and "@font-face" not in style
    assert "default-src 'none'" in html  # and a CSP that would block any fetch anyway


def test_comparison_page_in_chromium(two_tools: tuple[Path, Path], tmp_path: Path):
    votes = tmp_path / "votes.csv"
    votes.write_text("tool,up,down\npgvector,9,1\n")
    page = tmp_path / "page.html"
    result = invoke("render", *two_tools, "--votes", votes, "-o", page)
    assert result.exit_code == 0, result.output
    html = page.read_text()
    assert_self_contained(html)

    screenshot = tmp_path / "page.png"
    chromium(tmp_path, f"--screenshot={screenshot}", f"--window-size={WINDOW[0]},{WINDOW[1]}", page.as_uri())
    assert png_size(screenshot) == WINDOW
    assert screenshot.stat().st_size > 60_000  # a blank or unstyled page compresses far smaller
    if os.environ.get("PANEL_SCREENSHOTS"):
        shutil.copy(screenshot, Path(os.environ["PANEL_SCREENSHOTS"]) / "render-comparison.png")

    dom = chromium(tmp_path, "--dump-dom", page.as_uri()).stdout
    seen = parse_html(dom)
    text = seen.text
    assert "pgvector vs GitHub Copilot" in text
    assert re.search(r"75% Panel ships", text) and re.search(r"50% Panel ships", text)
    for quote in QUOTES.values():
        assert quote in text, quote
    assert "Ship with pgvector: 75% of the panel ships it against 50% for GitHub Copilot." in text
    assert "Panel pick" in text
    assert "90% up · 10 votes" in text and "Community vote —" in text
    assert "Entry price Free" in text and "Entry price $10/mo" in text
    assert "3 ship · 1 skip" in text and "2 ship · 2 skip" in text
    assert "The Builder" in text and "The Investor" in text
    assert "script" not in seen.tags


def test_single_tool_markdown(two_tools: tuple[Path, Path]):
    result = invoke("render", two_tools[0], "--format", "md")
    assert result.exit_code == 0, result.output
    markdown = result.stdout
    assert markdown.startswith("# pgvector\n")
    assert (
        "| **75%** | — | Free | 3 ship (The Rival Watcher, The Builder, The Futurist) · 1 skip (The Investor) |"
        in markdown
    )
    rendered = MarkdownIt("commonmark").enable("table").render(markdown)
    text = parse_html(rendered).text
    for (tool, _), quote in QUOTES.items():
        assert (quote in text) is (tool == "pgvector")
    assert "SKIP · confidence 0.70" in text


def test_render_defaults_and_comparison_transcripts(
    ollama: FakeOllama, settings: Settings, two_tools: tuple[Path, Path], tmp_path: Path
):
    result = invoke("render", two_tools[1])
    assert result.exit_code == 0 and result.stdout.startswith("<!doctype html>")
    out = tmp_path / "nested" / "copilot.md"
    assert invoke("render", two_tools[1], "-o", out).exit_code == 0
    assert out.read_text().startswith("# GitHub Copilot\n")
    assert not list(out.parent.glob(".*.tmp"))  # the atomic write left no temporary file

    comparison = compare_tools(PGVECTOR, COPILOT, settings.model_copy(update={"out_dir": tmp_path / "cmp"}))
    assert [p.card.name for p in load_for_render([comparison.path])] == ["pgvector", "GitHub Copilot"]
    result = invoke("render", comparison.path, "--format", "md")
    assert result.exit_code == 0 and result.stdout.startswith("# pgvector vs GitHub Copilot\n")
    assert "The panel's call:** Ship with pgvector" in result.stdout

    too_many = invoke("render", comparison.path, two_tools[0])
    assert too_many.exit_code == 2 and "one tool or two" in too_many.stderr
    bad_format = invoke("render", two_tools[0], "--format", "pdf")
    assert bad_format.exit_code == 2 and "--format" in bad_format.stderr
    missing = invoke("render", tmp_path / "nope.json")
    assert missing.exit_code == 2 and "no such transcript" in missing.stderr


HOSTILE_NAME = "<script>alert(1)</script>"
# Words from every persona's lens_words first, so that the quality gates publish it.
HOSTILE_QUOTE = "Plain words on the API, the price, the rivals and the years ahead. <img src=x onerror=alert(2)> **bold** [link](javascript:alert(3)) # not a heading | pipe"


def test_hostile_tool_name_is_inert(ollama: FakeOllama, settings: Settings, tmp_path: Path):
    def hostile(body: dict[str, Any], verdict: dict[str, Any]) -> dict[str, Any]:
        return {**verdict, "quote": HOSTILE_QUOTE, "headline": "</blockquote><script>alert(5)</script>"}

    ollama.verdict_hook = hostile
    card = load_card(PGVECTOR).model_copy(
        update={
            "name": HOSTILE_NAME,
            "tagline": "<b>bold</b> & `code`",
            # built unchecked: the card model refuses this link now, but an older transcript or a
            # hand-edited one may hold it, and the page must still not make it a link
            "links": [
                Link.model_construct(label="Docs", url="javascript:alert(4)"),
                Link(label="Home", url="https://example.org"),
            ],
        }
    )
    assert isinstance(card, ToolCard)
    hostile_path = run_panel(card, settings).path
    other_path = run_panel(COPILOT, settings).path

    html_file = tmp_path / "hostile.html"
    assert invoke("render", hostile_path, other_path, "-o", html_file).exit_code == 0
    html = html_file.read_text()
    assert_self_contained(html)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "javascript:" not in html.split("</style>")[1].replace("[link](javascript:alert(3))", "")
    dom = parse_html(chromium(tmp_path, "--dump-dom", html_file.as_uri()).stdout)
    assert "script" not in dom.tags and "img" not in dom.tags and "b" not in dom.tags
    assert f"{HOSTILE_NAME} vs GitHub Copilot" in dom.text and HOSTILE_QUOTE in dom.text
    assert dom.hrefs == ["https://example.org", "https://github.com/features/copilot"]

    markdown = render_page([load_for_render([hostile_path])[0]], "md")
    assert "<script" not in markdown and "<img" not in markdown
    rendered = MarkdownIt("commonmark").enable("table").render(markdown)
    tags = parse_html(rendered)
    assert not {"script", "img", "a", "b", "code"} & set(tags.tags)
    assert tags.tags.count("h1") == 1 and tags.tags.count("strong") == 4 + 4 + 1  # our own bold only
    assert HOSTILE_NAME in tags.text and HOSTILE_QUOTE in tags.text
    assert "<b>bold</b> & `code`" in tags.text


def test_failed_reviewer_is_shown(ollama: FakeOllama, settings: Settings):
    def broken_builder(body: dict[str, Any], verdict: dict[str, Any]) -> dict[str, Any]:
        return {"decision": "maybe"} if body["format"]["title"] == "DxVerdict" else verdict

    ollama.verdict_hook = broken_builder
    transcript = run_panel(PGVECTOR, settings).transcript
    assert transcript.aggregate.failed == ["dx"]
    text = parse_html(render_page([transcript], "html")).text
    assert "Incomplete panel: 3 of 4 reviewers gave a verdict; no verdict from The Builder" in text
    assert "No verdict" in text and "100% Panel ships 3 of 4 reviewers" in text
    markdown = render_page([transcript], "md")
    assert "**NO VERDICT** —" in markdown


def test_votes_formats_and_matching(tmp_path: Path):
    csv_votes = parse_votes("tool,up,down\nPGVector,3,1\ngithub-copilot,0,0\n", "votes.csv")
    assert vote_for(csv_votes, "pgvector", "pgvector").describe() == "75% up · 4 votes"
    assert vote_for(csv_votes, "GitHub Copilot", "github-copilot").describe() == "—"
    assert vote_for(csv_votes, "Qwen3 8B", "qwen3-8b") is None
    mapping = parse_votes(json.dumps({"Qwen3 8B": {"up": 1, "down": 0}}), "votes.json")
    assert vote_for(mapping, "Qwen3 8B", "qwen3-8b").describe() == "100% up · 1 vote"
    rows = parse_votes(json.dumps([{"tool": "qwen3-8b", "up": 1200, "down": 300}]), "votes.json")
    assert vote_for(rows, "Qwen3 8B", "qwen3-8b").describe() == "80% up · 1,500 votes"
    for text, message in [
        ("tool,likes\nx,1\n", "header row"),
        ("tool,up,down\nx,-1,2\n", "row 1 (x)"),
        ('{"x": {"up": "many", "down": 0}}', "row 1 (x)"),
        ("[1, 2]", "row 1"),
        ("{not json", "not valid JSON"),
    ]:
        with pytest.raises(VotesError, match=re.escape(message)):
            parse_votes(text, "votes")


def test_bad_votes_file_exits_2(two_tools: tuple[Path, Path], tmp_path: Path):
    votes = tmp_path / "votes.csv"
    votes.write_text("tool,up,down\npgvector,lots,0\n")
    result = invoke("render", two_tools[0], "--votes", votes)
    assert result.exit_code == 2 and "whole numbers" in result.stderr and "Traceback" not in result.output
    result = invoke("render", two_tools[0], "--votes", tmp_path / "none.csv")
    assert result.exit_code == 2 and "no such votes file" in result.stderr
