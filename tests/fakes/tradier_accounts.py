"""An in-process Tradier brokerage server: profile, positions, balances and account events.

REST (``adapters/tradier/PROTOCOL.md``): ``GET /v1/user/profile`` (one account arrives as a
bare object, several as a list), ``GET /v1/accounts/{id}/positions`` (``"null"`` when empty, a
bare object for one position; signed quantity, total ``cost_basis``),
``GET /v1/accounts/{id}/balances`` (``margin`` block), ``POST /v1/accounts/events/session``.
Websocket ``/v1/accounts/events``: the client sends ``{"events": ["order"], "sessionid": ...}``,
the server sends order events and ``heartbeat`` events. Faults: ``down`` (502), ``drop_all``,
``deliver = False``; a wrong token gets 401.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from tests.fakes.common import BrokerFake


@dataclass
class Conn:
    ws: web.WebSocketResponse
    transport: Any = None
    subscribed: bool = False
    received: list[dict[str, Any]] = field(default_factory=list)
    closed: bool = False


class FakeTradierAccounts(BrokerFake):
    def __init__(self, *, token: str = "token-good", accounts: tuple[str, ...] = ("VA000001",)
                 ) -> None:
        self.token = token
        self.held: dict[str, dict[str, tuple[int, float]]] = {a: {} for a in accounts}
        """account → symbol → (signed quantity, total cost basis USD)."""
        self.cash: dict[str, float] = {a: 50_000.0 for a in accounts}
        self.requirement: dict[str, float] = {a: 0.0 for a in accounts}
        self.sessions: set[str] = set()
        BrokerFake.__init__(self)
        self.conns: list[Conn] = []
        self.app.router.add_get("/v1/user/profile", self._profile)
        self.app.router.add_get("/v1/accounts/{id}/positions", self._positions)
        self.app.router.add_get("/v1/accounts/{id}/balances", self._balances)
        self.app.router.add_post("/v1/accounts/events/session", self._session)
        self.app.router.add_get("/v1/accounts/events", self._ws)

    @property
    def events_url(self) -> str:
        return self.ws_url("/v1/accounts/events")

    @property
    def live(self) -> list[Conn]:
        return [c for c in self.conns if not c.closed]

    def _guard(self, request: web.Request) -> web.Response | None:
        self.requests.append((request.method, request.path))
        if self.down:
            return web.Response(status=502)
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return web.Response(status=401, text="Invalid Access Token")
        if "id" in request.match_info and request.match_info["id"] not in self.held:
            return web.Response(status=400, text="Invalid account")
        return None

    async def _profile(self, request: web.Request) -> web.Response:
        if (refused := self._guard(request)) is not None:
            return refused
        rows = [{"account_number": a, "classification": "individual", "type": "margin"}
                for a in self.held]
        account: Any = rows[0] if len(rows) == 1 else rows
        return web.json_response({"profile": {"id": "id-1", "name": "T", "account": account}})

    async def _positions(self, request: web.Request) -> web.Response:
        if (refused := self._guard(request)) is not None:
            return refused
        acct = request.match_info["id"]
        rows = [{"cost_basis": cost, "date_acquired": "2026-11-16T14:40:00.000Z",
                 "id": i, "quantity": float(q), "symbol": sym}
                for i, (sym, (q, cost)) in enumerate(self.held[acct].items(), 1)]
        block: Any = "null" if not rows else {"position": rows[0] if len(rows) == 1 else rows}
        return web.json_response({"positions": block})

    async def _balances(self, request: web.Request) -> web.Response:
        if (refused := self._guard(request)) is not None:
            return refused
        acct = request.match_info["id"]
        return web.json_response({"balances": {
            "account_number": acct, "account_type": "margin", "total_cash": self.cash[acct],
            "total_equity": self.cash[acct], "current_requirement": self.requirement[acct],
            "option_requirement": self.requirement[acct],
            "margin": {"fed_call": 0, "maintenance_call": 0,
                       "option_buying_power": self.cash[acct] - self.requirement[acct],
                       "stock_buying_power": 2 * self.cash[acct]}}})

    async def _session(self, request: web.Request) -> web.Response:
        if (refused := self._guard(request)) is not None:
            return refused
        sid = f"session-{next(self._ids)}"
        self.sessions.add(sid)
        return web.json_response({"stream": {"url": self.events_url, "sessionid": sid}})

    async def fill(self, account: str, symbol: str, quantity: int, price: float) -> None:
        """Apply a fill (opening fills add to the cost basis; closing ones take their share)."""
        q, cost = self.held[account].get(symbol, (0, 0.0))
        opening = q == 0 or (q > 0) == (quantity > 0)
        new_q = q + quantity
        cost = cost + price * quantity * 100 if opening else cost * new_q / q
        if new_q == 0:
            self.held[account].pop(symbol, None)
        else:
            self.held[account][symbol] = (new_q, round(cost, 2))
        self.cash[account] -= price * quantity * 100
        event = {"id": next(self._ids), "event": "order", "status": "filled",
                 "account": account, "type": "limit", "price": price,
                 "transaction_date": "2026-12-01T15:00:00.000Z"}
        await self.send(event)

    async def send(self, event: dict[str, Any]) -> None:
        if not self.deliver:
            return
        for conn in self.live:
            if conn.subscribed:
                await conn.ws.send_str(json.dumps(event))

    async def _ws(self, request: web.Request) -> web.StreamResponse:
        if self.down:
            return web.Response(status=502)
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        conn = Conn(ws, request.transport)
        self.conns.append(conn)
        try:
            async for msg in ws:
                if msg.type is not WSMsgType.TEXT or self.stalled:
                    continue
                payload = json.loads(msg.data)
                conn.received.append(payload)
                if payload.get("sessionid") not in self.sessions:
                    await ws.send_str(json.dumps({"error": "invalid session"}))
                    await ws.close()
                    break
                conn.subscribed = True
                await ws.send_str(json.dumps({"event": "heartbeat", "status": "active"}))
                self.changed.notify()
        finally:
            conn.closed = True
            self.changed.notify()
        return ws
