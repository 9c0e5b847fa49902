"""The plan search against a brute force over harvest units, instruments and quantities."""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import math

from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.plan.model import HarvestLayer, PlanLeg, RollInstrument
from monitor.plan.search import SearchInput, search

EXP = dt.date(2027, 1, 20)


def layer(name: str, units: int, bid: float, cost: float, vega: float) -> HarvestLayer:
    leg = PlanLeg(f"VIX{name}", 1, bid, bid + 0.05, vega)
    return HarvestLayer(struct=0, name=name, units=units, legs=(leg,), cost_usd=cost, gain_ratio=2)


def call(rank: int, ask: float, vega: float) -> RollInstrument:
    leg = PlanLeg(f"VIXC{rank}", 1, ask, ask - 0.05, vega)
    return RollInstrument(
        legs=(leg,),
        expiry=EXP,
        dte=57,
        strike=23.0 + rank,
        short_strike=None,
        future=21.0,
        otm=0.09,
        in_band=True,
        rank=rank,
    )


def brute(inp: SearchInput) -> float:
    """Return the smallest reachable |net vega after the roll - baseline| within the limits."""
    best = math.inf
    ranges = [range(x.units + 1) for x in inp.layers]
    for h in itertools.product(*ranges):
        if inp.selective and not any(h):
            continue
        if not inp.selective and list(h) != [x.units for x in inp.layers]:
            continue
        gain = sum(n * (x.proceeds_usd - x.cost_usd) for n, x in zip(h, inp.layers, strict=True))
        after = inp.vega_now_usd - sum(n * x.vega_usd for n, x in zip(h, inp.layers, strict=True))
        contracts = sum(n * x.contracts_per_unit for n, x in zip(h, inp.layers, strict=True))
        cap = math.floor(inp.coefficient * contracts + 1e-9)
        for inst in inp.instruments or [None]:
            for q in range(cap + 1):
                cost = 0.0 if inst is None or q == 0 else q * inst.cost_usd
                if inst is None and q:
                    break
                if cost > inp.band[1] * max(gain, 0.0) + 1e-6:
                    break
                v = after + (q * inst.vega_usd if inst is not None else 0.0)
                best = min(best, abs(v - inp.baseline_usd))
    return best


def test_the_search_reaches_the_baseline_a_brute_force_finds_within_one_contract() -> None:
    inp = SearchInput(
        vega_now_usd=300.0,
        baseline_usd=60.0,
        layers=[layer("L1", 4, 6.0, 42.0, 90.0), layer("L2", 4, 2.2, 53.0, 40.0)],
        instruments=[call(0, 1.9, 48.0), call(1, 1.5, 41.0)],
        band=(0.4, 0.6),
        coefficient=1.5,
        selective=True,
    )
    ch = search(inp)
    assert ch is not None
    unit = inp.instruments[ch.instrument].vega_usd if ch.instrument is not None else 48.0
    assert abs(ch.vega_after_roll_usd - inp.baseline_usd) <= brute(inp) + unit


def test_selective_harvest_takes_the_fewest_units_that_reach_the_baseline() -> None:
    inp = SearchInput(
        vega_now_usd=200.0,
        baseline_usd=0.0,
        layers=[layer("L1", 4, 6.0, 40.0, 50.0)],
        instruments=[call(0, 1.9, 48.0)],
        band=(0.4, 0.6),
        coefficient=1.5,
        selective=True,
    )
    ch = search(inp)
    assert ch is not None and ch.harvest == (4,)  # 4 x 50 takes 200 away; fewer cannot
    ch2 = search(dataclasses.replace(inp, vega_now_usd=120.0))
    assert ch2 is not None and ch2.harvest == (2,) and ch2.quantity == 0  # 120 - 2 x 50 = 20


def test_the_budget_is_never_exceeded_and_the_cap_never_broken() -> None:
    inp = SearchInput(
        vega_now_usd=100.0,
        baseline_usd=900.0,
        layers=[layer("L1", 4, 3.0, 100.0, 25.0)],
        instruments=[call(0, 1.0, 40.0)],
        band=(0.4, 0.6),
        coefficient=1.5,
        selective=False,
    )
    ch = search(inp)
    assert ch is not None
    assert ch.cost_usd <= 0.6 * ch.gain_usd + 1e-6 and ch.quantity <= math.floor(1.5 * 4)
    assert ch.quantity == min(ch.cap, ch.affordable)


@settings(max_examples=60, deadline=None)
@given(
    vega_now=st.floats(-200, 800),
    baseline=st.floats(-300, 300),
    bids=st.lists(st.floats(0.5, 15), min_size=1, max_size=2),
    units=st.lists(st.integers(1, 5), min_size=2, max_size=2),
    asks=st.lists(st.floats(0.3, 4), min_size=1, max_size=3),
    selective=st.booleans(),
)
def test_no_feasible_option_is_closer_to_the_baseline_by_more_than_one_contract(
    vega_now: float,
    baseline: float,
    bids: list[float],
    units: list[int],
    asks: list[float],
    selective: bool,
) -> None:
    layers = [layer(f"L{i}", units[i], b, 50.0, 20.0 + 30 * b) for i, b in enumerate(bids)]
    calls = [call(i, a, 25.0 + 10 * a) for i, a in enumerate(asks)]
    inp = SearchInput(vega_now, baseline, layers, calls, (0.4, 0.6), 1.5, selective)
    ch = search(inp)
    assert ch is not None
    best = brute(inp)
    unit = max(abs(c.vega_usd) for c in calls)
    assert abs(ch.vega_after_roll_usd - baseline) <= max(best, 0.0) + unit + 1e-6
    assert ch.cost_usd <= 0.6 * max(ch.gain_usd, 0.0) + 1e-6
    assert ch.quantity <= ch.cap
