"""Card, transcript, votes and batch paths that are not regular files (devices, FIFOs, folders,
missing paths) are refused with a message, without hanging."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from panel.cli import app
from panel.errors import CardError
from panel.records.cards import load_card
from tests.support.paths import EXAMPLES

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args))


def finishes_within(call, seconds: float = 5.0):
    """Run `call` in a thread, so that a hang fails the test instead of stopping it; return
    what it returned or raised."""
    outcome: list = []

    def run() -> None:
        try:
            outcome.append(call())
        except BaseException as error:  # noqa: BLE001 - handed back to the test
            outcome.append(error)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert outcome, f"{call} did not return within {seconds} s"
    return outcome[0]


def load_within(path: Path) -> BaseException | None:
    return finishes_within(lambda: load_card(path))


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom"])
def test_a_symlink_to_a_device_is_refused(tmp_path: Path, device: str):
    link = tmp_path / "card.toml"
    link.symlink_to(device)
    error = load_within(link)
    assert isinstance(error, CardError) and "not a regular file" in str(error)


def test_a_fifo_is_refused_without_hanging(tmp_path: Path):
    fifo = tmp_path / "card.yaml"
    os.mkfifo(fifo)
    error = load_within(fifo)
    assert isinstance(error, CardError) and "not a regular file" in str(error)


def test_a_fifo_as_transcript_votes_or_batch_input_is_refused(ollama, tmp_path: Path):
    out = tmp_path / "out"
    assert (
        invoke("run", str(EXAMPLES / "pgvector.toml"), "--host", ollama.url, "--out", str(out)).exit_code == 0
    )
    transcript = next(out.glob("*.json"))
    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)
    for command in (
        ("show", str(fifo)),
        ("render", str(transcript), "--votes", str(fifo)),
        ("batch", str(fifo), "--host", ollama.url),
    ):
        result = finishes_within(lambda command=command: invoke(*command))
        assert result.exit_code == 2 and "not a regular file" in result.output, (command, result.output)


def test_missing_paths_and_folders_say_so(ollama, tmp_path: Path):
    (tmp_path / "cards.toml").mkdir()
    expectations = [
        (("run", str(tmp_path / "absent")), "no such file"),
        (("run", str(tmp_path / "absent.toml")), "no such file"),
        (("run", str(tmp_path)), "is a directory"),
        (("run", str(tmp_path / "cards.toml")), "is a directory"),
        (("render", str(tmp_path)), "is a directory"),
    ]
    for command, expected in expectations:
        result = invoke(*command, *(("--host", ollama.url) if command[0] == "run" else ()))
        assert result.exit_code == 2, (command, result.output)
        assert expected in result.output and "unknown card format" not in result.output, command
        assert "Errno" not in result.output, command
