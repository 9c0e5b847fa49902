"""The engine core without I/O: quotes in, book state and signals out."""

from __future__ import annotations

import math

import pytest

from monitor import settings
from monitor.engine import Engine
from monitor.model import Book, Layer, Leg, Portfolio, Quote
from monitor.pipeline import mark_delayed

NOW = 1_795_530_600_000_000_000  # 2026-11-24 14:30 UTC
S = 1_000_000_000


def engine(entry: float = 1.0, qty: int = 4) -> Engine:
    layer = Layer(
        name="L1", legs=[Leg(symbol="VIX261216C00020000", quantity=qty, entry_price=entry)]
    )
    return Engine(settings.load().settings, Portfolio(books=[Book(name="b", layers=[layer])]))


def quotes(call_bid: float, call_ask: float, ts: int = NOW) -> list[Quote]:
    return [
        Quote(sym="VIX261216C00020000", bid=call_bid, ask=call_ask, ts=ts),
        Quote(sym="VX261216", bid=20.0, ask=20.1, ts=ts),
        Quote(sym="VIX", last=20.0, ts=ts),
    ]


def layer_gain_conditions(e: Engine, now_ns: int) -> dict[str, str]:
    return {s.subject: s.condition for s in e.evaluate(now_ns).signals if s.rule == "layer_gain"}


def test_gain_ratio_is_value_minus_cost_over_cost_at_the_mid() -> None:
    e = engine(entry=1.0)
    e.ingest(quotes(2.9, 3.1))
    state = e.evaluate(NOW).state
    assert state.struct_value_usd[0] == pytest.approx(3.0 * 4 * 100)
    assert state.struct_cost_usd[0] == pytest.approx(1.0 * 4 * 100)
    assert state.struct_gain_ratio[0] == pytest.approx(2.0)


def test_a_leg_without_a_quote_makes_the_layer_unknown_not_zero() -> None:
    e = engine()
    cycle = e.evaluate(NOW)
    assert math.isnan(cycle.state.struct_gain_ratio[0]) and bool(cycle.state.struct_stale[0])
    conditions = {s.subject: s.condition for s in cycle.signals if s.rule == "layer_gain"}
    assert set(conditions.values()) == {"unknown"}


@pytest.mark.parametrize(
    ("mid", "expected"),
    [(2.49, "hold"), (2.5, "breach"), (2.51, "breach"), (2.39, "clear"), (2.41, "hold")],
)
def test_the_lower_threshold_breaches_at_150_percent_and_clears_below_the_band(
    mid: float, expected: str
) -> None:
    e = engine(entry=1.0)
    e.ingest(quotes(mid - 0.01, mid + 0.01))
    assert layer_gain_conditions(e, NOW)["L1@1.5"] == expected


def test_a_silent_market_makes_every_layer_unknown() -> None:
    e = engine(entry=1.0)
    e.ingest(quotes(2.9, 3.1))
    later = NOW + round((e.settings.engine.stale_after_s + 1) * S)
    assert set(layer_gain_conditions(e, later).values()) == {"unknown"}


def test_a_portfolio_leg_has_a_row_before_it_is_quoted() -> None:
    e = engine()
    assert "VIX261216C00020000" in e.market.index


def test_signals_of_a_book_quoted_from_delayed_data_say_so() -> None:
    e = engine(entry=1.0)
    live = quotes(2.9, 3.1)
    e.ingest([Quote(sym=live[0].sym, bid=2.9, ask=3.1, ts=NOW, delayed=True), *live[1:]])
    cycle = e.evaluate(NOW)
    assert all(sig.delayed for sig in mark_delayed(cycle, e.market) if sig.book == "b")


def test_signals_from_live_data_are_not_marked_delayed() -> None:
    e = engine(entry=1.0)
    e.ingest(quotes(2.9, 3.1))
    cycle = e.evaluate(NOW)
    assert not any(sig.delayed for sig in mark_delayed(cycle, e.market))
