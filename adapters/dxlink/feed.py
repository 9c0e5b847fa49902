"""tastytrade DXLink adapter: quote token over REST, then one websocket with one FEED channel.

Session steps (dxFeed's documented order, which the server enforces):

    quote token (REST) ─► connect(dxlink-url) ─► SETUP ⇄ SETUP ─► AUTH_STATE UNAUTHORIZED
      ─► AUTH ─► AUTH_STATE AUTHORIZED ─► CHANNEL_REQUEST ─► CHANNEL_OPENED ─► FEED_SETUP
      ─► FEED_CONFIG ─► FEED_SUBSCRIPTION (reset + adds, chunked) ─► ready ─► stream

While streaming, helpers send KEEPALIVE when we have been quiet, follow subscription changes
(remove/add diffs), and fetch a new quote token before the old one is due, AUTHing with it on
the live connection. A token the server stops accepting ends the session; the next one starts
with a fresh token. A 1009 close (frame too big) halves the subscription chunk size.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
from collections.abc import Iterable
from typing import TypeVar

import aiohttp
import msgspec

from adapters.base import (
    AuthError,
    FeedError,
    ReconnectingFeed,
    SessionClosed,
    SubscriptionSource,
    WsChannel,
    run_supervised,
)
from adapters.dxlink import protocol
from adapters.dxlink.config import DxLinkFeedConfig
from adapters.dxlink.parsing import (
    AuthState,
    ChannelClosed,
    ChannelOpened,
    Decoded,
    Error,
    FeedConfig,
    FeedData,
    FeedDataDecoder,
    Greeks,
    QuoteToken,
    ServerMessage,
    Setup,
    Summary,
    Unhandled,
    decode_message,
)
from adapters.dxlink.rest import TastytradeApi
from adapters.dxlink.symbols import SymbolMap
from monitor import symbols
from monitor.clock import Clock

TOKEN_LIFETIME_S = 24 * 3600.0
_MIN_CHUNK_BYTES = 512
_WS_CLOSE_TOO_BIG = 1009
M = TypeVar("M", bound=ServerMessage)


class DxLinkFeed(ReconnectingFeed):
    def __init__(
        self, cfg: DxLinkFeedConfig, clock: Clock, *, rng: random.Random | None = None,
    ) -> None:
        super().__init__(cfg.name, clock, cfg.backoff, delayed=bool(cfg.delayed), rng=rng)
        self._cfg = cfg
        self._api = TastytradeApi(cfg, clock)
        self._token: QuoteToken | None = None
        self._futures: dict[dt.date, str] = {}
        self._futures_asked: set[dt.date] = set()
        self._symbols = SymbolMap()
        self.max_subscription_bytes = cfg.max_subscription_bytes
        self.greeks: dict[str, Greeks] = {}
        """Latest Greeks per symbol (decoded; the quote stream has no fields for them)."""
        self.summaries: dict[str, Summary] = {}

    async def _session(self, subscriptions: SubscriptionSource) -> None:
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=self._cfg.request_timeout_s)
        async with aiohttp.ClientSession(timeout=timeout) as http:
            token = await self._usable_token(http)
            self.log.info("dxlink_connecting", url=token.dxlink_url, level=token.level)
            try:
                async with http.ws_connect(
                    token.dxlink_url, autoping=True, max_msg_size=0,
                    headers={"User-Agent": self._cfg.user_agent},
                ) as ws:
                    await self._run_socket(WsChannel(ws, self._cfg.silence_timeout_s), http,
                                           subscriptions)
            except SessionClosed as exc:
                if exc.code == _WS_CLOSE_TOO_BIG:
                    self._shrink_chunks()
                raise

    def _shrink_chunks(self) -> None:
        self.max_subscription_bytes = max(_MIN_CHUNK_BYTES, self.max_subscription_bytes // 2)
        self.log.error("dxlink_frame_too_big", max_subscription_bytes=self.max_subscription_bytes)

    async def _run_socket(
        self, ch: WsChannel, http: aiohttp.ClientSession, subscriptions: SubscriptionSource,
    ) -> None:
        keepalive_s = await self._handshake(ch)
        decoder = FeedDataDecoder(self._symbols.canonical, delayed=self._stats.delayed)
        await self._open_feed(ch, decoder)
        version = subscriptions.version
        subs = await self._subscribe(ch, http, subscriptions.current(), set(), reset=True)
        self._ready()
        await run_supervised(
            self._stream(ch, decoder),
            ch.keepalive(keepalive_s, protocol.KEEPALIVE),
            self._follow(ch, http, subscriptions, version, subs),
            self._refresh_token(ch, http),
        )

    # --- token ---------------------------------------------------------------------------

    def _refresh_due_ns(self, token: QuoteToken) -> int:
        by_age = token.issued_ns + int(self._cfg.token_max_age_s * 1e9)
        return min(by_age, _expires_ns(token) - int(self._cfg.token_refresh_margin_s * 1e9))

    async def _new_token(self, http: aiohttp.ClientSession) -> QuoteToken:
        token = await self._api.quote_token(http)
        self._token = token
        delayed = token.level == "demo" if self._cfg.delayed is None else self._cfg.delayed
        self._stats.delayed = delayed
        return token

    async def _usable_token(self, http: aiohttp.ClientSession) -> QuoteToken:
        """The current token unless it is due for refresh; a failed refresh keeps a live one."""
        token = self._token
        if token is not None and self._clock.now_ns() < self._refresh_due_ns(token):
            return token
        try:
            return await self._new_token(http)
        except (FeedError, aiohttp.ClientError, TimeoutError) as exc:
            if token is None or self._clock.now_ns() >= _expires_ns(token):
                raise
            self.log.warning("dxlink_token_refresh_failed", error=str(exc))
            return token

    async def _refresh_token(self, ch: WsChannel, http: aiohttp.ClientSession) -> None:
        """AUTH with a new token on the live connection before the current one is due."""
        while True:
            assert self._token is not None
            wait_s = (self._refresh_due_ns(self._token) - self._clock.now_ns()) / 1e9
            await asyncio.sleep(max(0.0, wait_s))
            current = self._token
            token = await self._usable_token(http)
            if token is current:  # the refresh failed; try again shortly
                await asyncio.sleep(self._cfg.action_timeout_s)
                continue
            await ch.send_json(protocol.auth(token.token))
            self.log.info("dxlink_token_refreshed", level=token.level)

    # --- handshake -----------------------------------------------------------------------

    async def _handshake(self, ch: WsChannel) -> float:
        """SETUP and AUTH; return how often to send KEEPALIVE."""
        assert self._token is not None
        await ch.send_json(protocol.setup(self._cfg.silence_timeout_s))
        server = await self._expect(ch, Setup)
        state = await self._expect(ch, AuthState)
        if state.state != "AUTHORIZED":
            await ch.send_json(protocol.auth(self._token.token))
            state = await self._expect(ch, AuthState)
        if state.state != "AUTHORIZED":
            self._token = None
            raise AuthError("quote token rejected (AUTH_STATE UNAUTHORIZED)")
        interval = self._cfg.keepalive_s
        if server.keepalive_timeout:
            interval = min(interval, server.keepalive_timeout / 2)
        return interval

    async def _open_feed(self, ch: WsChannel, decoder: FeedDataDecoder) -> None:
        channel = protocol.FEED_CHANNEL
        await ch.send_json(protocol.channel_request(channel))
        while (await self._expect(ch, ChannelOpened)).channel != channel:
            pass
        await ch.send_json(protocol.feed_setup(
            channel, self._cfg.event_types, self._cfg.aggregation_period_s))
        config = await self._expect(ch, FeedConfig)
        decoder.configure(config)

    async def _expect(self, ch: WsChannel, kind: type[M]) -> M:
        async with asyncio.timeout(self._cfg.action_timeout_s):
            while True:
                msg = await self._next(ch)
                if isinstance(msg, kind):
                    return msg
                if isinstance(msg, Error):
                    raise FeedError(f"server ERROR {msg.error}: {msg.message}")

    async def _next(self, ch: WsChannel) -> ServerMessage | Unhandled | None:
        """Receive and decode one frame; a malformed one is counted and yields None."""
        frame = await ch.receive()
        self._stats.messages += 1
        if frame.type is not aiohttp.WSMsgType.TEXT:
            self._parse_error(f"unexpected {frame.type.name} frame")
            return None
        try:
            return decode_message(frame.data)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            self._parse_error(str(exc))
            return None

    def _parse_error(self, detail: str) -> None:
        self._stats.parse_errors += 1
        self.log.warning("dxlink_bad_frame", detail=detail[:200])

    # --- subscriptions -------------------------------------------------------------------

    async def _subscribe(
        self, ch: WsChannel, http: aiohttp.ClientSession, wanted: Iterable[str],
        previous: set[protocol.Sub], *, reset: bool,
    ) -> set[protocol.Sub]:
        canonical = [c for c in wanted if _is_symbol(c)]
        await self._learn_futures(http, canonical)
        forward = self._symbols.update(canonical, self._futures, self._cfg.symbol_overrides)
        subs = {
            sub for c, s in forward.items()
            for sub in protocol.subs_for(s, _is_option(c), self._cfg.event_types)
        }
        frames = protocol.subscription_messages(
            protocol.FEED_CHANNEL, add=sorted(subs if reset else subs - previous),
            remove=() if reset else sorted(previous - subs), reset=reset,
            max_bytes=self.max_subscription_bytes,
        )
        for frame in frames:
            await ch.send_bytes_as_text(frame)
        self._stats.subscribed = len(forward)
        return subs

    async def _follow(
        self, ch: WsChannel, http: aiohttp.ClientSession, subscriptions: SubscriptionSource,
        version: int, subs: set[protocol.Sub],
    ) -> None:
        while True:
            version = await subscriptions.wait_changed(version)
            subs = await self._subscribe(ch, http, subscriptions.current(), subs, reset=False)
            self.log.info("dxlink_subscriptions_updated", subscribed=self._stats.subscribed)

    async def _learn_futures(self, http: aiohttp.ClientSession, canonical: list[str]) -> None:
        """Ask REST for VX streamer symbols the first time an expiry is needed."""
        expiries = {
            inst.expiry for inst in map(symbols.parse, canonical)
            if inst.kind is symbols.Kind.FUTURE and inst.expiry is not None
        }
        missing = expiries - self._futures.keys() - self._futures_asked
        if not missing:
            return
        self._futures_asked |= missing
        try:
            self._futures.update(await self._api.vx_futures(http))
        except (FeedError, aiohttp.ClientError, TimeoutError) as exc:
            self.log.warning("dxlink_futures_lookup_failed", error=str(exc))
        if unlisted := sorted(missing - self._futures.keys()):
            self.log.warning("dxlink_futures_symbol_fallback", expiries=[str(d) for d in unlisted])

    # --- streaming -----------------------------------------------------------------------

    async def _stream(self, ch: WsChannel, decoder: FeedDataDecoder) -> None:
        while True:
            msg = await self._next(ch)
            match msg:
                case FeedData(channel=protocol.FEED_CHANNEL):
                    self._apply(decoder.decode(msg, self._clock.now_ns()))
                case FeedConfig(channel=protocol.FEED_CHANNEL):
                    decoder.configure(msg)
                case AuthState(state="AUTHORIZED"):
                    pass
                case AuthState():
                    self._token = None
                    raise AuthError("server no longer accepts the quote token")
                case ChannelClosed(channel=protocol.FEED_CHANNEL):
                    raise FeedError("server closed the feed channel")
                case Error():
                    self.log.warning("dxlink_server_error", error=msg.error, message=msg.message)

    def _apply(self, decoded: Decoded) -> None:
        if decoded.errors:
            self._stats.parse_errors += decoded.errors
            self.log.warning("dxlink_bad_events", count=decoded.errors)
        self._deliver(decoded.quotes)
        for g in decoded.greeks:
            self.greeks[g.sym] = g
        for s in decoded.summaries:
            self.summaries[s.sym] = s


def _expires_ns(token: QuoteToken) -> int:
    return token.expires_ns or token.issued_ns + int(TOKEN_LIFETIME_S * 1e9)


def _is_symbol(canonical: str) -> bool:
    try:
        symbols.parse(canonical)
    except symbols.SymbolError:
        return False
    return True


def _is_option(canonical: str) -> bool:
    return symbols.parse(canonical).kind is symbols.Kind.OPTION
