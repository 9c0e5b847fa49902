"""Issue 14's "done when", on one book: a VIXW weekly layer and the December layer pop together.

The single plan brings net vega to the baseline within one contract (or names what bound it and
the residual), does not contradict the cycle's term-structure alert, and once the trader has
executed it exactly (harvest booked in the ledger, roll bought at the ask) the hedge-inclusive
break-evens are no closer after the harvest (in by the roll's bid-ask spread once the roll is
bought: the one cost the plan adds) and the stress coverage counts the short legs as liabilities.
"""

from __future__ import annotations

from typing import Any

import msgspec
import numpy as np
import pytest

from monitor.alerts import AlertMachine
from monitor.engine import Cycle
from monitor.model import Portfolio
from tests.unit.plan.plan_world import LAYERS, Desk
from tests.unit.plan.test_plan_baseline import _executed

POP = 0.20
WEEKLY = ("L0-WK", "VIXW261209C00018000", 4)  # a weekly expiring 2026-12-09


def breakevens(c: Cycle) -> tuple[np.ndarray, np.ndarray]:
    assert c.rules is not None
    be = c.rules.analysis.breakevens
    return be.points[0].copy(), be.distance_sigma[0].copy()


def harvest_only(desk: Desk, d: dict[str, Any]) -> Portfolio:
    """The executed book without its roll: what "harvest now, roll when contango returns" does."""
    book = _executed(desk.portfolio, d).books[0]
    layers = [y for y in book.layers if y.name != "L-ROLL"]
    return Portfolio(books=[msgspec.structs.replace(book, layers=layers)])


@pytest.fixture(scope="module")
def executed() -> tuple[Desk, Cycle, Cycle, dict[str, Any], str, Cycle]:
    desk = Desk(layers=[WEEKLY, *LAYERS])
    desk.engine.reconcile_ledger(desk.now_ns)  # the ledger knows the book as it was opened
    desk.tick()
    desk.set_baseline(60.0)
    popped = desk.tick(vol=POP)
    plan = desk.plan(popped)
    desk.engine.set_portfolio(harvest_only(desk, plan.doc))
    desk.engine.reconcile_ledger(desk.now_ns)  # the harvest realized at the cycle's touch
    harvested = desk.engine.evaluate(desk.now_ns)  # same market, the harvested book
    desk.engine.set_portfolio(_executed(desk.portfolio, plan.doc))
    desk.engine.reconcile_ledger(desk.now_ns)
    after = desk.engine.evaluate(desk.now_ns)  # the roll bought too, at the plan's ask
    return desk, popped, after, plan.doc, plan.action, harvested


def test_both_popped_layers_are_in_the_one_plan_and_it_reaches_the_baseline(
    executed: tuple[Desk, Cycle, Cycle, dict[str, Any], str, Cycle],
) -> None:
    _desk, _popped, after, d, action, _h = executed
    assert "n/a" not in action and "Net vega +531 -> -63 after the harvest" in action
    assert {h["layer"] for h in d["harvest"] if h["units_harvested"]} >= {"L0-WK", "L1-DEC"}
    if d["binding"] == "vega":
        per = d["roll"]["vega_usd_per_unit"]
        assert abs(d["vega_after_roll_usd"] - d["vega_baseline_usd"]) <= per
    else:
        assert d["binding"] in {"budget", "cap"} and d["residual_vega_usd"] is not None
    # the executed book's net vega is where the plan said it would be
    assert after.rules is not None
    assert float(after.rules.analysis.net_vega.book[0]) == pytest.approx(
        d["vega_after_roll_usd"], abs=0.5
    )


def test_the_plan_does_not_contradict_the_term_structure_alert(
    executed: tuple[Desk, Cycle, Cycle, dict[str, Any], str, Cycle],
) -> None:
    _desk, popped, _after, d, action, _h = executed
    events = (
        AlertMachine(cooldown_s=0, repeat_interval_s=0).step(popped.signals, popped.now_ns).events
    )
    waits = any(
        e.rule == "term_structure"
        and e.status == "firing"
        and "once contango returns" in (e.action or "")
        for e in events
    )
    pre = {p["name"]: p for p in d["preconditions"]}
    if waits:
        assert pre["term_structure"]["holds"] is False
        assert d["action"] != "roll_now" and "Roll now" not in action
    else:
        assert d["action"] != "harvest_now_roll_when_contango_returns"


def test_after_the_harvest_the_break_evens_are_exactly_where_they_were(
    executed: tuple[Desk, Cycle, Cycle, dict[str, Any], str, Cycle],
) -> None:
    _desk, popped, _after, _d, _action, harvested = executed
    (lo, hi), (d_lo, d_hi) = breakevens(popped)
    (lo2, hi2), (d_lo2, d_hi2) = breakevens(harvested)
    assert (lo2, hi2) == pytest.approx((lo, hi), abs=1e-6)
    assert (d_lo2, d_hi2) == pytest.approx((d_lo, d_hi), abs=1e-9)


def test_after_the_roll_the_break_evens_move_in_by_the_bid_ask_paid_and_no_more(
    executed: tuple[Desk, Cycle, Cycle, dict[str, Any], str, Cycle],
) -> None:
    """The bought calls are worth their bid at once: the spread paid is a real loss, spread
    over the condor's short contracts per side (2 here)."""
    desk, popped, after, d, _action, _h = executed
    m = desk.engine.market
    spread_usd = sum(
        (float(m.ask[m.index[x["symbol"]]]) - float(m.bid[m.index[x["symbol"]]]))
        * x["quantity"]
        * d["roll_contracts"]
        * 100
        for x in d["roll"]["legs"]
    )
    (lo, hi), _ = breakevens(popped)
    (lo2, hi2), _ = breakevens(after)
    shorts_per_side = 2
    assert lo2 - lo == pytest.approx(spread_usd / (100 * shorts_per_side), abs=1e-6)
    assert hi - hi2 == pytest.approx(spread_usd / (100 * shorts_per_side), abs=1e-6)


def test_after_executing_the_plan_coverage_counts_the_short_legs_as_liabilities(
    executed: tuple[Desk, Cycle, Cycle, dict[str, Any], str, Cycle],
) -> None:
    _desk, _popped, after, _d, _action, _h = executed
    assert after.rules is not None
    st, state = after.rules.analysis.stress, after.state
    shorts = state.index.leg_qty < 0
    owed = -float(np.sum(state.leg_value_usd[shorts]))  # buying the short legs back
    assert owed > 0
    assert float(st.funds.short_liability_usd[0]) == pytest.approx(owed)
    assert float(st.funds.total_usd[0]) == pytest.approx(
        float(st.funds.cash_usd[0]) - owed + float(st.funds.premium_to_earn_usd[0])
    )
    assert float(st.coverage[0]) == pytest.approx(
        float(st.funds.total_usd[0]) / float(st.worst_call_usd[0])
    )
