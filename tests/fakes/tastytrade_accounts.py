"""An in-process tastytrade account server: OAuth, positions, balances, the account streamer.

REST (``adapters/tastytrade/PROTOCOL.md``): ``POST /oauth/token`` (refresh grant → 15-minute
access token), ``GET /accounts/{n}/positions`` (``{"data": {"items": [...]}}``, OCC symbols with
the root padded to six, decimal strings, ``quantity`` unsigned with ``quantity-direction``),
``GET /accounts/{n}/balances``. Websocket ``/streamer``: ``connect`` (value: account numbers)
and ``heartbeat`` actions, each carrying ``auth-token`` and ``request-id`` and answered with
``{"status": "ok", "action": ..., "request-id": ...}``; notifications ``{"type":
"CurrentPosition" | "AccountBalance" | "Order", "data": {...}, "timestamp": ms}`` go to
connections subscribed to the account.

The broker side: ``fill`` applies a fill to a position the way a broker does (an opening fill
blends the average open price, a closing one keeps it) and pushes the notifications. Faults:
``expire_tokens`` (every access token turns 401), ``down`` (HTTP 502 on everything),
``drop_all`` (TCP drop), ``deliver = False`` (fills land in the account but no notification is
sent: a connection lost mid-fill).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from aiohttp import WSMsgType, web

from tests.fakes.common import BrokerFake


@dataclass
class Conn:
    ws: web.WebSocketResponse
    transport: Any = None
    accounts: set[str] = field(default_factory=set)
    received: list[dict[str, Any]] = field(default_factory=list)
    closed: bool = False

    def actions(self) -> list[str]:
        return [str(m.get("action")) for m in self.received]


@dataclass
class Held:
    quantity: int
    """Signed contracts."""
    average_open_price: Decimal
    multiplier: int = 100


def occ(symbol: str) -> str:
    """Canonical → tastytrade's OCC form (root padded to six characters)."""
    root = symbol[:-15]
    return f"{root:<6}{symbol[-15:]}"


class FakeTastytradeAccounts(BrokerFake):
    def __init__(self, *, refresh_token: str = "refresh-good", client_secret: str = "secret-good",
                 accounts: tuple[str, ...] = ("5WT00001",)) -> None:
        self.refresh_token = refresh_token
        self.client_secret = client_secret
        self.held: dict[str, dict[str, Held]] = {a: {} for a in accounts}
        self.cash: dict[str, Decimal] = {a: Decimal("100000") for a in accounts}
        self.requirement: dict[str, Decimal] = {a: Decimal("0") for a in accounts}
        self.access_tokens: set[str] = set()
        BrokerFake.__init__(self)
        self.conns: list[Conn] = []
        self.app.router.add_post("/oauth/token", self._oauth)
        self.app.router.add_get("/accounts/{n}/positions", self._positions)
        self.app.router.add_get("/accounts/{n}/balances", self._balances)
        self.app.router.add_get("/streamer", self._ws)

    @property
    def streamer_url(self) -> str:
        return self.ws_url("/streamer")

    def accounts_table(self, account: str, *, streamer: bool = True, extra: str = "") -> str:
        """Return the ``[[accounts]]`` TOML of a source reading ``account`` from this fake, its
        credentials from ``TT_CLIENT_SECRET`` / ``TT_REFRESH_TOKEN``; ``extra``: more keys."""
        return (
            f'[[accounts]]\nkind = "tastytrade"\naccounts = ["{account}"]\nbook = "main"\n'
            'client_secret = { env = "TT_CLIENT_SECRET" }\n'
            'refresh_token = { env = "TT_REFRESH_TOKEN" }\n'
            f'api_url = "{self.api_url}"\n'
            f'streamer_url = "{self.streamer_url if streamer else ""}"\n{extra}'
        )

    @property
    def live(self) -> list[Conn]:
        return [c for c in self.conns if not c.closed]

    def expire_tokens(self) -> None:
        self.access_tokens.clear()

    # --- REST --------------------------------------------------------------------------

    def _authorized(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        return header.removeprefix("Bearer ") in self.access_tokens

    async def _oauth(self, request: web.Request) -> web.Response:
        self.requests.append(("POST", request.path))
        if self.down:
            return web.Response(status=502)
        body = await request.json()
        if (body.get("grant_type") != "refresh_token" or body.get("refresh_token")
                != self.refresh_token or body.get("client_secret") != self.client_secret):
            return web.json_response({"error": {"code": "invalid_grant", "message": "no"}},
                                     status=401)
        token = f"access-{next(self._ids)}"
        self.access_tokens.add(token)
        return web.json_response({"access_token": token, "token_type": "Bearer",
                                  "expires_in": 900})

    def _guard(self, request: web.Request) -> web.Response | None:
        self.requests.append((request.method, request.path))
        if self.down:
            return web.Response(status=502, text="bad gateway")
        if not self._authorized(request):
            return web.json_response(
                {"error": {"code": "token_invalid", "message": "This token is invalid"}},
                status=401)
        if request.match_info["n"] not in self.held:
            return web.json_response({"error": {"code": "not_found", "message": "?"}},
                                     status=404)
        return None

    def position_json(self, account: str, symbol: str) -> dict[str, Any]:
        h = self.held[account].get(symbol, Held(0, Decimal(0)))
        direction = "Long" if h.quantity > 0 else "Short" if h.quantity < 0 else "Zero"
        return {
            "account-number": account, "symbol": occ(symbol),
            "instrument-type": "Equity Option", "underlying-symbol": symbol[:-15],
            "quantity": str(abs(h.quantity)), "quantity-direction": direction,
            "average-open-price": str(h.average_open_price), "multiplier": h.multiplier,
            "close-price": "0.0", "cost-effect": "Debit" if h.quantity > 0 else "Credit",
        }

    def balance_json(self, account: str) -> dict[str, Any]:
        return {"account-number": account, "cash-balance": str(self.cash[account]),
                "net-liquidating-value": str(self.cash[account]),
                "maintenance-requirement": str(self.requirement[account]),
                "derivative-buying-power": str(self.cash[account] - self.requirement[account])}

    async def _positions(self, request: web.Request) -> web.Response:
        if (refused := self._guard(request)) is not None:
            return refused
        n = request.match_info["n"]
        items = [self.position_json(n, s) for s, h in self.held[n].items() if h.quantity]
        return web.json_response({"data": {"items": items}, "context": request.path})

    async def _balances(self, request: web.Request) -> web.Response:
        if (refused := self._guard(request)) is not None:
            return refused
        data = self.balance_json(request.match_info["n"])
        return web.json_response({"data": data, "context": request.path})

    # --- broker side -------------------------------------------------------------------

    async def fill(self, account: str, symbol: str, quantity: int, price: str) -> None:
        """Apply a fill of signed ``quantity`` at ``price`` and notify the streamer."""
        px = Decimal(price)
        held = self.held[account].setdefault(symbol, Held(0, Decimal(0)))
        opening = held.quantity == 0 or (held.quantity > 0) == (quantity > 0)
        if opening:
            total = abs(held.quantity) + abs(quantity)
            held.average_open_price = (
                held.average_open_price * abs(held.quantity) + px * abs(quantity)) / total
        held.quantity += quantity
        if held.quantity == 0:
            held.average_open_price = Decimal(0)
        self.cash[account] -= px * quantity * 100
        order = {"account-number": account, "status": "Filled", "size": abs(quantity),
                 "legs": [{"symbol": occ(symbol), "quantity": abs(quantity)}]}
        await self.notify(account, "Order", order)
        await self.notify(account, "CurrentPosition", self.position_json(account, symbol))
        await self.notify(account, "AccountBalance", self.balance_json(account))
        if held.quantity == 0:
            del self.held[account][symbol]

    async def notify(self, account: str, kind: str, data: dict[str, Any]) -> None:
        if not self.deliver:
            return
        frame = json.dumps({"type": kind, "data": data, "timestamp": 1_795_000_000_000})
        for conn in self.live:
            if account in conn.accounts:
                await conn.ws.send_str(frame)

    async def send_raw(self, text: str) -> None:
        for conn in self.live:
            await conn.ws.send_str(text)

    # --- streamer ----------------------------------------------------------------------

    async def _ws(self, request: web.Request) -> web.StreamResponse:
        if self.down:
            return web.Response(status=502)
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        conn = Conn(ws, request.transport)
        self.conns.append(conn)
        self.changed.notify()
        try:
            async for msg in ws:
                if msg.type is not WSMsgType.TEXT or self.stalled:
                    continue
                await self._action(conn, json.loads(msg.data))
        finally:
            conn.closed = True
            self.changed.notify()
        return ws

    async def _action(self, conn: Conn, msg: dict[str, Any]) -> None:
        conn.received.append(msg)
        action, rid = msg.get("action"), msg.get("request-id")
        reply: dict[str, Any] = {"action": action, "request-id": rid,
                                 "web-socket-session-id": "fake-session"}
        if msg.get("auth-token") not in self.access_tokens:
            reply |= {"status": "error", "message": "failed to authenticate"}
        elif action == "connect":
            conn.accounts = {a for a in msg.get("value", []) if a in self.held}
            reply |= {"status": "ok", "value": sorted(conn.accounts)}
        elif action == "heartbeat":
            reply |= {"status": "ok"}
        else:
            reply |= {"status": "error", "message": f"unknown action {action}"}
        await conn.ws.send_str(json.dumps(reply))
        self.changed.notify()
