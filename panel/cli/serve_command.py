"""`panel serve`: the studio, a local web app for editors, on the same library as the CLI."""

from __future__ import annotations

import asyncio
import importlib.util
import secrets
import socket
from pathlib import Path
from typing import Annotated

import typer

from panel.cli.common import (
    app,
    reporting_errors,
    stderr,
)
from panel.cli.settings_flags import NO_FLAGS, SettingsFlags, settings_flags
from panel.errors import ConfigError, PanelError
from panel.settings import Settings

STUDIO_PACKAGES = ("starlette", "uvicorn", "multipart")


def listening_socket(bind: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in bind else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((bind.strip("[]"), port))
    except OSError as error:
        sock.close()
        raise ConfigError(
            f"Cannot listen on {bind}:{port} ({error}); pick another --port or --bind."
        ) from None
    return sock


def models_text(settings: Settings) -> str:
    """The model each reviewer would use: one name when they agree, else each persona's."""
    from panel.records.personas import load_personas

    models = {
        item.persona.id: settings.model_for(item.persona.id, item.persona.model)
        for item in load_personas(settings.personas_dir)
    }
    if len(set(models.values())) == 1:
        return f"model {next(iter(models.values()))} for every reviewer"
    return "models " + ", ".join(f"{persona} {model}" for persona, model in models.items())


async def ollama_answers(settings: Settings) -> bool:
    from panel.backends.registry import AUTO_PROBE_SECONDS, answers, get_spec

    spec = get_spec("ollama")
    backend = spec.build(settings.model_copy(update={"timeout": AUTO_PROBE_SECONDS}), settings.host)
    try:
        return await answers(spec, backend)
    finally:
        await backend.aclose()


def default_run_lines(settings: Settings) -> list[str]:
    """What a studio run uses unless its form says otherwise, and a warning when that is the
    bundled 135M model (it cannot judge a tool, and a run takes minutes on a CPU)."""
    from panel.backends.embedded_files import bundled_gguf

    backend = settings.backend
    if backend == "auto":
        backend = "ollama" if asyncio.run(ollama_answers(settings)) else "embedded"
    if backend == "ollama":
        return [f"Runs use Ollama at {settings.host} by default, {models_text(settings)}."]
    if backend == "openai":
        return [
            f"Runs use the OpenAI-compatible server at {settings.host} by default, {models_text(settings)}."
        ]
    gguf = settings.gguf or bundled_gguf()
    intro = f"Ollama did not answer at {settings.host}, so runs" if settings.backend == "auto" else "Runs"
    lines = [f"{intro} use the embedded model {gguf.name if gguf else '(none installed)'} by default."]
    if settings.gguf is None:
        lines.append(
            "Warning: that is the bundled SmolLM2-135M test model. It cannot judge a tool (its "
            "reviews are drafts at best) and a run takes minutes on a CPU. Start Ollama, pass "
            "--backend/--model or --gguf, or choose the backend and model in each run's form."
        )
    return lines


@app.command()
@settings_flags("backend", "host", "model", "timeout", "personas", "prompts", "gguf")
def serve(
    transcripts: Annotated[
        Path,
        typer.Option(
            "--transcripts", metavar="DIR", help="Folder of transcripts the studio shows and writes."
        ),
    ] = Path("transcripts"),
    port: Annotated[
        int, typer.Option("--port", metavar="N", help="Port to listen on (0: any free port).")
    ] = 8765,
    bind: Annotated[
        str,
        typer.Option(
            "--bind", metavar="ADDR", help="Address to listen on; anything but loopback needs the token."
        ),
    ] = "127.0.0.1",
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            metavar="TOKEN",
            help="Access token, 16 characters or more [default: generated when --bind is not loopback].",
        ),
    ] = None,
    publish: Annotated[
        Path, typer.Option("--publish", metavar="DIR", help="Folder published pages are written under.")
    ] = Path("published"),
    flags: SettingsFlags = NO_FLAGS,
) -> None:
    """Open the studio: draft a card, watch the reviewers, edit, lock, rerun, compare, publish."""
    with reporting_errors():
        missing = [name for name in STUDIO_PACKAGES if importlib.util.find_spec(name) is None]
        if missing:
            raise PanelError(
                "The studio needs the `studio` extra (Starlette, uvicorn, python-multipart): "
                "pip install 'reviewer-panel[studio]'."
            )
        import uvicorn

        from panel.web import create_app
        from panel.web.security import is_loopback

        settings = flags.settings()
        if not is_loopback(bind) and token is None:
            token = secrets.token_urlsafe(24)
        studio = create_app(transcripts, settings, token=token, publish_dir=publish, bind=bind)
        try:
            transcripts.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise ConfigError(
                f"Cannot use {transcripts} as the transcripts folder ({error.strerror}); pass "
                "--transcripts a folder (it is made when missing)."
            ) from None
        for line in default_run_lines(settings):
            stderr.print(line, highlight=False, soft_wrap=True)
        sock = listening_socket(bind, port)
        shown = socket.gethostname() if bind in ("0.0.0.0", "::", "[::]") else bind  # reachable name
        shown = f"[{shown.strip('[]')}]" if ":" in shown else shown
        url = f"http://{shown}:{sock.getsockname()[1]}/" + (f"?token={token}" if token else "")
        stderr.print(f"The studio is at {url}", highlight=False, soft_wrap=True)
        if token:
            stderr.print("Every request needs that token; share the URL only with editors.", highlight=False)
        server = uvicorn.Server(uvicorn.Config(studio, log_level="warning", lifespan="off"))
        server.run(sockets=[sock])
