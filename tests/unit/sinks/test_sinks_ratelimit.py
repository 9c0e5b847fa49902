"""The token bucket: a burst goes at once, then one message per 1/per_s seconds."""

from __future__ import annotations

import pytest

from monitor.sinks.ratelimit import TokenBucket

NS = 1_000_000_000


def test_a_burst_goes_at_once_then_messages_are_spaced_at_the_rate() -> None:
    bucket = TokenBucket(per_s=1.0, burst=3, now_ns=0)
    assert [bucket.reserve(0) for _ in range(5)] == [0.0, 0.0, 0.0, 1.0, 2.0]


def test_waiting_out_a_reservation_makes_the_next_one_wait_one_interval() -> None:
    bucket = TokenBucket(per_s=2.0, burst=1, now_ns=0)
    assert bucket.reserve(0) == 0.0
    assert bucket.reserve(0) == 0.5
    assert bucket.reserve(NS // 2) == pytest.approx(0.5)


def test_tokens_refill_with_time_but_never_beyond_the_burst() -> None:
    bucket = TokenBucket(per_s=1.0, burst=2, now_ns=0)
    bucket.reserve(0)
    bucket.reserve(0)
    assert [bucket.reserve(3600 * NS) for _ in range(3)] == [0.0, 0.0, 1.0]


def test_a_bucket_needs_a_positive_rate_and_a_burst() -> None:
    with pytest.raises(ValueError):
        TokenBucket(per_s=0, burst=1, now_ns=0)
