"""The shutdown building blocks: a step bounded by a limit or a forced stop, and certain cancel."""

from __future__ import annotations

import asyncio

import pytest

from monitor.lifecycle import cancel_all, within


async def forever() -> None:
    await asyncio.Event().wait()


async def test_a_step_that_finishes_is_done() -> None:
    assert await within(asyncio.sleep(0), 5.0, asyncio.Event()) == "done"


async def test_a_step_that_outlasts_the_limit_is_cut_and_cancelled() -> None:
    cancelled = asyncio.Event()

    async def step() -> None:
        try:
            await forever()
        finally:
            cancelled.set()

    assert await within(step(), 0.05, asyncio.Event()) == "timeout"
    assert cancelled.is_set()


async def test_a_forced_stop_ends_the_step_before_its_limit() -> None:
    forced = asyncio.Event()
    asyncio.get_running_loop().call_soon(forced.set)
    assert await within(forever(), 60.0, forced) == "forced"


async def test_a_failing_step_raises() -> None:
    async def step() -> None:
        raise RuntimeError("redis gone")

    with pytest.raises(RuntimeError, match="redis gone"):
        await within(step(), 5.0, asyncio.Event())


async def test_a_task_that_swallows_its_cancellation_is_cancelled_again() -> None:
    started, swallowed = asyncio.Event(), asyncio.Event()

    async def stubborn() -> None:
        started.set()
        try:
            await forever()
        except asyncio.CancelledError:  # what Python 3.11's wait_for can do (gh-86296)
            asyncio.current_task().uncancel()  # type: ignore[union-attr]
            swallowed.set()
        await forever()

    task = asyncio.create_task(stubborn())
    await started.wait()
    await asyncio.wait_for(cancel_all({task}, recancel_s=0.01), 5)
    assert swallowed.is_set() and task.cancelled()
