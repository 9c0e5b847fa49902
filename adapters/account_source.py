"""What every broker account source does the same way (I/O): the REST refresh loop that is the
source of truth, applying one account's snapshot to the ``AccountState``, counting failures,
and the reconnect loop around a venue's push stream. The venue clients (``adapters/tastytrade``,
``adapters/tradier``) supply the requests and the stream session."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence

import aiohttp
import msgspec
import structlog

from adapters.base import Backoff, BackoffConfig, FeedError
from monitor.clock import Clock
from monitor.positions.accounts import AccountState, Balance
from monitor.positions.recognize import Position

log = structlog.get_logger(__name__)
DECODE_ERRORS = (msgspec.DecodeError, msgspec.ValidationError, ValueError, TypeError,
                 OverflowError)
NET_ERRORS = (aiohttp.ClientError, asyncio.TimeoutError, OSError)


def next_delay_s(backoff: Backoff, cap_s: float) -> float:
    """The backoff's next delay; an account source never gives up (no retry budget)."""
    delay = backoff.next_delay_s()
    return cap_s if delay is None else delay


class AccountStats(msgspec.Struct, kw_only=True):
    snapshots: int = 0
    errors: int = 0
    bad_messages: int = 0
    notifications: int = 0
    reconnects: int = 0
    last_error: str = ""


class AccountSource:
    """The state, counters and loops one ``[[accounts]]`` entry's client shares."""

    def __init__(self, *, source: str, name: str, book: str, stale_after_s: float,
                 backoff: BackoffConfig, clock: Clock, on_change: Callable[[], None]) -> None:
        self.clock = clock
        self.state = AccountState(source=source, book=book, stale_after_s=stale_after_s)
        self.stats = AccountStats()
        self.activity = asyncio.Event()
        """Set on every snapshot, message and failure (tests and watchers wait on it)."""
        self._name = name
        self._backoff = backoff
        self._on_change = on_change
        self._refresh_now = asyncio.Event()
        """Set to refresh at once (an order changed, the stream reconnected)."""

    async def snapshot(self, http: aiohttp.ClientSession) -> None:
        raise NotImplementedError

    def _apply_account(self, account: str, positions: Sequence[Position],
                       problems: Sequence[str], balance: Balance, requested_ns: int) -> None:
        """Replace one account's positions and balance with a REST snapshot."""
        for problem in problems:
            self.stats.bad_messages += 1
            log.warning("account_position_skipped", source=self._name, problem=problem)
        now = self.clock.now_ns()
        before = self.state.version
        self.state.apply_snapshot(account, positions, now, requested_ns=requested_ns)
        self.state.apply_balance(balance, now)
        if self.state.version != before:
            self._on_change()

    async def _refresh_loop(self, http: aiohttp.ClientSession, step: str,
                            interval_s: float) -> None:
        backoff = Backoff(self._backoff)
        while True:
            self._refresh_now.clear()
            try:
                await self.snapshot(http)
                backoff.reset()
                wait_s = interval_s
            except (FeedError, *NET_ERRORS) as exc:
                self._failed(step, exc)
                wait_s = next_delay_s(backoff, self._backoff.max_s)
            # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancellation
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait_s):
                    await self._refresh_now.wait()

    async def _stream_loop(self, http: aiohttp.ClientSession, step: str,
                           session: Callable[[aiohttp.ClientSession, Backoff], Awaitable[None]]
                           ) -> None:
        """Run the venue's push stream ``session`` again after every end, with backoff."""
        backoff = Backoff(self._backoff)
        while True:
            try:
                await session(http, backoff)
            except (FeedError, *NET_ERRORS) as exc:
                self._failed(step, exc)
            self.stats.reconnects += 1
            delay = next_delay_s(backoff, self._backoff.max_s)
            log.info("account_stream_reconnect", source=self._name, step=step, delay_s=delay)
            await asyncio.sleep(delay)

    def _failed(self, what: str, exc: BaseException) -> None:
        self.stats.errors += 1
        self.activity.set()
        self.stats.last_error = f"{what}: {exc}"[:300]
        log.warning("account_source_error", source=self._name, step=what, error=str(exc)[:300])
