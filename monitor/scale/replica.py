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
import time
from collections.abc import Awaitable, Callable

import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge
from redis.exceptions import RedisError

from monitor.alerts import AlertMachine
from monitor.engine import Engine
from monitor.model import Portfolio
from monitor.plan.baseline import VegaBaseline
from monitor.scale.fenced import FencedAlerts
from monitor.scale.leases import Leases
from monitor.scale.partitions import books_of
from monitor.scale.scope import PartitionScope

log = structlog.get_logger(__name__)


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
        self.last_step_mono = 0.0
        self._owned = Gauge("vixmon_scale_partitions_owned",
                            "Book partitions this engine replica evaluates", registry=registry)
        self._live = Gauge("vixmon_scale_replicas_live",
                           "Engine replicas with a live heartbeat in Redis", registry=registry)
        self._moves = Counter("vixmon_scale_partition_changes",
                              "Times this replica's set of partitions changed",
                              registry=registry)

    async def step(self) -> None:
        await self.leases.step()
        self.last_step_mono = time.monotonic()
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
