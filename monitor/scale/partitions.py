"""Which engine replica evaluates which book: partitions, and who should own each (pure).

A book belongs to partition ``crc32(name) mod N`` for ever (the name is the book's identity;
market-wide alerts belong to the partition of their pseudo-book ``market``). Each partition has
one *desired* owner among the live replicas, by rendezvous hashing: the replica with the highest
``hash(replica, partition)``. Every replica computes the same answer from the same live set, no
coordination needed, and a replica joining or leaving moves only the partitions it wins or held
(about N / replicas of them).
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Iterable, Sequence

from monitor.model import Portfolio

MARKET_BOOK = "market"
"""The pseudo-book of market-wide alerts (term structure, feed silence, momentum)."""


def partition_of(book: str, partitions: int) -> int:
    """Return the partition of ``book`` (stable across processes, hosts and Python runs)."""
    return zlib.crc32(book.encode()) % partitions


def key_book(alert_key: str) -> str:
    """Return the book of an alert key ``rule|book|subject``."""
    return alert_key.split("|", 2)[1]


def _score(replica: str, partition: int) -> int:
    digest = hashlib.blake2b(f"{replica}\x00{partition}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def desired_owner(partition: int, live: Sequence[str]) -> str | None:
    """Return the live replica that should own ``partition`` (None: no replica is live)."""
    return max(live, key=lambda r: (_score(r, partition), r), default=None)


def desired(replica: str, live: Iterable[str], partitions: int) -> frozenset[int]:
    """Return the partitions ``replica`` should own, given the live replicas (itself included)."""
    members = sorted({*live, replica})
    return frozenset(p for p in range(partitions) if desired_owner(p, members) == replica)


def books_of(portfolio: Portfolio, owned: frozenset[int], partitions: int) -> Portfolio:
    """Return the part of ``portfolio`` whose books fall in ``owned`` partitions."""
    return Portfolio(
        books=[b for b in portfolio.books if partition_of(b.name, partitions) in owned]
    )
