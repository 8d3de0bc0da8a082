"""The Markdown page keeps card text as text."""

from __future__ import annotations

from pathlib import Path

from panel.records.cards import load_card
from tests.support.paths import EXAMPLES


def test_a_description_line_of_dashes_stays_text_in_markdown(ollama, settings, tmp_path: Path):
    from markdown_it import MarkdownIt

    from panel.engine.runner import run_panel
    from panel.publish.render import render_page

    clean = run_panel(load_card(EXAMPLES / "pgvector.toml"), settings).transcript
    description = "First part.\n\n---\n\n===\n\n- - -\n\nLast part."
    dashes = clean.model_copy(update={"card": clean.card.model_copy(update={"description": description})})
    markdown = MarkdownIt("commonmark")
    rules = markdown.render(render_page([clean], "md")).count("<hr")
    html = markdown.render(render_page([dashes], "md"))
    assert html.count("<hr") == rules and "<h1>===" not in html and "First part." in html
    assert "<p>---</p>" in html and "<p>- - -</p>" in html
