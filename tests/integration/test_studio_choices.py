"""The studio's run choices over real HTTP against the Ollama fake (backend, models, seed,
prompt and persona sets reaching the run and its transcript), post/redirect/get with errors in
plain words, revert to a revision, the list's filter, sort and published marker, a run where
every reviewer failed, and what `panel serve` says it will run on."""

from __future__ import annotations

import json
import re
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from panel import run_panel
from panel.cli import app
from panel.engine.prompts import default_prompts_dir
from panel.records.personas import default_personas_dir
from panel.records.transcript import PanelTranscript
from panel.store.revisions import find_review, history
from panel.store.transcripts import load_transcript
from tests.support.optional_packages import import_or_skip
from tests.support.paths import EXAMPLES

for module in ("starlette", "uvicorn", "multipart"):
    import_or_skip(module, "the studio tests need the studio extra")
from tests.support.cards import STUDIO_FORM as CARD  # noqa: E402
from tests.support.studio_server import RunningStudio, running_studio  # noqa: E402

runner = CliRunner()
PROMPT_MARKER = "Terse prompt set: answer in short sentences."


@pytest.fixture
def studio(settings, tmp_path) -> Iterator[RunningStudio]:
    with running_studio(settings.out_dir, settings, tmp_path / "published") as running:
        yield running


@pytest.fixture
def terse_prompts() -> Path:
    """A second prompt set under examples/prompts/ in the folder the studio runs in."""
    folder = Path("examples/prompts/terse")
    shutil.copytree(default_prompts_dir(), folder)
    review = folder / "review.j2"
    review.write_text(PROMPT_MARKER + "\n" + review.read_text())
    return folder


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf-token" content="([0-9a-f]+)"', page)
    assert found
    return found.group(1)


def loaded(path: Path) -> PanelTranscript:
    transcript = load_transcript(path)
    assert isinstance(transcript, PanelTranscript)
    return transcript


def saved_panel_of_job(client: httpx.Client, folder: Path, job_url: str) -> Path:
    """Follow the run's event stream to its end; the transcript it saved."""
    with client.stream("GET", job_url + "/events", timeout=30) as events:
        for line in events.iter_lines():
            if line.startswith("data: ") and '"type": "done"' in line:
                return folder / json.loads(line[6:])["transcript"]
            assert '"type": "error"' not in line, line
    raise AssertionError("the run ended without a done event")


def selected(page: str, name: str) -> str:
    select = re.search(rf'<select[^>]*name="{name}"[^>]*>(.*?)</select>', page, re.DOTALL)
    assert select
    chosen = re.search(r'<option(?: value="([^"]*)")? selected>([^<]*)</option>', select.group(1))
    assert chosen
    return chosen.group(1) or chosen.group(2)


def test_the_run_form_preselects_the_servers_defaults_and_offers_the_backends_models(
    settings, tmp_path, ollama, terse_prompts
):
    ollama.models["qwen2.5:7b"] = "cd" * 32
    configured = settings.model_copy(update={"personas_dir": default_personas_dir(), "seed": 41})
    with running_studio(settings.out_dir, configured, tmp_path / "pub") as studio:
        page = httpx.get(studio.url + "/new").text
    assert selected(page, "backend") == "ollama"
    assert selected(page, "prompt_set") == "bundled"
    assert selected(page, "persona_set") == "configured"
    assert re.search(r'<input id="run-seed" name="seed" type="number"[^>]* value="41"', page)
    datalist = re.search(r'<datalist id="known-models">(.*?)</datalist>', page, re.DOTALL)
    assert datalist and re.findall(r'value="([^"]+)"', datalist.group(1)) == ["llama3.1:8b", "qwen2.5:7b"]
    assert f'<option value="example:terse">{terse_prompts}</option>' in page
    assert "The Builder" in page  # a reviewer's model field is labelled with the persona's name


def test_the_chosen_model_seed_and_prompt_set_reach_the_run_and_its_transcript(studio, ollama, terse_prompts):
    ollama.models["qwen2.5:7b"] = "cd" * 32
    choices = {"backend": "ollama", "model": "qwen2.5:7b", "model-dx": "llama3.1:8b", "seed": "1234"}
    with httpx.Client(base_url=studio.url) as client:
        csrf = csrf_of(client.get("/new").text)
        started = client.post(
            "/new",
            data={**CARD, **choices, "prompt_set": "example:terse", "persona_set": "bundled", "csrf": csrf},
        )
        assert started.status_code == 303 and started.headers["location"].startswith("/jobs/")
        path = saved_panel_of_job(client, studio.folder, started.headers["location"])
    models = {chat["format"]["title"]: chat["model"] for chat in ollama.chats}
    assert models == {
        "DxVerdict": "llama3.1:8b",
        "CompetitionVerdict": "qwen2.5:7b",
        "FuturesVerdict": "qwen2.5:7b",
        "BusinessVerdict": "qwen2.5:7b",
    }
    assert {chat["options"]["seed"] for chat in ollama.chats} == {1234}
    assert all(PROMPT_MARKER in json.dumps(chat["messages"]) for chat in ollama.chats)
    transcript = loaded(path)
    assert transcript.seed == 1234
    assert {persona: info.name for persona, info in transcript.models.items()} == {
        "business": "qwen2.5:7b",
        "competition": "qwen2.5:7b",
        "dx": "llama3.1:8b",
        "futures": "qwen2.5:7b",
    }
    assert Path(transcript.prompts.path).resolve() == terse_prompts.resolve()


def test_a_persona_set_is_chosen_by_its_key_and_a_path_from_the_form_is_refused(settings, tmp_path, ollama):
    two = tmp_path / "two-personas"
    two.mkdir()
    for persona in ("dx", "business"):
        shutil.copy(default_personas_dir() / f"{persona}.toml", two)
    configured = settings.model_copy(update={"personas_dir": two})
    with (
        running_studio(settings.out_dir, configured, tmp_path / "pub") as studio,
        httpx.Client(base_url=studio.url) as client,
    ):
        csrf = csrf_of(client.get("/new").text)
        for field, value in (("persona_set", str(default_personas_dir())), ("prompt_set", "/etc")):
            refused = client.post("/new", data={**CARD, field: value, "csrf": csrf}, follow_redirects=True)
            assert refused.history[0].status_code == 303 and "/new?draft=" in str(refused.url)
            error = re.search(rf'<p class="error" id="error-{field}">([^<]*)</p>', refused.text)
            assert error and error.group(1).startswith("Choose one of the")
        assert ollama.chats == []
        started = client.post("/new", data={**CARD, "persona_set": "configured", "csrf": csrf})
        path = saved_panel_of_job(client, studio.folder, started.headers["location"])
    assert [review.persona for review in loaded(path).reviews] == ["business", "dx"]


def test_a_refused_card_comes_back_by_redirect_in_plain_words_and_only_to_its_browser(studio, ollama):
    with httpx.Client(base_url=studio.url) as client:
        csrf = csrf_of(client.get("/new").text)
        refused = client.post("/new", data={**CARD, "name": "", "seed": "12x", "csrf": csrf})
        assert refused.status_code == 303
        draft = refused.headers["location"]
        for _ in range(2):  # a reload asks for the page again and sends nothing
            again = client.get(draft)
            assert again.status_code == 200
            errors = dict(re.findall(r'<p class="error" id="error-([a-z_-]+)">([^<]*)</p>', again.text))
            assert errors["name"] == "Fill this in."
            assert errors["seed"].startswith("The seed must be a whole number from 0 to 2147483647")
            assert "Vector search in Postgres" in again.text  # the editor's text is kept
        assert ollama.chats == []
    with httpx.Client(base_url=studio.url) as stranger:
        assert "Vector search in Postgres" not in stranger.get(draft).text


def test_a_refused_edit_is_shown_by_a_get_with_each_fields_description(studio, settings):
    path = run_panel(EXAMPLES / "pgvector.toml", settings).path
    assert path is not None
    url = f"/panels/{path.name}"
    with httpx.Client(base_url=studio.url) as client:
        page = client.get(url).text
        assert 'name="confidence" type="number" min="0" max="1" step="0.01"' in page
        assert "How sure you are, from 0 to 1." in page  # the schema's description beside the field
        verdict = find_review(loaded(path), "dx").verdict
        values = {**verdict.fields, "decision": "ship", "quote": verdict.quote, "headline": ""}
        refused = client.post(
            f"{url}/verdicts/dx/edit",
            data={**values, "confidence": "abc", "base": "1", "csrf": csrf_of(page)},
        )
        assert refused.status_code == 303
        shown = client.get(refused.headers["location"]).text
    problems = re.findall(r'<p class="error">([^<]*)</p>', shown)
    assert problems == ["Write a number, like 0.8.", "Fill this in."]
    assert "Input should" not in shown and "String should" not in shown
    assert len(history(loaded(path))) == 1


def test_revert_to_an_earlier_revision_saves_it_as_a_new_one(studio, settings):
    path = run_panel(EXAMPLES / "pgvector.toml", settings).path
    assert path is not None
    first = loaded(path)
    url = f"/panels/{path.name}"
    with httpx.Client(base_url=studio.url) as client:
        csrf = csrf_of(client.get(url).text)
        verdict = find_review(first, "dx").verdict
        values = {**verdict.fields, "decision": "skip", "confidence": "0.3", "quote": verdict.quote}
        edit = {**values, "headline": "Edited", "base": "1", "csrf": csrf, "by": "Ana"}
        assert client.post(f"{url}/verdicts/dx/edit", data=edit).status_code == 303
        assert (
            client.post(f"{url}/verdicts/futures/lock", data={"base": "2", "csrf": csrf}).status_code == 303
        )
        stale = client.post(f"{url}/revert", data={"revision": "1", "base": "2", "csrf": csrf})
        assert stale.status_code == 409 and "Nothing was reverted" in stale.text
        reverted = client.post(f"{url}/revert", data={"revision": "1", "base": "3", "csrf": csrf, "by": "Bo"})
        assert reverted.status_code == 303
        page = client.get(url).text
    after = loaded(path)
    assert [(r.number, r.action, r.by, r.note) for r in history(after)][-1] == (
        4,
        "edit",
        "person:Bo",
        "reverted to revision 1",
    )
    assert after.reviews == first.reviews and after.aggregate == first.aggregate
    assert 'id="revert-to"' in page and "Revision 4" in page


def test_the_list_filters_on_tagline_and_description_sorts_and_marks_published(studio, settings):
    pgvector = run_panel(EXAMPLES / "pgvector.toml", settings).path
    copilot = run_panel(EXAMPLES / "github-copilot.toml", settings).path
    assert pgvector is not None and copilot is not None
    tools = lambda page: re.findall(r'<a class="tool" href="[^"]*">([^<]*)</a>', page)  # noqa: E731
    with httpx.Client(base_url=studio.url) as client:
        assert tools(client.get("/", params={"q": "similarity SEARCH"}).text) == ["pgvector"]  # tagline
        assert tools(client.get("/", params={"q": "multi-file edits"}).text) == [
            "GitHub Copilot"
        ]  # description
        assert tools(client.get("/", params={"q": "no such words"}).text) == []
        assert tools(client.get("/", params={"sort": "tool", "order": "asc"}).text) == [
            "GitHub Copilot",
            "pgvector",
        ]
        assert tools(client.get("/", params={"sort": "tool", "order": "desc"}).text) == [
            "pgvector",
            "GitHub Copilot",
        ]
        listing = client.get("/", params={"sort": "tool", "order": "asc"}).text
        assert 'aria-sort="ascending"' in listing and "order=desc" in listing  # a second click turns it round
        csrf = csrf_of(listing)
        assert 'class="tag published"' not in listing
        published = client.post("/publish", data={"name": pgvector.name, "csrf": csrf})
        assert published.status_code == 200
        row = lambda: re.search(  # noqa: E731
            rf'data-name="{re.escape(pgvector.name)}">(.*?)</tr>', client.get("/").text, re.DOTALL
        ).group(1)
        assert re.search(r'class="tag published"[^>]*>published</span>', row())
        assert (
            client.post(
                f"/panels/{pgvector.name}/verdicts/dx/lock", data={"base": "1", "csrf": csrf}
            ).status_code
            == 303
        )
        assert "published · changed since" in row()
        assert "from revision 1" in client.get(f"/panels/{pgvector.name}").text


def test_a_run_where_every_reviewer_failed_names_each_reason(studio, ollama):
    ollama.verdict_hook = lambda body, verdict: {"note": "not a verdict"}
    with httpx.Client(base_url=studio.url) as client:
        csrf = csrf_of(client.get("/new").text)
        started = client.post("/new", data={**CARD, "csrf": csrf})
        with client.stream("GET", started.headers["location"] + "/events", timeout=60) as events:
            data = [json.loads(line[6:]) for line in events.iter_lines() if line.startswith("data: ")]
        job = client.get(started.headers["location"]).text
    assert "<h2>The Builder</h2>" in job  # the run's boxes name the personas as every other page does
    assert data[-1]["type"] == "error"
    message = data[-1]["message"]
    assert message.startswith("Every reviewer failed (")
    assert "there is no panel to read" in message and "The Builder: " in message
    assert "the panel is saved" not in message


def test_serve_says_which_backend_and_model_runs_use_and_warns_about_the_test_model(tmp_path, ollama):
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    port = str(busy.getsockname()[1])
    try:
        on_ollama = runner.invoke(
            app, ["serve", "--transcripts", str(tmp_path), "--port", port, "--host", ollama.url]
        )
        on_embedded = runner.invoke(
            app, ["serve", "--transcripts", str(tmp_path), "--port", port, "--backend", "embedded"]
        )
    finally:
        busy.close()
    assert (
        f"Runs use Ollama at {ollama.url} by default, model llama3.1:8b for every reviewer."
        in on_ollama.stderr
    )
    assert "SmolLM2-135M" not in on_ollama.stderr
    assert "Runs use the embedded model" in on_embedded.stderr
    assert "Warning: that is the bundled SmolLM2-135M test model. It cannot judge a tool" in " ".join(
        on_embedded.stderr.split()
    )
    assert on_embedded.exit_code == 2  # the busy port, after the notice
