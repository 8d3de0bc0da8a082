"""`panel serve`: the studio app. Starlette routes over the library (no shelling out to the CLI),
server-rendered Jinja2 pages, one small vendored script, and the guards of panel.web.security."""

from __future__ import annotations

import logging
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from panel.errors import ConfigError, PanelError
from panel.settings import Settings
from panel.store.revisions import TranscriptBusy
from panel.web.security import (
    URL_SAFE_TOKEN,
    BodyTooLarge,
    CsrfRefused,
    Guard,
    StudioGuard,
    token_weakness,
    too_large,
    trusted_hosts,
)
from panel.web.studio import Studio, studio_of

HERE = Path(__file__).parent
LOG = logging.getLogger("panel.studio")
MIN_TOKEN_CHARS = 16


async def refuse_csrf(request: Request, error: Exception) -> Response:
    return studio_of(request).problem(str(error), 403, "Refused")


async def refuse_large(request: Request, error: Exception) -> Response:
    return too_large()


async def show_panel_error(request: Request, error: Exception) -> Response:
    return studio_of(request).problem(str(error), 400)


async def not_found(request: Request, error: Exception) -> Response:
    return PlainTextResponse("Not found.", 404)


async def show_busy(request: Request, error: Exception) -> Response:
    return studio_of(request).problem(str(error), 423, "Not saved")


async def client_went_away(request: Request, error: Exception) -> Response:
    """A browser that closed the connection mid-upload: one line in the log, no traceback (the
    response is never read)."""
    LOG.info(
        "%s %s: the client closed the connection before its request body was in.",
        request.method,
        request.url.path,
    )
    return Response(status_code=400)


def check_token(token: str) -> None:
    """Refuse a token that would let anyone in, that can be guessed, or that the printed URL
    (`?token=...`) would carry wrongly (`#`, `&`, `+` and the like mean something in a URL)."""
    if len(token) < MIN_TOKEN_CHARS or not token.isprintable() or " " in token:
        # An empty token would let every request in; a short one can be guessed.
        raise ConfigError(
            f"The studio's access token must be at least {MIN_TOKEN_CHARS} characters, with no "
            "spaces; leave --token out to have one generated."
        )
    if not URL_SAFE_TOKEN.fullmatch(token):
        odd = "".join(sorted(set(URL_SAFE_TOKEN.sub("", token))))
        raise ConfigError(
            f"The studio's access token may hold only letters, digits and - . _ ~ (it travels in "
            f"the URL the studio prints, where {odd!r} would change its meaning and the URL would "
            "be refused); leave --token out to have one generated."
        )
    weakness = token_weakness(token)
    if weakness:
        raise ConfigError(
            f"The studio's access token is easy to guess ({weakness}); use {MIN_TOKEN_CHARS} or more "
            "random characters, or leave --token out to have one generated."
        )


def create_app(
    folder: Path,
    settings: Settings,
    *,
    token: str | None = None,
    publish_dir: Path | None = None,
    bind: str = "127.0.0.1",
) -> Starlette:
    """The studio over `folder`. `token` None means loopback only: the Host must be a loopback
    name or `bind`, the address the server listens on."""
    from panel.web import card_form, pages, reviews, runs, views

    if token is not None:
        check_token(token)

    guard = Guard(token=token)
    studio = Studio(
        folder=Path(folder),
        settings=settings,
        publish_dir=Path(publish_dir) if publish_dir else Path("published"),
        guard=guard,
    )
    routes = [
        Route("/", pages.list_panels),
        Route("/new", card_form.new_panel_form, methods=["GET"]),
        Route("/new", runs.start_panel, methods=["POST"]),
        Route("/jobs/{job_id:str}", runs.job_page),
        Route("/jobs/{job_id:str}/events", runs.job_events),
        Route("/reviews/{review_id:str}", reviews.review_page, methods=["GET"]),
        Route("/reviews/{review_id:str}", reviews.answer_review, methods=["POST"]),
        Route("/compare", runs.compare_page, methods=["GET"]),
        Route("/compare", runs.save_compared, methods=["POST"]),
        Route("/votes", runs.upload_votes, methods=["POST"]),
        Route("/publish", pages.publish, methods=["POST"]),
        Route("/preview", pages.preview),
        Route("/panels/{name:str}", views.panel_page),
        Route("/panels/{name:str}/diff", views.diff_revisions),
        Route("/panels/{name:str}/revert", views.revert, methods=["POST"]),
        Route("/panels/{name:str}/verdicts/{persona:str}/{action:str}", views.change, methods=["POST"]),
        Mount("/static", app=StaticFiles(directory=HERE / "static"), name="static"),
    ]
    app = Starlette(
        routes=routes,
        # The guard outermost, so that the Host refusal carries its security headers too.
        middleware=[
            Middleware(StudioGuard, guard=guard),
            Middleware(TrustedHostMiddleware, allowed_hosts=trusted_hosts(bind, token), www_redirect=False),
        ],
        exception_handlers={
            CsrfRefused: refuse_csrf,
            BodyTooLarge: refuse_large,
            PanelError: show_panel_error,
            TranscriptBusy: show_busy,
            ClientDisconnect: client_went_away,
            404: not_found,
        },
    )
    app.state.studio = studio
    return app
