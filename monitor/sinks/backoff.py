"""Retry timing: exponential backoff with jitter, ``Retry-After``, and the maximum age. [pure]"""

from __future__ import annotations

from email.utils import parsedate_to_datetime

from monitor.sinks.config import RetryConfig

NS = 1_000_000_000
_MAX_EXPONENT = 64  # keeps multiplier ** n finite; the delay is capped long before this


def backoff_delay_s(policy: RetryConfig, attempt: int, rand: float) -> float:
    """Return the wait before retry ``attempt`` (1 = first retry); ``rand`` is in [0, 1)."""
    exponent = min(max(attempt - 1, 0), _MAX_EXPONENT)
    base = min(policy.max_delay_s, policy.initial_delay_s * policy.multiplier**exponent)
    return base * (1.0 - policy.jitter * rand)


def next_delay_s(
    policy: RetryConfig,
    *,
    attempt: int,
    rand: float,
    retry_after_s: float | None,
    age_s: float,
) -> float | None:
    """Return how long to wait before the next attempt, or None to give up (too old).

    A receiver's ``Retry-After`` replaces the backoff delay (capped); the last wait is cut so
    that the final attempt happens at the maximum age rather than after it.
    """
    remaining_s = policy.max_age_s - age_s
    if remaining_s <= 0:
        return None
    if retry_after_s is not None:
        delay_s = min(max(retry_after_s, 0.0), policy.max_retry_after_s)
    else:
        delay_s = backoff_delay_s(policy, attempt, rand)
    return min(delay_s, remaining_s)


def parse_retry_after(value: str | None, now_ns: int) -> float | None:
    """Return the seconds a ``Retry-After`` header asks for (delta-seconds or HTTP-date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(when.timestamp() - now_ns / NS, 0.0)
