import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from panel.cli import app
from panel.records.aggregate import tally_reviews
from panel.store.transcripts import load_transcript
from tests.support.ollama_fake import free_port_url
from tests.support.paths import EXAMPLES

runner = CliRunner()
PGVECTOR = str(EXAMPLES / "pgvector.toml")
COPILOT = str(EXAMPLES / "github-copilot.toml")


def invoke(*args: str):
    return runner.invoke(app, list(args))


def test_run_json(ollama, tmp_path: Path):
    ollama.decisions["BusinessVerdict"] = "skip"
    result = invoke(
        "run",
        PGVECTOR,
        "--backend",
        "ollama",
        "--host",
        ollama.url,
        "--seed",
        "3",
        "--out",
        str(tmp_path / "t"),
        "--json",
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["tool"] == "pgvector" and summary["ship_pct"] == 75
    assert summary["split"] == {"ship": ["competition", "dx", "futures"], "skip": ["business"]}
    assert summary["failed"] == [] and summary["incomplete"] is False
    assert {v["persona"] for v in summary["verdicts"]} == {"dx", "competition", "futures", "business"}
    assert set(summary["verdicts"][0]) >= {"persona", "decision", "confidence", "headline", "quote", "fields"}
    assert Path(summary["transcript"]).is_file() and Path(summary["transcript"]).parent == tmp_path / "t"


def test_run_table_then_show(ollama, tmp_path: Path):
    result = invoke("run", PGVECTOR, "--backend", "ollama", "--host", ollama.url, "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert "panel ships 100%" in result.stdout and "Transcript:" in result.stdout
    transcript = next(tmp_path.glob("pgvector-*.json"))
    shown = invoke("show", str(transcript))
    assert shown.exit_code == 0 and "persona" in shown.stdout and "quote from DxVerdict" in shown.stdout
    as_json = json.loads(invoke("show", str(transcript), "--json").stdout)
    assert as_json["ship_pct"] == 100 and as_json["transcript"] == str(transcript)


def test_incomplete_panel_exits_1(ollama, tmp_path: Path):
    ollama.enqueue(*["not json"] * 20)  # every attempt of every persona
    result = invoke(
        "run", PGVECTOR, "--backend", "ollama", "--host", ollama.url, "--out", str(tmp_path), "--json"
    )
    assert result.exit_code == 1
    summary = json.loads(result.stdout)
    assert summary["incomplete"] is True and summary["failed"] and summary["ship_pct"] in (None, 100)


def test_a_suite_card_runs_with_its_labels_left_out(ollama, tmp_path: Path):
    suite_card = EXAMPLES.parent / "suites" / "postgresql.toml"
    assert "[labels]" in suite_card.read_text()
    result = invoke(
        "run", str(suite_card), "--backend", "ollama", "--host", ollama.url, "--out", str(tmp_path), "--json"
    )
    assert result.exit_code == 0, result.stderr
    transcript = load_transcript(Path(json.loads(result.stdout)["transcript"]))
    assert transcript.card.name == "PostgreSQL" and "labels" not in transcript.card.model_dump()


def test_bad_card_exits_2_with_a_clear_message(tmp_path: Path):
    card = tmp_path / "bad.toml"
    card.write_text('name = "x"\n')
    result = invoke("run", str(card), "--backend", "ollama")
    assert result.exit_code == 2
    assert "bad.toml" in result.stderr and "tagline" in result.stderr
    assert "Traceback" not in result.output


def test_unreachable_server_exits_3(tmp_path: Path):
    result = invoke("run", PGVECTOR, "--backend", "ollama", "--host", free_port_url(), "--out", str(tmp_path))
    assert result.exit_code == 3
    assert "ollama serve" in " ".join(result.stderr.split())


def test_missing_model_exits_3_with_pull_command(ollama, tmp_path: Path):
    result = invoke(
        "run", PGVECTOR, "--backend", "ollama", "--host", ollama.url, "--persona-model", "dx=phi4"
    )
    assert result.exit_code == 3
    assert "ollama pull phi4" in " ".join(result.stderr.split())


@pytest.mark.parametrize("flag", ["dx", "=phi4", "nobody=phi4"])
def test_bad_persona_model_flag_exits_2(ollama, flag):
    result = invoke("run", PGVECTOR, "--backend", "ollama", "--host", ollama.url, "--persona-model", flag)
    assert result.exit_code == 2, result.output


def test_panel_toml_and_environment(ollama, tmp_path: Path, monkeypatch):
    Path("panel.toml").write_text(f'backend = "ollama"\nhost = "{ollama.url}"\nseed = 11\n')
    result = invoke("run", PGVECTOR, "--json", "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["seed"] == 11
    monkeypatch.setenv("PANEL_SEED", "12")
    assert json.loads(invoke("run", PGVECTOR, "--json", "--out", str(tmp_path)).stdout)["seed"] == 12
    assert (
        json.loads(invoke("run", PGVECTOR, "--json", "--seed", "13", "--out", str(tmp_path)).stdout)["seed"]
        == 13
    )


def test_compare_json(ollama, tmp_path: Path):
    ollama.decisions["FuturesVerdict"] = "skip"
    result = invoke(
        "compare",
        PGVECTOR,
        COPILOT,
        "--backend",
        "ollama",
        "--host",
        ollama.url,
        "--out",
        str(tmp_path),
        "--json",
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["a"]["tool"] == "pgvector" and summary["b"]["tool"] == "GitHub Copilot"
    assert summary["a"]["ship_pct"] == summary["b"]["ship_pct"] == 75
    assert summary["winner"] is None and summary["winner_side"] == "tie"  # same votes, same confidence
    comparison = Path(summary["transcript"])
    assert comparison.is_file()
    shown = invoke("show", str(comparison), "--json")
    assert shown.exit_code == 0 and json.loads(shown.stdout)["winner_side"] == "tie"


def test_compare_picks_the_higher_ship_pct(ollama, tmp_path: Path):
    def decide(body):
        from tests.support.ollama_fake import chat_body, json_response, verdict_for_schema

        card = body["messages"][0]["content"]
        decision = "skip" if "GitHub Copilot" in card and body["format"]["title"] == "DxVerdict" else "ship"
        return json_response(
            chat_body(body["model"], json.dumps(verdict_for_schema(body["format"], decision)))
        )

    ollama.enqueue(*[decide] * 8)
    result = invoke(
        "compare",
        PGVECTOR,
        COPILOT,
        "--backend",
        "ollama",
        "--host",
        ollama.url,
        "--out",
        str(tmp_path),
        "--json",
    )
    summary = json.loads(result.stdout)
    assert summary["winner"] == "pgvector" and "100%" in summary["reason"] and "75%" in summary["reason"]
    table = invoke("show", summary["transcript"])
    assert "Ship with pgvector" in " ".join(table.stdout.split())


def test_personas_list_and_show():
    listing = invoke("personas")
    assert listing.exit_code == 0
    for persona_id in ("dx", "competition", "futures", "business"):
        assert persona_id in listing.stdout
    detail = invoke("personas", "futures")
    assert detail.exit_code == 0 and "thesis" in detail.stdout
    missing = invoke("personas", "nobody")
    assert missing.exit_code == 2 and "No persona 'nobody'" in missing.stderr


def test_show_bad_file_exits_2(tmp_path: Path):
    path = tmp_path / "x.json"
    path.write_text("nope")
    result = invoke("show", str(path))
    assert result.exit_code == 2 and "not a readable transcript" in result.stderr


def test_debug_shows_the_real_exception(tmp_path: Path):
    result = invoke("--debug", "run", str(tmp_path / "absent.toml"), "--backend", "ollama")
    assert result.exit_code != 0
    assert type(result.exception).__name__ == "CardError"


def test_quote_limit_from_environment_re_asks_the_model(ollama, tmp_path: Path, monkeypatch):
    monkeypatch.setenv("PANEL_MAX_QUOTE_CHARS", "100")
    ollama.verdict_hook = lambda body, verdict: (
        {**verdict, "quote": "long " * 40} if len(body["messages"]) == 2 else verdict
    )
    result = invoke(
        "run", PGVECTOR, "--backend", "ollama", "--host", ollama.url, "--out", str(tmp_path), "--json"
    )
    assert result.exit_code == 0, result.output
    assert len(ollama.chats) == 8
    assert all(
        "under 100 characters" in chat["messages"][-1]["content"]
        for chat in ollama.chats
        if len(chat["messages"]) > 2
    )


@pytest.mark.parametrize("host", ["http://localhost:abc", "http://[::1", "ftp://example.com"])
def test_bad_host_url_exits_2(host):
    result = invoke("run", PGVECTOR, "--backend", "ollama", "--host", host)
    assert result.exit_code == 2, result.output
    assert "not a valid URL" in result.stderr or "http://" in result.stderr


def test_bad_panel_toml_types_exit_2(tmp_path: Path):
    Path("panel.toml").write_text('persona_models = "dx"\n')
    result = invoke("run", PGVECTOR, "--backend", "ollama")
    assert result.exit_code == 2 and "persona_models" in result.stderr


def test_debug_through_the_console_script_shows_a_traceback(tmp_path: Path):
    import subprocess
    import sys

    command = [sys.executable, "-c", "from panel.cli import main; main()"]
    plain = subprocess.run([*command, "run", "absent.toml"], capture_output=True, text=True)
    assert plain.returncode == 2 and "Traceback" not in plain.stderr and "absent.toml" in plain.stderr
    debug = subprocess.run([*command, "--debug", "run", "absent.toml"], capture_output=True, text=True)
    assert debug.returncode != 0 and "Traceback" in debug.stderr and "CardError" in debug.stderr


def test_show_comparison_from_another_folder_recomputes_the_call(ollama, tmp_path: Path, monkeypatch):
    out = tmp_path / "cmp"
    summary = json.loads(
        invoke(
            "compare",
            PGVECTOR,
            COPILOT,
            "--backend",
            "ollama",
            "--host",
            ollama.url,
            "--out",
            "cmp",
            "--json",
        ).stdout
    )
    assert summary["winner_side"] == "tie"
    a_path = next(out.glob("pgvector-2*.json"))  # not the pgvector-vs-… comparison
    edited = load_transcript(a_path)
    for review in edited.reviews:
        review.verdict.decision = "skip"
    edited = edited.model_copy(update={"aggregate": tally_reviews(edited.reviews)})
    a_path.write_text(edited.model_dump_json())
    monkeypatch.chdir("/")
    shown = invoke("show", str(out / Path(summary["transcript"]).name), "--json")
    assert shown.exit_code == 0, shown.output
    data = json.loads(shown.stdout)
    assert data["a"]["ship_pct"] == 0 and data["winner"] == "GitHub Copilot"


def test_an_incomplete_panel_table_says_how_many_reviewers_its_ship_pct_counts(ollama, tmp_path: Path):
    def business_fails(body: dict, verdict: dict) -> dict:
        return {"oops": True} if body["format"]["title"] == "BusinessVerdict" else verdict

    ollama.verdict_hook = business_fails
    flags = ["--backend", "ollama", "--host", ollama.url, "--out", str(tmp_path)]
    result = invoke("run", PGVECTOR, *flags)
    assert result.exit_code == 1
    assert "pgvector — panel ships 100% (3 of 4 reviewers)" in " ".join(result.stdout.split())
    ollama.verdict_hook = None
    complete = invoke("run", PGVECTOR, *flags)
    assert (
        complete.exit_code == 0 and complete.stdout.splitlines()[0].strip() == "pgvector — panel ships 100%"
    )
