"""An in-process Cboe delayed-quotes CDN (feeds.md §3.5).

Serves ``/api/global/delayed_quotes/options/_X.json``, ``/api/global/delayed_quotes/quotes/_X.json``
and ``/us/futures/api/get_quotes_combined/`` from bodies the test sets (built from the fixtures
in tests/resources/cboe), with ``Cache-Control`` (default ``max-age=0, s-maxage=5``), ``ETag``
and 304 on ``If-None-Match``. Faults: 403s (optionally for any non-browser User-Agent), a hung
response, truncated bodies, going down and coming back on the same port.

``spx_file`` generates a full-size ``_SPX.json`` (30,000 contracts, about 14 MB).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from tests.fakes.common import Signal

RESOURCES = Path(__file__).resolve().parent.parent / "resources" / "cboe"
QUOTES_PREFIX = "/api/global/delayed_quotes"
FUTURES_PATH = "/us/futures/api/get_quotes_combined/"


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((RESOURCES / name).read_text())
    return data


@dataclass
class Request:
    path: str
    at: float
    headers: dict[str, str]
    status: int


class FakeCboe:
    def __init__(self, *, cache_control: str = "max-age=0, s-maxage=5",
                 browser_only: bool = False) -> None:
        self.cache_control = cache_control
        self.browser_only = browser_only
        self.bodies: dict[str, bytes] = {}
        self.requests: list[Request] = []
        self.forbid_next = 0
        self.arrivals: list[float] = []
        self.resets = 0
        self._outage: asyncio.Server | None = None
        self.truncate_next = 0
        self.hang = asyncio.Event()
        self.hang.set()
        self.changed = Signal()
        self.port = 0
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self.app = web.Application()
        self.app.router.add_get(QUOTES_PREFIX + "/{kind}/{name}.json", self._quotes)
        self.app.router.add_get(FUTURES_PATH, self._futures)

    async def start(self) -> None:
        if self.port == 0:
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                self.port = s.getsockname()[1]
        self._runner = web.AppRunner(self.app)
        await self._runner.setup()
        self._site = web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True)
        await self._site.start()

    async def close(self) -> None:
        self.hang.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def go_down(self) -> None:
        """Stop serving: every connection on the port is accepted and reset at once."""
        await self.close()

        async def reset(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.resets += 1
            writer.transport.abort()
            self.changed.notify()

        self._outage = await asyncio.start_server(reset, "127.0.0.1", self.port,
                                                  reuse_address=True)

    async def come_back(self) -> None:
        if self._outage is not None:
            self._outage.close()
            await self._outage.wait_closed()
            self._outage = None
        await self.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def cdn_url(self) -> str:
        return self.base_url + QUOTES_PREFIX

    @property
    def futures_url(self) -> str:
        return self.base_url + FUTURES_PATH + "?symbol=VX&rootsymbol=null"

    def set_json(self, path: str, data: dict[str, Any]) -> None:
        """Serve ``data`` at ``options/_SPX``, ``quotes/_VIX`` or ``futures``."""
        self.set_body(path, json.dumps(data).encode())

    def set_body(self, path: str, body: bytes) -> None:
        self.bodies[path] = body

    def served(self, path: str, status: int | None = None) -> list[Request]:
        return [r for r in self.requests if r.path == path
                and (status is None or r.status == status)]

    async def wait_for(self, predicate: Any, within_s: float = 5.0) -> None:
        await self.changed.wait_for(predicate, within_s)

    async def _quotes(self, request: web.Request) -> web.StreamResponse:
        path = f"{request.match_info['kind']}/{request.match_info['name']}"
        return await self._serve(request, path)

    async def _futures(self, request: web.Request) -> web.StreamResponse:
        if request.query.get("symbol") != "VX":
            return web.Response(status=404)
        return await self._serve(request, "futures")

    async def _serve(self, request: web.Request, path: str) -> web.StreamResponse:
        self.arrivals.append(asyncio.get_running_loop().time())
        self.changed.notify()
        await self.hang.wait()
        status, resp = self._respond(request, path)
        self.requests.append(Request(path, asyncio.get_running_loop().time(),
                                     dict(request.headers), status))
        self.changed.notify()
        return resp

    def _respond(self, request: web.Request, path: str) -> tuple[int, web.StreamResponse]:
        agent = request.headers.get("User-Agent", "")
        if self.forbid_next > 0 or (self.browser_only and "Mozilla" not in agent):
            self.forbid_next = max(0, self.forbid_next - 1)
            return 403, web.Response(status=403, text="<Error>AccessDenied</Error>")
        body = self.bodies.get(path)
        if body is None:
            return 404, web.Response(status=404)
        etag = '"' + hashlib.sha1(body).hexdigest() + '"'
        headers = {"Cache-Control": self.cache_control, "ETag": etag}
        if request.headers.get("If-None-Match") == etag:
            return 304, web.Response(status=304, headers=headers)
        if self.truncate_next > 0:
            self.truncate_next -= 1
            body = body[: len(body) // 2]
        return 200, web.Response(body=body, headers=headers, content_type="application/json")


def spx_file(n_contracts: int = 30_000, *, seed: int = 1, spot: float = 5915.0) -> bytes:
    """Generate a full-size ``_SPX.json``: SPX and SPXW across 57 expiries, every field."""
    rng = random.Random(seed)
    per_expiry = n_contracts // 57 // 2 * 2
    rows: list[str] = []
    for e in range(57):
        year, month, day = 2026 + (11 + e // 4) // 12, (11 + e // 4) % 12 + 1, 1 + (e % 4) * 7
        root = "SPX" if e % 3 == 0 else "SPXW"
        first = round(spot - per_expiry // 4 * 5)
        for i in range(per_expiry // 2):
            strike = first + 5 * i
            for right in "CP":
                rows.append(_row(rng, f"{root}{year % 100:02d}{month:02d}{day:02d}{right}"
                                      f"{strike * 1000:08d}", strike, spot, right))
    while len(rows) < n_contracts:
        rows.append(rows[len(rows) % 100])
    head = ('{"timestamp": "2026-11-23 21:15:07", "data": {"options": [')
    tail = ('], "symbol": "^SPX", "security_type": "index", "exchange_id": 5, '
            f'"current_price": {spot}, "bid": 5872.4, "ask": 5978.34, "bid_size": 1.0, '
            '"ask_size": 1.0, "last_trade_time": "2026-11-23T16:15:00", "tick": "up"}, '
            '"symbol": "_SPX"}')
    return (head + ", ".join(rows[:n_contracts]) + tail).encode()


def _row(rng: random.Random, sym: str, strike: float, spot: float, right: str) -> str:
    intrinsic = max(0.0, (spot - strike) if right == "C" else (strike - spot))
    mid = round(intrinsic + rng.uniform(0.05, 40.0), 2)
    traded = rng.random() < 0.7
    ltt = f'"2026-11-23T{rng.randint(9, 15):02d}:{rng.randint(0, 59):02d}:00"' if traded else "null"
    return (
        f'{{"option": "{sym}", "bid": {mid - 0.1:.2f}, "bid_size": {rng.randint(0, 200)}.0, '
        f'"ask": {mid + 0.1:.2f}, "ask_size": {rng.randint(1, 200)}.0, '
        f'"iv": {rng.uniform(0.08, 1.2):.4f}, "open_interest": {rng.randint(0, 50000)}.0, '
        f'"volume": {rng.randint(0, 9000)}.0, "delta": {rng.uniform(-1, 1):.4f}, '
        f'"gamma": {rng.uniform(0, 0.01):.4f}, "vega": {rng.uniform(0, 9):.4f}, '
        f'"theta": {-rng.uniform(0, 3):.4f}, "rho": {rng.uniform(-3, 3):.4f}, '
        f'"theo": {mid:.4f}, "change": {rng.uniform(-5, 5):.2f}, "open": 0.0, "high": 0.0, '
        f'"low": 0.0, "tick": "no_change", "last_trade_price": {mid if traded else 0.0}, '
        f'"last_trade_time": {ltt}, "percent_change": {rng.uniform(-50, 50):.4f}, '
        f'"prev_day_close": 0.0149999996647239}}'
    )
