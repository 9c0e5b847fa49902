"""Tradier REST calls: the streaming session and the option chain (listed strikes).

The token is read (and registered for log redaction) for every call. Chains for a whole SPX
expiry fan-out would hit the 120 requests/minute limit, so a 429 waits for the window Tradier
names in ``X-Ratelimit-Expiry`` (epoch ms) before one more try.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

import aiohttp
import msgspec

from adapters.base import AuthError, FeedError
from adapters.tradier import parsing
from adapters.tradier.config import TradierFeedConfig
from monitor.clock import Clock
from monitor.secrets import read_secret

T = TypeVar("T")
_MAX_RATE_LIMIT_WAIT_S = 60.0


class RateLimited(FeedError):
    def __init__(self, retry_after_s: float) -> None:
        super().__init__(f"rate limited for {retry_after_s:.1f}s")
        self.retry_after_s = retry_after_s


class StreamSession(msgspec.Struct, frozen=True):
    url: str
    session_id: str
    created_ns: int

    def __repr__(self) -> str:
        return f"StreamSession(url={self.url!r})"


class TradierApi:
    def __init__(self, cfg: TradierFeedConfig, clock: Clock) -> None:
        self._cfg = cfg
        self._clock = clock

    def _headers(self) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {read_secret(self._cfg.token)}",
            "Accept": "application/json",
        }

    async def create_session(self, http: aiohttp.ClientSession) -> StreamSession:
        """Create a market streaming session (valid 5 minutes; one open at a time)."""
        raw = await self._call(http, "POST", "/v1/markets/events/session", data=b"")
        url, session_id = _parsed(parsing.parse_session, raw)
        return StreamSession(url, session_id, self._clock.now_ns())

    async def expirations(
        self, http: aiohttp.ClientSession, symbol: str, *, strikes: bool = False,
    ) -> dict[dt.date, list[float]]:
        params = {"symbol": symbol, "includeAllRoots": "true",
                  "strikes": "true" if strikes else "false"}
        raw = await self._call(http, "GET", "/v1/markets/options/expirations", params=params)
        return _parsed(parsing.parse_expirations, raw)

    async def chain(
        self, http: aiohttp.ClientSession, symbol: str, expiration: dt.date, *,
        greeks: bool = False,
    ) -> list[parsing.ChainRow]:
        params = {"symbol": symbol, "expiration": expiration.isoformat(),
                  "greeks": "true" if greeks else "false"}
        raw = await self._call(http, "GET", "/v1/markets/options/chains", params=params)
        return _parsed(parsing.parse_chain, raw)

    async def _call(
        self, http: aiohttp.ClientSession, method: str, path: str, *,
        params: dict[str, str] | None = None, data: bytes | None = None,
    ) -> bytes:
        url = self._cfg.api_url.rstrip("/") + path
        timeout = aiohttp.ClientTimeout(total=self._cfg.request_timeout_s)
        async with http.request(method, url, params=params, data=data,
                                headers=self._headers(), timeout=timeout) as resp:
            body = await resp.read()
            if resp.status == 429:
                raise RateLimited(self._retry_after_s(resp.headers))
        if resp.status in (401, 403):
            raise AuthError(f"{method} {path}: HTTP {resp.status} {parsing.api_error(body)}")
        if resp.status >= 400:
            raise FeedError(f"{method} {path}: HTTP {resp.status} {parsing.api_error(body)}")
        return body

    def _retry_after_s(self, headers: Any) -> float:
        expiry_ms = headers.get("X-Ratelimit-Expiry")
        if expiry_ms is None:
            return 1.0
        wait_s = (int(expiry_ms) * 1_000_000 - self._clock.now_ns()) / 1e9
        return min(_MAX_RATE_LIMIT_WAIT_S, max(0.0, wait_s))


def _parsed(parse: Callable[[bytes], T], raw: bytes) -> T:
    try:
        return parse(raw)
    except (msgspec.DecodeError, msgspec.ValidationError, ValueError) as exc:
        raise FeedError(f"unexpected body ({exc})") from exc


async def listed_strikes(
    api: TradierApi, http: aiohttp.ClientSession, underlying: str,
    expiries: Iterable[dt.date] | None = None,
) -> dict[tuple[str, dt.date], list[float]]:
    """Return listed strikes per (root, expiry) for ``underlying`` (SPX gives SPX and SPXW).

    Expirations come from ``includeAllRoots=true``; each needed expiry's chain names the root
    of every row. ``expiries`` limits the chains fetched (default: all listed).
    """
    listed = await _with_rate_limit(functools.partial(api.expirations, http, underlying))
    wanted = sorted(listed if expiries is None else set(expiries) & listed.keys())
    out: dict[tuple[str, dt.date], list[float]] = {}
    for expiry in wanted:
        rows = await _with_rate_limit(functools.partial(api.chain, http, underlying, expiry))
        out.update(parsing.listed_strikes(rows))
    return out


async def _with_rate_limit(call: Callable[[], Awaitable[T]], attempts: int = 3) -> T:
    for _ in range(attempts - 1):
        try:
            return await call()
        except RateLimited as exc:
            await asyncio.sleep(exc.retry_after_s)
    return await call()
