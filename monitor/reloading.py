"""What a reload (SIGHUP, ``vixmon reload``) applies in place, and what waits for a restart.

In place: the portfolio (what it closed is booked in the realized P&L ledger,
``monitor.positions.ledger``), the engine's pricing inputs and staleness limits, the rules and the
macro calendar, the feeds' subscriptions, the drain limit and the log level. Built once at
startup and therefore restart-only: the Redis connection, the HTTP listener, the set of feeds
and sinks, the alert state machine's timers, the evaluation cadence, the log format, the
rules' bar memory and the ``[[accounts]]`` sources (their clients and streams start once). A
reload that changes those still succeeds and says which need a restart, rather than pretending
they took effect.
"""

from __future__ import annotations

import functools
import logging

from monitor.settings import Settings

RESTART_ONLY = (
    "redis", "http", "feeds", "sinks", "alerts", "accounts",
    "engine.cadence_ms", "engine.consumer", "logging.json", "rules.momentum.max_bars",
)  # fmt: skip
_MAX_LISTED = 50


def _get(settings: Settings, path: str) -> object:
    return functools.reduce(getattr, path.split("."), settings)


def restart_required(old: Settings, new: Settings) -> list[str]:
    """Return the TOML paths whose change only a restart applies."""
    return [path for path in RESTART_ONLY if _get(old, path) != _get(new, path)]


def subscription_diff(before: frozenset[str], after: frozenset[str]) -> dict[str, object]:
    """Summarize a subscription change for the reload log line (the added symbols, capped)."""
    return {
        "subscriptions": len(after),
        "subscribed": sorted(after - before)[:_MAX_LISTED],
        "unsubscribed": len(before - after),
    }


def log_level(name: str) -> int:
    """Return the stdlib level for ``name`` (``info``, ``DEBUG``, ...); raise ValueError if none."""
    level = logging.getLevelNamesMapping().get(name.upper())
    if level is None:
        raise ValueError(f"logging.level: unknown level {name!r}")
    return level
