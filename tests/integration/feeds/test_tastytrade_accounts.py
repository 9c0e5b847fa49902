"""The tastytrade account source against an in-process fake speaking the real protocol: the
recognized book follows every fill, and survives the broker going away."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

import pytest

from adapters.base import BackoffConfig
from adapters.tastytrade.client import TastytradeAccounts
from adapters.tastytrade.config import TastytradeAccountConfig
from monitor.clock import LiveClock
from monitor.model import Book
from monitor.positions.recognize import structures
from monitor.secrets import SecretRef
from tests.fakes.common import Signal
from tests.fakes.tastytrade_accounts import FakeTastytradeAccounts

ACCT = "5WT00001"
LP, SP, SC, LC = ("SPXW270115P05500000", "SPXW270115P05600000",
                  "SPXW270115C06250000", "SPXW270115C06350000")
IC = "SPXW 270115 5500/5600/6250/6350"
L1 = "VIX270120C00025000"


@pytest.fixture(autouse=True)
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TT_CLIENT_SECRET", "secret-good")
    monkeypatch.setenv("TT_REFRESH_TOKEN", "refresh-good")


@pytest.fixture
async def fake() -> AsyncIterator[FakeTastytradeAccounts]:
    server = FakeTastytradeAccounts(accounts=(ACCT,))
    await server.start()
    yield server
    await server.close()


def config(fake: FakeTastytradeAccounts, **kw: object) -> TastytradeAccountConfig:
    base: dict[str, object] = {
        "accounts": [ACCT], "book": "main",
        "client_secret": SecretRef(env="TT_CLIENT_SECRET"),
        "refresh_token": SecretRef(env="TT_REFRESH_TOKEN"),
        "api_url": fake.api_url, "streamer_url": fake.streamer_url,
        "reconcile_interval_s": 30.0, "heartbeat_s": 0.05, "silence_timeout_s": 1.0,
        "backoff": BackoffConfig(initial_s=0.01, max_s=0.05),
    }
    return TastytradeAccountConfig(**{**base, **kw})  # type: ignore[arg-type]


class Harness:
    def __init__(self, fake: FakeTastytradeAccounts, **kw: object) -> None:
        self.changed = Signal()
        self.source = TastytradeAccounts(config(fake, **kw), LiveClock(), self.changed.notify)
        self.fake = fake

    def book(self) -> Book:
        return self.source.state.recognized().book

    def shape(self) -> dict[str, dict[str, int]]:
        return {s.name: {leg.symbol: leg.quantity for leg in s.legs}
                for s in structures(self.book())}

    async def until(self, predicate: object) -> None:
        assert callable(predicate)
        await self.changed.wait_for(predicate)

    async def connected(self) -> None:
        """Wait for the streamer subscription and the first REST snapshot."""
        await self.fake.changed.wait_for(
            lambda: any("connect" in c.actions() for c in self.fake.live))
        await until(self.source, lambda: self.source.stats.snapshots >= 1)


async def until(source: TastytradeAccounts, predicate: Callable[[], bool],
                within_s: float = 5.0) -> None:
    """Re-check ``predicate`` after every snapshot, message or failure of the source."""
    async with asyncio.timeout(within_s):
        while not predicate():
            source.activity.clear()
            await source.activity.wait()


@contextlib.asynccontextmanager
async def running(h: Harness) -> AsyncIterator[Harness]:
    task = asyncio.create_task(h.source.run())
    try:
        yield h
        if task.done():
            task.result()
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def open_condor(fake: FakeTastytradeAccounts, n: int = 2) -> None:
    for sym, qty, px in ((LP, n, "9.80"), (SP, -n, "14.20"), (SC, -n, "17.60"),
                         (LC, n, "7.40")):
        await fake.fill(ACCT, sym, qty, px)


async def test_the_book_follows_open_add_partial_close_and_close(
    fake: FakeTastytradeAccounts,
) -> None:
    async with running(Harness(fake)) as h:
        await h.connected()
        await open_condor(fake)
        await h.until(lambda: IC in h.shape())
        assert h.shape()[IC] == {LP: 2, SP: -2, SC: -2, LC: 2}
        assert {leg.symbol: leg.entry_price for leg in h.book().condors[0].legs} == \
            pytest.approx({LP: 9.8, SP: 14.2, SC: 17.6, LC: 7.4})

        # a layer bought in two fills at different prices: the broker blends the cost
        await fake.fill(ACCT, L1, 2, "0.80")
        await fake.fill(ACCT, L1, 2, "1.00")
        await h.until(lambda: h.shape().get("VIX 270120") == {L1: 4})
        assert h.book().layers[0].legs[0].entry_price == pytest.approx(0.90)

        await fake.fill(ACCT, L1, -1, "1.50")  # partial close keeps the average open price
        await h.until(lambda: h.shape().get("VIX 270120") == {L1: 3})
        assert h.book().layers[0].legs[0].entry_price == pytest.approx(0.90)

        for sym, qty in ((LP, -2), (SP, 2), (SC, 2), (LC, -2)):
            await fake.fill(ACCT, sym, qty, "1.00")
        await h.until(lambda: IC not in h.shape())
        assert h.shape() == {"VIX 270120": {L1: 3}}, h.source.state.positions


async def test_a_fill_lost_with_the_connection_arrives_by_the_reconcile_after_reconnect(
    fake: FakeTastytradeAccounts,
) -> None:
    async with running(Harness(fake)) as h:
        await h.connected()
        await open_condor(fake, 1)
        await h.until(lambda: IC in h.shape())
        fake.deliver = False  # the fill lands in the account, its notification never leaves
        await fake.fill(ACCT, L1, 4, "0.85")
        fake.drop_all()
        fake.deliver = True
        await h.until(lambda: h.shape().get("VIX 270120") == {L1: 4})
        assert h.source.stats.reconnects >= 1
        await fake.changed.wait_for(  # subscribed again on the new connection
            lambda: sum("connect" in c.actions() for c in fake.conns) >= 2)


async def test_heartbeats_are_sent_and_answered(fake: FakeTastytradeAccounts) -> None:
    async with running(Harness(fake)) as h:
        await h.connected()
        await fake.changed.wait_for(
            lambda: any(c.actions().count("heartbeat") >= 3 for c in fake.live))
        sent = [m for c in fake.conns for m in c.received]
        assert all(m["auth-token"] in fake.access_tokens or m["auth-token"].startswith("access-")
                   for m in sent)
        assert {m["action"] for m in sent} <= {"connect", "heartbeat"}


async def test_broker_down_keeps_the_last_positions_and_marks_them_stale(
    fake: FakeTastytradeAccounts,
) -> None:
    async with running(Harness(fake, stale_after_s=0.2, reconcile_interval_s=0.05)) as h:
        await h.connected()
        await open_condor(fake, 1)
        await h.until(lambda: IC in h.shape())
        fake.down = True
        fake.drop_all()
        clock = LiveClock()
        await until(h.source, lambda: h.source.state.stale(clock.now_ns()))
        assert IC in h.shape()  # still there while the broker is away
        assert h.source.stats.errors >= 1
        fake.down = False
        await fake.fill(ACCT, L1, 1, "0.85")  # traded while we were away
        await h.until(lambda: "VIX 270120" in h.shape())
        await until(h.source, lambda: not h.source.state.stale(clock.now_ns()))


async def test_an_expired_token_is_replaced_and_a_malformed_frame_is_skipped(
    fake: FakeTastytradeAccounts,
) -> None:
    async with running(Harness(fake, reconcile_interval_s=0.05)) as h:
        await h.connected()
        await fake.send_raw('{"type": "CurrentPosition", "data": {"symbol": 5}}')
        await fake.send_raw("not json")
        fake.expire_tokens()
        await open_condor(fake, 1)
        await h.until(lambda: IC in h.shape())
        assert h.source.stats.bad_messages >= 2
        assert fake.requests.count(("POST", "/oauth/token")) >= 2


async def test_balances_give_the_broker_requirement_and_cash(
    fake: FakeTastytradeAccounts,
) -> None:
    fake.requirement[ACCT] = fake.requirement[ACCT] + 10_000
    async with running(Harness(fake)) as h:
        await h.connected()
        await open_condor(fake, 1)
        await h.until(lambda: IC in h.shape())
        await until(h.source, lambda: (b := h.source.state.broker_account()) is not None
                 and b.cash_usd is not None and b.cash_usd > 100_000)
        broker = h.source.state.broker_account()
        assert broker is not None and broker.requirement_usd == 10_000.0
        assert broker.source == f"tastytrade:tastytrade {ACCT}"
