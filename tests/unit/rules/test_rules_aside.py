"""A large cycle's stress analysis and break-even rule run on the engine's second thread, with
the same results."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest

from monitor.rules import breakeven, context, registry, stress
from monitor.rules.stress import Stress
from tests.unit.rules.rules_world import World


def stress_of(world: World) -> Stress:
    world.tick(vol=0.25)
    cycle = world.tick(vol=0.28)
    assert cycle.rules is not None
    return cycle.rules.analysis.stress


def stress_threads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record the thread every stress analysis runs on, from now on."""
    threads: list[str] = []
    analyze = stress.analyze

    def recorded(*args: Any) -> Stress:
        threads.append(threading.current_thread().name)
        return analyze(*args)

    monkeypatch.setattr(context.stress, "analyze", recorded)
    return threads


def test_the_stress_analysis_runs_aside_and_agrees_with_the_inline_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    threads = stress_threads(monkeypatch)
    monkeypatch.setattr(context, "ASIDE_MIN_BOOKS", 1)  # the demo book stands in for many
    monkeypatch.setattr(registry, "ASIDE_MIN_BOOKS", 1)
    inline = stress_of(World())
    with ThreadPoolExecutor(1, thread_name_prefix="aside") as pool:
        world = World()
        world.engine.aside = pool
        aside = stress_of(world)
    assert threads[:2] == ["MainThread"] * 2 and threads[2:] and all(
        t.startswith("aside") for t in threads[2:]
    )
    for name in ("pnl", "call_usd", "coverage", "worst_call_usd", "requirement_now_usd"):
        np.testing.assert_allclose(getattr(aside, name), getattr(inline, name), rtol=1e-12)


def test_a_small_index_stays_on_the_calling_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    threads = stress_threads(monkeypatch)
    with ThreadPoolExecutor(1) as pool:
        world = World()
        world.engine.aside = pool
        stress_of(world)
    assert threads == ["MainThread"] * 2  # one book: the hand-off would cost more than it saves


def test_the_break_even_rule_runs_aside_and_the_signals_keep_their_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    threads: list[str] = []
    evaluate = breakeven.evaluate

    def recorded(*args: Any) -> Any:
        threads.append(threading.current_thread().name)
        return evaluate(*args)

    rules = tuple((n, recorded if n == breakeven.RULE else r) for n, r in registry.RULES)
    monkeypatch.setattr(registry, "RULES", rules)
    monkeypatch.setattr(registry, "ASIDE_MIN_BOOKS", 1)
    monkeypatch.setattr(context, "ASIDE_MIN_BOOKS", 1)

    def signals(world: World) -> list[tuple[str, str]]:
        world.tick(vol=0.25)
        return [(s.key, s.condition) for s in world.tick(vol=0.30).signals]

    inline = signals(World())
    with ThreadPoolExecutor(1, thread_name_prefix="aside") as pool:
        world = World()
        world.engine.aside = pool
        aside = signals(world)
    assert threads[:2] == ["MainThread"] * 2 and all(t.startswith("aside") for t in threads[2:])
    assert any(k.startswith("breakeven|") for k, _ in aside) and aside == inline
