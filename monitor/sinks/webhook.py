"""The webhook sink: version-1 JSON bodies signed per the Standard Webhooks spec.

``webhook-id`` is the message id (stable across retries: the receiver's idempotency key),
``webhook-timestamp`` is the attempt's time, and every configured secret signs the message.
"""

from __future__ import annotations

from collections.abc import Sequence

import aiohttp

from monitor.sinks.backoff import parse_retry_after
from monitor.sinks.base import Delivered, Disable, Message, Outcome, Reject, Retry
from monitor.sinks.payload import webhook_body
from monitor.sinks.signing import webhook_headers
from monitor.sinks.transport import HttpAnswer, post

NS = 1_000_000_000
# the request itself is wrong: sending the same bytes again cannot succeed
_REJECTED = frozenset({400, 405, 413, 415, 422})


def classify_webhook(answer: HttpAnswer, now_ns: int) -> Outcome:
    """Map a receiver's answer to what the worker does next.

    2xx delivered; 410 disables the sink (the spec's "endpoint retired"); 400/405/413/415/422
    dead-letter at once; everything else (5xx, 429, 408, 401/403/404 while a receiver is being
    fixed, 3xx) is retried, after ``Retry-After`` when the receiver sends one.
    """
    if 200 <= answer.status < 300:
        return Delivered(answer.status)
    if answer.status == 410:
        return Disable(answer.describe())
    if answer.status in _REJECTED:
        return Reject(answer.describe())
    return Retry(answer.describe(), parse_retry_after(answer.retry_after, now_ns))


class WebhookSink:
    kind = "webhook"

    def __init__(
        self,
        *,
        name: str,
        url: str,
        keys: Sequence[bytes],
        timeout_s: float,
        session: aiohttp.ClientSession,
    ) -> None:
        self.name = name
        self._url = url
        self._keys = tuple(keys)
        self._timeout_s = timeout_s
        self._session = session

    async def send(self, message: Message, now_ns: int) -> Outcome:
        body = webhook_body(message)
        headers = webhook_headers(self._keys, message.id, now_ns // NS, body)
        answer = await post(self._session, self._url, body, headers, timeout_s=self._timeout_s)
        if isinstance(answer, Retry):
            return answer
        return classify_webhook(answer, now_ns)
