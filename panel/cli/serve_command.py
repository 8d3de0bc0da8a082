"""`panel serve`: the studio, a local web app for editors, on the same library as the CLI."""

from __future__ import annotations

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
        sock = listening_socket(bind, port)
        shown = socket.gethostname() if bind in ("0.0.0.0", "::", "[::]") else bind  # reachable name
        shown = f"[{shown.strip('[]')}]" if ":" in shown else shown
        url = f"http://{shown}:{sock.getsockname()[1]}/" + (f"?token={token}" if token else "")
        stderr.print(f"The studio is at {url}", highlight=False, soft_wrap=True)
        if token:
            stderr.print("Every request needs that token; share the URL only with editors.", highlight=False)
        server = uvicorn.Server(uvicorn.Config(studio, log_level="warning", lifespan="off"))
        server.run(sockets=[sock])
