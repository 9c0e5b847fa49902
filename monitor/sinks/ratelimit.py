"""A token bucket that hands out reservations: take a token now, wait if it is not there yet.

[pure] Time is passed in. One worker owns a bucket and sends sequentially, so a reservation
(tokens may go negative) is all the coordination needed.
"""

from __future__ import annotations

NS = 1_000_000_000


class TokenBucket:
    def __init__(self, *, per_s: float, burst: int, now_ns: int) -> None:
        if per_s <= 0 or burst < 1:
            raise ValueError("per_s must be > 0 and burst >= 1")
        self.per_s = per_s
        self.burst = float(burst)
        self._tokens = float(burst)
        self._updated_ns = now_ns

    def reserve(self, now_ns: int) -> float:
        """Take one token; return the seconds to wait before using it (0.0: go now)."""
        self._refill(now_ns)
        self._tokens -= 1.0
        if self._tokens >= 0:
            return 0.0
        return -self._tokens / self.per_s

    def _refill(self, now_ns: int) -> None:
        elapsed_s = max(now_ns - self._updated_ns, 0) / NS
        self._tokens = min(self.burst, self._tokens + elapsed_s * self.per_s)
        self._updated_ns = now_ns
