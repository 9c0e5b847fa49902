"""One HTTP POST, with every way it can fail turned into a value.

Error texts pass through the log redaction (``redact_text``): they end up in logs, in the
dead-letter stream and in the status API, and a URL may carry a token.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import aiohttp

from monitor.logging import redact_text
from monitor.sinks.base import Retry

USER_AGENT = "vixmon-alerts/1"
_BODY_KEEP = 300


@dataclass(frozen=True, slots=True)
class HttpAnswer:
    status: int
    retry_after: str | None
    body: str
    """The start of the response body, for error messages (Slack puts its error code there)."""

    def describe(self) -> str:
        text = " ".join(self.body.split())
        return redact_text(f"HTTP {self.status}" + (f": {text}" if text else ""))


async def post(
    session: aiohttp.ClientSession,
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    timeout_s: float,
) -> HttpAnswer | Retry:
    """POST ``body``; return the answer, or a ``Retry`` for timeouts and connection errors."""
    try:
        async with session.post(
            url,
            data=body,
            headers={"content-type": "application/json", "user-agent": USER_AGENT, **headers},
            timeout=aiohttp.ClientTimeout(total=timeout_s),
            allow_redirects=False,
        ) as resp:
            # read it all so the keep-alive connection can be reused (latency)
            text = (await resp.read()).decode(errors="replace")
            return HttpAnswer(resp.status, resp.headers.get("Retry-After"), text[:_BODY_KEEP])
    except TimeoutError:
        return Retry(f"timeout after {timeout_s:g} s")
    except aiohttp.ClientError as exc:
        return Retry(redact_text(f"{type(exc).__name__}: {exc}"))
