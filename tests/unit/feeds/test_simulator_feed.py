"""The simulator feed's clock: a session starts at ``start`` when set, else at the clock's now."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import pytest

from adapters.simulator.config import SimulatorFeedConfig
from adapters.simulator.feed import SimulatorFeed
from monitor.clock import FakeClock
from monitor.model import Quote
from monitor.subscriptions import Subscriptions
from tests.support.clocked import DEMO_START_AT, DEMO_START_NS

LATER_NS = int(dt.datetime(2027, 6, 30, 15, tzinfo=dt.UTC).timestamp()) * 10**9
"""A wall clock long after the demo book's contracts expired."""
TICK_NS = 10_000_000
DEMO_LEG = "VIX261216C00020000"


class Enough(Exception):
    pass


class Batches:
    """A sink that keeps ``count`` batches, then ends the run."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.batches: list[list[Quote]] = []

    async def publish(self, feed: str, quotes: Sequence[Quote]) -> None:
        self.batches.append(list(quotes))
        if len(self.batches) >= self.count:
            raise Enough


async def run(feed: SimulatorFeed, count: int = 3, wanted: str = DEMO_LEG) -> list[list[Quote]]:
    sink = Batches(count)
    with pytest.raises(Enough):
        await feed.run(sink, Subscriptions(frozenset({wanted})))
    return sink.batches


def feed(clock: FakeClock, start: dt.datetime | None = None) -> SimulatorFeed:
    return SimulatorFeed(SimulatorFeedConfig(tick_interval_ms=10, start=start), clock)


async def test_a_fixed_start_stamps_the_session_from_it_whatever_the_clock_says() -> None:
    batches = await run(feed(FakeClock(LATER_NS), DEMO_START_AT))
    assert [{q.ts for q in b} for b in batches] == [
        {DEMO_START_NS + i * TICK_NS} for i in (1, 2, 3)
    ]


async def test_on_its_start_the_demo_books_december_layer_is_quoted() -> None:
    [batch] = await run(feed(FakeClock(LATER_NS), DEMO_START_AT), count=1)
    [leg] = [q for q in batch if q.sym == DEMO_LEG]
    assert leg.bid is not None and leg.ask is not None and 0 < leg.bid < leg.ask


async def test_after_its_expiry_the_same_layer_gets_no_quote() -> None:
    [batch] = await run(feed(FakeClock(LATER_NS)), count=1)
    assert {q.ts for q in batch} == {LATER_NS + TICK_NS}
    assert DEMO_LEG not in {q.sym for q in batch}


async def test_a_restarted_fixed_start_session_resumes_instead_of_going_back() -> None:
    sim = feed(FakeClock(LATER_NS), DEMO_START_AT)
    first = await run(sim)
    again = await run(sim, count=1)
    assert again[0][0].ts == first[-1][0].ts + TICK_NS
