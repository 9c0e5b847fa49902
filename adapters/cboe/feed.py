"""Cboe delayed quotes: poll the public JSON files for what is subscribed.

One poller per file (``options/_SPX.json``, ``options/_VIX.json``, ``quotes/_<index>.json``, the
VX futures list), each on its own schedule:

    wait ─► skip if nothing in the file is subscribed ─► GET (If-None-Match/If-Modified-Since)
      ─► 200: parse, deliver (delayed) quotes; 304: nothing new ─► next wait = max(5 s floor,
      poll_interval_s, Cache-Control freshness)
      ─► 403 / 5xx / no byte for silence_timeout_s: retry after a jittered backoff (per file)

Every quote is flagged delayed and so is the feed. The CDN keeps republishing frozen quotes
after the close; unchanged quotes are not published again. Each options file's listed strikes
(every contract in it, subscribed or not) go to ``listed`` for the subscription window.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp
import msgspec

from adapters.base import Backoff, FeedError, ReconnectingFeed, SubscriptionSource, run_supervised
from adapters.cboe import parsing
from adapters.cboe.config import CboeFeedConfig
from adapters.cboe.symbols import index_path
from monitor import symbols
from monitor.clock import Clock
from monitor.model import Quote
from monitor.subscriptions import ListedStrikes

MIN_POLL_INTERVAL_S = 5.0


@dataclass(slots=True)
class Resource:
    """One polled file: its URL, what makes it wanted, and its HTTP cache validators."""

    name: str
    url: str
    wanted: Callable[[frozenset[str]], bool]
    parse: Callable[[bytes, int, frozenset[str]], list[Quote]]
    etag: str | None = None
    last_modified: str | None = None
    ok: bool = False


class Blocked(FeedError):
    """The CDN refused us (403): back off."""


class CboeFeed(ReconnectingFeed):
    def __init__(
        self, cfg: CboeFeedConfig, clock: Clock, *, rng: random.Random | None = None,
        min_interval_s: float = MIN_POLL_INTERVAL_S, listed: ListedStrikes | None = None,
    ) -> None:
        super().__init__(cfg.name, clock, cfg.backoff, delayed=True, rng=rng)
        self._cfg = cfg
        self.listed = listed
        self._rng = rng or random.Random()
        self._min_interval_s = min_interval_s
        self.resources = self._resources()

    def _resources(self) -> list[Resource]:
        cdn = self._cfg.cdn_url.rstrip("/")
        out = [
            Resource(f"options/_{u}", f"{cdn}/options/_{u}.json", _wants_options_on(u),
                     self._parse_options)
            for u in self._cfg.option_underlyings
        ]
        out += [
            Resource(f"quotes/{index_path(i)}", f"{cdn}/quotes/{index_path(i)}.json",
                     _wants_symbol(i), _parse_quotes)
            for i in self._cfg.indices
        ]
        out.append(
            Resource("futures", self._cfg.futures_url, _wants_futures, parsing.parse_futures))
        return out

    def _headers(self) -> dict[str, str]:
        headers = {"User-Agent": self._cfg.user_agent, "Accept": "application/json",
                   "Accept-Encoding": "gzip, deflate"}
        if self._cfg.browser_headers:
            headers |= {"Origin": "https://www.cboe.com", "Referer": "https://www.cboe.com/"}
        return headers

    async def _session(self, subscriptions: SubscriptionSource) -> None:
        timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=self._cfg.silence_timeout_s,
            sock_read=self._cfg.silence_timeout_s,
        )
        async with aiohttp.ClientSession(timeout=timeout, headers=self._headers()) as http:
            pollers = [self._poll(http, r, subscriptions) for r in self.resources]
            await run_supervised(*pollers)

    async def _poll(self, http: aiohttp.ClientSession, res: Resource,
                    subscriptions: SubscriptionSource) -> None:
        backoff = Backoff(self._cfg.backoff, self._rng)
        while True:
            wanted = subscriptions.current()
            delay = self._min_interval_s
            if res.wanted(wanted):
                delay = await self._poll_once(http, res, wanted, backoff)
            await asyncio.sleep(delay)

    async def _poll_once(self, http: aiohttp.ClientSession, res: Resource,
                         wanted: frozenset[str], backoff: Backoff) -> float:
        """Fetch once; return the delay before the next fetch."""
        try:
            delay = await self._fetch(http, res, wanted)
        except (FeedError, aiohttp.ClientError, TimeoutError) as exc:
            res.ok = False
            self._stats.connected = any(r.ok for r in self.resources)
            if isinstance(exc, TimeoutError):
                self._stats.stalls += 1
            retry = backoff.next_delay_s()
            if retry is None:
                raise
            self._stats.reconnects += 1
            self.log.warning("cboe_poll_failed", file=res.name, error=repr(exc),
                             delay_s=round(retry, 3), retries_left=backoff.retries_left)
            return retry
        backoff.reset()
        self._backoff.reset()
        res.ok = True
        self._stats.connected = True
        return delay

    async def _fetch(self, http: aiohttp.ClientSession, res: Resource,
                     wanted: frozenset[str]) -> float:
        headers = {}
        if res.etag:
            headers["If-None-Match"] = res.etag
        if res.last_modified:
            headers["If-Modified-Since"] = res.last_modified
        async with http.get(res.url, headers=headers) as resp:
            if resp.status == 403:
                raise Blocked(f"{res.name}: HTTP 403")
            if resp.status >= 400:
                raise FeedError(f"{res.name}: HTTP {resp.status}")
            delay = parsing.poll_delay_s(resp.headers.get("Cache-Control"),
                                         self._cfg.poll_interval_s, self._min_interval_s)
            if resp.status == 304:
                return delay
            body = await resp.read()
            res.etag = resp.headers.get("ETag")
            res.last_modified = resp.headers.get("Last-Modified")
        self._stats.messages += 1
        self._stats.subscribed = len(wanted)
        self._apply(res, body, wanted)
        return delay

    def _apply(self, res: Resource, body: bytes, wanted: frozenset[str]) -> None:
        try:
            quotes = res.parse(body, self._clock.now_ns(), wanted)
        except (msgspec.DecodeError, msgspec.ValidationError, ValueError) as exc:
            self._stats.parse_errors += 1
            res.etag = res.last_modified = None
            self.log.warning("cboe_bad_file", file=res.name, error=str(exc)[:200])
            return
        self._deliver(quotes)

    def _parse_options(self, body: bytes, received_ns: int, wanted: frozenset[str]) -> list[Quote]:
        keep = self.listed is not None
        snap = parsing.parse_quotes_file(body, received_ns, wanted, keep_options=keep)
        if self.listed is not None and self.listed.update(parsing.listed_strikes(snap.options)):
            self.log.info("cboe_listed_strikes", chains=len(self.listed.current()))
        return snap.quotes


def _parse_quotes(body: bytes, received_ns: int, wanted: frozenset[str]) -> list[Quote]:
    return parsing.parse_quotes_file(body, received_ns, wanted).quotes


def _wants_options_on(underlying: str) -> Callable[[frozenset[str]], bool]:
    def wants(wanted: frozenset[str]) -> bool:
        return any(_underlying_of_option(s) == underlying for s in wanted)

    return wants


def _underlying_of_option(sym: str) -> str | None:
    try:
        inst = symbols.parse(sym)
    except symbols.SymbolError:
        return None
    return inst.underlying if inst.kind is symbols.Kind.OPTION else None


def _wants_symbol(sym: str) -> Callable[[frozenset[str]], bool]:
    return lambda wanted: sym in wanted


def _wants_futures(wanted: frozenset[str]) -> bool:
    return any(s.startswith("VX") and s[2:].isdigit() for s in wanted)
