"""What the feeds subscribe to, derived from the portfolio and the market view."""

from __future__ import annotations

import asyncio
import datetime as dt

from monitor import symbols
from monitor.model import Book, IronCondor, Layer, Leg, Portfolio
from monitor.subscriptions import (
    MarketView,
    SubscriptionRules,
    Subscriptions,
    nearest_strikes,
    required_symbols,
    vx_monthly_expiries,
)

NOW_NS = int(dt.datetime(2026, 11, 24, 15, 0, tzinfo=dt.UTC).timestamp()) * 1_000_000_000
TODAY = dt.date(2026, 11, 24)
CONDOR = IronCondor(name="dec", legs=[
    Leg(symbol="SPXW261218P05500000", quantity=1, entry_price=5.0),
    Leg(symbol="SPXW261218P05600000", quantity=-1, entry_price=8.0),
    Leg(symbol="SPXW261218C06200000", quantity=-1, entry_price=7.0),
    Leg(symbol="SPXW261218C06300000", quantity=1, entry_price=4.0),
])
LAYER = Layer(name="l1", legs=[Leg(symbol="VIX270120C00025000", quantity=10, entry_price=1.2)])
PORTFOLIO = Portfolio(books=[Book(name="main", condors=[CONDOR], layers=[LAYER])])
RULES = SubscriptionRules(atm_strikes_each_side=2)


def options(syms: frozenset[str], root: str) -> set[tuple[dt.date, int, float]]:
    out = set()
    for s in syms:
        inst = symbols.parse(s)
        if inst.kind is symbols.Kind.OPTION and inst.root == root:
            assert inst.expiry is not None
            out.add((inst.expiry, inst.right, inst.strike))
    return out


def test_every_leg_and_index_is_subscribed() -> None:
    syms = required_symbols(PORTFOLIO, MarketView(), NOW_NS, RULES)
    assert {leg.symbol for leg in [*CONDOR.legs, *LAYER.legs]} <= syms
    assert {"SPX", "VIX", "VIX3M", "VIX9D"} <= syms


def test_the_vx_curve_is_the_front_monthlies_by_the_cfe_rule() -> None:
    syms = required_symbols(PORTFOLIO, MarketView(), NOW_NS, RULES)
    futures = sorted(s for s in syms if s.startswith("VX"))
    assert futures == [symbols.future_symbol(e) for e in vx_monthly_expiries(TODAY, 8)]
    assert futures[:3] == ["VX261216", "VX270120", "VX270217"]


def test_the_atm_region_uses_listed_strikes_around_spot_calls_and_puts() -> None:
    listed = [5890.0, 5900.0, 5910.0, 5920.0, 5925.0, 5930.0, 5950.0]
    market = MarketView(spx_spot=5915.0,
                        chain_strikes={("SPXW", dt.date(2026, 12, 18)): listed})
    atm = options(required_symbols(PORTFOLIO, market, NOW_NS, RULES), "SPXW") - {
        (symbols.parse(leg.symbol).expiry, symbols.parse(leg.symbol).right,
         symbols.parse(leg.symbol).strike) for leg in CONDOR.legs}
    assert atm == {(dt.date(2026, 12, 18), r, k) for r in (1, -1)
                   for k in (5900.0, 5910.0, 5920.0, 5925.0)}


def test_without_listings_a_five_point_grid_stands_in() -> None:
    assert nearest_strikes(5913.0, None, 2, 5.0) == [5905.0, 5910.0, 5915.0, 5920.0]


def test_without_spot_the_condor_centres_its_own_window() -> None:
    syms = required_symbols(PORTFOLIO, MarketView(), NOW_NS, RULES)
    strikes = {k for _, _, k in options(syms, "SPXW")} - {5500.0, 5600.0, 6200.0, 6300.0}
    assert strikes == {5895.0, 5900.0, 5905.0, 5910.0}  # the 5500/6300 midpoint is 5900


def test_roll_candidates_are_vix_calls_45_to_90_days_out_5_to_15_percent_above_the_future(
) -> None:
    market = MarketView(vx_futures={
        dt.date(2026, 12, 16): 18.0,  # 22 days: too close
        dt.date(2027, 1, 20): 20.0,  # 57 days
        dt.date(2027, 2, 17): 21.0,  # 85 days
        dt.date(2027, 3, 17): 21.5,  # 113 days: too far
    }, chain_strikes={("VIX", dt.date(2027, 2, 17)): [21.0, 22.0, 22.5, 23.0, 24.0, 25.0]})
    rolls = {(e, k) for e, r, k in options(
        required_symbols(PORTFOLIO, market, NOW_NS, RULES), "VIX") if r > 0} - {
        (dt.date(2027, 1, 20), 25.0)}  # the layer's own leg
    assert rolls == {
        (dt.date(2027, 1, 20), 21.0), (dt.date(2027, 1, 20), 22.0), (dt.date(2027, 1, 20), 23.0),
        (dt.date(2027, 2, 17), 22.5), (dt.date(2027, 2, 17), 23.0), (dt.date(2027, 2, 17), 24.0),
    }


def test_expired_condors_leave_no_atm_region() -> None:
    later = NOW_NS + 40 * 86_400 * 1_000_000_000
    syms = required_symbols(PORTFOLIO, MarketView(spx_spot=5900.0), later, RULES)
    assert options(syms, "SPXW") == {
        (dt.date(2026, 12, 18), r, k) for r, k in ((-1, 5500.0), (-1, 5600.0), (1, 6200.0),
                                                    (1, 6300.0))}


async def test_replacing_the_set_wakes_waiters_with_the_new_version() -> None:
    subs = Subscriptions({"SPX"})
    waiter = asyncio.create_task(subs.wait_changed(subs.version))
    await asyncio.sleep(0)
    assert not waiter.done()
    assert subs.replace({"SPX", "VIX"}) is True
    assert await asyncio.wait_for(waiter, 1) == 1
    assert subs.current() == {"SPX", "VIX"}
    assert subs.replace({"VIX", "SPX"}) is False and subs.version == 1


def test_listed_strikes_replace_per_chain_and_drop_expired_chains() -> None:
    from monitor.subscriptions import ListedStrikes

    listed = ListedStrikes()
    dec, nov = dt.date(2026, 12, 18), dt.date(2026, 11, 20)
    assert listed.update({("SPXW", dec): [5900.0, 5800.0], ("SPX", nov): [5800.0]})
    assert not listed.update({("SPXW", dec): [5800.0, 5900.0]})  # same listing: no change
    assert listed.update({("SPXW", dec): [5800.0, 5850.0, 5900.0]})
    assert listed.current(dt.date(2026, 11, 24)) == {("SPXW", dec): (5800.0, 5850.0, 5900.0)}


def test_the_wanted_options_expiries_are_grouped_by_underlying() -> None:
    from monitor.subscriptions import option_chains

    got = option_chains(["SPXW261218P05800000", "SPX261218P05800000", "VIXW261209C00020000",
                         "VX261216", "SPX"])
    assert got == {"SPX": {dt.date(2026, 12, 18)}, "VIX": {dt.date(2026, 12, 9)}}
