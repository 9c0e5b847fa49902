"""The risk page's HTTP routes: the page, its assets, the risk profile, alerts, the event stream.

- ``GET /``: the page (``read``: behind the token where the API is); ``GET /login``: a token
  form (``open``) that exchanges the token for a session cookie with ``POST /api/v1/session``;
  ``GET /static/NAME``: the page's script and style sheet (``open``: code, no data).
- ``GET /api/v1/risk-profile?book=NAME[&structure=CONDOR]``: ``monitor.web.profile``'s curves.
- ``GET /api/v1/alerts``: firing alerts and recent events.
- ``GET /api/v1/events``: Server-Sent Events. Each ``state`` event carries the whole page
  document (snapshot, profiles, plans, alerts, status), sent when the engine has evaluated,
  at most every ``min_interval_s`` per stream. EventSource reconnects by itself (``retry``);
  a stream ends after ``max_stream_s`` so the reconnection re-checks the credentials (a
  changed token locks out an open page within that time).

Assets ship as package data (``monitor/web/static``) and are read once with importlib.resources.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from importlib import resources
from typing import TYPE_CHECKING, Any, Protocol

import msgspec
import structlog
from aiohttp import web

from monitor.web.hub import Hub

if TYPE_CHECKING:
    from monitor.http import Access, Handler

log = structlog.get_logger(__name__)

STATIC = ("app.js", "style.css", "login.js")
_TYPES = {".js": "text/javascript", ".css": "text/css", ".html": "text/html"}
KEEPALIVE_S = 15.0
RETRY_MS = 2000
_encode = msgspec.json.Encoder().encode
_SECURITY = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


class WebView(Protocol):
    """What the page's routes may ask the running app."""

    hub: Hub

    def live(self) -> dict[str, Any] | None: ...

    def risk_profile(self, book: str | None, structure: str | None) -> tuple[int, Any]: ...

    def alerts(self) -> dict[str, Any]: ...


def asset(name: str) -> bytes:
    """Return a shipped asset's bytes (``monitor/web/static/NAME``)."""
    return resources.files("monitor.web").joinpath("static", name).read_bytes()


def _typed(name: str) -> str:
    return _TYPES[name[name.rfind(".") :]]


def routes(
    view: WebView,
    *,
    session_cookie: Callable[[], str | None],
    min_interval_s: float = 0.25,
    max_stream_s: float = 3600.0,
) -> list[tuple[str, str, Access, Handler]]:
    """Return (method, path, access level, handler) for ``monitor.http.make_app``.

    ``session_cookie``: the cookie value that stands for the token (None: no token set).
    """
    files = {name: asset(name) for name in (*STATIC, "index.html", "login.html")}
    cache: dict[str, Any] = {"version": -1, "body": b""}

    def page(name: str) -> Handler:
        async def handler(_req: web.Request) -> web.Response:
            return web.Response(body=files[name], content_type="text/html", headers=_SECURITY)

        return handler

    async def static(req: web.Request) -> web.Response:
        name = req.match_info["name"]
        if name not in STATIC:
            raise web.HTTPNotFound()
        return web.Response(body=files[name], headers={**_SECURITY, "Content-Type": _typed(name)})

    async def risk_profile(req: web.Request) -> web.Response:
        code, doc = view.risk_profile(req.query.get("book"), req.query.get("structure"))
        return web.Response(body=_encode(doc), status=code, content_type="application/json")

    async def alerts(_req: web.Request) -> web.Response:
        return web.Response(body=_encode(view.alerts()), content_type="application/json")

    async def session(_req: web.Request) -> web.Response:
        # the guard let this write through: the bearer token is valid (or none is configured)
        resp = web.json_response({"session": True})
        value = session_cookie()
        if value is not None:
            resp.set_cookie(
                "vixmon_session", value, httponly=True, samesite="Strict", path="/"
            )
        return resp

    def state_body(version: int) -> bytes:
        if cache["version"] != version:
            doc = view.live()
            cache["version"] = version
            cache["body"] = b"" if doc is None else _encode(doc)
        body: bytes = cache["body"]
        return body

    async def events(req: web.Request) -> web.StreamResponse:
        hub = view.hub
        if hub.streams >= hub.max_streams:
            return web.json_response({"error": "too many event streams"}, status=503)
        resp = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-store",
                "X-Accel-Buffering": "no",
            }
        )
        await resp.prepare(req)
        hub.streams += 1
        hub.streams_opened += 1
        try:
            await resp.write(f"retry: {RETRY_MS}\n\n".encode())
            await _stream(resp, hub, state_body, min_interval_s, max_stream_s)
        except (ConnectionResetError, asyncio.CancelledError):
            pass  # the client went away (aiohttp cancels the handler)
        finally:
            hub.streams -= 1
        return resp

    return [
        ("GET", "/", "read", page("index.html")),
        ("GET", "/login", "open", page("login.html")),
        ("GET", "/static/{name}", "open", static),
        ("GET", "/api/v1/risk-profile", "read", risk_profile),
        ("GET", "/api/v1/alerts", "read", alerts),
        ("GET", "/api/v1/events", "read", events),
        ("POST", "/api/v1/session", "write", session),
    ]


async def _stream(
    resp: web.StreamResponse,
    hub: Hub,
    body_of: Callable[[int], bytes],
    min_interval_s: float,
    max_stream_s: float,
) -> None:
    """Send the newest state whenever there is one, at most every ``min_interval_s``."""
    seen = -1
    ends = time.monotonic() + max_stream_s
    while not hub.closed and (left_s := ends - time.monotonic()) > 0:
        version = await hub.newer_than(seen, min(KEEPALIVE_S, left_s))
        if hub.closed:
            return
        if version is None:
            if time.monotonic() < ends:
                await resp.write(b": keep-alive\n\n")
            continue
        seen = version
        body = body_of(version)
        if body:
            await resp.write(b"id: %d\nevent: state\ndata: %s\n\n" % (version, body))
        # coalescing: cycles during the pause are folded into the next document
        await asyncio.sleep(min_interval_s)
