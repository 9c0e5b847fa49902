"""Tradier adapter: a fresh streaming session per connection, websocket or HTTP streaming.

Session steps:

    POST /v1/markets/events/session ─► (websocket) connect ─► send the subscription payload
      ─► stream, PINGing every keepalive_s; a changed symbol set is sent again as a full payload
    or (HTTP streaming) POST the same fields as a form ─► read newline-delimited payloads;
      a changed symbol set needs a new session and request

A session id is good for 5 minutes until used and only one session may be open per token, so
every connection starts with a new one and an old id is never reused. The HTTP stream is used
when configured, when the symbol payload exceeds ``max_ws_payload_bytes``, and (for good) after
the websocket server refused a frame as too big (close code 1009) or refused the upgrade with a
4xx (a sandbox without the market websocket). The stream never
acknowledges a subscription, so the backoff resets with the first quote of a session.

Before a session, at most every ``LISTED_REFRESH_S``, the listed strikes of the subscribed
options' expiries are read from the chain endpoints (``includeAllRoots=true``) into ``listed``,
so the subscription window holds strikes that exist; a failure there is logged, never fatal.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterable

import aiohttp

from adapters.base import (
    FeedError,
    ReconnectingFeed,
    SessionClosed,
    StallError,
    SubscriptionSource,
    WsChannel,
    run_supervised,
)
from adapters.tradier.config import TradierFeedConfig
from adapters.tradier.parsing import Parsed, Summary, parse_frame, subscription_payload
from adapters.tradier.rest import StreamSession, TradierApi, listed_strikes
from adapters.tradier.symbols import to_tradier
from monitor.clock import Clock
from monitor.subscriptions import ListedStrikes, option_chains

LISTED_REFRESH_S = 3600.0

_WS_CLOSE_TOO_BIG = 1009
_WS_UNAVAILABLE = frozenset({400, 403, 404, 405, 426})


class SessionInvalid(FeedError):
    """The stream server no longer accepts our session id."""


class TradierFeed(ReconnectingFeed):
    def __init__(
        self, cfg: TradierFeedConfig, clock: Clock, *, rng: random.Random | None = None,
        listed: ListedStrikes | None = None,
    ) -> None:
        super().__init__(cfg.name, clock, cfg.backoff, delayed=cfg.delayed, rng=rng)
        self._cfg = cfg
        self.listed = listed
        self._listed_at_ns: int | None = None
        self._api = TradierApi(cfg, clock)
        self.use_http = cfg.transport == "http"
        self.summaries: dict[str, Summary] = {}
        self._unsupported: frozenset[str] = frozenset()
        self._reported_errors: set[str] = set()

    async def _session(self, subscriptions: SubscriptionSource) -> None:
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=self._cfg.request_timeout_s)
        async with aiohttp.ClientSession(timeout=timeout) as http:
            await self._learn_strikes(http, subscriptions.current())
            version = subscriptions.version
            symbols = self._venue_symbols(subscriptions.current())
            session = await self._api.create_session(http)
            payload = self._payload(symbols, session)
            if self.use_http or len(payload) > self._cfg.max_ws_payload_bytes:
                await self._http_stream(http, session, symbols, subscriptions, version)
            else:
                await self._ws_stream(http, session, payload, subscriptions, version)

    async def _learn_strikes(self, http: aiohttp.ClientSession, wanted: Iterable[str]) -> None:
        """Read the listed strikes of the wanted options' expiries into ``listed``."""
        now_ns = self._clock.now_ns()
        if self.listed is None or (
            self._listed_at_ns is not None
            and now_ns - self._listed_at_ns < LISTED_REFRESH_S * 1e9
        ):
            return
        self._listed_at_ns = now_ns
        for underlying, expiries in sorted(option_chains(wanted).items()):
            try:
                found = await listed_strikes(self._api, http, underlying, expiries)
            except (FeedError, aiohttp.ClientError, TimeoutError) as exc:
                self.log.warning("tradier_listed_strikes_failed", underlying=underlying,
                                 error=str(exc)[:200])
                continue
            self.listed.update(found)
            self.log.info("tradier_listed_strikes", underlying=underlying, chains=len(found))

    def _venue_symbols(self, canonical: Iterable[str]) -> list[str]:
        out, unsupported = [], set()
        for c in canonical:
            if (venue := to_tradier(c)) is None:
                unsupported.add(c)
            else:
                out.append(venue)
        if unsupported and unsupported != self._unsupported:
            self.log.info("tradier_symbols_not_offered", symbols=sorted(unsupported))
        self._unsupported = frozenset(unsupported)
        self._stats.subscribed = len(out)
        return sorted(out)

    def _payload(self, symbols: list[str], session: StreamSession) -> bytes:
        return subscription_payload(
            symbols, session.session_id, self._cfg.filter, valid_only=self._cfg.valid_only)

    # --- websocket ---------------------------------------------------------------------

    async def _ws_stream(
        self, http: aiohttp.ClientSession, session: StreamSession, payload: bytes,
        subscriptions: SubscriptionSource, version: int,
    ) -> None:
        try:
            async with http.ws_connect(self._cfg.ws_url, autoping=True, max_msg_size=0) as ws:
                ch = WsChannel(ws, self._cfg.silence_timeout_s)
                await ch.send_bytes_as_text(payload)
                self._ready(confirmed=False)
                await run_supervised(
                    self._read_ws(ch),
                    ch.ping_every(self._cfg.keepalive_s),
                    self._follow_ws(ch, session, subscriptions, version),
                )
        except SessionClosed as exc:
            if exc.code == _WS_CLOSE_TOO_BIG:
                self._switch_to_http("websocket frame too big (1009)")
            raise
        except aiohttp.WSServerHandshakeError as exc:
            if exc.status in _WS_UNAVAILABLE:
                self._switch_to_http(f"websocket refused with HTTP {exc.status}")
            raise

    def _switch_to_http(self, reason: str) -> None:
        self.use_http = True
        self.log.error("tradier_switching_to_http_streaming", reason=reason)

    async def _read_ws(self, ch: WsChannel) -> None:
        while True:
            frame = await ch.receive()
            self._stats.messages += 1
            if frame.type is not aiohttp.WSMsgType.TEXT:
                self._stats.parse_errors += 1
                self.log.warning("tradier_bad_frame", type=frame.type.name)
                continue
            self._apply(parse_frame(frame.data, self._clock.now_ns(), delayed=self._stats.delayed))

    async def _follow_ws(
        self, ch: WsChannel, session: StreamSession, subscriptions: SubscriptionSource,
        version: int,
    ) -> None:
        """Send the whole payload again when the symbol set changes (it replaces the set)."""
        while True:
            version = await subscriptions.wait_changed(version)
            payload = self._payload(self._venue_symbols(subscriptions.current()), session)
            if len(payload) > self._cfg.max_ws_payload_bytes:
                raise FeedError("symbol list outgrew the websocket payload; reconnecting")
            await ch.send_bytes_as_text(payload)
            self.log.info("tradier_subscriptions_updated", subscribed=self._stats.subscribed)

    # --- HTTP streaming ----------------------------------------------------------------

    async def _http_stream(
        self, http: aiohttp.ClientSession, session: StreamSession, symbols: list[str],
        subscriptions: SubscriptionSource, version: int,
    ) -> None:
        form = {
            "sessionid": session.session_id, "symbols": ",".join(symbols),
            "filter": ",".join(self._cfg.filter), "linebreak": "true",
            "validOnly": "true" if self._cfg.valid_only else "false",
        }
        async with http.post(session.url, data=form,
                             headers={"Accept": "application/json"}) as resp:
            if resp.status != 200:
                body = (await resp.read())[:200].decode(errors="replace")
                raise FeedError(f"HTTP stream refused: {resp.status} {body}")
            self._ready(confirmed=False)
            await run_supervised(self._read_http(resp), self._resubscribe_when_changed(
                subscriptions, version))

    async def _read_http(self, resp: aiohttp.ClientResponse) -> None:
        silence_s = self._cfg.http_silence_timeout_s
        while True:
            try:
                async with asyncio.timeout(silence_s):
                    line = await resp.content.readline()
            except TimeoutError as exc:
                raise StallError(f"no data for {silence_s:g}s") from exc
            if not line:
                raise SessionClosed(None, "HTTP stream ended")
            if line.strip():
                self._stats.messages += 1
                self._apply(parse_frame(line, self._clock.now_ns(), delayed=self._stats.delayed))

    async def _resubscribe_when_changed(
        self, subscriptions: SubscriptionSource, version: int,
    ) -> None:
        """An HTTP stream cannot change its symbols: end it so a new session starts."""
        await subscriptions.wait_changed(version)
        self.log.info("tradier_http_stream_restarting_for_new_symbols")

    # --- payloads ----------------------------------------------------------------------

    def _apply(self, parsed: Parsed) -> None:
        if parsed.bad:
            self._stats.parse_errors += parsed.bad
            self.log.warning("tradier_bad_payloads", count=parsed.bad)
        for error in parsed.errors:
            self._on_error(error)
        self._deliver(parsed.quotes)
        for s in parsed.summaries:
            self.summaries[s.sym] = s

    def _on_error(self, error: str) -> None:
        if "session" in error.lower():
            raise SessionInvalid(error)
        if error not in self._reported_errors:
            self._reported_errors.add(error)
            self.log.warning("tradier_stream_error", error=error)
