"""An in-process Tradier market-data server (feeds.md §2.7).

REST: ``POST /v1/markets/events/session`` (Bearer token; ids expire 5 minutes after issue
unless used, only the newest session is valid and creating one ends the streams of older ones),
``GET /v1/markets/options/expirations`` and ``/chains`` with Tradier's list collapse, nulls and
``mid_iv`` 0.0 next to ``smv_vol``, rate-limit headers and 429s.

Streams on ``/v1/markets/events``: a websocket (waits for the JSON subscription, validates the
session id and symbols, answers ``{"error": ...}``, replaces the symbol set on every payload)
and HTTP streaming (GET query or POST form; chunked newline-delimited JSON; closed after
``http_idle_close_s`` without data). Payloads use Tradier's exact mixed types and honour
``filter`` and ``linebreak``.

Faults: TCP drop, close with a code, a stall (no data and no PONGs), session expiry, a session
created elsewhere, raw frames, frames over a size limit (1009).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import itertools
import json
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web
from aiohttp.test_utils import TestServer

from tests.fakes.common import FaultsMixin, Signal

SESSION_TTL_S = 300.0
_VALID = re.compile(r"^(SPX|VIX|VIX3M|VIX9D|[A-Z]{1,6}\d{6}[CP]\d{8})$")


@dataclass
class Stream:
    kind: str  # "ws" | "http"
    session_id: str
    send: Callable[[str], Awaitable[None]]
    close: Callable[[], Awaitable[None]]
    transport: Any
    symbols: set[str] = field(default_factory=set)
    filter: set[str] | None = None
    linebreak: bool = False
    payloads: list[dict[str, Any]] = field(default_factory=list)
    closed: bool = False
    last_data: float = 0.0
    ws: web.WebSocketResponse | None = None


class FakeTradier(FaultsMixin):
    def __init__(
        self, *, token: str = "tradier-token", max_frame_bytes: int = 0,
        http_idle_close_s: float = 900.0, rate_limit: int | None = None,
        rate_window_s: float = 60.0,
    ) -> None:
        self.token = token
        self.max_frame_bytes = max_frame_bytes
        self.http_idle_close_s = http_idle_close_s
        self.rate_limit = rate_limit
        self.rate_window_s = rate_window_s
        self.sessions: dict[str, float] = {}
        """Session id -> loop time created."""
        self.current_session: str | None = None
        self.used: dict[str, Stream] = {}
        self.streams: list[Stream] = []
        self.session_requests = 0
        self.websocket_available = True
        self.pings = 0
        self.rest_requests: list[str] = []
        self.stalled = False
        self.changed = Signal()
        self.chains: dict[dt.date, list[dict[str, Any]]] = {}
        self._window: tuple[float, int] = (0.0, 0)
        self._ids = itertools.count(1)
        self._server: TestServer | None = None
        self.app = web.Application()
        self.app.router.add_post("/v1/markets/events/session", self._create_session)
        self.app.router.add_route("*", "/v1/markets/events", self._events)
        self.app.router.add_get("/v1/markets/options/expirations", self._expirations)
        self.app.router.add_get("/v1/markets/options/chains", self._chains)

    async def start(self) -> None:
        self._server = TestServer(self.app, host="127.0.0.1")
        await self._server.start_server()

    async def close(self) -> None:
        for s in self.live:
            await self._end(s)
        if self._server is not None:
            await self._server.close()

    @property
    def api_url(self) -> str:
        assert self._server is not None
        return str(self._server.make_url("")).rstrip("/")

    @property
    def ws_url(self) -> str:
        return self.api_url.replace("http://", "ws://") + "/v1/markets/events"

    @property
    def live(self) -> list[Stream]:
        return [s for s in self.streams if not s.closed]

    async def wait_for(self, predicate: Any, within_s: float = 5.0) -> None:
        await self.changed.wait_for(predicate, within_s)

    # --- REST --------------------------------------------------------------------------

    def _auth_error(self, request: web.Request) -> web.Response | None:
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return web.Response(status=401, text="Invalid Access Token")
        return None

    def _rate_limited(self) -> web.Response | None:
        if self.rate_limit is None:
            return None
        now = time.time()
        start, used = self._window
        if now - start >= self.rate_window_s:
            start, used = now, 0
        used += 1
        self._window = (start, used)
        expiry_ms = str(int((start + self.rate_window_s) * 1000))
        headers = {"X-Ratelimit-Allowed": str(self.rate_limit), "X-Ratelimit-Used": str(used),
                   "X-Ratelimit-Available": str(max(0, self.rate_limit - used)),
                   "X-Ratelimit-Expiry": expiry_ms}
        if used > self.rate_limit:
            return web.Response(status=429, text="Quota Violation", headers=headers)
        return None

    async def _create_session(self, request: web.Request) -> web.Response:
        if (denied := self._auth_error(request)) is not None:
            return denied
        self.session_requests += 1
        session_id = f"session-{next(self._ids)}"
        self.sessions[session_id] = asyncio.get_running_loop().time()
        self.current_session = session_id
        for stream in self.live:  # one session at a time: older streams end
            if stream.session_id != session_id:
                await self._end(stream)
        self.changed.notify()
        url = self.api_url + "/v1/markets/events"
        return web.json_response({"stream": {"url": url, "sessionid": session_id}})

    def _session_error(self, session_id: str | None, stream: Stream | None) -> str | None:
        if session_id is None or session_id not in self.sessions:
            return "Session is invalid"
        if session_id != self.current_session:
            return "Session is no longer valid: a newer session was created"
        owner = self.used.get(session_id)
        if owner is not None and owner is not stream:
            return "Session is already in use"
        age = asyncio.get_running_loop().time() - self.sessions[session_id]
        if owner is None and age > SESSION_TTL_S:
            return "Session has expired"
        return None

    async def _expirations(self, request: web.Request) -> web.Response:
        self.rest_requests.append(f"expirations {request.query_string}")
        if (denied := self._auth_error(request) or self._rate_limited()) is not None:
            return denied
        dates = sorted(self.chains)
        if not dates:
            return web.json_response({"expirations": None})
        if request.query.get("strikes") == "true":
            items = [{"date": d.isoformat(), "strikes": {"strike": _collapse(
                sorted({r["strike"] for r in self.chains[d]}))}} for d in dates]
            return web.json_response({"expirations": {"expiration": _collapse(items)}})
        return web.json_response(
            {"expirations": {"date": _collapse([d.isoformat() for d in dates])}})

    async def _chains(self, request: web.Request) -> web.Response:
        self.rest_requests.append(f"chains {request.query_string}")
        if (denied := self._auth_error(request) or self._rate_limited()) is not None:
            return denied
        rows = self.chains.get(dt.date.fromisoformat(request.query["expiration"]), [])
        if request.query.get("greeks") != "true":
            rows = [{k: v for k, v in r.items() if k != "greeks"} for r in rows]
        return web.json_response({"options": {"option": _collapse(rows)} if rows else None})

    def add_chain(self, root: str, expiry: dt.date, strikes: list[float]) -> None:
        """List calls and puts of ``root`` at ``strikes``, Tradier-shaped, with some nulls."""
        for k in strikes:
            for right, kind in (("C", "call"), ("P", "put")):
                sym = f"{root}{expiry:%y%m%d}{right}{round(k * 1000):08d}"
                self.chains.setdefault(expiry, []).append({
                    "symbol": sym, "description": f"{root} {expiry} {k} {kind}",
                    "exch": "Z", "type": "option", "last": None, "change": None,
                    "volume": 0, "open": None, "high": None, "low": None, "close": None,
                    "bid": 1.1, "ask": 1.3, "underlying": "SPX", "strike": k,
                    "change_percentage": None, "average_volume": 0, "last_volume": 0,
                    "trade_date": 0, "prevclose": None, "week_52_high": 0.0,
                    "week_52_low": 0.0, "bidsize": 10, "bidexch": "C", "bid_date": 0,
                    "asksize": 12, "askexch": "C", "ask_date": 0, "open_interest": 0,
                    "contract_size": 100, "expiration_date": expiry.isoformat(),
                    "expiration_type": "weeklys" if root.endswith("W") else "standard",
                    "option_type": kind, "root_symbol": root,
                    "greeks": {"delta": 0.5, "gamma": 0.001, "theta": -1.2, "vega": 3.1,
                               "rho": 0.2, "phi": -0.2, "bid_iv": 0.0, "mid_iv": 0.0,
                               "ask_iv": 0.0, "smv_vol": 0.187,
                               "updated_at": "2026-11-23 14:59:28"},
                })

    # --- streams -----------------------------------------------------------------------

    async def _events(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("Upgrade", "").lower() == "websocket":
            if not self.websocket_available:
                return web.Response(status=404, text="Not Found")
            return await self._ws(request)
        return await self._http(request)

    async def _ws(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(autoping=False, max_msg_size=self.max_frame_bytes)
        await ws.prepare(request)
        stream = Stream("ws", "", ws.send_str, ws.close, request.transport, ws=ws)
        self.streams.append(stream)
        self.changed.notify()
        try:
            async for msg in ws:
                if msg.type is WSMsgType.PING:
                    if not self.stalled:
                        await ws.pong(msg.data)
                    self.pings += 1
                    self.changed.notify()
                elif msg.type is WSMsgType.TEXT:
                    await self._on_payload(stream, json.loads(msg.data))
        finally:
            stream.closed = True
            self.changed.notify()
        return ws

    async def _on_payload(self, stream: Stream, payload: dict[str, Any]) -> None:
        stream.payloads.append(payload)
        session_id = payload.get("sessionid")
        if (error := self._session_error(session_id, stream)) is not None:
            await self._send(stream, {"error": error}, force=True)
            await self._end(stream)
            return
        assert session_id is not None
        self.used[session_id] = stream
        stream.session_id = session_id
        self._configure(stream, payload.get("symbols", []), payload.get("filter"),
                        bool(payload.get("linebreak")))
        for sym in payload.get("symbols", []):
            if not _VALID.match(sym):
                await self._send(stream, {"error": f"{sym} is not a valid symbol"}, force=True)
        self.changed.notify()

    @staticmethod
    def _configure(stream: Stream, symbols: list[str], filters: list[str] | None,
                   linebreak: bool) -> None:
        stream.symbols = {s for s in symbols if _VALID.match(s)}
        stream.filter = set(filters) if filters else None
        stream.linebreak = linebreak

    async def _http(self, request: web.Request) -> web.StreamResponse:
        params = dict(request.query)
        if request.method == "POST":
            params.update({k: str(v) for k, v in (await request.post()).items()})
        session_id = params.get("sessionid")
        if (error := self._session_error(session_id, None)) is not None:
            return web.json_response({"error": error}, status=400)
        resp = web.StreamResponse()
        resp.enable_chunked_encoding()
        resp.content_type = "application/json"
        await resp.prepare(request)

        async def send(text: str) -> None:
            await resp.write(text.encode())

        done = asyncio.Event()

        async def close() -> None:
            done.set()

        stream = Stream("http", session_id or "", send, close, request.transport)
        stream.payloads.append(params)
        self._configure(stream, params.get("symbols", "").split(","),
                        params["filter"].split(",") if params.get("filter") else None,
                        params.get("linebreak") == "true")
        self.used[stream.session_id] = stream
        self.streams.append(stream)
        stream.last_data = asyncio.get_running_loop().time()
        self.changed.notify()
        try:
            await self._idle_watch(stream, done)
        finally:
            stream.closed = True
            self.changed.notify()
        with contextlib.suppress(ConnectionResetError, RuntimeError):
            await resp.write_eof()
        return resp

    async def _idle_watch(self, stream: Stream, done: asyncio.Event) -> None:
        """End the HTTP stream when it carried no data for ``http_idle_close_s``."""
        while not done.is_set():
            now = asyncio.get_running_loop().time()
            remaining = stream.last_data + self.http_idle_close_s - now
            if remaining <= 0:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), remaining)

    async def _send(self, stream: Stream, obj: dict[str, Any] | str, *,
                    force: bool = False) -> None:
        if stream.closed or (self.stalled and not force):
            return
        text = obj if isinstance(obj, str) else json.dumps(obj, separators=(",", ":"))
        if stream.linebreak:
            text += "\n"
        with contextlib.suppress(ConnectionResetError, RuntimeError):
            await stream.send(text)
        stream.last_data = asyncio.get_running_loop().time()

    async def _end(self, stream: Stream) -> None:
        stream.closed = True
        with contextlib.suppress(ConnectionResetError, RuntimeError):
            await stream.close()
        self.changed.notify()

    # --- data out ----------------------------------------------------------------------

    async def _publish(self, event: dict[str, Any]) -> None:
        for stream in self.live:
            wanted = stream.filter is None or event["type"] in stream.filter
            if wanted and event["symbol"] in stream.symbols:
                await self._send(stream, event)

    async def quote(self, symbol: str, bid: float, ask: float, bidsz: int = 10,
                    asksz: int = 10, date_ms: int | None = None) -> None:
        """Numbers for prices and sizes, epoch-ms strings for dates (Tradier's types)."""
        date = str(date_ms if date_ms is not None else int(time.time() * 1000))
        await self._publish({
            "type": "quote", "symbol": symbol, "bid": bid, "bidsz": bidsz, "bidexch": "C",
            "biddate": date, "ask": ask, "asksz": asksz, "askexch": "C", "askdate": date,
        })

    async def trade(self, symbol: str, price: float, size: int = 1,
                    date_ms: int | None = None) -> None:
        """Strings for every number (Tradier's types)."""
        date = str(date_ms if date_ms is not None else int(time.time() * 1000))
        await self._publish({
            "type": "trade", "symbol": symbol, "exch": "C", "price": str(price),
            "size": str(size), "cvol": "27978993", "date": date, "last": str(price),
        })

    async def summary(self, symbol: str, *, open_: float, high: float, low: float,
                      prev_close: float, close: float | None = None) -> None:
        event = {"type": "summary", "symbol": symbol, "open": str(open_), "high": str(high),
                 "low": str(low), "prevClose": str(prev_close)}
        if close is not None:
            event["close"] = str(close)
        await self._publish(event)

    # --- faults ------------------------------------------------------------------------


    async def expire_sessions(self) -> None:
        """Every session id becomes invalid and its stream ends."""
        self.sessions.clear()
        for stream in self.live:
            await self._end(stream)

    async def create_session_elsewhere(self) -> None:
        """Another client with the same token opens a session (ours ends)."""
        session_id = f"session-{next(self._ids)}"
        self.sessions[session_id] = asyncio.get_running_loop().time()
        self.current_session = session_id
        for stream in self.live:
            await self._end(stream)

    async def send_raw(self, text: str | bytes) -> None:
        for stream in self.live:
            if isinstance(text, bytes):
                assert stream.ws is not None
                await stream.ws.send_bytes(text)
            else:
                await self._send(stream, text, force=True)


def _collapse(items: list[Any]) -> Any:
    """Tradier's XML-to-JSON mapping: one element is returned bare."""
    return items[0] if len(items) == 1 else items
