"""One engine replica's side of sharing the books: the lease loop, and applying what it holds.

The lease loop (``run``) renews and rebalances every ``renew_every_s`` in its own task, so a
long evaluation never lets a lease expire. What it changes is applied by the engine loop between
two evaluations (``apply``, the loop's ``before_turn``): the alert states of lost partitions are
dropped (their new owner has them in Redis), those of gained partitions are loaded, the engine's
portfolio becomes the held books, and the next cycle emits every key (``reset_emission``), so a
gained partition's alert that cleared while nobody owned it resolves.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import redis.asyncio as aioredis
import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge
from redis.exceptions import RedisError, ResponseError

from monitor import bus
from monitor.alerts import AlertMachine
from monitor.engine import Engine
from monitor.model import Portfolio
from monitor.plan.baseline import VegaBaseline
from monitor.scale.fenced import FencedAlerts
from monitor.scale.leases import Leases
from monitor.scale.partitions import books_of
from monitor.scale.scope import PartitionScope
from monitor.settings import Settings
from monitor.sinks.delivery import DeliveryService

log = structlog.get_logger(__name__)


def quote_group(replica: str) -> str:
    """A partitioned replica's own consumer group on the quote stream: every replica reads
    every quote (each prices the chains its books need)."""
    return f"engine:{replica}"


class Replica:
    def __init__(
        self,
        leases: Leases,
        fenced: FencedAlerts,
        *,
        renew_every_s: float,
        registry: CollectorRegistry,
    ) -> None:
        self.leases = leases
        self.scope = PartitionScope(leases, fenced)
        self.renew_every_s = renew_every_s
        self.elected = asyncio.Event()
        """Set once this replica holds the delivery lease."""
        self.lost_delivery = asyncio.Event()
        self._owned = Gauge("vixmon_scale_partitions_owned",
                            "Book partitions this engine replica evaluates", registry=registry)
        self._live = Gauge("vixmon_scale_replicas_live",
                           "Engine replicas with a live heartbeat in Redis", registry=registry)
        self._moves = Counter("vixmon_scale_partition_changes",
                              "Times this replica's set of partitions changed",
                              registry=registry)

    async def step(self) -> None:
        await self.leases.step()
        self._live.set(len(self.leases.live))
        if self.leases.delivering:
            self.elected.set()
        if self.leases.delivery_lost:
            self.lost_delivery.set()

    async def run(self) -> None:
        """Renew and rebalance until cancelled; a Redis error skips a round (the leases then
        expire on their own if Redis stays away, which is what must happen)."""
        while True:
            await asyncio.sleep(self.renew_every_s)  # the renewal cadence, not synchronization
            try:
                await self.step()
            except (RedisError, OSError) as exc:
                log.warning("lease_round_failed", error=repr(exc))

    async def apply(
        self,
        engine: Engine,
        machine: AlertMachine,
        portfolio: Portfolio,
        baselines: Callable[[], Awaitable[dict[str, VegaBaseline]]],
    ) -> bool:
        """Make the engine evaluate the held partitions; return True if anything changed."""
        scope = self.scope
        if not scope.pending:
            return False
        new, old = scope.leases.owned, scope.applied
        gained, lost = new - old, old - new
        for key in [k for k in machine.states if scope.fenced.partition(k) in lost]:
            del machine.states[key]
        machine.states.update(await scope.fenced.load(sorted(gained)))
        scope.applied = new
        engine.set_portfolio(books_of(portfolio, new, scope.partitions))
        engine.memory.vega.load(await baselines())
        engine.memory.reset_emission()
        self._owned.set(len(new))
        self._moves.inc()
        log.info("partitions_applied", gained=sorted(gained), lost=sorted(lost),
                 books=len(engine.portfolio.books))
        return True


async def start_replica(
    redis: aioredis.Redis, cfg: Settings, name: str, registry: CollectorRegistry
) -> Replica:
    """Join the engines sharing the books: register, and take this replica's partitions."""
    sc, prefix = cfg.scale, cfg.redis.key_prefix

    async def forget(gone: str) -> None:  # a replica gone for good: drop its quote group
        try:
            await redis.xgroup_destroy(bus.quotes_key(prefix), quote_group(gone))
        except ResponseError:
            pass  # already gone

    leases = Leases(redis, prefix=prefix, replica=name, partitions=sc.partitions,
                    ttl_s=sc.lease_ttl_s, forget_after_s=sc.forget_after_s, on_forget=forget)
    fenced = FencedAlerts(redis, prefix=prefix, partitions=sc.partitions, token=leases.token)
    replica = Replica(leases, fenced, renew_every_s=sc.renew_every_s, registry=registry)
    await replica.step()
    return replica


async def catch_up_id(redis: aioredis.Redis, mark_max_age_s: float) -> str:
    """Where a new replica's quote group starts: a mark older than ``mark_max_age_s`` is
    unusable anyway, so the stream from that long ago rebuilds the market."""
    sec, _usec = await redis.time()
    return f"{max(0, int(sec) - round(mark_max_age_s)) * 1000}-0"


async def deliver_when_elected(replica: Replica, delivery: DeliveryService) -> None:
    """Run the sinks once this replica holds the delivery lease (one process delivers);
    losing it (this process stalled past the TTL) stops the daemon: another delivers now."""
    await replica.elected.wait()
    log.info("delivering", replica=replica.leases.replica)
    run = asyncio.ensure_future(delivery.run())
    lost = asyncio.ensure_future(replica.lost_delivery.wait())
    try:
        await asyncio.wait({run, lost}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        lost.cancel()
    if run.done():
        return run.result()
    run.cancel()
    raise RuntimeError("delivery lease lost: another replica delivers now")
