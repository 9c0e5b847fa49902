"""The feed adapter contract and the machinery every live adapter shares.

An adapter turns one venue's bytes into canonical ``Quote`` structs and hands them, in batches,
to a ``QuoteSink`` (the Redis Streams writer in production, a list in tests). Adapters own their
connect / subscribe / keepalive / reconnect / disconnect steps; the app only starts ``run`` as an
owned task and cancels it on shutdown.

Live adapters subclass ``ReconnectingFeed``. Its state machine:

    run ──► session: connect ─► handshake ─► subscribe ─► ready ─► stream ──┐
     ▲                                                                     │ venue close, error,
     │                                                                     │ stall (no frame for
     └──── sleep(backoff: exponential, jittered, capped; retries left) ◄───┘ silence_timeout_s)

``ready`` resets the backoff. Running out of retries raises ``FeedGaveUp`` (there is no limit by
default). Quotes go through a ``QuoteBuffer``: the socket reader never waits for the sink, so a
slow sink cannot make the venue see a slow consumer or trip our own watchdog; while the sink is
busy, newer quotes for a symbol replace older ones (the engine only keeps the latest anyway).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from abc import ABC, abstractmethod
from collections.abc import Coroutine, Iterable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Protocol

import aiohttp
import msgspec
import structlog

from monitor.clock import Clock
from monitor.model import Quote
from monitor.quotes import encodable, encode_batch

log = structlog.get_logger(__name__)


@dataclass(slots=True)
class FeedStats:
    """Counters an adapter keeps about itself; the metrics collector reads them on scrape."""

    delayed: bool = False
    connected: bool = False
    reconnects: int = 0
    messages: int = 0
    quotes: int = 0
    parse_errors: int = 0
    last_quote_ts_ns: int = 0
    """Venue time of the newest quote received (a delayed feed lags the wall clock)."""
    stalls: int = 0
    """Sessions dropped by the receive-silence watchdog."""
    subscribed: int = 0
    """Venue symbols currently subscribed (or polled for)."""
    conflated: int = 0
    """Quotes replaced by a newer one for the same symbol before the sink took them."""
    publish_errors: int = 0
    dropped: int = 0
    """Quotes dropped because no valid entry can carry them (a ``ts`` outside int64)."""


class QuoteSink(Protocol):
    """Where adapters put quotes. ``publish`` may wait: that is the back-pressure."""

    async def publish(self, feed: str, quotes: Sequence[Quote]) -> None: ...


class SubscriptionSource(Protocol):
    """The set of canonical symbols the feeds should carry; it changes on portfolio reload."""

    def current(self) -> frozenset[str]: ...

    async def wait_changed(self, version: int) -> int:
        """Return the new version once it differs from ``version``."""
        ...

    @property
    def version(self) -> int: ...


class FeedAdapter(Protocol):
    """A running feed. ``run`` returns only when the feed is finished (replay) or cancelled."""

    @property
    def name(self) -> str: ...

    @property
    def stats(self) -> FeedStats: ...

    async def run(self, sink: QuoteSink, subscriptions: SubscriptionSource) -> None: ...


class FeedError(Exception):
    """A session ended abnormally; the adapter reconnects after a backoff."""


class StallError(FeedError):
    """Nothing arrived for the silence limit although the socket looked open."""


class AuthError(FeedError):
    """The venue rejected our credentials or token."""


class SessionClosed(FeedError):
    """The venue closed the connection (``code`` is the websocket close code, if any)."""

    def __init__(self, code: int | None, detail: str = "") -> None:
        super().__init__(f"closed by venue (code {code}){': ' + detail if detail else ''}")
        self.code = code


class FeedGaveUp(RuntimeError):
    """The adapter ran out of reconnect attempts."""


class BackoffConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Reconnect delays: ``initial_s`` x ``multiplier`` per failure, capped, with jitter."""

    initial_s: Annotated[float, msgspec.Meta(gt=0)] = 1.0
    max_s: Annotated[float, msgspec.Meta(gt=0)] = 60.0
    multiplier: Annotated[float, msgspec.Meta(ge=1, le=100)] = 2.0
    jitter: Annotated[float, msgspec.Meta(ge=0, le=1)] = 0.5
    """Fraction of each delay that is random (0: none, 1: anywhere in [0, delay])."""
    max_retries: Annotated[int, msgspec.Meta(ge=0)] | None = None
    """Consecutive failed attempts before giving up; None retries forever."""


class Backoff:
    """Exponential backoff with jitter and a cap; counts consecutive failures."""

    def __init__(self, cfg: BackoffConfig, rng: random.Random | None = None) -> None:
        self._cfg = cfg
        self._rng = rng or random.Random()
        self.failures = 0

    def reset(self) -> None:
        self.failures = 0

    @property
    def retries_left(self) -> int | None:
        """Attempts still allowed, or None when unlimited."""
        if self._cfg.max_retries is None:
            return None
        return max(0, self._cfg.max_retries - self.failures)

    def next_delay_s(self) -> float | None:
        """Record a failure; return the delay before the next attempt, or None when exhausted."""
        self.failures += 1
        if self._cfg.max_retries is not None and self.failures > self._cfg.max_retries:
            return None
        cfg = self._cfg
        # grow only while below the cap: multiplier ** failures overflows a float after ~1,000
        # failures (hours of outage at a 60 s cap), which would kill the feed it protects
        grown = cfg.initial_s * cfg.multiplier ** min(self.failures - 1, 64)
        base = min(cfg.max_s, grown)
        return base * (1.0 - cfg.jitter * self._rng.random())


def merge_quote(prev: Quote | None, update: Quote) -> Quote:
    """Fold a venue update into the symbol's previous full quote.

    Venues send book updates (bid/ask/sizes) and trade prints (last) separately, while the
    engine treats a quote's bid/ask as the whole book. A trade print (no book field, ``last``
    set) keeps the previous book; a book update keeps the previous ``last`` when it has none.
    Settlement data (``settle``, ``settle_date``, ``open_interest``) is kept until a newer one
    arrives; a settlement-only update (a Summary event, an untraded Cboe future) keeps the book
    and the last trade, like a trade print.
    """
    if prev is None:
        return update
    settles = update.settle is not None or update.open_interest is not None
    if not settles and (prev.settle is not None or prev.open_interest is not None):
        update = msgspec.structs.replace(
            update, settle=prev.settle, settle_date=prev.settle_date,
            open_interest=prev.open_interest,
        )
    elif settles and update.bid is None and update.ask is None and update.last is None:
        return msgspec.structs.replace(
            prev, ts=max(prev.ts, update.ts), delayed=update.delayed,
            settle=update.settle if update.settle is not None else prev.settle,
            settle_date=update.settle_date if update.settle is not None else prev.settle_date,
            open_interest=update.open_interest if update.open_interest is not None
            else prev.open_interest,
        )
    ts = max(prev.ts, update.ts)
    book_absent = (
        update.bid is None
        and update.ask is None
        and update.bid_size is None
        and update.ask_size is None
    )
    if book_absent and update.last is not None:
        return msgspec.structs.replace(prev, ts=ts, last=update.last, delayed=update.delayed)
    if update.last is None and prev.last is not None:
        return msgspec.structs.replace(update, ts=ts, last=prev.last)
    return update if ts == update.ts else msgspec.structs.replace(update, ts=ts)


class QuoteBuffer:
    """Full latest quote per symbol, and the ones the sink has not taken yet."""

    def __init__(self, stats: FeedStats, *, max_batch: int = 2_000) -> None:
        self._stats = stats
        self._max_batch = max_batch
        self._state: dict[str, Quote] = {}
        self._pending: dict[str, Quote] = {}
        self._wakeup = asyncio.Event()

    def put(self, quotes: Iterable[Quote]) -> int:
        """Merge venue updates; return how many changed a symbol's quote."""
        changed = 0
        stats = self._stats
        for update in quotes:
            stats.quotes += 1
            if not encodable(update):
                stats.dropped += 1
                continue
            stats.last_quote_ts_ns = max(stats.last_quote_ts_ns, update.ts)
            prev = self._state.get(update.sym)
            merged = merge_quote(prev, update)
            if merged == prev:
                continue
            self._state[update.sym] = merged
            if self._pending.pop(update.sym, None) is not None:
                stats.conflated += 1
            self._pending[update.sym] = merged
            changed += 1
        if changed:
            self._wakeup.set()
        return changed

    def take(self) -> list[Quote]:
        """Remove and return up to ``max_batch`` pending quotes, oldest update first."""
        if len(self._pending) <= self._max_batch:
            batch = list(self._pending.values())
            self._pending.clear()
            return batch
        keys = list(self._pending)[: self._max_batch]
        return [self._pending.pop(k) for k in keys]

    def requeue(self, batch: Sequence[Quote]) -> None:
        """Put back quotes the sink failed to take, unless a newer one is already pending."""
        for q in batch:
            self._pending.setdefault(q.sym, q)
        self._wakeup.set()

    async def drain_to(self, feed: str, sink: QuoteSink, *, retry_s: float = 1.0) -> None:
        """Publish pending quotes forever; a failing sink is retried, nothing newer is lost."""
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while batch := self.take():
                try:
                    await sink.publish(feed, batch)
                except Exception as exc:  # the sink may fail in any way; keep the data
                    self._stats.publish_errors += 1
                    if bad := _unencodable(batch):
                        # retrying cannot help these, and they would block the rest forever
                        self._stats.dropped += len(bad)
                        log.error("feed_quote_dropped", feed=feed, quotes=len(bad),
                                  error=repr(exc), example=repr(bad[0])[:200])
                        self.requeue([q for q in batch if q not in bad])
                        continue
                    self.requeue(batch)
                    log.warning("feed_publish_failed", feed=feed, error=repr(exc), retry_s=retry_s)
                    await asyncio.sleep(retry_s)


def _unencodable(batch: Sequence[Quote]) -> list[Quote]:
    """Return the quotes of ``batch`` that cannot be encoded as a stream entry."""
    bad: list[Quote] = []
    for q in batch:
        try:
            encode_batch([q])
        except (msgspec.EncodeError, OverflowError, TypeError, ValueError):
            bad.append(q)
    return bad


class WsChannel:
    """One websocket with a send clock (for keepalives) and a receive watchdog."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, silence_timeout_s: float) -> None:
        self.ws = ws
        self.silence_timeout_s = silence_timeout_s
        self._loop = asyncio.get_running_loop()
        self.last_sent_s = self._loop.time()

    async def send_bytes_as_text(self, payload: bytes) -> None:
        await self.ws.send_str(payload.decode())
        self.last_sent_s = self._loop.time()

    async def send_json(self, obj: Any) -> None:
        await self.send_bytes_as_text(msgspec.json.encode(obj))

    async def receive(self) -> aiohttp.WSMessage:
        """Return the next data frame; raise StallError on silence, SessionClosed on close."""
        try:
            msg = await self.ws.receive(timeout=self.silence_timeout_s)
        except TimeoutError as exc:
            raise StallError(f"no frame for {self.silence_timeout_s:g}s") from exc
        if msg.type in (
            aiohttp.WSMsgType.CLOSE,
            aiohttp.WSMsgType.CLOSING,
            aiohttp.WSMsgType.CLOSED,
        ):
            raise SessionClosed(self.ws.close_code)
        if msg.type is aiohttp.WSMsgType.ERROR:
            raise SessionClosed(self.ws.close_code, repr(msg.data))
        return msg

    async def ping_every(self, interval_s: float) -> None:
        """Send websocket PINGs; their PONGs keep the receive watchdog quiet on a healthy link."""
        while True:
            await asyncio.sleep(interval_s)
            await self.ws.ping()

    async def keepalive(self, interval_s: float, payload: bytes) -> None:
        """Send ``payload`` whenever nothing else was sent for ``interval_s``."""
        while True:
            idle = self._loop.time() - self.last_sent_s
            if idle >= interval_s:
                await self.send_bytes_as_text(payload)
                idle = 0.0
            await asyncio.sleep(interval_s - idle)


async def run_supervised(
    main: Coroutine[Any, Any, None],
    *helpers: Coroutine[Any, Any, None],
) -> None:
    """Run ``main`` beside its helpers; whichever ends first ends them all.

    A helper's failure (a send on a dead socket, a failed token refresh) surfaces as the
    session's failure instead of being lost in a background task.
    """
    tasks = [asyncio.create_task(main), *(asyncio.create_task(h) for h in helpers)]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if (exc := task.exception()) is not None:
                raise exc
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


class ReconnectingFeed(ABC):
    """Base of the live adapters: the reconnect loop, stats and the quote buffer."""

    def __init__(
        self,
        name: str,
        clock: Clock,
        backoff: BackoffConfig,
        *,
        delayed: bool = False,
        rng: random.Random | None = None,
    ) -> None:
        self._name = name
        self._clock = clock
        self._stats = FeedStats(delayed=delayed)
        self._backoff = Backoff(backoff, rng)
        self._buffer = QuoteBuffer(self._stats)
        self._unconfirmed = False
        self.log = log.bind(feed=name)

    @property
    def name(self) -> str:
        return self._name

    @property
    def stats(self) -> FeedStats:
        return self._stats

    async def run(self, sink: QuoteSink, subscriptions: SubscriptionSource) -> None:
        """Connect, stream, and reconnect until cancelled or out of retries."""
        drain = asyncio.create_task(self._buffer.drain_to(self._name, sink))
        try:
            await self._reconnect_forever(subscriptions)
        finally:
            drain.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await drain
            self.log.info("feed_stopped", reconnects=self._stats.reconnects)

    async def _reconnect_forever(self, subscriptions: SubscriptionSource) -> None:
        while True:
            reason = await self._one_session(subscriptions)
            delay = self._backoff.next_delay_s()
            if delay is None:
                self.log.error("feed_gave_up", reason=reason, failures=self._backoff.failures)
                raise FeedGaveUp(f"{self._name}: out of retries; last failure: {reason}")
            self._stats.reconnects += 1
            self.log.warning(
                "feed_reconnecting",
                reason=reason,
                delay_s=round(delay, 3),
                retries_left=self._backoff.retries_left,
            )
            await asyncio.sleep(delay)

    async def _one_session(self, subscriptions: SubscriptionSource) -> str:
        """Run one session; return why it ended."""
        try:
            await self._session(subscriptions)
            return "session ended"
        except StallError as exc:
            self._stats.stalls += 1
            return f"stall: {exc}"
        except (FeedError, aiohttp.ClientError, OSError, TimeoutError) as exc:
            return f"{type(exc).__name__}: {exc}"
        except (msgspec.MsgspecError, ValueError, OverflowError) as exc:
            # a venue body no parser expected: reconnect with backoff rather than stop the feed
            self.log.error("feed_parse_failed", error=repr(exc), exc_info=exc)
            return f"parse error: {type(exc).__name__}: {exc}"
        finally:
            self._stats.connected = False

    def _ready(self, *, confirmed: bool = True) -> None:
        """Mark the session established and subscribed.

        ``confirmed``: the venue acknowledged it, so the backoff resets now; otherwise (a venue
        that never acknowledges) it resets with the first quote of the session.
        """
        self._stats.connected = True
        self._unconfirmed = not confirmed
        if confirmed:
            self._backoff.reset()
        self.log.info("feed_ready", subscribed=self._stats.subscribed)

    def _deliver(self, quotes: Sequence[Quote]) -> None:
        if quotes:
            self._buffer.put(quotes)
            if self._unconfirmed:
                self._unconfirmed = False
                self._backoff.reset()

    @abstractmethod
    async def _session(self, subscriptions: SubscriptionSource) -> None:
        """Connect, handshake, subscribe, then stream until the session fails or ends."""
