"""The synthetic market is internally consistent and its shock makes a VIX call layer pop."""

from __future__ import annotations

import datetime as dt
import math

from adapters.simulator.market import SimMarket
from monitor import symbols
from monitor.pricing import black
from monitor.pricing.expiry import settlement_ns, year_fraction

START = 1_795_530_600_000_000_000  # 2026-11-24 14:30 UTC
MINUTE = 60_000_000_000
DEC = dt.date(2026, 12, 16)
JUN = dt.date(2027, 6, 16)


def mid(m: SimMarket, sym: str) -> float:
    q = m.quote(symbols.parse(sym))
    assert q is not None and q.bid is not None and q.ask is not None
    return (q.bid + q.ask) / 2


def test_the_vx_curve_is_in_contango_when_vix_is_low() -> None:
    m = SimMarket(1, START, spike_at_ns=None)
    assert m.vix < 17
    assert mid(m, "VX261216") < mid(m, "VX270616")


def test_the_shock_flips_the_curve_into_backwardation() -> None:
    m = SimMarket(1, START, spike_at_ns=START + MINUTE)
    for _ in range(61):
        m.step(1.0)
    assert m.vix > 19
    assert mid(m, "VX261216") > mid(m, "VX270616")


def test_a_short_dated_vix_call_gains_more_than_150_percent_in_the_shock() -> None:
    m = SimMarket(3, START, spike_at_ns=START + MINUTE)
    before = mid(m, "VIX261216C00020000")
    for _ in range(61):
        m.step(1.0)
    assert mid(m, "VIX261216C00020000") / before - 1 > 1.5


def test_option_quotes_bracket_the_black_price_of_the_market_state() -> None:
    m = SimMarket(5, START, spike_at_ns=None)
    inst = symbols.parse("VIX270616C00030000")
    q = m.quote(inst)
    assert q is not None and q.bid is not None and q.ask is not None
    t = float(year_fraction(settlement_ns("VIX", JUN), START))
    fwd = m.vx(t)
    model = float(
        black.price(1.0, fwd, 30.0, t, math.exp(-m.p.rate * t), m.vix_vol(t, math.log(30 / fwd)))
    )
    assert q.bid <= model <= q.ask


def test_expired_contracts_are_not_quoted() -> None:
    m = SimMarket(1, START, spike_at_ns=None)
    assert m.quote(symbols.parse("VIX261118C00020000")) is None


def test_the_same_seed_gives_the_same_path() -> None:
    a, b = SimMarket(9, START, None), SimMarket(9, START, None)
    for _ in range(100):
        a.step(1.0)
        b.step(1.0)
    assert (a.spx, a.vol) == (b.spx, b.vol)
