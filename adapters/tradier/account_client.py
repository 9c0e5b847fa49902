"""Tradier account source (I/O): the REST poll (source of truth) plus account events, read-only.

- **poll**: ``GET /v1/user/profile`` once (when no account numbers are configured), then
  ``GET /v1/accounts/{id}/positions`` and ``/balances`` every ``poll_interval_s`` and at once
  after an order event or a reconnect of the events stream.
- **events**: ``POST /v1/accounts/events/session`` → websocket → ``{"events": ["order"],
  "sessionid": ...}``; an order event only triggers a poll (the events carry orders, not
  positions). Silence beyond ``stale_after_s`` / a close / an error → reconnect with backoff.

Only GETs and the events-session POST are sent: nothing here can place, change or cancel an
order.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

import aiohttp
import msgspec
import structlog

from adapters.account_source import DECODE_ERRORS, AccountSource
from adapters.base import AuthError, Backoff, FeedError
from adapters.tradier import account_parsing as parsing
from adapters.tradier.account_config import TradierAccountConfig
from monitor.clock import Clock
from monitor.secrets import read_secret

log = structlog.get_logger(__name__)
T = TypeVar("T")


class TradierAccounts(AccountSource):
    """The account source for one ``[[accounts]] kind = "tradier"`` entry."""

    def __init__(self, cfg: TradierAccountConfig, clock: Clock,
                 on_change: Callable[[], None] = lambda: None) -> None:
        super().__init__(source=f"tradier:{cfg.name}", name=cfg.name, book=cfg.book,
                         stale_after_s=cfg.stale_after_s, backoff=cfg.backoff, clock=clock,
                         on_change=on_change)
        self.cfg = cfg
        self.accounts: list[str] = list(cfg.accounts)

    async def _call(self, http: aiohttp.ClientSession, method: str, path: str) -> bytes:
        headers = {"Authorization": f"Bearer {read_secret(self.cfg.token)}",
                   "Accept": "application/json"}
        timeout = aiohttp.ClientTimeout(total=self.cfg.request_timeout_s)
        url = self.cfg.api_url.rstrip("/") + path
        async with http.request(method, url, headers=headers, timeout=timeout) as r:
            body = await r.read()
        if r.status in (401, 403):
            raise AuthError(f"{method} {path}: HTTP {r.status}")
        if r.status >= 400:
            raise FeedError(f"{method} {path}: HTTP {r.status} {body[:200]!r}")
        return body

    def _decoded(self, what: str, parse: Callable[[], T]) -> T:
        try:
            return parse()
        except DECODE_ERRORS as exc:
            raise FeedError(f"{what}: unexpected body ({exc})") from exc

    async def snapshot(self, http: aiohttp.ClientSession) -> None:
        """Fetch every account's positions and balances into the state (raise on failure)."""
        if not self.accounts:
            raw = await self._call(http, "GET", "/v1/user/profile")
            self.accounts = self._decoded("/v1/user/profile", lambda: parsing.parse_profile(raw))
        for account in self.accounts:
            requested_ns = self.clock.now_ns()
            pos = await self._call(http, "GET", f"/v1/accounts/{account}/positions")
            bal = await self._call(http, "GET", f"/v1/accounts/{account}/balances")
            positions, problems = self._decoded(
                "positions", lambda: parsing.parse_positions(pos, account))  # noqa: B023
            balance = self._decoded("balances", lambda: parsing.parse_balances(bal, account))  # noqa: B023
            self._apply_account(account, positions, problems, balance, requested_ns)
        self.stats.snapshots += 1
        self.activity.set()

    async def _events_session(self, http: aiohttp.ClientSession, backoff: Backoff) -> None:
        raw = await self._call(http, "POST", "/v1/accounts/events/session")
        session_id = self._decoded("events session", lambda: parsing.parse_session(raw))
        async with http.ws_connect(self.cfg.events_url, heartbeat=30.0) as ws:
            subscribe = {"events": ["order"], "sessionid": session_id}
            await ws.send_str(msgspec.json.encode(subscribe).decode())
            self._refresh_now.set()
            backoff.reset()
            while True:
                try:
                    msg = await ws.receive(timeout=self.cfg.stale_after_s)
                except TimeoutError as exc:
                    raise FeedError("account events silent") from exc
                if msg.type not in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                    raise FeedError(f"account events closed ({ws.close_code})")
                self._handle(msg.data)

    def _handle(self, data: str | bytes) -> None:
        self.activity.set()
        try:
            event = parsing.decode_event(data)
        except DECODE_ERRORS as exc:
            self.stats.bad_messages += 1
            log.warning("account_message_skipped", source=self.cfg.name, error=str(exc)[:200])
            return
        self.state.heard(self.clock.now_ns())
        if event.event == "order":
            self.stats.notifications += 1
            self._refresh_now.set()

    async def run(self) -> None:
        """Keep the state current until cancelled."""
        async with aiohttp.ClientSession() as http, asyncio.TaskGroup() as tg:
            tg.create_task(self._refresh_loop(http, "poll", self.cfg.poll_interval_s))
            if self.cfg.events_url:
                tg.create_task(self._stream_loop(http, "events", self._events_session))
