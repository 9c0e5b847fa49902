"""Partial evaluations: a changed leg re-evaluates the books holding it, and only those; the
real rule memory keeps the full cycles' state but for what the partial one sent."""

from __future__ import annotations

import copy

import numpy as np

from monitor import settings
from monitor.alerts import AlertMachine
from monitor.engine import Cycle, Engine
from monitor.model import Book, Layer, Leg, Portfolio, Quote

NOW = 1_795_530_600_000_000_000  # 2026-11-24 14:30 UTC
S = 1_000_000_000
LEG = {"a": "VIX261216C00020000", "b": "VIX261216C00022000", "c": "VIX261216C00024000"}


def engine() -> Engine:
    def layer(sym: str) -> Layer:
        return Layer(name="L1", legs=[Leg(symbol=sym, quantity=4, entry_price=1.0)])

    books = [Book(name=name, layers=[layer(sym)]) for name, sym in LEG.items()]
    return Engine(settings.load().settings, Portfolio(books=books))


def market(ts: int, **mid: float) -> list[Quote]:
    """Every leg at 1.0/1.1 but those named (at mid -/+ 0.1), the VX future and the index."""
    legs = [
        Quote(sym=sym, bid=mid.get(b, 1.05) - 0.05 * (1 + (b in mid)),
              ask=mid.get(b, 1.05) + 0.05 * (1 + (b in mid)), ts=ts)
        for b, sym in LEG.items()
    ]  # fmt: skip
    vx = Quote(sym="VX261216", bid=20.0, ask=20.1, ts=ts)
    return [*legs, vx, Quote(sym="VIX", last=20.0, ts=ts)]


def started(machine: AlertMachine | None = None) -> Engine:
    """An engine past its first (full-emission) cycle and one sparse cycle after it."""
    e = engine()
    e.ingest(market(NOW))
    for now in (NOW, NOW + S // 4):
        signals = e.evaluate(now).signals
        if machine is not None:
            machine.step(signals, now)
    return e


def book_conditions(cycle: Cycle, book: str) -> list[tuple[str, str]]:
    assert cycle.rules is not None
    return [(k, c) for k, c in cycle.rules.not_clear() if k.split("|")[1] == book]


def test_a_changed_leg_of_one_book_evaluates_that_book_only() -> None:
    e = started()
    e.ingest([Quote(sym=LEG["a"], bid=2.9, ask=3.1, ts=NOW + S // 2)])
    cycle = e.evaluate_books({"a"}, NOW + S // 2)
    assert cycle.books == {"a"} and cycle.state.index.book_names == ["a"]
    assert {sig.book for sig in cycle.signals} == {"a"}
    gains = {sig.subject: sig.condition for sig in cycle.signals if sig.rule == "layer_gain"}
    assert gains == {"L1@1.5": "breach", "L1@2": "breach"}


def test_a_partial_evaluation_sends_every_key_of_its_books_and_no_market_wide_one() -> None:
    e = started()
    assert e.last_cycle is not None and e.last_cycle.rules is not None
    keys = {k for layout, _ in e.last_cycle.rules.states.values() for k in layout.keys}
    cycle = e.evaluate_books({"b"}, NOW + S // 2)
    assert {sig.key for sig in cycle.signals} == {k for k in keys if k.split("|")[1] == "b"}


def test_a_partial_evaluation_finds_the_conditions_a_full_one_would() -> None:
    partial, full = started(), started()
    for e in (partial, full):
        e.ingest([Quote(sym=LEG["a"], bid=2.9, ask=3.1, ts=NOW + S // 2)])
    assert book_conditions(partial.evaluate_books({"a"}, NOW + S // 2), "a") == book_conditions(
        full.evaluate(NOW + S // 2), "a"
    )


def test_an_alert_fired_by_a_partial_evaluation_resolves_through_full_cycles() -> None:
    machine = AlertMachine(cooldown_s=0, repeat_interval_s=0)
    e = started(machine)
    e.ingest([Quote(sym=LEG["a"], bid=2.9, ask=3.1, ts=NOW + S)])
    fired = machine.step(e.evaluate_books({"a"}, NOW + S).signals, NOW + S).events
    assert {(ev.key, ev.status) for ev in fired} == {("layer_gain|a|L1@2", "firing")}
    e.ingest([Quote(sym=LEG["a"], bid=1.0, ask=1.1, ts=NOW + 2 * S)])
    resolved = machine.step(e.evaluate(NOW + 2 * S).signals, NOW + 2 * S).events
    assert {(ev.key, ev.status) for ev in resolved} == {("layer_gain|a|L1@2", "resolved")}


def test_a_partial_evaluation_leaves_the_memory_of_the_other_books_and_the_market_alone() -> None:
    e = started()
    mem = e.memory
    before = copy.deepcopy(
        (mem.bars, mem.vix_ts_ns, mem.be_baseline, mem.be_baseline_set, mem.gain_above_ns,
         mem.gain_since_ns, mem.vega.by_book, mem.size_increases, mem.last_gains_ns, mem.now_ns)
    )  # fmt: skip
    emitted = {r: (x.layout, x.codes.copy(), x.sent_ns.copy()) for r, x in mem.emitted.items()}
    index = mem.index
    e.ingest([Quote(sym=LEG["a"], bid=2.9, ask=3.1, ts=NOW + S // 2)])
    e.ingest([Quote(sym="VIX", last=25.0, ts=NOW + S // 2)])  # a new VIX bar waits for the cadence
    e.evaluate_books({"a"}, NOW + S // 2)
    after = (mem.bars, mem.vix_ts_ns, mem.be_baseline, mem.be_baseline_set, mem.gain_above_ns,
             mem.gain_since_ns, mem.vega.by_book, mem.size_increases, mem.last_gains_ns,
             mem.now_ns)  # fmt: skip
    for x, y in zip(before, after, strict=True):
        if isinstance(x, np.ndarray):
            np.testing.assert_array_equal(x, y)
        else:
            assert x == y
    assert mem.index is index and not mem.full
    for rule, (layout, codes, sent_ns) in emitted.items():
        now = mem.emitted[rule].aligned(layout)
        others = [p for p, b in enumerate(layout.books) if b != "a"]
        np.testing.assert_array_equal(now.codes[others], codes[others])
        np.testing.assert_array_equal(now.sent_ns[others], sent_ns[others])


def test_a_partial_evaluation_records_what_it_sent_for_its_books() -> None:
    e = started()
    e.ingest([Quote(sym=LEG["a"], bid=2.9, ask=3.1, ts=NOW + S // 2)])
    e.evaluate_books({"a"}, NOW + S // 2)
    gain = e.memory.emitted["layer_gain"]
    p = gain.layout.position["layer_gain|a|L1@2"]
    assert (int(gain.codes[p]), int(gain.sent_ns[p])) == (1, NOW + S // 2)  # breach, sent then


def test_no_partial_evaluation_before_a_full_one_nor_after_a_reload() -> None:
    e = engine()
    assert not e.can_evaluate_books()
    e.ingest(market(NOW))
    e.evaluate(NOW)
    assert e.can_evaluate_books()
    e.memory.reset_emission()  # an alert-state reload: the next cycle sends every key
    assert not e.can_evaluate_books()
    e.evaluate(NOW + S)
    e.set_portfolio(Portfolio(books=[*e.portfolio.books[:2]]))
    assert not e.can_evaluate_books()


def test_a_partial_evaluation_prices_its_legs_as_a_full_one_at_the_same_instant() -> None:
    """The legs take the current quotes and their chain's current forward (the VX future
    moved too); everything else is the last valuation's."""
    partial, full = started(), started()
    moved = [Quote(sym=LEG["a"], bid=2.9, ask=3.1, ts=NOW + S // 2),
             Quote(sym="VX261216", bid=21.0, ask=21.1, ts=NOW + S // 2)]  # fmt: skip
    for e in (partial, full):
        e.ingest(moved)
    part = partial.evaluate_books({"a"}, NOW + S // 2).state
    whole = full.evaluate(NOW + S // 4).state  # the instant the partial one is priced at
    legs = np.flatnonzero(np.array(whole.index.leg_symbol) == LEG["a"])
    for name in ("leg_mid", "leg_value_usd", "leg_delta_1pct_usd", "leg_vega_usd",
                 "leg_theta_usd"):  # fmt: skip
        np.testing.assert_allclose(getattr(part, name), getattr(whole, name)[legs], rtol=1e-9)


def test_a_partial_evaluation_reuses_the_last_full_cycles_market_wide_analyses() -> None:
    e = started()
    assert e.last_cycle is not None and e.last_cycle.rules is not None
    shared = e.last_cycle.rules.analysis
    e.ingest([Quote(sym=LEG["a"], bid=2.9, ask=3.1, ts=NOW + S // 2),
              Quote(sym="VX261216", bid=24.0, ask=24.1, ts=NOW + S // 2)])  # fmt: skip
    cycle = e.evaluate_books({"a"}, NOW + S // 2)
    assert cycle.rules is not None
    analysis = cycle.rules.analysis
    assert analysis.curve is shared.curve and analysis.momentum is shared.momentum
    assert analysis.next_event is shared.next_event
    assert analysis.roll_candidates is shared.roll_candidates


def test_a_full_cycle_after_partial_ones_is_the_same_as_without_them() -> None:
    with_partials, without = started(), started()
    for i, (bid, ask) in enumerate([(2.9, 3.1), (1.9, 2.1), (2.4, 2.6)], start=2):
        q = [Quote(sym=LEG["a"], bid=bid, ask=ask, ts=NOW + i * S // 4),
             Quote(sym="VX261216", bid=20.0 + i / 10, ask=20.1 + i / 10, ts=NOW + i * S // 4)]
        for e in (with_partials, without):
            e.ingest(q)
        with_partials.evaluate_books({"a", "b"}, NOW + i * S // 4)
    at = NOW + 5 * S // 4
    a, b = with_partials.evaluate(at), without.evaluate(at)
    for name in ("leg_mid", "leg_value_usd", "leg_delta_1pct_usd", "leg_vega_usd"):
        np.testing.assert_allclose(getattr(a.state, name), getattr(b.state, name), rtol=1e-9)
    assert a.rules is not None and b.rules is not None
    assert a.rules.not_clear() == b.rules.not_clear()


def test_a_partial_evaluation_sends_a_clear_key_of_its_books_only_if_the_machine_holds_it() -> None:
    e = started()
    e.memory.held = {"layer_gain|b|L1@2"}
    cycle = e.evaluate_books({"b"}, NOW + S // 2)
    not_clear = {k for k, _ in book_conditions(cycle, "b")}
    assert {sig.key for sig in cycle.signals if sig.condition != "clear"} == not_clear
    assert [sig.key for sig in cycle.signals if sig.condition == "clear"] == ["layer_gain|b|L1@2"]


def test_a_partial_evaluation_resolves_a_firing_alert_of_its_books_through_held_keys() -> None:
    machine = AlertMachine(cooldown_s=0, repeat_interval_s=0)
    e = started(machine)
    e.memory.held = machine.held()
    e.ingest([Quote(sym=LEG["a"], bid=2.9, ask=3.1, ts=NOW + S)])
    machine.step(e.evaluate_books({"a"}, NOW + S).signals, NOW + S)
    e.ingest([Quote(sym=LEG["a"], bid=1.0, ask=1.1, ts=NOW + 2 * S)])
    resolved = machine.step(e.evaluate_books({"a"}, NOW + 2 * S).signals, NOW + 2 * S).events
    assert {(ev.key, ev.status) for ev in resolved} == {("layer_gain|a|L1@2", "resolved")}
