"""A full cycle in stages: at each pause a tick's book may be evaluated alone, and that newer
evaluation wins over the cycle's own for that book (no alert resolved by older numbers)."""

from __future__ import annotations

from monitor.alerts import AlertMachine
from monitor.engine import Cycle
from monitor.model import Quote
from monitor.rules import registry
from monitor.rules.codes import BREACH, CLEAR
from monitor.stages import finish
from tests.unit.core.test_engine_incremental import LEG, NOW, S, started

KEY = "layer_gain|a|L1@2"  # the top level of its group (1.5 is muted under it)
T1 = NOW + S // 2


def code_of(cycle: Cycle, key: str) -> int:
    assert cycle.rules is not None
    for layout, codes in cycle.rules.states.values():
        if key in layout.position:
            return int(codes[layout.position[key]])
    raise KeyError(key)


def test_a_full_cycle_run_to_its_end_is_the_plain_evaluation() -> None:
    staged, plain = started(), started()
    for e in (staged, plain):
        e.ingest([Quote(sym=LEG["a"], bid=2.9, ask=3.1, ts=T1)])
    a = finish(staged.evaluate_stages(T1))
    b = plain.evaluate(T1)
    assert sorted((s.key, s.condition) for s in a.signals) == sorted(
        (s.key, s.condition) for s in b.signals
    )
    assert code_of(a, KEY) == code_of(b, KEY) == BREACH


def test_a_book_evaluated_at_a_pause_keeps_the_partial_evaluations_word() -> None:
    machine = AlertMachine(cooldown_s=0, repeat_interval_s=3600)
    e = started(machine)
    e.memory.held = machine.held()
    stages = e.evaluate_stages(T1)  # priced with every leg where it was: "a" is clear
    next(stages)
    e.ingest([Quote(sym=LEG["a"], bid=2.9, ask=3.1, ts=T1 + 1)])  # a tick at the pause
    part = e.evaluate_books({"a"}, T1 + 1)
    fired = machine.step(part.signals, T1 + 1).events
    assert [(ev.key, ev.status) for ev in fired if ev.key == KEY] == [(KEY, "firing")]

    cycle = finish(stages)
    assert not [s for s in cycle.signals if s.book == "a"]  # its numbers are older
    assert code_of(cycle, KEY) == BREACH  # the memory holds what the partial sent
    assert not [ev for ev in machine.step(cycle.signals, T1).events if ev.key == KEY]
    assert machine.states[KEY].firing

    later = e.evaluate(T1 + S // 4)  # the leg still breaches: nothing to send again
    assert not [s for s in later.signals if s.key == KEY]
    assert not [ev for ev in machine.step(later.signals, T1 + S // 4).events if ev.key == KEY]


def test_a_partial_evaluation_after_the_cycle_ended_does_not_hide_the_book_from_the_next() -> None:
    machine = AlertMachine(cooldown_s=0, repeat_interval_s=3600)
    e = started(machine)
    e.memory.held = machine.held()
    stages = e.evaluate_stages(T1)
    next(stages)
    e.ingest([Quote(sym=LEG["a"], bid=2.9, ask=3.1, ts=T1 + 1)])
    machine.step(e.evaluate_books({"a"}, T1 + 1).signals, T1 + 1)
    machine.step(finish(stages).signals, T1)

    e.ingest([Quote(sym=LEG["a"], bid=1.0, ask=1.1, ts=T1 + 2)])  # back to clear
    nxt = e.evaluate(T1 + S // 4)
    assert [(s.key, s.condition) for s in nxt.signals if s.key == KEY] == [(KEY, "clear")]
    resolved = machine.step(nxt.signals, T1 + S // 4).events
    assert [(ev.key, ev.status) for ev in resolved if ev.key == KEY] == [(KEY, "resolved")]
    assert code_of(nxt, KEY) == CLEAR


def test_an_instrument_that_appears_at_the_first_pause_is_priced_by_the_same_cycle() -> None:
    e = started()
    stages = e.evaluate_stages(T1)
    next(stages)
    new = "VIX261216C00030000"
    e.ingest([Quote(sym=new, bid=0.4, ask=0.5, ts=T1 + 1)])
    cycle = finish(stages)  # every array of the cycle has the market's size
    assert new in cycle.valuation.universe.symbols
    assert cycle.market is not None
    assert len(cycle.valuation.forward) == len(cycle.market) == len(e.market)


def test_the_rules_read_the_market_as_of_the_books_state_not_quotes_applied_later() -> None:
    e = started()
    stages = e.evaluate_stages(T1)
    next(stages)
    next(stages)  # the books' state is taken: the rules' stages follow
    row = e.market.index[LEG["a"]]
    held = float(e.market.bid[row])
    new = "VIX261216C00030000"
    e.ingest([Quote(sym=LEG["a"], bid=2.9, ask=3.1, ts=T1 + 1),
              Quote(sym=new, bid=0.4, ask=0.5, ts=T1 + 1)])  # fmt: skip
    cycle = finish(stages)
    assert cycle.market is not None and cycle.market is not e.market
    assert float(cycle.market.bid[row]) == held and float(e.market.bid[row]) == 2.9
    # the new instrument waits for the next cycle: the cycle's arrays agree with its market
    assert new not in cycle.market.index and new not in cycle.valuation.universe.symbols
    assert len(cycle.valuation.forward) == len(cycle.market)
    assert new in e.evaluate(T1 + S // 4).valuation.universe.symbols


def test_a_full_cycle_pauses_within_its_rules() -> None:
    e = started()
    stages = e.evaluate_stages(T1)
    pauses = 0
    while True:
        try:
            next(stages)
        except StopIteration:
            break
        pauses += 1
    assert pauses > len(registry.RULES)  # after each rule, and within the analyses
