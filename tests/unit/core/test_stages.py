"""Work in stages: a stage waiting on another thread yields its future; ``finish`` blocks on
it rather than spinning."""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor

from monitor.stages import Stages, finish, wait_for


def test_wait_for_yields_the_future_until_it_is_done_then_returns_its_result() -> None:
    fut: Future[int] = Future()
    stages = wait_for(fut)
    assert next(stages) is fut
    assert next(stages) is fut  # still running: the caller may wait for it, or do other work
    fut.set_result(7)
    try:
        next(stages)
    except StopIteration as done:
        assert done.value == 7
    else:
        raise AssertionError("a done future ends the wait")


def test_finish_blocks_on_a_yielded_future_instead_of_polling_it() -> None:
    release = threading.Event()
    polls = 0

    def work() -> int:
        release.wait(5)
        return 3

    def staged(fut: Future[int]) -> Stages[int]:
        nonlocal polls
        while not fut.done():
            polls += 1
            release.set()  # the first poll lets the work end; finish must wait, not re-poll
            yield fut
        return fut.result() + 1

    with ThreadPoolExecutor(1) as pool:
        assert finish(staged(pool.submit(work))) == 4
    assert polls == 1
