"""What one engine replica evaluates and writes: the partitions it holds (``Leases``), applied
between cycles, and alert writes fenced by those leases (``FencedAlerts``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from monitor.alerts import KeyState
from monitor.model import AlertEvent
from monitor.scale.fenced import FencedAlerts, LeaseLostError
from monitor.scale.leases import Leases
from monitor.scale.partitions import partition_of


class PartitionScope:
    def __init__(self, leases: Leases, fenced: FencedAlerts) -> None:
        self.leases = leases
        self.fenced = fenced
        self.partitions = leases.partitions
        self.applied: frozenset[int] = frozenset()
        """The partitions the engine evaluates now (``leases.owned`` once applied)."""

    @property
    def pending(self) -> bool:
        """The leases changed since the engine last applied them."""
        return self.leases.owned != self.applied

    def owns(self, book: str) -> bool:
        return partition_of(book, self.partitions) in self.applied

    async def write(
        self, events: Sequence[AlertEvent], changed: Mapping[str, KeyState]
    ) -> tuple[list[AlertEvent], list[str]]:
        """Write what the held partitions produced; return the events written and their ids.

        A partition whose lease was taken over is dropped (its events and states are the new
        owner's to derive) and the rest is written.
        """
        events, changed = list(events), dict(changed)
        while True:
            try:
                return events, await self.fenced.write(events, changed)
            except LeaseLostError as lost:
                p = lost.partition
                self.leases.drop(p)
                events = [e for e in events if self.fenced.partition(e.key) != p]
                changed = {k: v for k, v in changed.items() if self.fenced.partition(k) != p}
