"""The risk page's routes on a real listening socket: the token in front of the page, its stream
and the API; the session cookie (reads only); the event stream pushing the engine's news."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from prometheus_client import CollectorRegistry

from monitor.http import HttpPolicy, HttpServer, make_app, session_cookie
from monitor.web import routes
from monitor.web.hub import Hub

TOKEN = "page-token-for-the-http-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


class View:
    def __init__(self) -> None:
        self.hub = Hub()
        self.documents = 0

    def status(self) -> dict[str, Any]:
        return {"version": "test"}

    def snapshot(self) -> dict[str, Any] | None:
        return {"ts_ns": 1, "books": []}

    def ready(self) -> tuple[bool, str]:
        return True, "ok"

    async def reload(self) -> tuple[bool, str]:
        return True, "reloaded"

    def plan(self, book: str | None) -> tuple[int, dict[str, Any]]:
        return 200, {"book": book, "plan": None}

    async def set_baseline(self, body: bytes) -> tuple[int, dict[str, Any]]:
        return 200, {}

    def live(self) -> dict[str, Any] | None:
        self.documents += 1
        return {"version": self.hub.version}

    def risk_profile(self, book: str | None, structure: str | None) -> tuple[int, Any]:
        return (200, {"book": book}) if book else (400, {"error": "book required"})

    def alerts(self) -> dict[str, Any]:
        return self.hub.alerts_doc({})


@contextlib.asynccontextmanager
async def serving(policy: HttpPolicy) -> AsyncIterator[tuple[View, str]]:
    view = View()
    token = policy.token
    page = routes.routes(
        view, session_cookie=lambda: None if token is None else session_cookie(token),
        min_interval_s=0.0,
    )  # fmt: skip
    app = make_app(view, CollectorRegistry(), policy, extra_routes=page)
    app.on_shutdown.append(view.hub.close)
    server = HttpServer(app)
    await server.start("127.0.0.1", 0)
    try:
        yield view, f"http://127.0.0.1:{server.port}"
    finally:
        await server.close()


async def status_of(session: aiohttp.ClientSession, method: str, url: str, **kw: Any) -> int:
    async with session.request(method, url, allow_redirects=False, **kw) as resp:
        await resp.read()
        return resp.status


async def test_behind_a_token_the_page_redirects_to_login_and_its_stream_is_refused() -> None:
    async with serving(HttpPolicy(token=TOKEN, protect="api")) as (_, base), \
            aiohttp.ClientSession() as s:  # fmt: skip
        async with s.get(f"{base}/", allow_redirects=False) as resp:
            assert (resp.status, resp.headers["Location"]) == (303, "/login")
        assert await status_of(s, "GET", f"{base}/login") == 200
        assert await status_of(s, "GET", f"{base}/static/app.js") == 200
        assert await status_of(s, "GET", f"{base}/api/v1/events") == 401
        assert await status_of(s, "GET", f"{base}/api/v1/risk-profile?book=main") == 401


async def test_the_session_cookie_opens_the_page_and_reads_but_never_a_write() -> None:
    jar = aiohttp.CookieJar(unsafe=True)  # keep cookies of an IP address (127.0.0.1)
    async with serving(HttpPolicy(token=TOKEN, protect="api")) as (_, base), \
            aiohttp.ClientSession(cookie_jar=jar) as s:  # fmt: skip
        assert await status_of(s, "POST", f"{base}/api/v1/session", headers={
            "Authorization": "Bearer nope"}) == 401  # fmt: skip
        async with s.post(f"{base}/api/v1/session", headers=AUTH) as resp:
            assert resp.status == 200
            cookie = resp.cookies["vixmon_session"]
        assert cookie.value == session_cookie(TOKEN) and cookie.value != TOKEN
        assert cookie["httponly"] and cookie["samesite"] == "Strict"
        assert await status_of(s, "GET", f"{base}/") == 200
        assert await status_of(s, "GET", f"{base}/api/v1/snapshot") == 200
        assert await status_of(s, "POST", f"{base}/api/v1/reload", json={}) == 401


async def test_off_loopback_reads_need_the_token_even_when_protect_is_writes() -> None:
    policy = HttpPolicy(token=TOKEN, protect="writes", loopback=False)
    async with serving(policy) as (_, base), aiohttp.ClientSession() as s:
        assert await status_of(s, "GET", f"{base}/api/v1/snapshot") == 401
        assert await status_of(s, "GET", f"{base}/api/v1/snapshot", headers=AUTH) == 200
        assert await status_of(s, "GET", f"{base}/healthz") == 200


async def test_on_loopback_without_a_token_the_page_is_open() -> None:
    async with serving(HttpPolicy()) as (_, base), aiohttp.ClientSession() as s:
        async with s.get(f"{base}/") as resp:
            assert resp.status == 200 and "text/html" in resp.headers["Content-Type"]
            assert "default-src 'self'" in resp.headers["Content-Security-Policy"]
            assert "/static/app.js" in await resp.text()


async def read_event(resp: aiohttp.ClientResponse) -> dict[str, Any]:
    """Return the next ``state`` event's data (skipping ``retry`` and comments)."""
    fields: dict[str, str] = {}
    async for raw in resp.content:
        line = raw.decode().rstrip("\n")
        if not line:
            if fields.get("event") == "state":
                return dict(json.loads(fields["data"]))
            fields = {}
            continue
        name, _, value = line.partition(": ")
        fields[name] = value
    raise AssertionError("the stream ended")


async def test_the_event_stream_pushes_the_newest_state_after_each_evaluation() -> None:
    async with serving(HttpPolicy()) as (view, base), aiohttp.ClientSession() as s:
        view.hub.publish()
        async with s.get(f"{base}/api/v1/events") as resp:
            assert resp.headers["Content-Type"] == "text/event-stream"
            assert (await read_event(resp))["version"] == 1
            for _ in range(5):  # a burst of evaluations while the stream waits
                view.hub.publish()
            assert (await read_event(resp))["version"] == 6


async def test_closing_the_hub_ends_every_stream() -> None:
    async with serving(HttpPolicy()) as (view, base), aiohttp.ClientSession() as s:
        view.hub.publish()
        async with s.get(f"{base}/api/v1/events") as resp:
            await read_event(resp)
            await view.hub.close()
            assert await resp.content.read() == b""


def test_the_startup_log_names_an_address_a_browser_can_open() -> None:
    from monitor.app import page_url

    assert page_url("127.0.0.1", 9464) == "http://127.0.0.1:9464/"
    assert page_url("0.0.0.0", 9464) == "http://127.0.0.1:9464/"  # a wildcard bind: via loopback
    assert page_url("::1", 80) == "http://[::1]:80/"
