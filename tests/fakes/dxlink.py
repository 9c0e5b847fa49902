"""An in-process tastytrade + DXLink server (feeds.md §1.11).

REST: ``POST /oauth/token``, ``GET /api-quote-tokens`` (its ``dxlink-url`` points at this
server's ``/realtime``), ``GET /instruments/futures``. Websocket: SETUP ⇄ SETUP, AUTH_STATE
UNAUTHORIZED, AUTH → AUTHORIZED (with a userId) or UNAUTHORIZED + close, CHANNEL_REQUEST →
CHANNEL_OPENED (+ subFormat LIST; ERROR UNAUTHORIZED before auth), FEED_SETUP → FEED_CONFIG
without eventFields, a lazy FEED_CONFIG with eventFields before the first data of each type,
FEED_SUBSCRIPTION add/remove/reset with a snapshot for newly added symbols, COMPACT FEED_DATA
aggregated per period (NaN strings, NUL exchange codes, Java-style exponents, several events per
values list, optionally several pairs per message), KEEPALIVE both ways with the client's
silence limit enforced (ERROR TIMEOUT + close).

Faults: token expiry (AUTH_STATE UNAUTHORIZED + close), 1009 on frames over a size limit, TCP
drop without a close frame, a silent stall, HTTP 502 on upgrade, unsolicited CHANNEL_CLOSED,
raw (malformed) frames.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import itertools
import json
import math
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from aiohttp import WSMsgType, web
from aiohttp.test_utils import TestServer

from tests.fakes.common import FaultsMixin, Signal

DEFAULT_FIELDS = {
    "eventTime": 0, "time": 0, "bidTime": 0, "askTime": 0, "sequence": 0, "timeNanoPart": 0,
    "bidExchangeCode": "\u0000", "askExchangeCode": "\u0000", "exchangeCode": "\u0000",
}


def java_double(x: float) -> str:
    """Format like Java's Double.toString (what dxFeed emits): 100.0, 559.36, 1.3743299E7."""
    if x != x:
        return '"NaN"'
    if math.isinf(x):
        return '"Infinity"' if x > 0 else '"-Infinity"'
    if x == 0 or 1e-3 <= abs(x) < 1e7:
        text = repr(float(x))
        return text if "e" not in text else f"{x:.10f}".rstrip("0")
    sign, digits, exp = Decimal(repr(x)).normalize().as_tuple()
    assert isinstance(exp, int)
    mantissa = "".join(map(str, digits))
    power = exp + len(mantissa) - 1
    return f"{'-' if sign else ''}{mantissa[0]}.{mantissa[1:] or '0'}E{power}"


def _tasty_symbol(streamer: str) -> str:
    """``/VXZ26:XCBF`` -> ``/VXZ6`` (tastytrade's own symbol has a 1-digit year)."""
    base = streamer.split(":")[0]
    return base[:-2] + base[-1]


def encode_value(v: Any) -> str:
    if isinstance(v, bool) or v is None:
        return json.dumps(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return java_double(v)
    return json.dumps(v)


def compact_data(groups: list[tuple[str, list[list[Any]]]]) -> str:
    """Encode ``[(type, [event values...])...]`` as the text of a COMPACT ``data`` array."""
    parts = []
    for event_type, events in groups:
        flat = ",".join(encode_value(v) for ev in events for v in ev)
        parts.append(f'"{event_type}",[{flat}]')
    return "[" + ",".join(parts) + "]"


@dataclass
class Conn:
    ws: web.WebSocketResponse
    n: int
    transport: Any = None
    authorized: bool = False
    token: str | None = None
    setup_done: bool = False
    client_keepalive_timeout_s: float = 60.0
    channels: dict[int, dict[str, list[str]]] = field(default_factory=dict)
    """Open channel -> accepted fields per event type."""
    announced: dict[int, set[str]] = field(default_factory=dict)
    subs: dict[int, set[tuple[str, str]]] = field(default_factory=dict)
    pending: dict[int, dict[tuple[str, str], dict[str, Any]]] = field(default_factory=dict)
    received: list[dict[str, Any]] = field(default_factory=list)
    last_rx: float = 0.0
    last_tx: float = 0.0
    closed: bool = False

    def types_received(self) -> list[str]:
        return [m.get("type", "?") for m in self.received]

    def count(self, msg_type: str) -> int:
        return sum(1 for m in self.received if m.get("type") == msg_type)


class FakeDxLink(FaultsMixin):
    def __init__(
        self, *, refresh_token: str = "refresh-good", client_secret: str = "secret-good",
        level: str = "api", token_ttl_s: float | None = None, announce_expiry: bool = True,
        max_frame_bytes: int = 0, keepalive_timeout_s: float = 60.0,
        server_keepalive_s: float | None = None, aggregation_s: float = 0.005,
        reverse_fields: bool = False, multi_pair: bool = False,
        futures: dict[dt.date, str] | None = None,
    ) -> None:
        self.refresh_token = refresh_token
        self.client_secret = client_secret
        self.level = level
        self.token_ttl_s = token_ttl_s
        self.announce_expiry = announce_expiry
        self.max_frame_bytes = max_frame_bytes
        self.keepalive_timeout_s = keepalive_timeout_s
        self.server_keepalive_s = server_keepalive_s
        self.aggregation_s = aggregation_s
        self.reverse_fields = reverse_fields
        self.multi_pair = multi_pair
        self.futures = futures or {}
        self.tokens: dict[str, float | None] = {}
        """Quote token -> loop time it expires (None: never)."""
        self.access_tokens: set[str] = set()
        self.rest_calls: list[str] = []
        self.conns: list[Conn] = []
        self.market: dict[tuple[str, str], dict[str, Any]] = {}
        self.stalled = False
        self.flushes = 0
        self.fail_upgrades = 0
        self.fail_quote_tokens = 0
        self.bad_expiry_tokens = 0
        """Answer this many quote-token requests with an unreadable ``expires-at``."""
        self.upgrade_failures = 0
        self.changed = Signal()
        self._ids = itertools.count(1)
        self._tasks: set[asyncio.Task[None]] = set()
        self._server: TestServer | None = None
        self.app = web.Application()
        self.app.router.add_post("/oauth/token", self._oauth)
        self.app.router.add_get("/api-quote-tokens", self._quote_token)
        self.app.router.add_get("/instruments/futures", self._futures)
        self.app.router.add_get("/realtime", self._ws)

    # --- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        self._server = TestServer(self.app, host="127.0.0.1")
        await self._server.start_server()

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.close()

    @property
    def api_url(self) -> str:
        assert self._server is not None
        return str(self._server.make_url("")).rstrip("/")

    @property
    def ws_url(self) -> str:
        return self.api_url.replace("http://", "ws://") + "/realtime"

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def wait_for(self, predicate: Any, within_s: float = 5.0) -> None:
        await self.changed.wait_for(predicate, within_s)

    @property
    def live(self) -> list[Conn]:
        return [c for c in self.conns if not c.closed]

    # --- REST --------------------------------------------------------------------------

    @staticmethod
    def _error(status: int, code: str, message: str) -> web.Response:
        return web.json_response({"error": {"code": code, "message": message}}, status=status)

    async def _oauth(self, request: web.Request) -> web.Response:
        self.rest_calls.append("oauth")
        body = await request.json()
        if (body.get("grant_type") != "refresh_token"
                or body.get("refresh_token") != self.refresh_token
                or body.get("client_secret") != self.client_secret):
            return self._error(401, "invalid_grant", "Grant is invalid")
        access = f"access-{next(self._ids)}"
        self.access_tokens.add(access)
        return web.json_response(
            {"access_token": access, "expires_in": 900, "token_type": "Bearer"})

    def _authorized(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        return header.startswith("Bearer ") and header[7:] in self.access_tokens

    async def _quote_token(self, request: web.Request) -> web.Response:
        self.rest_calls.append("api-quote-tokens")
        if self.fail_quote_tokens > 0:
            self.fail_quote_tokens -= 1
            return self._error(503, "service_unavailable", "try again")
        if not self._authorized(request):
            return self._error(401, "unauthorized", "Token is invalid or expired")
        token = f"quote-token-{next(self._ids)}"
        loop_now = asyncio.get_running_loop().time()
        expiry = None if self.token_ttl_s is None else loop_now + self.token_ttl_s
        self.tokens[token] = expiry
        data: dict[str, Any] = {"token": token, "dxlink-url": self.ws_url, "level": self.level}
        if self.announce_expiry and self.token_ttl_s is not None:
            when = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=self.token_ttl_s)
            data["expires-at"] = when.isoformat(timespec="milliseconds")
        if self.bad_expiry_tokens > 0:
            self.bad_expiry_tokens -= 1
            data["expires-at"] = "x"
        self.changed.notify()
        return web.json_response({"data": data, "context": "/api-quote-tokens"})

    async def _futures(self, request: web.Request) -> web.Response:
        self.rest_calls.append("instruments/futures")
        if not self._authorized(request):
            return self._error(401, "unauthorized", "Token is invalid or expired")
        items = [
            {"symbol": _tasty_symbol(s), "product-code": "VX",
             "expiration-date": d.isoformat(), "streamer-symbol": s}
            for d, s in sorted(self.futures.items())
        ]
        return web.json_response({"data": {"items": items}, "context": "/instruments/futures"})

    def token_valid(self, token: str | None) -> bool:
        if token is None or token not in self.tokens:
            return False
        expiry = self.tokens[token]
        return expiry is None or asyncio.get_running_loop().time() < expiry

    # --- websocket ---------------------------------------------------------------------

    async def _ws(self, request: web.Request) -> web.StreamResponse:
        if self.fail_upgrades > 0:
            self.fail_upgrades -= 1
            self.upgrade_failures += 1
            self.changed.notify()
            return web.Response(status=502, text="Bad Gateway")
        ws = web.WebSocketResponse(autoping=True, max_msg_size=self.max_frame_bytes)
        await ws.prepare(request)
        conn = Conn(ws, len(self.conns) + 1, request.transport)
        loop = asyncio.get_running_loop()
        conn.last_rx = conn.last_tx = loop.time()
        self.conns.append(conn)
        self.changed.notify()
        self._spawn(self._flusher(conn))
        self._spawn(self._watchdog(conn))
        try:
            async for msg in ws:
                if msg.type is not WSMsgType.TEXT:
                    continue
                conn.last_rx = loop.time()
                await self._on_message(conn, json.loads(msg.data))
        finally:
            conn.closed = True
            self.changed.notify()
        return ws

    async def send(self, conn: Conn, obj: dict[str, Any] | str) -> None:
        if conn.closed or conn.ws.closed or self.stalled:
            return
        text = obj if isinstance(obj, str) else json.dumps(obj)
        with contextlib.suppress(ConnectionResetError, RuntimeError):
            await conn.ws.send_str(text)
        conn.last_tx = asyncio.get_running_loop().time()

    async def _close(self, conn: Conn, code: int = 1000) -> None:
        conn.closed = True
        with contextlib.suppress(ConnectionResetError, RuntimeError):
            await conn.ws.close(code=code)
        self.changed.notify()

    async def _on_message(self, conn: Conn, msg: dict[str, Any]) -> None:
        conn.received.append(msg)
        self.changed.notify()
        kind, channel = msg.get("type"), msg.get("channel", 0)
        if not conn.setup_done and kind != "SETUP":
            await self.send(conn, {"type": "ERROR", "channel": 0, "error": "BAD_ACTION",
                                   "message": "SETUP expected"})
            return
        match kind:
            case "SETUP":
                await self._on_setup(conn, msg)
            case "AUTH":
                await self._on_auth(conn, msg.get("token"))
            case "CHANNEL_REQUEST":
                await self._on_channel_request(conn, channel, msg)
            case "CHANNEL_CANCEL":
                conn.channels.pop(channel, None)
                await self.send(conn, {"type": "CHANNEL_CLOSED", "channel": channel})
            case "FEED_SETUP":
                await self._on_feed_setup(conn, channel, msg)
            case "FEED_SUBSCRIPTION":
                await self._on_subscription(conn, channel, msg)
            case "KEEPALIVE" | "ERROR":
                pass
            case _:
                await self.send(conn, {"type": "ERROR", "channel": channel,
                                       "error": "INVALID_MESSAGE", "message": f"{kind}?"})

    async def _on_setup(self, conn: Conn, msg: dict[str, Any]) -> None:
        conn.setup_done = True
        conn.client_keepalive_timeout_s = float(msg.get("keepaliveTimeout") or 60.0)
        await self.send(conn, {
            "type": "SETUP", "channel": 0, "keepaliveTimeout": self.keepalive_timeout_s,
            "acceptKeepaliveTimeout": self.keepalive_timeout_s,
            "version": "1.0-1.2.1-fake",
        })
        await self.send(conn, {"type": "AUTH_STATE", "channel": 0, "state": "UNAUTHORIZED"})

    async def _on_auth(self, conn: Conn, token: str | None) -> None:
        if not self.token_valid(token):
            conn.authorized = False
            await self.send(conn, {"type": "AUTH_STATE", "channel": 0, "state": "UNAUTHORIZED"})
            await self._close(conn)
            return
        conn.authorized, conn.token = True, token
        await self.send(conn, {"type": "AUTH_STATE", "channel": 0, "state": "AUTHORIZED",
                               "userId": "user-1"})

    async def _on_channel_request(self, conn: Conn, channel: int, msg: dict[str, Any]) -> None:
        if not conn.authorized:
            await self.send(conn, {"type": "ERROR", "channel": channel, "error": "UNAUTHORIZED",
                                   "message": "not authorized"})
            return
        conn.channels[channel] = {}
        conn.announced[channel] = set()
        conn.subs[channel] = set()
        conn.pending[channel] = {}
        params = {**msg.get("parameters", {}), "subFormat": "LIST"}
        await self.send(conn, {"type": "CHANNEL_OPENED", "channel": channel,
                               "service": msg.get("service", "FEED"), "parameters": params})

    async def _on_feed_setup(self, conn: Conn, channel: int, msg: dict[str, Any]) -> None:
        for event_type, names in (msg.get("acceptEventFields") or {}).items():
            ordered = list(reversed(names)) if self.reverse_fields else list(names)
            conn.channels[channel][event_type] = ordered
        await self.send(conn, {"type": "FEED_CONFIG", "channel": channel,
                               "dataFormat": "COMPACT", "aggregationPeriod": self.aggregation_s})

    async def _on_subscription(self, conn: Conn, channel: int, msg: dict[str, Any]) -> None:
        subs = conn.subs[channel]
        if msg.get("reset"):
            subs.clear()
        for item in msg.get("remove", []):
            subs.discard((item["type"], item["symbol"]))
        for item in msg.get("add", []):
            key = (item["type"], item["symbol"])
            subs.add(key)
            if key in self.market:
                conn.pending[channel][key] = self.market[key]
        self.changed.notify()

    # --- data out ----------------------------------------------------------------------

    def push(self, event_type: str, symbol: str, **values: Any) -> None:
        """Update the market and queue the event for every subscribed connection."""
        key = (event_type, symbol)
        self.market[key] = {**self.market.get(key, {}), **values}
        for conn in self.live:
            for channel, subs in conn.subs.items():
                if key in subs:
                    conn.pending[channel][key] = self.market[key]

    def subscribed(self, conn: Conn | None = None) -> set[tuple[str, str]]:
        conn = conn or self.live[-1]
        return set().union(*conn.subs.values()) if conn.subs else set()

    def _row(self, fields: list[str], event_type: str, symbol: str,
             values: dict[str, Any]) -> list[Any]:
        row: list[Any] = []
        for name in fields:
            if name == "eventType":
                row.append(event_type)
            elif name == "eventSymbol":
                row.append(symbol)
            else:
                row.append(values.get(name, DEFAULT_FIELDS.get(name, math.nan)))
        return row

    async def _flush(self, conn: Conn, channel: int) -> None:
        pending, conn.pending[channel] = conn.pending[channel], {}
        if not pending:
            return
        by_type: dict[str, list[list[Any]]] = {}
        for (event_type, symbol), values in pending.items():
            fields = conn.channels[channel].get(event_type)
            if fields is None:
                continue
            if event_type not in conn.announced[channel]:
                conn.announced[channel].add(event_type)
                await self.send(conn, {
                    "type": "FEED_CONFIG", "channel": channel, "dataFormat": "COMPACT",
                    "aggregationPeriod": self.aggregation_s, "eventFields": {event_type: fields},
                })
            by_type.setdefault(event_type, []).append(
                self._row(fields, event_type, symbol, values))
        groups = list(by_type.items())
        batches = [groups] if self.multi_pair else [[g] for g in groups]
        for batch in batches:
            data = compact_data(batch)
            await self.send(conn, f'{{"type":"FEED_DATA","channel":{channel},"data":{data}}}')
        self.flushes += 1
        self.changed.notify()

    async def _flusher(self, conn: Conn) -> None:
        while not conn.closed:
            await asyncio.sleep(self.aggregation_s)
            if self.stalled:
                continue
            for channel in list(conn.pending):
                await self._flush(conn, channel)

    async def _watchdog(self, conn: Conn) -> None:
        loop = asyncio.get_running_loop()
        while not conn.closed:
            await asyncio.sleep(min(self.aggregation_s * 2, 0.02))
            if self.stalled:
                continue
            now = loop.time()
            if conn.authorized and not self.token_valid(conn.token):
                conn.authorized = False
                await self.send(conn, {"type": "AUTH_STATE", "channel": 0,
                                       "state": "UNAUTHORIZED"})
                await self._close(conn)
                return
            if conn.setup_done and now - conn.last_rx > self.keepalive_timeout_s:
                await self.send(conn, {"type": "ERROR", "channel": 0, "error": "TIMEOUT",
                                       "message": "no message received in time"})
                await self._close(conn)
                return
            interval = self.server_keepalive_s or conn.client_keepalive_timeout_s / 2
            if conn.setup_done and now - conn.last_tx >= interval:
                await self.send(conn, {"type": "KEEPALIVE", "channel": 0})

    # --- faults ------------------------------------------------------------------------


    async def close_all(self, code: int = 1000) -> None:
        for conn in self.live:
            await self._close(conn, code)

    async def close_channel(self, channel: int = 1) -> None:
        for conn in self.live:
            conn.channels.pop(channel, None)
            conn.subs.pop(channel, None)
            conn.pending.pop(channel, None)
            await self.send(conn, {"type": "CHANNEL_CLOSED", "channel": channel})

    def expire_tokens(self) -> None:
        loop_now = asyncio.get_running_loop().time()
        for token in self.tokens:
            self.tokens[token] = loop_now

    async def send_raw(self, text: str | bytes) -> None:
        for conn in self.live:
            if isinstance(text, bytes):
                await conn.ws.send_bytes(text)
            else:
                await self.send(conn, text)
