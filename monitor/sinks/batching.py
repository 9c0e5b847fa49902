"""What a worker holds between reading and sending: decoded entries, and taking a book's group.

An entry that cannot be delivered (trimmed away while pending, undecodable) keeps its
id and raw bytes, so that it can be dead-lettered rather than block its sink.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

import msgspec

from monitor.model import AlertEvent
from monitor.sinks.outbox import decode_event


@dataclass(slots=True)
class Entry:
    outbox_id: str
    raw: bytes | None
    event: AlertEvent | None
    problem: str
    """Why the entry cannot be delivered (trimmed, undecodable); empty when it can."""
    read_ns: int
    """When the worker read it (monotonic): the start of its grouping window."""


def make_entry(entry_id: str, raw: bytes | None, read_ns: int) -> Entry:
    """Decode one outbox entry (``raw`` None: trimmed from the stream while pending)."""
    if raw is None:
        return Entry(entry_id, None, None, "trimmed from the outbox before delivery", read_ns)
    try:
        return Entry(entry_id, raw, decode_event(raw), "", read_ns)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        return Entry(entry_id, raw, None, f"undecodable outbox entry: {exc}", read_ns)


def take_book(
    entries: Iterable[Entry], book: str, max_size: int
) -> tuple[list[Entry], deque[Entry]]:
    """Split off up to ``max_size`` deliverable entries of ``book``, both parts in order."""
    batch: list[Entry] = []
    rest: deque[Entry] = deque()
    for entry in entries:
        if entry.event is not None and entry.event.book == book and len(batch) < max_size:
            batch.append(entry)
        else:
            rest.append(entry)
    return batch, rest
