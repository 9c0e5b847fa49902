"""tastytrade account source (I/O): REST snapshots plus the account streamer, read-only.

Two owned loops feed one ``AccountState``:

- **reconcile**: ``GET /accounts/{n}/positions`` and ``/balances`` for every account, every
  ``reconcile_interval_s`` and at once when the streamer reports an order change or reconnects
  (a fill may have been missed while it was down). REST is the source of truth.
- **streamer**: connect → ``connect`` action with the account numbers → a ``heartbeat`` every
  ``heartbeat_s``; position and balance notifications patch the state between snapshots.
  Silence for ``silence_timeout_s``, a close or an error → reconnect with backoff, subscribe
  again. A frame that does not decode is counted and skipped.

The only HTTP methods used are the token refresh (``POST /oauth/token``) and GETs; the streamer
actions are ``connect`` and ``heartbeat``. No code here can place, change or cancel an order.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import aiohttp
import structlog

from adapters.account_source import DECODE_ERRORS, AccountSource
from adapters.base import AuthError, Backoff, FeedError
from adapters.dxlink.parsing import api_error, parse_oauth
from adapters.tastytrade import parsing
from adapters.tastytrade.config import TastytradeAccountConfig
from monitor.clock import Clock
from monitor.secrets import read_secret

log = structlog.get_logger(__name__)
_ACCESS_MARGIN_S = 60.0


class TastytradeAccounts(AccountSource):
    """The account source for one ``[[accounts]] kind = "tastytrade"`` entry."""

    def __init__(self, cfg: TastytradeAccountConfig, clock: Clock,
                 on_change: Callable[[], None] = lambda: None) -> None:
        super().__init__(source=f"tastytrade:{cfg.name}", name=cfg.name, book=cfg.book,
                         stale_after_s=cfg.stale_after_s, backoff=cfg.backoff, clock=clock,
                         on_change=on_change)
        self.cfg = cfg
        self._access: str | None = None
        self._access_expires_ns = 0
        self._request_id = 0

    # --- REST -----------------------------------------------------------------------------

    async def _token(self, http: aiohttp.ClientSession) -> str:
        now = self.clock.now_ns()
        if self._access is not None and now < self._access_expires_ns:
            return self._access
        body = {"grant_type": "refresh_token",
                "client_secret": read_secret(self.cfg.client_secret),
                "refresh_token": read_secret(self.cfg.refresh_token)}
        raw = await self._call(http, "POST", "/oauth/token", json=body)
        try:
            self._access, lifetime_s = parse_oauth(raw)
        except DECODE_ERRORS as exc:
            raise FeedError(f"/oauth/token: unexpected body ({exc})") from exc
        self._access_expires_ns = now + int(max(0.0, lifetime_s - _ACCESS_MARGIN_S) * 1e9)
        return self._access

    async def _call(self, http: aiohttp.ClientSession, method: str, path: str, *,
                    access: str | None = None, json: object = None) -> bytes:
        headers = {"User-Agent": self.cfg.user_agent, "Accept": "application/json"}
        if access is not None:
            headers["Authorization"] = f"Bearer {access}"
        timeout = aiohttp.ClientTimeout(total=self.cfg.request_timeout_s)
        url = self.cfg.api_url.rstrip("/") + path
        async with http.request(method, url, json=json, headers=headers, timeout=timeout) as r:
            body = await r.read()
        if r.status in (401, 403):
            self._access = None  # an expired or revoked token: mint a new one next time
            raise AuthError(f"{method} {path}: HTTP {r.status} {api_error(body)}")
        if r.status >= 400:
            raise FeedError(f"{method} {path}: HTTP {r.status} {api_error(body)}")
        return body

    async def snapshot(self, http: aiohttp.ClientSession) -> None:
        """Fetch every account's positions and balances into the state (raise on failure)."""
        for account in self.cfg.accounts:
            access = await self._token(http)
            requested_ns = self.clock.now_ns()
            raw = await self._call(http, "GET", f"/accounts/{account}/positions", access=access)
            bal = await self._call(http, "GET", f"/accounts/{account}/balances", access=access)
            try:
                positions, problems = parsing.parse_positions(raw, account)
                balance = parsing.parse_balances(bal, account)
            except DECODE_ERRORS as exc:
                raise FeedError(f"/accounts/{account}: unexpected body ({exc})") from exc
            self._apply_account(account, positions, problems, balance, requested_ns)
        self.stats.snapshots += 1
        self.activity.set()

    # --- streamer -------------------------------------------------------------------------

    def _frame(self, action: parsing.Action, token: str, accounts: list[str] | None = None
               ) -> bytes:
        self._request_id += 1
        return parsing.action_frame(action, token, self._request_id, accounts)

    async def _stream_session(self, http: aiohttp.ClientSession, backoff: Backoff) -> None:
        token = await self._token(http)
        async with http.ws_connect(self.cfg.streamer_url, heartbeat=None,
                                   headers={"User-Agent": self.cfg.user_agent}) as ws:
            await ws.send_str(self._frame("connect", token, list(self.cfg.accounts)).decode())
            self._refresh_now.set()  # whatever happened while we were away
            beat = asyncio.create_task(self._heartbeats(http, ws))
            try:
                await self._read(ws, backoff)
            finally:
                beat.cancel()
                # gather, not a suppress(CancelledError): our own cancellation must propagate
                await asyncio.gather(beat, return_exceptions=True)

    async def _heartbeats(self, http: aiohttp.ClientSession,
                          ws: aiohttp.ClientWebSocketResponse) -> None:
        while True:
            await asyncio.sleep(self.cfg.heartbeat_s)
            await ws.send_str(self._frame("heartbeat", await self._token(http)).decode())

    async def _read(self, ws: aiohttp.ClientWebSocketResponse, backoff: Backoff) -> None:
        while True:
            try:
                msg = await ws.receive(timeout=self.cfg.silence_timeout_s)
            except TimeoutError as exc:
                raise FeedError("account streamer silent") from exc
            if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED,
                            aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.ERROR):
                raise FeedError(f"account streamer closed ({ws.close_code})")
            if msg.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                self._handle(msg.data, backoff)

    def _handle(self, data: str | bytes, backoff: Backoff) -> None:
        now = self.clock.now_ns()
        self.activity.set()
        try:
            event = parsing.decode_streamer(data)
        except DECODE_ERRORS as exc:
            self.stats.bad_messages += 1
            log.warning("account_message_skipped", source=self.cfg.name, error=str(exc)[:200])
            return
        match event:
            case parsing.PositionChanged(position=p):
                if p.account in self.cfg.accounts:
                    before = self.state.version
                    self.state.apply_position(p, now)
                    self.stats.notifications += 1
                    if self.state.version != before:
                        self._on_change()
            case parsing.BalanceChanged(balance=b):
                if b.account in self.cfg.accounts:
                    self.state.apply_balance(b, now)
            case parsing.OrderChanged(status=status):
                self.state.heard(now)
                if status in ("Filled", "Cancelled", "Expired"):
                    self._refresh_now.set()
            case parsing.Reply(action=action, status=status, message=message):
                if status == "ok":
                    self.state.heard(now)
                    if action == "connect":
                        backoff.reset()
                else:
                    log.warning("account_streamer_refused", source=self.cfg.name,
                                action=action, message=message[:200])
            case parsing.Other():
                pass

    async def run(self) -> None:
        """Keep the state current until cancelled."""
        async with aiohttp.ClientSession() as http, asyncio.TaskGroup() as tg:
            tg.create_task(self._refresh_loop(http, "reconcile", self.cfg.reconcile_interval_s))
            if self.cfg.streamer_url:
                tg.create_task(self._stream_loop(http, "streamer", self._stream_session))
