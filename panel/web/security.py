"""The studio's guards, in one ASGI middleware and one form check:

- a token on every request when the server listens beyond loopback (`?token=` once, then an
  HttpOnly SameSite=Strict cookie); on loopback, Starlette's TrustedHostMiddleware refuses a
  Host that is not a loopback name (no DNS rebinding), see `trusted_hosts`;
- a CSRF token on every state-changing request (a form field or the X-CSRF-Token header), one
  per browser session (an HttpOnly SameSite=Strict session cookie the token is derived from),
  and an Origin that must be this server;
- the rendered page's Content-Security-Policy, widened only by 'self' for the studio's own
  script, styles, forms and event stream; nosniff, no referrer to other sites (a same-origin one keeps the Origin header honest), no framing by others;
- request bodies capped in size.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import math
import re
import secrets
import time
from contextvars import ContextVar
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# The published page's policy (panel/templates/page.html.j2), as the preview is served.
PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"
STUDIO_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-src 'self'; base-uri 'none'; frame-ancestors 'none'"
)
MAX_BODY_BYTES = 256 * 1024
TOKEN_COOKIE = "panel_studio_token"
SESSION_COOKIE = "panel_studio_session"
SESSION_SHAPE = re.compile(r"[A-Za-z0-9_-]{32}")
# The browser session of the request being answered, set by the middleware for the pages and
# the form check of that request.
CURRENT_SESSION: ContextVar[str] = ContextVar("panel_studio_session", default="")
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
# Characters that stand for themselves in a URL's query (RFC 3986 "unreserved"): a token made
# of them works in the URL `panel serve` prints, in the cookie and in a Bearer header alike.
URL_SAFE_TOKEN = re.compile(r"[A-Za-z0-9._~-]+")
MIN_DISTINCT_TOKEN_CHARS = 6
# Wrong tokens a client address may send per window before every request from it is refused
# until the window has passed (the right token included: guessing must not pay).
WRONG_TOKENS_ALLOWED = 10
WRONG_TOKEN_WINDOW_SECONDS = 60.0
MAX_TRACKED_CLIENTS = 10_000


def token_weakness(token: str) -> str | None:
    """Why a token is easy to guess (few distinct characters, a repeated block, a run such as
    `abcdefgh` or `12345678` over half of it), or None."""
    if len(set(token)) < MIN_DISTINCT_TOKEN_CHARS:
        return f"fewer than {MIN_DISTINCT_TOKEN_CHARS} different characters"
    for size in range(1, len(token) // 2 + 1):
        if len(token) % size == 0 and token[:size] * (len(token) // size) == token:
            return f"{token[:size]!r} repeated"
    longest = run = 1
    previous = 0
    for before, after in zip(token, token[1:], strict=False):
        step = ord(after) - ord(before)
        run = run + 1 if step in (1, -1) and step == previous else 2 if step in (1, -1) else 1
        longest, previous = max(longest, run), step
    if longest * 2 >= len(token):
        return "a run of consecutive characters"
    return None


@dataclass
class WrongTokens:
    """Wrong tokens seen per client address, to slow down guessing."""

    seen: dict[str, list[float]] = field(default_factory=dict)

    def recent(self, client: str, now: float) -> list[float]:
        times = [moment for moment in self.seen.get(client, []) if now - moment < WRONG_TOKEN_WINDOW_SECONDS]
        if times:
            self.seen[client] = times
        else:
            self.seen.pop(client, None)
        return times

    def blocked_for(self, client: str, now: float) -> float:
        """Seconds until this client may try again (0: it may)."""
        times = self.recent(client, now)
        if len(times) < WRONG_TOKENS_ALLOWED:
            return 0.0
        return WRONG_TOKEN_WINDOW_SECONDS - (now - times[-WRONG_TOKENS_ALLOWED])

    def add(self, client: str, now: float) -> None:
        if client not in self.seen and len(self.seen) >= MAX_TRACKED_CLIENTS:
            for known in list(self.seen):
                self.recent(known, now)
            if len(self.seen) >= MAX_TRACKED_CLIENTS:
                self.seen.pop(next(iter(self.seen)))
        self.seen[client] = [*self.seen.get(client, []), now][-WRONG_TOKENS_ALLOWED:]


class CsrfRefused(Exception):
    """A state-changing request without this server's CSRF token."""


@dataclass
class Guard:
    """What the middleware checks against: the access token (None on loopback) and the
    secret the CSRF token derives from."""

    token: str | None
    port: int = 0
    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    wrong_tokens: WrongTokens = field(default_factory=WrongTokens)

    def csrf_for(self, session: str) -> str:
        return hmac.new(self.secret, b"csrf:" + session.encode(), hashlib.sha256).hexdigest()

    @property
    def csrf_token(self) -> str:
        """The CSRF token of the browser session whose request is being answered."""
        return self.csrf_for(CURRENT_SESSION.get())

    def check_form(self, form: FormData, request: Request) -> None:
        sent = str(form.get("csrf") or request.headers.get("x-csrf-token") or "")
        if not hmac.compare_digest(sent, self.csrf_token):
            raise CsrfRefused(
                "This form is stale or did not come from the studio (CSRF check); nothing was "
                "saved. Go back, reload the page, and make the change again."
            )


def header(scope: Scope, name: bytes) -> str:
    return next((value.decode("latin-1") for key, value in scope["headers"] if key == name), "")


def is_loopback(address: str) -> bool:
    """True for `localhost` and any loopback IP (127.0.0.0/8, ::1), bracketed or not."""
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address.strip("[]")).is_loopback
    except ValueError:
        return False


LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]")


def trusted_hosts(bind: str, token: str | None) -> list[str]:
    """The Host names TrustedHostMiddleware lets in: with a token, any (the token guards the
    door); on loopback, the loopback names and the address the studio is bound to, so that a
    page on another site that resolves its own name to 127.0.0.1 (DNS rebinding) is refused."""
    if token is not None:
        return ["*"]
    bound = f"[{bind.strip('[]')}]" if ":" in bind else bind
    return sorted({*LOOPBACK_HOSTS, bound})


def cookie_value(scope: Scope, name: str) -> str:
    """One cookie's value, or "" (absent, or a malformed cookie header)."""
    cookies = SimpleCookie()
    try:
        cookies.load(header(scope, b"cookie"))
    except Exception:  # noqa: BLE001 - a malformed cookie header holds nothing
        return ""
    morsel = cookies.get(name)
    return morsel.value if morsel else ""


def cookie_token(scope: Scope) -> str:
    return cookie_value(scope, TOKEN_COOKIE)


def cookie_session(scope: Scope) -> str:
    """The session cookie's value when it has the shape this server gives out, else ""."""
    value = cookie_value(scope, SESSION_COOKIE)
    return value if SESSION_SHAPE.fullmatch(value) else ""


class StudioGuard:
    """ASGI middleware applying the Guard to every HTTP request."""

    def __init__(self, app: ASGIApp, guard: Guard) -> None:
        self.app, self.guard = app, guard

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        session = cookie_session(scope)
        if not session:
            session = secrets.token_urlsafe(24)
            scope = {**scope, "new_session": session}
        CURRENT_SESSION.set(session)
        refusal = self.refusal(scope)
        if refusal is not None:
            await self.with_headers(refusal, scope)(scope, receive, send)
            return
        length = header(scope, b"content-length")
        if length.isdigit() and int(length) > MAX_BODY_BYTES:
            await self.with_headers(too_large(), scope)(scope, receive, send)
            return
        await self.app(scope, capped(receive), self.send_with_headers(send, scope))

    def refusal(self, scope: Scope) -> Response | None:
        if self.guard.token is not None:
            client, now = (scope.get("client") or ("unknown",))[0], time.monotonic()
            wait = math.ceil(self.guard.wrong_tokens.blocked_for(client, now))
            if wait > 0:
                return PlainTextResponse(
                    f"Too many wrong access tokens from {client}: this studio refuses it for "
                    f"{wait} more seconds. Then open the URL that `panel serve` printed.",
                    429,
                    headers={"retry-after": str(wait)},
                )
            query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
            given = (
                query.get("token")
                or cookie_token(scope)
                or header(scope, b"authorization").removeprefix("Bearer ")
            )
            if not hmac.compare_digest(given.encode(), self.guard.token.encode()):
                if given:  # no token at all guesses nothing (a first visit, a bare URL)
                    self.guard.wrong_tokens.add(client, now)
                return PlainTextResponse(
                    "This studio needs its access token: open the URL that `panel serve` printed.", 401
                )
            if "token" in query and scope["method"] in SAFE_METHODS:
                rest = urlencode({key: value for key, value in query.items() if key != "token"})
                response = RedirectResponse(scope["path"] + (f"?{rest}" if rest else ""), 303)
                response.set_cookie(TOKEN_COOKIE, self.guard.token, httponly=True, samesite="strict")
                return response
        if scope["method"] not in SAFE_METHODS:
            origin = header(scope, b"origin")
            if origin and urlsplit(origin).netloc != header(scope, b"host"):
                return PlainTextResponse("Refused: this request came from another site (Origin check).", 403)
        return None

    def with_headers(self, response: Response, scope: Scope) -> ASGIApp:
        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            await response(scope, receive, self.send_with_headers(send, scope))

        return app

    def send_with_headers(self, send: Send, scope: Scope) -> Send:
        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k != b"content-security-policy"]
                csp = next(
                    (v for k, v in message.get("headers", []) if k == b"content-security-policy"), None
                )
                headers += [
                    (b"content-security-policy", csp or STUDIO_CSP.encode()),
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"same-origin"),
                    (b"cache-control", b"no-store"),
                ]
                if "new_session" in scope:
                    cookie = f"{SESSION_COOKIE}={scope['new_session']}; Path=/; HttpOnly; SameSite=Strict"
                    headers.append((b"set-cookie", cookie.encode()))
                message = {**message, "headers": headers}
            await send(message)

        return sending


def too_large() -> Response:
    return PlainTextResponse(f"Request body over {MAX_BODY_BYTES // 1024} KiB: refused.", 413)


class BodyTooLarge(Exception):
    pass


def capped(receive: Receive) -> Receive:
    """Count the body as it arrives, for requests that send no Content-Length."""
    seen = {"bytes": 0}

    async def receiving() -> Message:
        message: Any = await receive()
        if message["type"] == "http.request":
            seen["bytes"] += len(message.get("body", b""))
            if seen["bytes"] > MAX_BODY_BYTES:
                raise BodyTooLarge
        return message

    return receiving
