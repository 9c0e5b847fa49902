"""Every Redis key vixmon uses, in one place (docs/reliability.md lists them for operators).

Redis Cluster runs a multi-key command or script only when all its keys hash to one slot, so
the keys written together share a hash tag (the part in braces):

- ``{P:quotes}``: the quote stream and its dead letters (a read acks and dead-letters in one
  round trip). It is the only high-rate key, and every engine replica reads all of it.
- ``{P:alerts}``: the alert outbox, its dead letters, the alert states and the partition
  leases. An alerting cycle appends its events and saves the states that produced them in one
  script that first checks the partition's lease (the fence), so all of them share one slot on
  purpose: alert traffic is small, and atomicity is what keeps an alert from being lost or sent
  twice when an engine dies.
- Single-key state (replica registry, rule memory, ledger, vega baselines) has no tag.

``P`` is ``redis.key_prefix``. Keys from before the tags (``P:quotes``, ``P:alerts``, ...) are
renamed on start (``legacy_renames``).
"""

from __future__ import annotations


def quotes(prefix: str) -> str:
    return f"{{{prefix}:quotes}}"


def quotes_dead(prefix: str) -> str:
    return f"{{{prefix}:quotes}}:dead"


def outbox(prefix: str) -> str:
    return f"{{{prefix}:alerts}}"


def outbox_dead(prefix: str) -> str:
    return f"{{{prefix}:alerts}}:dead"


def alert_states(prefix: str, partition: int | None = None) -> str:
    """The alert-state hash: the whole portfolio's (one engine), or one partition's."""
    base = f"{{{prefix}:alerts}}:state"
    return base if partition is None else f"{base}:p{partition}"


def lease(prefix: str, partition: int) -> str:
    return f"{{{prefix}:alerts}}:lease:p{partition}"


def delivery_lease(prefix: str) -> str:
    """Held by the one replica that runs the sinks (``monitor.scale.leases``)."""
    return f"{{{prefix}:alerts}}:lease:delivery"


def replicas(prefix: str) -> str:
    """Sorted set: engine replica name -> expiry of its last heartbeat (Redis ms)."""
    return f"{prefix}:engines"


def rules_memory(prefix: str, replica: str | None = None) -> str:
    """The rule memory (bars, baselines, episodes): one engine's, or one replica's (each
    replica remembers the books it evaluated; a book taken over starts its episodes afresh)."""
    base = f"{prefix}:rules:memory"
    return base if replica is None else f"{base}:{replica}"


def ledger(prefix: str) -> str:
    return f"{prefix}:ledger"


def baseline_vega(prefix: str) -> str:
    return f"{prefix}:baseline:vega"


def legacy_renames(prefix: str) -> list[tuple[str, str]]:
    """Return (old, new) names of the keys that moved under a hash tag."""
    return [
        (f"{prefix}:quotes", quotes(prefix)),
        (f"{prefix}:quotes:dead", quotes_dead(prefix)),
        (f"{prefix}:alerts", outbox(prefix)),
        (f"{prefix}:alerts:dead", outbox_dead(prefix)),
        (f"{prefix}:alerts:state", alert_states(prefix)),
    ]


def all_keys(prefix: str, partitions: int) -> list[str]:
    """Return every key name (for the docs test and operators), partitions included."""
    fixed = [quotes(prefix), quotes_dead(prefix), outbox(prefix), outbox_dead(prefix),
             alert_states(prefix), delivery_lease(prefix), replicas(prefix),
             rules_memory(prefix), ledger(prefix), baseline_vega(prefix)]
    per = [k for p in range(partitions) for k in (alert_states(prefix, p), lease(prefix, p))]
    return fixed + per
