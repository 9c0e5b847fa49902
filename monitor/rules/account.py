"""Account staleness: a broker account source has not been heard from for ``stale_after_s``.

One key per ``[[accounts]]`` source (``account_stale|BOOK|SOURCE``). The book keeps the last
positions the broker reported while the key fires (nothing is dropped because a broker is down);
it resolves with the next snapshot. Inputs come from the app (``RuleInputs.account_status``).
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import TYPE_CHECKING

import msgspec
import numpy as np

from monitor.positions.accounts import AccountStatus
from monitor.rules import codes as C
from monitor.rules.base import Signal

if TYPE_CHECKING:
    from monitor.rules.context import RuleContext
    from monitor.settings import RulesConfig

RULE = "account_stale"


@lru_cache(maxsize=64)
def _keys(keys: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    """Intern the key set: the layout cache compares identities."""
    return keys


def evaluate(ctx: RuleContext, cfg: RulesConfig, now_ns: int) -> list[Signal]:
    statuses = ctx.account_status
    keys = _keys(tuple((s.book, s.source) for s in statuses))
    layout = ctx.layouts.get(RULE, keys, None, lambda: C.Layout.of(
        RULE, [b for b, _ in keys], [s for _, s in keys]))
    codes = np.array([C.BREACH if s.stale else C.CLEAR for s in statuses], np.int8)
    return [msgspec.structs.replace(_signal(statuses[i]), context=ctx.context)
            for i in ctx.select(RULE, layout, codes).tolist()]


def _signal(s: AccountStatus) -> Signal:
    age = "never" if math.isinf(s.age_s) else f"{s.age_s:.0f} s ago"
    values: dict[str, float | int | str | bool | None] = {
        "positions": s.positions, "age_s": None if math.isinf(s.age_s) else round(s.age_s, 1)}
    if not s.stale:
        return Signal(rule=RULE, book=s.book, subject=s.source, condition="clear",
                      severity="warning", summary=f"account {s.source}: positions current",
                      values=values)
    return Signal(
        rule=RULE, book=s.book, subject=s.source, condition="breach", severity="warning",
        summary=(f"account {s.source}: broker unreachable, last positions snapshot {age}; "
                 f"showing the last {s.positions} known positions"),
        values=values,
        action=("Check the broker's status and the credentials (an expired or revoked token); "
                "vixmon keeps reconnecting with backoff. Trades made meanwhile are not shown."),
    )
