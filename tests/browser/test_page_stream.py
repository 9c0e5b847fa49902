"""The page's event stream in Chromium against an in-process server: when the server ends the
stream, EventSource reconnects by itself and the page goes live again."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from monitor.http import HttpPolicy, HttpServer, make_app
from monitor.web import routes
from tests.integration.httpapi.test_http_page import View

pytestmark = pytest.mark.slow
MAX_STREAM_S = 0.5


class Server:
    """The page's routes over a fake app, served from a thread of their own."""

    def __init__(self) -> None:
        self.view = View()
        self.loop = asyncio.new_event_loop()
        self.port = 0
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self.loop.run_until_complete, args=(self._main(),))

    async def _main(self) -> None:
        page = routes.routes(self.view, session_cookie=lambda: None, max_stream_s=MAX_STREAM_S)
        app = make_app(self.view, CollectorRegistry(), HttpPolicy(), extra_routes=page)
        app.on_shutdown.append(self.view.hub.close)
        server = HttpServer(app)
        await server.start("127.0.0.1", 0)
        self.port, self._stop = server.port, asyncio.Event()
        self._ready.set()
        await self._stop.wait()
        await server.close()

    def __enter__(self) -> Server:
        self._thread.start()
        assert self._ready.wait(30)
        return self

    def __exit__(self, *_exc: object) -> None:
        assert self._stop is not None
        self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)


@pytest.fixture
def server() -> Iterator[Server]:
    with Server() as s:
        yield s


def test_the_page_reconnects_when_the_stream_ends(chromium: Any, server: Server) -> None:
    context = chromium.new_context(viewport={"width": 1280, "height": 800})
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"http://127.0.0.1:{server.port}/")
        page.wait_for_selector("#conn[data-state='live']")
        # the stream lasts MAX_STREAM_S; the page then waits out ``retry`` and reconnects
        deadline_ms = 15_000
        page.wait_for_selector("#conn[data-state='reconnecting']", timeout=deadline_ms)
        page.wait_for_selector("#conn[data-state='live']", timeout=deadline_ms)
        assert server.view.hub.streams_opened >= 2
        assert errors == []
    finally:
        context.close()
