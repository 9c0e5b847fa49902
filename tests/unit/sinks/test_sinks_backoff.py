"""Retry timing: exponential, jittered downwards, Retry-After, and the maximum age."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.sinks.backoff import backoff_delay_s, next_delay_s, parse_retry_after
from monitor.sinks.config import RetryConfig

POLICY = RetryConfig(initial_delay_s=1.0, multiplier=2.0, max_delay_s=60.0, jitter=0.0)


def test_delays_double_from_the_initial_delay_up_to_the_cap() -> None:
    delays = [backoff_delay_s(POLICY, n, 0.0) for n in range(1, 10)]
    assert delays == [1, 2, 4, 8, 16, 32, 60, 60, 60]


@given(
    attempt=st.integers(1, 10_000),
    rand=st.floats(0, 1, exclude_max=True),
    jitter=st.floats(0, 1),
)
def test_jitter_only_ever_shortens_a_delay_and_never_below_its_share(
    attempt: int, rand: float, jitter: float
) -> None:
    policy = RetryConfig(initial_delay_s=0.5, multiplier=3.0, max_delay_s=300.0, jitter=jitter)
    nominal = backoff_delay_s(
        RetryConfig(initial_delay_s=0.5, multiplier=3.0, max_delay_s=300.0, jitter=0), attempt, 0
    )
    delay = backoff_delay_s(policy, attempt, rand)
    assert nominal * (1 - jitter) - 1e-9 <= delay <= nominal


@given(attempt=st.integers(1, 10_000), rand=st.floats(0, 1, exclude_max=True))
def test_by_default_a_failing_receiver_is_tried_again_within_five_seconds(
    attempt: int, rand: float
) -> None:
    delay = backoff_delay_s(RetryConfig(), attempt, rand)
    assert 0 < delay <= 5.0


def test_retry_after_replaces_the_backoff_and_is_capped() -> None:
    policy = RetryConfig(max_retry_after_s=120.0, jitter=0.0)
    assert next_delay_s(policy, attempt=1, rand=0, retry_after_s=30.0, age_s=0) == 30.0
    assert next_delay_s(policy, attempt=1, rand=0, retry_after_s=9999.0, age_s=0) == 120.0


def test_the_last_wait_is_cut_so_the_final_attempt_lands_on_the_maximum_age() -> None:
    policy = RetryConfig(initial_delay_s=300.0, max_delay_s=300.0, max_age_s=1000.0, jitter=0.0)
    assert next_delay_s(policy, attempt=1, rand=0, retry_after_s=None, age_s=900.0) == 100.0


def test_past_the_maximum_age_there_is_no_next_attempt() -> None:
    policy = RetryConfig(max_age_s=1000.0)
    assert next_delay_s(policy, attempt=3, rand=0, retry_after_s=None, age_s=1000.0) is None
    assert next_delay_s(policy, attempt=3, rand=0, retry_after_s=5.0, age_s=1e6) is None


@pytest.mark.parametrize(
    ("header", "expected"),
    [("120", 120.0), (" 7 ", 7.0), ("0", 0.0), ("-3", 0.0), ("1.5", 1.5), (None, None),
     ("", None), ("soon", None)],
)  # fmt: skip
def test_retry_after_in_seconds(header: str | None, expected: float | None) -> None:
    assert parse_retry_after(header, now_ns=0) == expected


def test_retry_after_as_an_http_date_counts_from_now() -> None:
    now = datetime(2026, 11, 24, 14, 30, 0, tzinfo=UTC)
    later = datetime(2026, 11, 24, 14, 31, 30, tzinfo=UTC)
    header = format_datetime(later, usegmt=True)
    assert parse_retry_after(header, now_ns=int(now.timestamp()) * 10**9) == 90.0
    assert parse_retry_after(header, now_ns=int(later.timestamp() + 60) * 10**9) == 0.0
