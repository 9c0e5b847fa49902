"""The sink contract: a ``Message`` in, an ``Outcome`` out, per delivery attempt.

[pure] A message carries one event, or several events of one book when the sink groups. Its id
is the Standard Webhooks ``webhook-id``: the same on every retry, so receivers deduplicate on it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from monitor.model import AlertEvent


@dataclass(frozen=True, slots=True)
class Message:
    id: str
    book: str
    events: tuple[AlertEvent, ...]


def message_for(events: Sequence[AlertEvent]) -> Message:
    """Bundle ``events`` (one book, non-empty) into a message with a deterministic id.

    A single event keeps its own id; a group's id is derived from its events' ids so that a
    retried group keeps it too.
    """
    if not events:
        raise ValueError("a message needs at least one event")
    if len(events) == 1:
        msg_id = events[0].id
    else:
        digest = hashlib.sha256("\n".join(e.id for e in events).encode()).hexdigest()
        msg_id = f"grp_{digest[:32]}"
    return Message(id=msg_id, book=events[0].book, events=tuple(events))


@dataclass(frozen=True, slots=True)
class Delivered:
    """The receiver accepted the message (HTTP 2xx; ``status`` is None for non-HTTP sinks)."""

    status: int | None = None


@dataclass(frozen=True, slots=True)
class Retry:
    """A transient failure: try again after backoff, or after ``retry_after_s`` when given."""

    error: str
    retry_after_s: float | None = None


@dataclass(frozen=True, slots=True)
class Reject:
    """The receiver refused this message for good (e.g. 400): dead-letter it now."""

    error: str


@dataclass(frozen=True, slots=True)
class Disable:
    """The destination is gone (e.g. Slack's 410 ``channel_is_archived``): stop the sink."""

    error: str


Outcome = Delivered | Retry | Reject | Disable


class Sink(Protocol):
    """One destination. ``send`` makes exactly one attempt and never raises for I/O failures."""

    @property
    def name(self) -> str: ...

    @property
    def kind(self) -> str: ...

    async def send(self, message: Message, now_ns: int) -> Outcome:
        """Attempt to deliver ``message``; ``now_ns`` stamps the attempt (signatures, dates)."""
        ...
