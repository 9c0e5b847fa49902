"""What each HTTP answer means for the next step: delivered, retry, dead-letter, disable."""

from __future__ import annotations

import pytest

from monitor.sinks.base import Delivered, Disable, Reject, Retry
from monitor.sinks.slack import classify_slack
from monitor.sinks.transport import HttpAnswer
from monitor.sinks.webhook import classify_webhook


def answer(status: int, body: str = "", retry_after: str | None = None) -> HttpAnswer:
    return HttpAnswer(status, retry_after, body)


@pytest.mark.parametrize(
    ("status", "kind"),
    [(200, Delivered), (202, Delivered), (204, Delivered), (500, Retry), (502, Retry),
     (503, Retry), (504, Retry), (429, Retry), (408, Retry), (401, Retry), (403, Retry),
     (404, Retry), (301, Retry), (400, Reject), (413, Reject), (422, Reject), (410, Disable)],
)  # fmt: skip
def test_webhook_answers(status: int, kind: type) -> None:
    assert isinstance(classify_webhook(answer(status), now_ns=0), kind)


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [(200, "ok", Delivered), (410, "channel_is_archived", Disable),
     (404, "channel_not_found", Disable), (403, "invalid_token", Disable),
     (400, "invalid_payload", Reject), (429, "rate_limited", Retry), (500, "rollup_error", Retry),
     (503, "", Retry)],
)  # fmt: skip
def test_slack_answers(status: int, body: str, kind: type) -> None:
    assert isinstance(classify_slack(answer(status, body), now_ns=0), kind)


@pytest.mark.parametrize("classify", [classify_webhook, classify_slack])
@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_is_passed_on(classify: object, status: int) -> None:
    outcome = classify(answer(status, retry_after="42"), now_ns=0)  # type: ignore[operator]
    assert outcome == Retry(f"HTTP {status}", 42.0)


def test_the_error_names_the_status_and_the_start_of_the_body_on_one_line() -> None:
    outcome = classify_slack(answer(410, "channel_is_archived\n"), now_ns=0)
    assert outcome == Disable("HTTP 410: channel_is_archived")
