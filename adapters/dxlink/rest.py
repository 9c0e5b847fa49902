"""tastytrade REST calls the streamer needs: OAuth access token, quote token, VX futures.

Credentials are read (and registered for log redaction) on every token request, so rotated
credential files are picked up without a restart.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, TypeVar

import aiohttp
import msgspec

from adapters.base import AuthError, FeedError
from adapters.dxlink import parsing
from adapters.dxlink.config import DxLinkFeedConfig
from monitor.clock import Clock
from monitor.secrets import read_secret

_ACCESS_MARGIN_S = 60.0
T = TypeVar("T")


class TastytradeApi:
    """A small client; ``http`` is owned by the caller."""

    def __init__(self, cfg: DxLinkFeedConfig, clock: Clock) -> None:
        self._cfg = cfg
        self._clock = clock
        self._access: str | None = None
        self._access_expires_ns = 0

    def _headers(self, access: str | None = None) -> dict[str, str]:
        headers = {"User-Agent": self._cfg.user_agent, "Accept": "application/json"}
        if access is not None:
            headers["Authorization"] = f"Bearer {access}"
        return headers

    async def _access_token(self, http: aiohttp.ClientSession) -> str:
        now = self._clock.now_ns()
        if self._access is not None and now < self._access_expires_ns:
            return self._access
        body = {
            "grant_type": "refresh_token",
            "client_secret": read_secret(self._cfg.client_secret),
            "refresh_token": read_secret(self._cfg.refresh_token),
        }
        raw = await self._call(http, "POST", "/oauth/token", json=body)
        self._access, lifetime_s = _parsed("/oauth/token", parsing.parse_oauth, raw)
        self._access_expires_ns = now + int(max(0.0, lifetime_s - _ACCESS_MARGIN_S) * 1e9)
        return self._access

    async def quote_token(self, http: aiohttp.ClientSession) -> parsing.QuoteToken:
        """Fetch a fresh API quote token (and the DXLink URL that goes with it)."""
        access = await self._access_token(http)
        raw = await self._call(http, "GET", "/api-quote-tokens", access=access)
        return _parsed("/api-quote-tokens", parsing.parse_quote_token, raw, self._clock.now_ns())

    async def vx_futures(self, http: aiohttp.ClientSession) -> dict[dt.date, str]:
        """Return VX final settlement date -> streamer symbol for the listed futures."""
        access = await self._access_token(http)
        raw = await self._call(
            http, "GET", "/instruments/futures", access=access,
            params={"product-code[]": "VX"},
        )
        return _parsed("/instruments/futures", parsing.parse_futures, raw)

    async def _call(
        self, http: aiohttp.ClientSession, method: str, path: str, *,
        access: str | None = None, json: object = None, params: dict[str, str] | None = None,
    ) -> bytes:
        url = self._cfg.api_url.rstrip("/") + path
        timeout = aiohttp.ClientTimeout(total=self._cfg.request_timeout_s)
        async with http.request(
            method, url, json=json, params=params, headers=self._headers(access), timeout=timeout,
        ) as resp:
            body = await resp.read()
        if resp.status in (401, 403):
            if access is not None:
                self._access = None
            raise AuthError(f"{method} {path}: HTTP {resp.status} {parsing.api_error(body)}")
        if resp.status >= 400:
            raise FeedError(f"{method} {path}: HTTP {resp.status} {parsing.api_error(body)}")
        return body


def _parsed(path: str, parse: Callable[..., T], *args: Any) -> T:
    try:
        return parse(*args)
    except (msgspec.DecodeError, msgspec.ValidationError, ValueError, OverflowError) as exc:
        # a body we cannot use fails the session (reconnect with backoff), never the daemon
        raise FeedError(f"{path}: unexpected body ({exc})") from exc
