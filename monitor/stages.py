"""Work in stages (pure): a generator that pauses between its steps and returns a result.

A full cycle of a large portfolio takes tens of milliseconds; the engine's loop must not hold
a tick's alert that long. So the cycle is written as a generator: each ``next`` runs one step
of a few milliseconds, and between steps the loop may read quotes and evaluate a tick's book
alone. A step that hands work to another thread yields that thread's future while it runs:
the loop may then wait for quotes instead of spinning (``monitor.pipeline``).
"""

from __future__ import annotations

from collections.abc import Generator
from concurrent.futures import Future, wait
from typing import Any, TypeVar, cast

T = TypeVar("T")
Stages = Generator["Future[Any] | None", None, T]
"""Work in stages: each ``next`` runs one and yields None, or the future of work running on
another thread meanwhile; the generator returns the result."""


def finish(stages: Stages[T]) -> T:
    """Run ``stages`` to the end without pausing; return its result. A future yielded is
    waited for (blocking), not polled."""
    while True:
        try:
            waiting = next(stages)
        except StopIteration as done:
            return cast(T, done.value)
        if waiting is not None:
            wait([waiting])


def wait_for(future: Future[T]) -> Stages[T]:
    """Pause, yielding ``future``, until it is done; return its result."""
    while not future.done():
        yield future
    return future.result()
