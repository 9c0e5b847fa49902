"""Shared test plumbing for the venue fakes: a recording sink, waiting on conditions, serving."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

from adapters.base import FeedAdapter, SubscriptionSource
from monitor.model import Quote

WAIT_S = 5.0


class Signal:
    """Something changed; ``wait_for`` re-checks a predicate after every ``notify``."""

    def __init__(self) -> None:
        self._waiters: set[asyncio.Future[None]] = set()

    def notify(self) -> None:
        for fut in self._waiters:
            if not fut.done():
                fut.set_result(None)
        self._waiters.clear()

    async def wait_for(self, predicate: Callable[[], object], within_s: float = WAIT_S) -> None:
        async with asyncio.timeout(within_s):
            while not predicate():
                fut = asyncio.get_running_loop().create_future()
                self._waiters.add(fut)
                try:
                    await fut
                finally:
                    self._waiters.discard(fut)


class RecordingSink:
    """A QuoteSink that keeps everything; close ``gate`` to make it a slow consumer."""

    def __init__(self) -> None:
        self.batches: list[list[Quote]] = []
        self.latest: dict[str, Quote] = {}
        self.gate = asyncio.Event()
        self.gate.set()
        self.changed = Signal()

    async def publish(self, feed: str, quotes: Sequence[Quote]) -> None:
        await self.gate.wait()
        self.batches.append(list(quotes))
        for q in quotes:
            self.latest[q.sym] = q
        self.changed.notify()

    @property
    def quotes(self) -> list[Quote]:
        return [q for batch in self.batches for q in batch]

    async def wait_for(self, predicate: Callable[[], object], within_s: float = WAIT_S) -> None:
        await self.changed.wait_for(predicate, within_s)

    async def wait_quote(self, sym: str, within_s: float = WAIT_S, **fields: object) -> Quote:
        """Wait until the latest quote of ``sym`` has the given field values."""

        def matches() -> bool:
            q = self.latest.get(sym)
            return q is not None and all(getattr(q, k) == v for k, v in fields.items())

        await self.wait_for(matches, within_s)
        return self.latest[sym]


@contextlib.asynccontextmanager
async def running(
    feed: FeedAdapter, sink: RecordingSink, subscriptions: SubscriptionSource,
) -> AsyncIterator[asyncio.Task[None]]:
    """Run the feed for the body of the ``async with``; fail if it died on its own."""
    task = asyncio.create_task(feed.run(sink, subscriptions))
    try:
        yield task
        if task.done():
            task.result()
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


class FaultsMixin:
    """The faults every streaming fake offers: a silent stall, and a TCP drop of every socket.

    The fake provides ``live`` (open connections with ``closed`` and ``transport``),
    ``stalled`` and ``changed``.
    """

    stalled: bool
    changed: Signal

    @property
    def live(self) -> Sequence[Any]:
        raise NotImplementedError

    def stall(self) -> None:
        """Keep sockets open but send nothing and answer nothing (not even keepalives)."""
        self.stalled = True

    def resume(self) -> None:
        self.stalled = False

    def drop_all(self) -> None:
        """Cut every connection at the TCP level, without a close frame."""
        for conn in self.live:
            conn.closed = True
            if conn.transport is not None:
                conn.transport.abort()
        self.changed.notify()


class ServedApp:
    """An aiohttp app served on loopback for a test, with websocket connections it closes first.

    A fake sets ``self.app`` and ``self.conns`` (objects with a ``ws``) and calls
    ``ServedApp.__init__``; ``start``/``close`` and the URLs are then shared."""

    app: web.Application
    conns: list[Any]

    def __init__(self) -> None:
        self._server: TestServer | None = None

    async def start(self) -> None:
        self._server = TestServer(self.app, host="127.0.0.1")
        await self._server.start_server()

    async def close(self) -> None:
        for conn in self.conns:
            await conn.ws.close()
        if self._server is not None:
            await self._server.close()

    @property
    def api_url(self) -> str:
        assert self._server is not None
        return str(self._server.make_url("")).rstrip("/")

    def ws_url(self, path: str) -> str:
        return self.api_url.replace("http://", "ws://") + path


class BrokerFake(FaultsMixin, ServedApp):
    """The state every fake broker account server keeps: its routes' app, the REST requests
    seen, the streaming connections, and the faults (``down``: REST answers 503; ``deliver``
    False: notifications are held back; ``stalled``: sockets go silent)."""

    def __init__(self) -> None:
        ServedApp.__init__(self)
        self.app = web.Application()
        self.requests: list[tuple[str, str]] = []
        """(method, path) of every REST request."""
        self.conns = []
        self.down = False
        self.deliver = True
        self.stalled = False
        self.changed = Signal()
        self._ids = itertools.count(1)
