"""The Tradier account source against an in-process fake: the REST poll is the source of truth,
an order event makes it poll at once, and the book follows."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

import pytest

from adapters.base import BackoffConfig
from adapters.tradier.account_client import TradierAccounts
from adapters.tradier.account_config import TradierAccountConfig
from monitor.clock import LiveClock
from monitor.positions.recognize import structures
from monitor.secrets import SecretRef
from tests.fakes.tradier_accounts import FakeTradierAccounts

ACCT = "VA000001"
LP, SP, SC, LC = ("SPXW270115P05500000", "SPXW270115P05600000",
                  "SPXW270115C06250000", "SPXW270115C06350000")
IC = "SPXW 270115 5500/5600/6250/6350"
L1 = "VIX270120C00025000"


@pytest.fixture(autouse=True)
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADIER_TOKEN", "token-good")


@pytest.fixture
async def fake() -> AsyncIterator[FakeTradierAccounts]:
    server = FakeTradierAccounts(accounts=(ACCT,))
    await server.start()
    yield server
    await server.close()


async def until(source: TradierAccounts, predicate: Callable[[], object],
                within_s: float = 5.0) -> None:
    """Re-check ``predicate`` after every poll, event or failure of the source."""
    async with asyncio.timeout(within_s):
        while not predicate():
            source.activity.clear()
            await source.activity.wait()


@contextlib.asynccontextmanager
async def running(fake: FakeTradierAccounts, **kw: object) -> AsyncIterator[TradierAccounts]:
    base: dict[str, object] = {
        "book": "main", "token": SecretRef(env="TRADIER_TOKEN"), "api_url": fake.api_url,
        "events_url": fake.events_url, "poll_interval_s": 30.0,
        "backoff": BackoffConfig(initial_s=0.01, max_s=0.05),
    }
    source = TradierAccounts(TradierAccountConfig(**{**base, **kw}), LiveClock())  # type: ignore[arg-type]
    task = asyncio.create_task(source.run())
    try:
        await until(source, lambda: source.stats.snapshots >= 1)
        await fake.changed.wait_for(lambda: any(c.subscribed for c in fake.live))
        yield source
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def shape(source: TradierAccounts) -> dict[str, dict[str, int]]:
    book = source.state.recognized().book
    return {s.name: {leg.symbol: leg.quantity for leg in s.legs}
            for s in structures(book)}


async def test_order_events_trigger_a_poll_and_the_book_follows_each_fill(
    fake: FakeTradierAccounts,
) -> None:
    async with running(fake) as source:  # no accounts configured: they come from the profile
        assert source.accounts == [ACCT]
        for sym, qty, px in ((LP, 1, 9.8), (SP, -1, 14.2), (SC, -1, 17.6), (LC, 1, 7.4)):
            await fake.fill(ACCT, sym, qty, px)
        await until(source, lambda: shape(source).get(IC) == {LP: 1, SP: -1, SC: -1, LC: 1})
        [condor] = source.state.recognized().book.condors
        legs = {leg.symbol: leg.entry_price for leg in condor.legs}
        assert legs == pytest.approx({LP: 9.8, SP: 14.2, SC: 17.6, LC: 7.4})

        await fake.fill(ACCT, L1, 2, 0.80)
        await fake.fill(ACCT, L1, 2, 1.00)
        await until(source, lambda: shape(source).get("VIX 270120") == {L1: 4})
        layer = source.state.recognized().book.layers[0]
        assert layer.legs[0].entry_price == pytest.approx(0.90)  # blended by the broker

        await fake.fill(ACCT, L1, -4, 1.20)
        await until(source, lambda: "VIX 270120" not in shape(source))


async def test_a_fill_missed_during_a_disconnect_arrives_after_reconnect(
    fake: FakeTradierAccounts,
) -> None:
    async with running(fake, accounts=[ACCT]) as source:
        fake.deliver = False
        await fake.fill(ACCT, L1, 3, 0.85)
        fake.drop_all()
        fake.deliver = True
        await until(source, lambda: shape(source).get("VIX 270120") == {L1: 3})
        assert source.stats.reconnects >= 1


async def test_broker_down_keeps_positions_and_a_bad_token_is_an_error_not_a_crash(
    fake: FakeTradierAccounts,
) -> None:
    async with running(fake, poll_interval_s=0.05, stale_after_s=0.3) as source:
        await fake.fill(ACCT, L1, 1, 0.85)
        await until(source, lambda: "VIX 270120" in shape(source))
        fake.down = True
        fake.drop_all()
        clock = LiveClock()
        await until(source, lambda: source.state.stale(clock.now_ns()))
        assert "VIX 270120" in shape(source)
        fake.down = False
        fake.token = "rotated"  # the configured token no longer works
        errors = source.stats.errors
        await until(source, lambda: source.stats.errors > errors + 2)
        assert "VIX 270120" in shape(source)


async def test_balances_report_requirement_and_cash(fake: FakeTradierAccounts) -> None:
    fake.requirement[ACCT] = 2_500.0
    async with running(fake) as source:
        broker = source.state.broker_account()
        assert broker is not None
        assert (broker.requirement_usd, broker.cash_usd) == (2_500.0, 50_000.0)
