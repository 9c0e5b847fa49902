"""vixmon's Redis components through a client that Sentinel points at the master.

A master, one replica and one Sentinel (quorum 1) of Debian's redis-server, all on loopback
(``redis_sentinel`` in tests/support/redis_servers.py). The client is the one ``vixmon run``
builds from ``redis.sentinels`` and ``redis.sentinel_master``: it asks the Sentinel where the
master is and asks again after a connection error, so after kill -9 of the master and the
Sentinel's promotion of the replica the same client carries on, with everything the replica
acknowledged (``WAIT 1 0``) still there.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import redis
import redis.asyncio as aioredis

from monitor import keys, settings
from monitor.alert_store import AlertStore
from monitor.alerts import KeyState
from monitor.app import App
from monitor.bus import QuoteConsumer, QuoteWriter, connect
from monitor.model import Quote
from monitor.settings import RedisConfig
from monitor.sinks.outbox import FIELD_EVENT, Outbox, decode_event
from tests.integration.delivery.support import events, ids_of
from tests.support.daemon import ROOT
from tests.support.redis_servers import SentinelSet
from tests.support.redis_servers import redis_sentinel as redis_sentinel  # the fixture

PREFIX = "vixmon"
TS = 1_795_000_000_000_000_000
FIRING = {"layer_gain|main|layer-1": KeyState(firing=True, notified=True, since_ns=TS)}


@pytest.fixture
async def client(redis_sentinel: SentinelSet) -> AsyncIterator[aioredis.Redis]:
    """The client ``vixmon run`` makes of ``[redis] sentinels = [...]``, no URL."""
    rc = RedisConfig(sentinels=[redis_sentinel.address], sentinel_master=redis_sentinel.name)
    made = connect(rc.url, socket_timeout_s=5, sentinels=rc.sentinel_addresses(),
                   sentinel_master=rc.sentinel_master)  # fmt: skip
    try:
        yield made
    finally:
        await made.aclose()


def quote_consumer(client: aioredis.Redis) -> QuoteConsumer:
    return QuoteConsumer(
        client, prefix=PREFIX, group="engine", consumer="a", block_ms=50, count=100,
        claim_idle_ms=60_000, dead_maxlen=1000, ts_ceiling=lambda: TS,
    )  # fmt: skip


def vix(last: float) -> Quote:
    return Quote(sym="VIX", last=last, ts=TS)


async def served_by(client: aioredis.Redis) -> tuple[str, int]:
    """Return the role and port of the server the client's commands reach."""
    role: Any = await client.execute_command("ROLE")
    port = (await client.config_get("port"))["port"]
    return role[0].decode(), int(port)


async def outbox_ids(client: aioredis.Redis) -> list[str]:
    entries: Any = await client.xrange(Outbox(client, prefix=PREFIX).key)
    return [decode_event(fields[FIELD_EVENT]).id for _, fields in entries]


async def test_the_client_reaches_the_master_the_sentinel_names(
    redis_sentinel: SentinelSet,
    client: aioredis.Redis,
) -> None:
    assert await served_by(client) == ("master", redis_sentinel.master.port)


async def test_a_url_beside_the_sentinels_chooses_the_database(
    redis_sentinel: SentinelSet,
) -> None:
    made = connect("redis:///3", socket_timeout_s=5, sentinels=[("127.0.0.1",
                   redis_sentinel.sentinel.port)], sentinel_master=redis_sentinel.name)  # fmt: skip
    try:
        await made.set("probe", b"1")
    finally:
        await made.aclose()
    with redis.Redis(port=redis_sentinel.master.port, db=3) as master:
        assert master.get("probe") == b"1"


async def test_quotes_flow_through_a_sentinel_discovered_master(client: aioredis.Redis) -> None:
    consumer = quote_consumer(client)
    await consumer.ensure_group()
    await QuoteWriter(client, prefix=PREFIX, maxlen=1000).publish("sim", [vix(17.0)] * 3)
    batch = await consumer.read()
    assert [q.last for q in batch.quotes] == [17.0] * 3 and batch.accepted == {"sim": 3}
    await consumer.ack(batch)
    assert (await client.xpending(keys.quotes(PREFIX), "engine"))["pending"] == 0


async def test_an_outbox_append_saves_its_states_through_a_sentinel_discovered_master(
    client: aioredis.Redis,
) -> None:
    cycle = events(2)
    store = AlertStore(client, prefix=PREFIX)
    await Outbox(client, prefix=PREFIX).append(cycle, then=lambda p: store.save_in(p, FIRING))
    assert await outbox_ids(client) == ids_of(cycle)
    assert await store.load() == FIRING


async def test_after_the_master_dies_the_same_client_uses_the_promoted_replica_and_loses_nothing(
    redis_sentinel: SentinelSet,
    client: aioredis.Redis,
) -> None:
    consumer = quote_consumer(client)
    await consumer.ensure_group()
    writer = QuoteWriter(client, prefix=PREFIX, maxlen=1000)
    await writer.publish("sim", [vix(17.0)])
    await consumer.ack(await consumer.read())
    await writer.publish("sim", [vix(18.0)])  # written, not yet read
    cycle = events(2)
    store = AlertStore(client, prefix=PREFIX)
    await Outbox(client, prefix=PREFIX).append(cycle, then=lambda p: store.save_in(p, FIRING))
    assert await client.execute_command("WAIT", 1, 0) == 1  # the replica has all of it

    redis_sentinel.master.kill()
    redis_sentinel.wait_promoted()

    assert await served_by(client) == ("master", redis_sentinel.replica.port)
    assert [q.last for q in (await consumer.read()).quotes] == [18.0]  # the group's place kept
    assert await outbox_ids(client) == ids_of(cycle)
    assert await store.load() == FIRING
    await writer.publish("sim", [vix(19.0)])
    assert [q.last for q in (await consumer.read()).quotes] == [19.0]


def app_config(tmp_path: Path, sentinel: SentinelSet) -> Path:
    path = tmp_path / "vixmon.toml"
    path.write_text(f"""
portfolio = "{ROOT / "config" / "portfolio.toml"}"
[redis]
sentinels = ["{sentinel.address}"]
sentinel_master = "{sentinel.name}"
state_dir = "{tmp_path / "state"}"
key_prefix = "inproc"
[engine]
time_source = "market"
cadence_ms = 50
[http]
port = 0
[[feeds]]
kind = "replay"
path = "{ROOT / "config" / "sample-session.jsonl.gz"}"
speed = 0
restamp = false
""")
    return path


async def test_the_app_with_sentinels_starts_no_embedded_redis_and_uses_the_master(
    tmp_path: Path, redis_sentinel: SentinelSet
) -> None:
    app = App(settings.load(app_config(tmp_path, redis_sentinel)), handle_signals=False)
    runner = asyncio.create_task(app.run())
    try:
        await asyncio.wait_for(app.started.wait(), 15)
        assert app.loop is not None
        await asyncio.wait_for(app.loop.first_cycle.wait(), 15)
        assert app.embedded is None and not (tmp_path / "state" / "redis.sock").exists()
        with redis_sentinel.master.client() as master:
            assert master.exists(keys.quotes("inproc")) == 1
    finally:
        app.request_stop()
        assert await asyncio.wait_for(runner, 15) == 0
