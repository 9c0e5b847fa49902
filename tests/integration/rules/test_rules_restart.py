"""A restart neither re-fires nor forgets: alert state in a real Redis, rules emitting sparsely."""

from __future__ import annotations

import redis.asyncio as aioredis

from monitor.alert_store import AlertStore
from monitor.alerts import AlertMachine
from tests.unit.rules.rules_world import World

KEY = "term_structure|market|backwardation"


async def machine(store: AlertStore) -> AlertMachine:
    return AlertMachine(cooldown_s=0, repeat_interval_s=0, states=await store.load())


async def test_an_alert_firing_before_a_restart_does_not_fire_again_after_it(
    redis: aioredis.Redis,
) -> None:
    store = AlertStore(redis, prefix="t")
    before = World()
    m = await machine(store)
    before.tick()
    t = m.step(before.tick(vol=0.30).signals, before.now_ns)
    await store.save(t.changed)
    assert KEY in [e.key for e in t.events]
    after, m2 = World(), await machine(store)  # a new process: fresh engine, state from Redis
    after.tick(vol=0.30)
    events = m2.step(after.tick(vol=0.30).signals, after.now_ns).events
    assert KEY not in [e.key for e in events] and m2.states[KEY].firing


async def test_an_alert_that_cleared_during_a_restart_resolves_on_the_first_cycle(
    redis: aioredis.Redis,
) -> None:
    store = AlertStore(redis, prefix="t")
    before, m = World(), await machine(store)
    before.tick()
    await store.save(m.step(before.tick(vol=0.30).signals, before.now_ns).changed)
    after, m2 = World(), await machine(store)
    first = after.tick(vol=0.14)  # calm again: the curve is back in contango
    resolved = [e for e in m2.step(first.signals, after.now_ns).events if e.key == KEY]
    assert [e.status for e in resolved] == ["resolved"]
