"""`panel compare` never calls a winner silently on an incomplete panel (issue 22 item 4): the
terminal, the JSON, the page and the studio's compare page say what the call rests on, and
below 3 of 4 reviewers on either side there is no call but the reviewers to rerun."""

from __future__ import annotations

import html
import json
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from panel.cli import app
from tests.support.optional_packages import import_or_skip
from tests.support.paths import EXAMPLES

PGVECTOR = str(EXAMPLES / "pgvector.toml")
COPILOT = str(EXAMPLES / "github-copilot.toml")
runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args))


def copilot_reviewers_fail(ollama, keep: set[str]) -> None:
    """Every Copilot reviewer but those in `keep` writes a one-line quote, which the gates refuse."""

    def hook(body, verdict):
        persona = body["format"]["title"].removesuffix("Verdict").lower()
        if "GitHub Copilot" in body["messages"][0]["content"] and persona not in keep:
            verdict["quote"] = "Fine"
        return verdict

    ollama.verdict_hook = hook


def compare(ollama, out: Path, *extra: str):
    flags = ("--backend", "ollama", "--host", ollama.url, "--seed", "7", "--out", str(out))
    return invoke("compare", PGVECTOR, COPILOT, *flags, *extra)


@pytest.fixture(autouse=True)
def one_attempt(monkeypatch):
    monkeypatch.setenv("PANEL_ATTEMPTS", "1")


def test_one_reviewer_of_four_is_no_call_in_the_terminal_with_the_rerun_commands(ollama, tmp_path):
    copilot_reviewers_fail(ollama, keep={"dx"})
    result = compare(ollama, tmp_path)
    assert result.exit_code == 1, result.output  # an incomplete panel, as documented
    text = " ".join(result.stdout.split())
    assert (
        "No call: GitHub Copilot has 1 of 4 reviewers (a call needs 3 of 4 on each side). "
        "Rerun business, competition and futures on GitHub Copilot first."
    ) in text
    assert "Ship with" not in text
    copilot_file = next(tmp_path.glob("github-copilot-2*.json"))
    for persona in ("competition", "futures", "business"):
        assert f"panel rerun {copilot_file.resolve()} --persona {persona}" in result.stdout


def test_the_json_says_there_is_no_call_and_on_how_many_reviewers(ollama, tmp_path):
    copilot_reviewers_fail(ollama, keep={"dx"})
    summary = json.loads(compare(ollama, tmp_path, "--json").stdout)
    assert summary["called"] is False and summary["winner"] is None and summary["winner_side"] == "none"
    assert summary["reviewers"] == {"a": {"valid": 4, "of": 4}, "b": {"valid": 1, "of": 4}}
    assert summary["rerun"] == {"a": [], "b": ["business", "competition", "futures"]}
    shown = json.loads(invoke("show", summary["transcript"], "--json").stdout)
    assert shown["called"] is False and shown["reviewers"]["b"] == {"valid": 1, "of": 4}


def test_a_call_on_three_of_four_says_so_and_the_page_repeats_it(ollama, tmp_path):
    copilot_reviewers_fail(ollama, keep={"dx", "competition", "futures"})
    summary = json.loads(compare(ollama, tmp_path, "--json").stdout)
    assert summary["called"] is True
    assert summary["reason"].endswith(
        "The call rests on 4 of 4 reviewers for pgvector and 3 of 4 for GitHub Copilot."
    )
    page = invoke("render", summary["transcript"], "--format", "md", "--allow-incomplete")
    assert page.exit_code == 0, page.output
    assert "3 of 4 for GitHub Copilot." in " ".join(page.stdout.split())


def test_the_page_of_a_declined_comparison_names_no_pick(ollama, tmp_path):
    copilot_reviewers_fail(ollama, keep={"dx"})
    summary = json.loads(compare(ollama, tmp_path, "--json").stdout)
    page = invoke("render", summary["transcript"], "--format", "html", "--allow-incomplete")
    assert page.exit_code == 0, page.output
    text = html.unescape(page.stdout)
    assert "No call yet" in text and "No call: GitHub Copilot has 1 of 4 reviewers" in text
    assert "Panel pick" not in text and "The panel's call" not in text


def test_the_studio_compare_page_declines_and_links_the_reviewers_to_rerun(ollama, settings, tmp_path):
    for module in ("starlette", "uvicorn", "multipart"):
        import_or_skip(module, "the studio tests need the studio extra")
    from tests.support.studio_server import running_studio

    copilot_reviewers_fail(ollama, keep={"dx"})
    summary = json.loads(compare(ollama, settings.out_dir, "--json").stdout)
    copilot_file = Path(summary["b"]["transcript"]).name
    with running_studio(settings.out_dir, settings, tmp_path / "published") as studio:
        for names in (
            [Path(summary["a"]["transcript"]).name, copilot_file],
            [Path(summary["transcript"]).name],
        ):
            shown = httpx.get(f"{studio.url}/compare", params=[("name", name) for name in names])
            assert shown.status_code == 200
            text = html.unescape(shown.text)
            assert "No call yet:</strong> No call: GitHub Copilot has 1 of 4 reviewers" in text
            for persona in ("competition", "futures", "business"):
                assert f'href="/panels/{copilot_file}#reviewer-{persona}">{persona} on GitHub Copilot' in text
