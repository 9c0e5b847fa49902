"""The Slack sink: an incoming webhook, Block Kit blocks plus the ``text`` fallback.

Slack answers errors with a status and a short code in the body: 404 ``channel_not_found`` /
``no_service``, 410 ``channel_is_archived`` and 403 ``invalid_token`` / ``action_prohibited``
mean the webhook will never work again (the sink is disabled); 400 (``invalid_payload``,
``invalid_blocks``…) is about this message (dead-lettered); 429 carries ``Retry-After``.
"""

from __future__ import annotations

import aiohttp
import msgspec

from monitor.sinks.backoff import parse_retry_after
from monitor.sinks.base import Delivered, Disable, Message, Outcome, Reject, Retry
from monitor.sinks.slack_blocks import slack_payload
from monitor.sinks.transport import HttpAnswer, post

_GONE = frozenset({403, 404, 410})
_ENCODER = msgspec.json.Encoder()


def classify_slack(answer: HttpAnswer, now_ns: int) -> Outcome:
    """Map Slack's answer to what the worker does next."""
    if 200 <= answer.status < 300:
        return Delivered(answer.status)
    if answer.status in _GONE:
        return Disable(answer.describe())
    if answer.status == 400:
        return Reject(answer.describe())
    return Retry(answer.describe(), parse_retry_after(answer.retry_after, now_ns))


class SlackSink:
    kind = "slack"

    def __init__(
        self, *, name: str, url: str, timeout_s: float, session: aiohttp.ClientSession
    ) -> None:
        self.name = name
        self._url = url
        self._timeout_s = timeout_s
        self._session = session

    async def send(self, message: Message, now_ns: int) -> Outcome:
        body = _ENCODER.encode(slack_payload(message))
        answer = await post(self._session, self._url, body, {}, timeout_s=self._timeout_s)
        if isinstance(answer, Retry):
            return answer
        return classify_slack(answer, now_ns)
