"""Partition leases and fenced alert writes on a real Redis 7 and a real 3-master Cluster."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis

from monitor import keys
from monitor.alerts import KeyState
from monitor.key_migration import migrate
from monitor.model import AlertEvent
from monitor.scale.fenced import FencedAlerts, LeaseLostError
from monitor.scale.leases import Leases
from monitor.scale.partitions import partition_of
from tests.support.redis_servers import Backend

PREFIX = "vixmon"
N = 8


def leases(client: aioredis.Redis, name: str, ttl_s: float = 5.0) -> Leases:
    return Leases(client, prefix=PREFIX, replica=name, partitions=N, ttl_s=ttl_s,
                  forget_after_s=3600)


def event(book: str, n: int = 0) -> AlertEvent:
    return AlertEvent(id=f"evt_{book}_{n}", key=f"layer_gain|{book}|L1", rule="layer_gain",
                      book=book, subject="L1", status="firing", severity="warning",
                      summary="gain", ts_ns=1)


def book_in(partition: int) -> str:
    return next(f"book-{i}" for i in range(10_000) if partition_of(f"book-{i}", N) == partition)


async def test_two_replicas_split_the_partitions_and_each_is_held_once(backend: Backend) -> None:
    a, b = leases(backend.client, "a"), leases(backend.client, "b")
    await a.step()
    assert a.owned == frozenset(range(N))  # alone: everything
    await b.step()  # b joins: a still holds what b wants
    await a.step()  # a sees b live and lets go of b's share
    await b.step()  # b takes it
    assert a.owned and b.owned and a.owned.isdisjoint(b.owned)
    assert a.owned | b.owned == frozenset(range(N))
    holders = await a.holders()
    assert all(holders[p] == "a" for p in a.owned) and all(holders[p] == "b" for p in b.owned)


async def test_one_replica_holds_the_delivery_lease_and_keeps_it_when_another_joins(
    backend: Backend,
) -> None:
    a, b = leases(backend.client, "a"), leases(backend.client, "b")
    await a.step()
    await b.step()
    await a.step()
    assert a.delivering and not b.delivering


async def test_a_dead_replicas_partitions_and_delivery_go_to_the_survivor_after_the_ttl(
    backend: Backend,
) -> None:
    a, b = leases(backend.client, "a"), leases(backend.client, "b")
    for r in (a, b, a, b):
        await r.step()
    a_share = a.owned
    # a dies (stops stepping): what its TTL does inside Redis, done at once
    for key in [keys.lease(PREFIX, p) for p in a_share] + [keys.delivery_lease(PREFIX)]:
        await backend.client.delete(key)
    await backend.client.zadd(keys.replicas(PREFIX), {"a": 0})
    await b.step()
    assert b.owned == frozenset(range(N)) and b.delivering


async def test_a_restarted_replica_takes_its_own_leases_back_at_once(backend: Backend) -> None:
    first = leases(backend.client, "a")
    await first.step()
    again = leases(backend.client, "a")  # same name, new incarnation; the old leases live on
    await again.step()
    assert again.owned == frozenset(range(N)) and again.delivering
    await first.step()  # the old incarnation (if it were still around) has lost everything
    assert first.owned == frozenset() and first.delivery_lost


async def test_a_fenced_write_lands_events_and_states_together(backend: Backend) -> None:
    a = leases(backend.client, "a")
    await a.step()
    fenced = FencedAlerts(backend.client, prefix=PREFIX, partitions=N, token=a.token)
    books = [book_in(0), book_in(5)]
    states = {event(b).key: KeyState(firing=True, notified=True) for b in books}
    ids = await fenced.write([event(b) for b in books], states)
    assert len(ids) == 2 and await backend.client.xlen(keys.outbox(PREFIX)) == 2
    assert await fenced.load([0, 5]) == states
    assert await fenced.load([1]) == {}


async def test_a_replica_that_lost_a_lease_writes_nothing_for_that_partition(
    backend: Backend,
) -> None:
    a = leases(backend.client, "a")
    await a.step()
    fenced = FencedAlerts(backend.client, prefix=PREFIX, partitions=N, token=a.token)
    await backend.client.set(keys.lease(PREFIX, 5), "b:other")  # b took partition 5 over
    with pytest.raises(LeaseLostError) as lost:
        await fenced.write([event(book_in(0)), event(book_in(5))], {})
    assert lost.value.partition == 5
    assert await backend.client.xlen(keys.outbox(PREFIX)) == 0  # not even partition 0's event


async def test_keys_of_an_older_vixmon_are_renamed_once_and_keep_their_groups(
    redis7_url: str,
) -> None:
    client = aioredis.Redis.from_url(redis7_url)
    await client.xadd("vixmon:alerts", {"event": "{}"})
    await client.xgroup_create("vixmon:alerts", "hook", id="0")
    await client.hset("vixmon:alerts:state", "k", "v")
    assert await migrate(client, PREFIX) == ["vixmon:alerts", "vixmon:alerts:state"]
    assert await migrate(client, PREFIX) == []
    groups = await client.xinfo_groups(keys.outbox(PREFIX))
    assert [g["name"] for g in groups] == [b"hook"]
    assert await client.hget(keys.alert_states(PREFIX), "k") == b"v"
    await client.aclose()


async def test_a_replica_that_stops_hands_its_partitions_over_at_once(backend: Backend) -> None:
    a, b = leases(backend.client, "a"), leases(backend.client, "b")
    for r in (a, b, a, b):
        await r.step()
    await a.release_all()  # SIGTERM: drained, then this
    await b.step()
    assert b.owned == frozenset(range(N)) and b.delivering
    assert await backend.client.zscore(keys.replicas(PREFIX), "a") is None


async def test_a_replica_gone_for_good_is_forgotten_with_its_quote_group(
    backend: Backend,
) -> None:
    forgotten: list[str] = []

    async def forget(name: str) -> None:
        forgotten.append(name)

    a = Leases(backend.client, prefix=PREFIX, replica="a", partitions=N, ttl_s=5,
               forget_after_s=60, on_forget=forget)
    await backend.client.zadd(keys.replicas(PREFIX), {"old": 1})  # expired in 1970
    await a.step()
    assert forgotten == ["old"] and await a.heartbeat() == ("a",)
