"""The realized P&L ledger survives a restart: a harvested gain still counts in the break-evens."""

from __future__ import annotations

import msgspec
import numpy as np
import redis.asyncio as aioredis

from monitor.model import Portfolio
from monitor.positions.ledger import Ledger
from monitor.positions.store import LedgerStore
from tests.unit.rules.rules_world import World, portfolio


def without_layer() -> Portfolio:
    pf = portfolio()
    return msgspec.structs.replace(pf, books=[msgspec.structs.replace(pf.books[0], layers=[])])


async def test_an_empty_store_gives_an_unseeded_ledger(redis: aioredis.Redis) -> None:
    assert await LedgerStore(redis, prefix="t").load() == Ledger()


async def test_a_harvested_gain_still_counts_in_the_break_evens_after_a_restart(
    redis: aioredis.Redis,
) -> None:
    store = LedgerStore(redis, prefix="t")
    before = World()
    before.engine.ledger = await store.load()
    before.engine.reconcile_ledger(before.now_ns)
    before.tick()
    popped = before.tick(vol=0.45)
    before.engine.set_portfolio(without_layer())  # the trader sold the layer: a reload
    assert [e.structure for e in before.engine.reconcile_ledger(before.now_ns)] == ["L1"]
    await store.save(before.engine.ledger)
    harvested = before.silent(0.0)

    after = World(book=without_layer())  # a new process on the harvested portfolio
    after.engine.ledger = await store.load()
    assert after.engine.reconcile_ledger(after.now_ns) == []  # nothing closed while stopped
    after.market.now_ns = before.market.now_ns
    after.market.vol, after.market.spx = before.market.vol, before.market.spx
    after.engine.ingest(after.quote())
    restarted = after.engine.evaluate(after.now_ns)

    assert popped.rules and harvested.rules and restarted.rules
    be = [c.rules.analysis.breakevens for c in (popped, harvested, restarted)]  # type: ignore[union-attr]
    np.testing.assert_allclose(be[1].points, be[0].points, atol=1e-6)
    np.testing.assert_allclose(be[2].points, be[0].points, atol=1e-6)
    assert be[2].realized_usd is not None and be[2].realized_usd[0] > 0
