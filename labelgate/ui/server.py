"""The app's HTTP side (st.App in app.py): the HttpOnly session cookie, private downloads, closed endpoints.

Streamlit talks to the browser over one websocket, and a script cannot set a response header.
So the session cookie is set by a small route of our own: after a login the page POSTs a
one-time ticket (valid for a minute) to /_labelgate/session, and the answer sets the cookie
HttpOnly, so no page script can ever read the token; the token itself is never in the page.

Downloads (st.download_button) are files under /media/ that Streamlit serves to anyone holding
the URL. The middleware below serves them only with a valid session cookie of the user for
whom a page offered that very content (`offer_download`). /_stcore/metrics (which names the
cached functions) has no setting to turn it off, so the middleware answers it with 404.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time

from labelgate.store import Database
from labelgate.store.sessions import session_user

COOKIE_NAME = "labelgate_session"
SESSION_PATH = "_labelgate/session"
TICKET_SECONDS = 60.0
DOWNLOAD_SECONDS = 3600.0
CLOSED_PATHS = ("_stcore/metrics",)

_lock = threading.Lock()
_tickets: dict[str, tuple[str, int, float]] = {}  # ticket -> (token, cookie max-age, deadline)
_offers: dict[tuple[str, str], float] = {}  # (user name, sha256 of content) -> deadline


def issue_ticket(token: str, max_age: int) -> str:
    """A one-time ticket that the browser exchanges for the HttpOnly cookie holding `token`."""
    ticket = secrets.token_urlsafe(24)
    now = time.monotonic()
    with _lock:
        for key in [k for k, v in _tickets.items() if v[2] < now]:
            del _tickets[key]
        _tickets[ticket] = (token, max_age, now + TICKET_SECONDS)
    return ticket


def redeem_ticket(ticket: str) -> tuple[str, int] | None:
    """(token, max-age) for a ticket that is known and unexpired; it cannot be used again."""
    with _lock:
        entry = _tickets.pop(ticket, None)
    if entry is None or entry[2] < time.monotonic():
        return None
    return entry[0], entry[1]


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def offer_download(user_name: str, data: bytes) -> None:
    """Let `user_name` (and nobody else) fetch a download whose content is `data`, for an hour."""
    now = time.monotonic()
    with _lock:
        for key in [k for k, deadline in _offers.items() if deadline < now]:
            del _offers[key]
        _offers[(user_name, _digest(data))] = now + DOWNLOAD_SECONDS


def may_download(user_name: str, data: bytes) -> bool:
    with _lock:
        deadline = _offers.get((user_name, _digest(data)))
    return deadline is not None and deadline >= time.monotonic()


def _base_path() -> str:
    from streamlit import config

    base = (config.get_option("server.baseUrlPath") or "").strip("/")
    return f"/{base}/" if base else "/"


def _cookie_header(value: str, max_age: int, *, secure: bool) -> str:
    return (f"{COOKIE_NAME}={value}; Path={_base_path()}; Max-Age={max_age}; HttpOnly; SameSite=Strict"
            + ("; Secure" if secure else ""))


async def session_endpoint(request):
    """POST a ticket: set the session cookie. DELETE: clear it (the token is revoked at logout)."""
    from starlette.responses import Response

    secure = request.url.scheme == "https"
    if request.method == "DELETE":
        return Response(status_code=204, headers={"Set-Cookie": _cookie_header("", 0, secure=secure)})
    redeemed = redeem_ticket((await request.body()).decode("ascii", "replace").strip())
    if redeemed is None:
        return Response("unknown or expired ticket", status_code=403)
    token, max_age = redeemed
    return Response(status_code=204, headers={"Set-Cookie": _cookie_header(token, max_age, secure=secure),
                                              "Cache-Control": "no-store"})


def _cookie_token(scope) -> str | None:
    from starlette.requests import HTTPConnection

    return HTTPConnection(scope).cookies.get(COOKIE_NAME)


def _may_fetch_media(token: str | None, file_name: str) -> bool:
    """Media files only for a signed-in user; a download only for the user it was offered to."""
    from streamlit.runtime import Runtime
    from streamlit.runtime.media_file_storage import MediaFileKind

    user = session_user(Database(), token) if token else None
    if user is None:
        return False
    manager = Runtime.instance().media_file_mgr
    media = manager.read_file(file_name) if manager.can_read_files else None
    if media is None:
        return True  # nothing to leak: Streamlit answers 404
    return media.kind != MediaFileKind.DOWNLOADABLE or may_download(user.name, media.content)


class GuardMiddleware:
    """Pure ASGI middleware in front of Streamlit's routes (the websocket passes untouched)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        from starlette.concurrency import run_in_threadpool
        from starlette.responses import Response

        base = _base_path()
        path = scope["path"]
        rel = path[len(base):] if path.startswith(base) else None
        if rel is not None and (rel in CLOSED_PATHS or rel.startswith("_stcore/metrics/")):
            return await Response("Not Found", status_code=404)(scope, receive, send)
        if rel is not None and rel.startswith("media/"):
            allowed = await run_in_threadpool(_may_fetch_media, _cookie_token(scope), rel.removeprefix("media/"))
            if not allowed:
                return await Response("Not Found", status_code=404)(scope, receive, send)
        return await self.app(scope, receive, send)


def routes():
    from starlette.routing import Route

    return [Route(_base_path() + SESSION_PATH, session_endpoint, methods=["POST", "DELETE"])]


def middleware():
    from starlette.middleware import Middleware

    return [Middleware(GuardMiddleware)]


def before_first_session() -> None:
    """Serve every URL through app.py's st.navigation from the first visitor on.

    Until a process has run st.navigation once, Streamlit treats an app with a `pages/` folder
    the old way: a visitor opening /admin right after a restart ran pages/admin.py directly,
    with every page in the sidebar. st.navigation sets this same flag when it first runs.
    """
    from streamlit.runtime.pages_manager import PagesManager

    PagesManager.uses_pages_directory = False
