"""The studio over HTTP: token, Host and CSRF refusals, no path out of the folder, capped bodies,
the two-tab conflict, and the published page matching `panel render`."""

from __future__ import annotations

import html
import os
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from time import time as time_now

import httpx
import pytest
from typer.testing import CliRunner

from panel import run_panel
from panel.cli import app
from panel.errors import ConfigError
from panel.records.transcript import PanelTranscript
from panel.store.revisions import find_review
from panel.store.transcripts import load_transcript
from tests.support.optional_packages import import_or_skip
from tests.support.paths import EXAMPLES

for module in ("starlette", "uvicorn", "multipart"):
    import_or_skip(module, "the studio tests need the studio extra")
from panel.web import create_app  # noqa: E402
from tests.support.studio_server import RunningStudio, running_studio  # noqa: E402

runner = CliRunner()
PGVECTOR = EXAMPLES / "pgvector.toml"


@pytest.fixture
def studio(settings, tmp_path) -> Iterator[RunningStudio]:
    with running_studio(settings.out_dir, settings, tmp_path / "published") as running:
        yield running


@pytest.fixture
def panel_name(settings) -> str:
    path = run_panel(PGVECTOR, settings).path
    assert path is not None
    return path.name


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf-token" content="([0-9a-f]+)"', html)
    assert found
    return found.group(1)


def loaded(path: Path) -> PanelTranscript:
    transcript = load_transcript(path)
    assert isinstance(transcript, PanelTranscript)
    return transcript


def test_every_change_needs_the_csrf_token(studio, panel_name):
    with httpx.Client(base_url=studio.url) as client:
        csrf = csrf_of(client.get("/").text)
        for path in (
            f"/panels/{panel_name}/verdicts/dx/lock",
            f"/panels/{panel_name}/verdicts/dx/edit",
            f"/panels/{panel_name}/verdicts/dx/rerun",
            "/new",
            "/publish",
            "/votes",
            "/compare",
        ):
            refused = client.post(path, data={"base": "1", "csrf": "forged"})
            assert refused.status_code == 403, path
            assert "CSRF" in refused.text
        before = (studio.folder / panel_name).read_bytes()
        other_site = client.post(
            f"/panels/{panel_name}/verdicts/dx/lock",
            data={"base": "1", "csrf": csrf},
            headers={"origin": "http://evil.example"},
        )
        assert other_site.status_code == 403 and "Origin" in other_site.text
        assert (studio.folder / panel_name).read_bytes() == before
        locked = client.post(f"/panels/{panel_name}/verdicts/dx/lock", data={"base": "1", "csrf": csrf})
        assert locked.status_code == 303
        assert find_review(loaded(studio.folder / panel_name), "dx").locked


def test_loopback_studio_refuses_other_host_names(studio, panel_name):
    with httpx.Client(base_url=studio.url) as client:
        assert client.get("/").status_code == 200
        for host in ("attacker.example", "127.0.0.1.attacker.example", "localhost.attacker.example", ""):
            refused = client.get(f"/panels/{panel_name}", headers={"host": host})
            assert (refused.status_code, refused.text) == (400, "Invalid host header"), host
            assert refused.headers["x-content-type-options"] == "nosniff"  # the guard's headers too
        for host in ("localhost:8765", "127.0.0.1", "[::1]:8765"):
            assert client.get("/", headers={"host": host}).status_code == 200, host
        assert client.get("/", headers={"host": "127.0.0.2:8765"}).status_code == 400


def test_a_studio_bound_to_another_loopback_address_answers_to_it(settings, tmp_path):
    with (
        running_studio(settings.out_dir, settings, tmp_path / "pub", bind="127.0.0.2") as studio,
        httpx.Client(base_url=studio.url) as client,
    ):
        assert client.get("/", headers={"host": "127.0.0.2:8765"}).status_code == 200
        assert client.get("/", headers={"host": "attacker.example"}).status_code == 400


def test_a_token_is_checked_on_every_request(settings, tmp_path, panel_name):
    token = "s3cret-token-for-tests"
    with running_studio(settings.out_dir, settings, tmp_path / "pub", token=token) as studio:
        with httpx.Client(base_url=studio.url) as client:
            for path in ("/", f"/panels/{panel_name}", "/static/studio.js", f"/preview?name={panel_name}"):
                assert client.get(path).status_code == 401, path
            assert client.get("/?token=wrong").status_code == 401
            entered = client.get("/?token=" + token, follow_redirects=True)
            assert entered.status_code == 200 and "pgvector" in entered.text
            assert client.cookies.get("panel_studio_token") == token
            assert client.get(f"/panels/{panel_name}").status_code == 200
        with httpx.Client(base_url=studio.url, headers={"authorization": f"Bearer {token}"}) as client:
            assert client.get("/").status_code == 200


def test_no_path_leaves_the_folder(studio, panel_name, tmp_path):
    secret = tmp_path / "secret.json"
    secret.write_text(studio.folder.joinpath(panel_name).read_text())
    (studio.folder / "link.json").symlink_to(secret)
    with httpx.Client(base_url=studio.url) as client:
        for name in ("..%2Fsecret.json", "%2E%2E%2Fsecret.json", "link.json", ".hidden.json", "x"):
            response = client.get(f"/panels/{name}")
            assert response.status_code in (400, 404), name
            assert "pgvector" not in response.text
        assert client.get("/preview?name=../secret.json").status_code == 400
        assert client.get(f"/panels/{panel_name}").status_code == 200


def test_bodies_and_uploads_are_capped(studio):
    with httpx.Client(base_url=studio.url) as client:
        csrf = csrf_of(client.get("/").text)
        huge = client.post("/new", data={"csrf": csrf, "description": "x" * 400_000})
        assert huge.status_code == 413
        upload = client.post(
            "/new",
            data={"csrf": csrf},
            files={"card_file": ("card.toml", b"name = '" + b"x" * 300_000 + b"'")},
        )
        assert upload.status_code == 413


def test_second_tab_edit_is_refused_with_the_newer_revision(studio, panel_name):
    path = studio.folder / panel_name
    with httpx.Client(base_url=studio.url) as client:
        page = client.get(f"/panels/{panel_name}").text
        csrf = csrf_of(page)
        verdict = find_review(loaded(path), "dx").verdict
        values = {**verdict.fields, "decision": "skip", "confidence": "0.4", "quote": verdict.quote}
        first = client.post(
            f"/panels/{panel_name}/verdicts/dx/edit",
            data={**values, "headline": "Tab one", "base": "1", "csrf": csrf, "by": "Ana"},
        )
        assert first.status_code == 303
        saved = path.read_bytes()
        second = client.post(
            f"/panels/{panel_name}/verdicts/dx/edit",
            data={**values, "headline": "Tab two", "base": "1", "csrf": csrf, "by": "Bo"},
        )
        assert second.status_code == 303  # post/redirect/get: the conflict is shown by a GET
        shown = client.get(second.headers["location"])
        assert "Not saved" in shown.text and "revision 2 (edit by Ana" in shown.text
        assert "Tab one" in shown.text
        assert path.read_bytes() == saved

        diff = client.get(f"/panels/{panel_name}/diff", params={"from": "1", "to": "2"})
        assert diff.status_code == 200 and "revision 1" in diff.text and "Tab one" in diff.text
        assert diff.headers["content-security-policy"].startswith(
            "default-src 'none'; style-src 'unsafe-inline'"
        )
        assert diff.headers["content-security-policy"].endswith("frame-ancestors 'none'")

        invalid = client.post(
            f"/panels/{panel_name}/verdicts/dx/edit",
            data={**values, "confidence": "7", "headline": "x", "base": "2", "csrf": csrf},
        )
        assert invalid.status_code == 303
        again = client.get(invalid.headers["location"])
        error = re.search(r'<p class="error">([^<]*)</p>', again.text)
        assert error and error.group(1) == "Use a number no larger than 1."
        assert path.read_bytes() == saved


def test_published_files_match_panel_render(studio, panel_name, settings, tmp_path):
    with httpx.Client(base_url=studio.url) as client:
        csrf = csrf_of(client.get("/").text)
        published = client.post("/publish", data={"csrf": csrf, "name": panel_name, "folder": "../site"})
        assert published.status_code == 200
        preview = client.get("/preview", params={"name": panel_name}).text
    html = studio.publish_dir / "site" / "pgvector.html"
    markdown = studio.publish_dir / "site" / "pgvector.md"
    transcript = settings.out_dir / panel_name
    for published, rendered in ((html, tmp_path / "cli.html"), (markdown, tmp_path / "cli.md")):
        assert runner.invoke(app, ["render", str(transcript), "-o", str(rendered)]).exit_code == 0
        assert published.read_text() == rendered.read_text()
    assert preview == html.read_text()


def test_serve_on_a_busy_port_says_so(tmp_path):
    import socket

    from panel.web.security import is_loopback

    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    port = busy.getsockname()[1]
    try:
        result = runner.invoke(app, ["serve", "--transcripts", str(tmp_path), "--port", str(port)])
    finally:
        busy.close()
    assert result.exit_code == 2 and f"Cannot listen on 127.0.0.1:{port}" in result.stderr
    assert [is_loopback(a) for a in ("127.0.0.1", "localhost", "::1", "0.0.0.0", "10.0.0.5")] == [
        True,
        True,
        True,
        False,
        False,
    ]


def test_the_list_puts_the_file_written_last_first_within_one_second(settings):
    from panel.web.folder import list_folder

    older, newer = (
        run_panel(EXAMPLES / card, settings).path for card in ("pgvector.toml", "github-copilot.toml")
    )
    assert older is not None and newer is not None
    same_second = loaded(older).created_at
    for path, mtime in ((older, 2_000_000_000), (newer, 2_000_000_001)):
        transcript = loaded(path).model_copy(update={"created_at": same_second})
        path.write_text(transcript.model_dump_json(indent=2))
        os.utime(path, (mtime, mtime))
    assert [entry.tool for entry in list_folder(settings.out_dir)] == ["GitHub Copilot", "pgvector"]
    os.utime(older, (2_000_000_002, 2_000_000_002))
    assert [entry.tool for entry in list_folder(settings.out_dir)] == ["pgvector", "GitHub Copilot"]


def test_a_body_without_content_length_is_capped_as_it_arrives(studio):
    with httpx.Client(base_url=studio.url) as client:
        csrf = csrf_of(client.get("/").text)

        def chunks() -> Iterator[bytes]:
            yield f"csrf={csrf}&description=".encode()
            for _ in range(40):
                yield b"x" * 10_000

        streamed = client.post(
            "/new", content=chunks(), headers={"content-type": "application/x-www-form-urlencoded"}
        )
        assert "content-length" not in streamed.request.headers
        assert streamed.status_code == 413 and "256 KiB" in streamed.text
        assert client.get("/").status_code == 200


def test_each_browser_session_has_its_own_csrf_token(studio, panel_name):
    lock = f"/panels/{panel_name}/verdicts/dx/lock"
    with httpx.Client(base_url=studio.url) as one, httpx.Client(base_url=studio.url) as two:
        opened = one.get("/")
        assert "HttpOnly; SameSite=Strict" in opened.headers["set-cookie"]
        first, second = csrf_of(opened.text), csrf_of(two.get("/").text)
        assert first != second
        assert csrf_of(one.get(f"/panels/{panel_name}").text) == first
        stolen = two.post(lock, data={"base": "1", "csrf": first})
        assert stolen.status_code == 403 and "CSRF" in stolen.text
        assert not find_review(loaded(studio.folder / panel_name), "dx").locked
        assert one.post(lock, data={"base": "1", "csrf": first}).status_code == 303
        assert find_review(loaded(studio.folder / panel_name), "dx").locked


def test_saving_a_comparison_writes_the_transcript_panel_compare_writes(studio, panel_name, settings):
    from panel.records.transcript import ComparisonTranscript

    copilot = run_panel(EXAMPLES / "github-copilot.toml", settings).path
    assert copilot is not None
    with httpx.Client(base_url=studio.url) as client:
        shown = client.get("/compare", params=[("name", panel_name), ("name", copilot.name)])
        assert "Save the comparison" in shown.text
        swap = re.search(r'id="swap" href="([^"]+)"', shown.text)
        assert swap and "<h1>GitHub Copilot vs pgvector</h1>" in client.get(html.unescape(swap.group(1))).text
        saved = client.post(
            "/compare", data={"csrf": csrf_of(shown.text), "name": [panel_name, copilot.name]}
        )
        assert saved.status_code == 303
        name = saved.headers["location"].removeprefix("/compare?name=")
        comparison = load_transcript(studio.folder / name)
        assert isinstance(comparison, ComparisonTranscript)
        assert (comparison.a_tool, comparison.b_tool) == ("pgvector", "GitHub Copilot")
        assert Path(comparison.b_transcript) == copilot.resolve()
        page = client.get(saved.headers["location"]).text
        assert "Saved as the comparison" in page and "Save the comparison" not in page
        assert "pgvector vs GitHub Copilot" in client.get("/").text
    shown_by_cli = runner.invoke(app, ["show", str(studio.folder / name), "--json"])
    assert shown_by_cli.exit_code == 0 and '"pgvector"' in shown_by_cli.stdout


def test_compare_with_must_name_a_panel_in_the_folder(studio, panel_name):
    card = {"name": "x", "tagline": "y", "category": "c", "description": "d", "maker": "m"}
    card |= {"license": "MIT", "pricing": "Free", "links": "", "facts": ""}
    with httpx.Client(base_url=studio.url) as client:
        csrf = csrf_of(client.get("/new").text)
        outside = client.post("/new", data={**card, "csrf": csrf, "compare_with": "../secret.json"})
        assert outside.status_code == 400 and "not a transcript name" in outside.text
        reviewed = client.post(
            "/new", data={**card, "csrf": csrf, "compare_with": panel_name, "review": "on"}
        )
        assert reviewed.status_code == 400 and "tick both panels" in reviewed.text
    assert sorted(path.name for path in studio.folder.glob("*.json")) == [panel_name]


def test_a_votes_upload_never_replaces_good_votes_with_a_cut_or_garbled_file(studio):
    votes = studio.folder / "votes.csv"
    studio.folder.mkdir(parents=True, exist_ok=True)
    votes.write_text("tool,up,down\npgvector,10,2\n")
    rows = "".join(f"tool-{number:05},1,0\n" for number in range(5000))  # about 90 KiB
    with httpx.Client(base_url=studio.url) as client:
        csrf = csrf_of(client.get("/").text)
        for body, problem in (
            (("tool,up,down\n" + rows).encode(), "over 64 KiB"),
            ("tool,up,down\npgvector,1,0\n".encode("utf-16"), "not UTF-8"),
        ):
            sent = client.post("/votes", data={"csrf": csrf}, files={"votes_file": ("votes.csv", body)})
            assert sent.status_code in (400, 413) and problem in sent.text
            assert votes.read_text() == "tool,up,down\npgvector,10,2\n"
        replaced = client.post(
            "/votes",
            data={"csrf": csrf},
            files={"votes_file": ("votes.json", b'{"pgvector": {"up": 3, "down": 1}}')},
        )
        assert replaced.status_code == 303
    assert not votes.exists() and (studio.folder / "votes.json").read_text().startswith('{"pgvector"')


@pytest.mark.parametrize("token", ["", "short", "has a space in it!"])
def test_serve_refuses_a_token_that_would_let_anyone_in(tmp_path, token):
    folder = tmp_path / "transcripts"
    result = runner.invoke(
        app, ["serve", "--transcripts", str(folder), "--bind", "0.0.0.0", "--port", "0", "--token", token]
    )
    assert result.exit_code == 2 and "at least 16 characters" in result.stderr
    assert not folder.exists()


def test_an_incomplete_panel_says_so_on_its_studio_page(studio, settings, ollama):
    def business_fails(body: dict, verdict: dict) -> dict:
        return {"oops": True} if body["format"]["title"] == "BusinessVerdict" else verdict

    ollama.verdict_hook = business_fails
    path = run_panel(PGVECTOR, settings).path
    assert path is not None and loaded(path).aggregate.incomplete
    with httpx.Client(base_url=studio.url) as client:
        page = client.get(f"/panels/{path.name}").text
        refused = client.post("/publish", data={"csrf": csrf_of(page), "name": path.name})
        published = client.post(
            "/publish", data={"csrf": csrf_of(page), "name": path.name, "allow_incomplete": "on"}
        )
    assert re.search(r'id="incomplete"[^>]*>Incomplete panel: 3 of 4 reviewers', page)
    assert refused.status_code == 409 and "tick “publish an incomplete panel”" in refused.text
    assert "--allow-incomplete" not in refused.text
    assert published.status_code == 200
    html = (studio.publish_dir / "site" / "pgvector.html").read_text()
    assert "3 of 4 reviewers" in html and "oops" not in html


def test_a_lock_names_the_editor_who_last_saved_from_this_browser(studio, panel_name):
    path = studio.folder / panel_name
    with httpx.Client(base_url=studio.url) as client:
        csrf = csrf_of(client.get(f"/panels/{panel_name}").text)
        verdict = find_review(loaded(path), "dx").verdict
        values = {**verdict.fields, "decision": "skip", "confidence": "0.4", "quote": verdict.quote}
        edited = client.post(
            f"/panels/{panel_name}/verdicts/dx/edit",
            data={**values, "headline": "New", "base": "1", "csrf": csrf, "by": "Ana Lima"},
        )
        assert edited.status_code == 303
        assert 'value="Ana Lima"' in client.get(f"/panels/{panel_name}").text
        locked = client.post(f"/panels/{panel_name}/verdicts/futures/lock", data={"base": "2", "csrf": csrf})
        assert locked.status_code == 303
    assert [revision.by for revision in loaded(path).revisions[1:]] == ["person:Ana Lima", "person:Ana Lima"]


def test_a_rerun_from_a_stale_page_is_refused_and_a_locked_verdict_needs_force(studio, panel_name, ollama):
    path = studio.folder / panel_name
    with httpx.Client(base_url=studio.url) as client:
        csrf = csrf_of(client.get(f"/panels/{panel_name}").text)
        assert (
            client.post(
                f"/panels/{panel_name}/verdicts/dx/lock", data={"base": "1", "csrf": csrf}
            ).status_code
            == 303
        )
        saved = path.read_bytes()
        calls = len(ollama.chats)
        stale = client.post(
            f"/panels/{panel_name}/verdicts/dx/rerun", data={"base": "1", "csrf": csrf}, follow_redirects=True
        )
        assert stale.history[0].status_code == 303 and "Nothing was rerun" in stale.text
        locked = client.post(f"/panels/{panel_name}/verdicts/dx/rerun", data={"base": "2", "csrf": csrf})
        assert locked.status_code == 409 and "Tick “replace the locked verdict”" in locked.text
        assert "--force" not in locked.text
        bad_seed = client.post(
            f"/panels/{panel_name}/verdicts/dx/rerun",
            data={"base": "2", "csrf": csrf, "force": "on", "seed": "x1"},
        )
        assert bad_seed.status_code == 400 and "seed must be a whole number" in bad_seed.text
        assert path.read_bytes() == saved and len(ollama.chats) == calls
        forced = client.post(
            f"/panels/{panel_name}/verdicts/dx/rerun",
            data={"base": "2", "csrf": csrf, "force": "on", "seed": "9"},
        )
        assert forced.status_code == 303
    rerun = loaded(path)
    assert rerun.revisions[-1].action == "rerun" and rerun.options["dx"]["seed"] == 9
    assert not find_review(rerun, "dx").locked


def test_a_bad_link_line_is_named_by_its_line_beside_the_field(studio):
    card = {"name": "x", "tagline": "y", "category": "c", "description": "d", "maker": "m"}
    card |= {"license": "MIT", "pricing": "Free", "facts": ""}
    links = "Docs=https://example.org\nRepository without an equals sign"
    with httpx.Client(base_url=studio.url) as client:
        csrf = csrf_of(client.get("/new").text)
        refused = client.post("/new", data={**card, "links": links, "csrf": csrf}, follow_redirects=True)
    assert refused.history[0].status_code == 303
    error = re.search(r'<p class="error" id="error-links">([^<]*)</p>', refused.text)
    assert error and error.group(1).startswith("line 2, url: ")


def test_serve_on_a_file_as_the_transcripts_folder_says_so(tmp_path):
    not_a_folder = tmp_path / "notes.txt"
    not_a_folder.write_text("x")
    result = runner.invoke(app, ["serve", "--transcripts", str(not_a_folder), "--port", "0"])
    assert result.exit_code == 2 and "Cannot use" in result.stderr and "File exists" in result.stderr
    assert "Traceback" not in result.output


def test_publishing_where_nothing_can_be_written_says_so(studio, panel_name):
    studio.publish_dir.parent.mkdir(parents=True, exist_ok=True)
    studio.publish_dir.write_text("a file where the publish folder should be")
    with httpx.Client(base_url=studio.url) as client:
        refused = client.post("/publish", data={"csrf": csrf_of(client.get("/").text), "name": panel_name})
    assert refused.status_code == 500 and "Not published" in refused.text
    assert f"Cannot write {studio.publish_dir / 'site' / 'pgvector.html'}" in refused.text


def test_studio_stays_responsive_while_another_process_holds_a_transcripts_lock(
    studio, panel_name, monkeypatch
):
    import subprocess
    import sys
    import time

    from panel.store import revisions

    monkeypatch.setattr(revisions, "LOCK_WAIT_SECONDS", 2.0)
    path = studio.folder / panel_name
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, os, sys, time; handle = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT); "
            "fcntl.flock(handle, fcntl.LOCK_EX); print('held', flush=True); time.sleep(60)",
            str(revisions.lock_path(path)),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        saved = path.read_bytes()
        with httpx.Client(base_url=studio.url, timeout=20) as client:
            csrf = csrf_of(client.get("/").text)
            outcome: dict[str, httpx.Response] = {}
            locking = threading.Thread(
                target=lambda: outcome.setdefault(
                    "lock",
                    client.post(f"/panels/{panel_name}/verdicts/dx/lock", data={"base": "1", "csrf": csrf}),
                )
            )
            locking.start()
            time.sleep(0.3)  # the lock request is now waiting for the other process
            with httpx.Client(base_url=studio.url, timeout=1.5) as other:
                started = time.monotonic()
                assert other.get("/").status_code == 200
                assert time.monotonic() - started < 1.0
            locking.join(timeout=15)
        refused = outcome["lock"]
        assert refused.status_code == 423, refused.text
        assert "being saved by another process" in html.unescape(refused.text)
        assert "nothing was saved" in refused.text and path.read_bytes() == saved
    finally:
        holder.kill()
        holder.wait()


def test_studio_seed_superscript_two_is_a_400(studio, panel_name, ollama):
    path = studio.folder / panel_name
    saved, calls = path.read_bytes(), len(ollama.chats)
    with httpx.Client(base_url=studio.url) as client:
        csrf = csrf_of(client.get(f"/panels/{panel_name}").text)
        for seed in ("²", "9" * 5000, "٣", "2147483648", "-1"):
            refused = client.post(
                f"/panels/{panel_name}/verdicts/dx/rerun", data={"base": "1", "csrf": csrf, "seed": seed}
            )
            assert refused.status_code == 400, (seed[:20], refused.status_code)
            assert "digits 0-9 only" in refused.text and "Traceback" not in refused.text
    assert path.read_bytes() == saved and len(ollama.chats) == calls


@pytest.mark.parametrize(
    "token",
    ["aaaaaaaaaaaaaaaa", "abababababababab", "abcdefghabcdefgh", "abcdefghijklmnop", "passwd1234567890"],
)
def test_studio_weak_token_is_refused(settings, token):
    # create_app is what `panel serve` calls before it binds (the CLI prints the message, exit 2).
    with pytest.raises(ConfigError, match="easy to guess") as refused:
        create_app(settings.out_dir, settings, token=token)
    assert "leave --token out" in str(refused.value)


@pytest.mark.parametrize(
    "token", ["Xy7#q9Lm2Vb8Rt4Kw", "Xy7&q9Lm2Vb8Rt4Kw", "Xy7+q9Lm2Vb8Rt4Kw", "Xy7%41Lm2Vb8Rt4Kw"]
)
def test_studio_token_that_the_printed_url_would_garble_is_refused(settings, token):
    with pytest.raises(ConfigError, match="only letters, digits and - . _ ~"):
        create_app(settings.out_dir, settings, token=token)
    create_app(settings.out_dir, settings, token="Xy7-q9Lm2.Vb8_Rt4~Kw")  # what a URL carries as is


def test_studio_wrong_tokens_are_rate_limited_per_client(settings, tmp_path):
    token = "s3cret-token-for-tests"
    with (
        running_studio(settings.out_dir, settings, tmp_path / "pub", token=token) as studio,
        httpx.Client(base_url=studio.url) as client,
    ):
        assert client.get("/").status_code == 401  # no token at all is not a guess
        for number in range(10):
            assert client.get(f"/?token=guess-{number:02d}-abcdefgh").status_code == 401
        limited = client.get("/?token=one-guess-too-many")
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) > 0
        assert "Too many wrong access tokens" in limited.text
        # Guessing must not pay: the right token waits out the window too.
        assert client.get("/?token=" + token).status_code == 429


def test_studio_aborted_upload_logs_one_line_not_a_traceback(studio):
    import logging
    import socket
    import time

    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    keep = Keep(logging.DEBUG)
    loggers = [logging.getLogger(name) for name in ("uvicorn.error", "panel.studio", "")]
    for logger in loggers:
        logger.addHandler(keep)
    try:
        port = int(studio.url.rsplit(":", 1)[1])
        body = b'--XX\r\nContent-Disposition: form-data; name="card_file"; filename="c.toml"\r\n\r\nname = "'
        with socket.create_connection(("127.0.0.1", port)) as connection:
            connection.sendall(
                b"POST /new HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; "
                b"boundary=XX\r\nContent-Length: 200000\r\n\r\n" + body
            )
            time.sleep(0.3)
        time.sleep(0.5)
        with httpx.Client(base_url=studio.url) as client:
            assert client.get("/").status_code == 200
    finally:
        for logger in loggers:
            logger.removeHandler(keep)
    assert not [record for record in records if record.exc_info], [r.getMessage() for r in records]
    assert len({record.getMessage() for record in records}) <= 1


def test_studio_publish_cleans_stale_temp_files_left_by_a_kill(studio, panel_name):
    site = studio.publish_dir / "site"
    site.mkdir(parents=True)
    stale = [site / ".pgvector.md.k1ll3d_.tmp", site / ".pgvector.html.x9y8z7.tmp"]
    fresh, other = site / ".other.md.inprogress.tmp", site / ".notes.txt.abc.tmp"
    for leftover in (*stale, fresh, other):
        leftover.write_text("half a page")
    hour_ago = time_now() - 3700
    for old in (*stale, other):
        os.utime(old, (hour_ago, hour_ago))
    with httpx.Client(base_url=studio.url) as client:
        published = client.post("/publish", data={"csrf": csrf_of(client.get("/").text), "name": panel_name})
    assert published.status_code == 200
    assert not any(path.exists() for path in stale)
    assert fresh.exists() and other.exists()  # a write in progress, and a file that is not a page
    assert (site / "pgvector.md").exists()


def test_studio_upload_error_names_the_uploaded_file_not_the_server_temp_path(studio):
    with httpx.Client(base_url=studio.url) as client:
        csrf = csrf_of(client.get("/new").text)
        refused = client.post(
            "/new",
            data={"csrf": csrf},
            files={"card_file": ("my-tool.toml", b"name = [unclosed")},
            follow_redirects=True,
        )
    text = html.unescape(refused.text)
    assert refused.history[0].status_code == 303 and "my-tool.toml is not valid TOML" in text
    assert "uploaded-card" not in text and "panel-card-" not in text


STUDIO_CARD = {
    "name": "pgvector",
    "tagline": "Vector search in Postgres",
    "category": "Database extension",
    "description": "A Postgres extension that adds vector similarity search.",
    "maker": "Andrew Kane",
    "license": "PostgreSQL",
    "pricing": "Free",
    "facts": "HNSW indexes.",
}


@pytest.mark.parametrize(
    ("links", "problem"),
    [
        (
            "Repository=https://github.com/pgvector/pgvector\nDocs=htps://example.org",
            "line 2, url: link 'Docs': 'htps://example.org' is not a web address: a link is "
            "label=url, the url starting with http:// or https://",
        ),
        (
            "Repository | https://github.com/pgvector/pgvector",
            "line 1: write a link as label=url; the “label | url” form is no longer read",
        ),
    ],
)
def test_the_new_panel_form_refuses_a_bad_link_naming_the_line(studio, links, problem):
    with httpx.Client(base_url=studio.url) as client:
        csrf = csrf_of(client.get("/new").text)
        refused = client.post(
            "/new", data={**STUDIO_CARD, "links": links, "csrf": csrf}, follow_redirects=True
        )
    assert refused.history[0].status_code == 303
    found = re.search(r'<p class="error" id="error-links">(.*?)</p>', refused.text, re.DOTALL)
    assert found and html.unescape(found.group(1)) == problem
    assert html.escape(links.splitlines()[0], quote=False) in refused.text  # the editor's text is kept


def test_an_uploaded_card_fills_the_form_with_label_equals_url_lines(studio):
    with httpx.Client(base_url=studio.url) as client:
        csrf = csrf_of(client.get("/new").text)
        filled = client.post(
            "/new",
            data={"csrf": csrf},
            files={"card_file": ("pgvector.toml", PGVECTOR.read_bytes())},
            follow_redirects=True,
        )
    assert filled.status_code == 200 and filled.history[0].status_code == 303
    assert "Repository=https://github.com/pgvector/pgvector" in html.unescape(filled.text)
    assert " | https://" not in filled.text
