"""What a reload (SIGHUP, ``vixmon reload``) applies in place, and what waits for a restart.

In place: the portfolio, the engine's pricing inputs and staleness limits, the rules, the feeds'
subscriptions, the drain limit and the log level. Built once at startup and therefore
restart-only: the Redis connection, the HTTP listener, the set of feeds and sinks, the alert
state machine's timers, the evaluation cadence and the log format. A reload that changes those
still succeeds and says which ones need a restart, rather than pretending they took effect.
"""

from __future__ import annotations

import logging

from monitor.settings import Settings

RESTART_ONLY_SECTIONS = ("redis", "http", "feeds", "sinks", "alerts")
RESTART_ONLY_KEYS = (("engine", "cadence_ms"), ("engine", "consumer"), ("logging", "json"))
_MAX_LISTED = 50


def restart_required(old: Settings, new: Settings) -> list[str]:
    """Return the TOML paths whose change only a restart applies."""
    changed = [s for s in RESTART_ONLY_SECTIONS if getattr(old, s) != getattr(new, s)]
    for section, key in RESTART_ONLY_KEYS:
        if getattr(getattr(old, section), key) != getattr(getattr(new, section), key):
            changed.append(f"{section}.{key}")
    return changed


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
