"""Shutdown building blocks: run a step within a time limit or until forced, and cancel tasks for
certain.

The app's shutdown is: stop the feeds, ``within(drain, limit_s, forced)``, cancel the rest. Both
helpers only coordinate tasks; what draining means is the app's business.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterable
from typing import Any, Literal

import structlog

log = structlog.get_logger(__name__)

Ending = Literal["done", "timeout", "forced"]


async def within(step: Coroutine[Any, Any, None], limit_s: float, forced: asyncio.Event) -> Ending:
    """Run ``step`` until it finishes, ``limit_s`` passes or ``forced`` is set; then cancel it.

    An exception from ``step`` propagates (it finished, badly).
    """
    task = asyncio.create_task(step, name="bounded-step")
    force = asyncio.create_task(forced.wait(), name="forced")
    done, _ = await asyncio.wait({task, force}, timeout=limit_s, return_when="FIRST_COMPLETED")
    await cancel_all({task, force})
    if task in done:
        task.result()
        return "done"
    return "forced" if force in done else "timeout"


async def cancel_all(tasks: Iterable[asyncio.Task[Any]], *, recancel_s: float = 0.5) -> None:
    """Cancel ``tasks`` and wait until every one has finished.

    A cancellation can be lost: Python 3.11's ``asyncio.wait_for`` (redis-py's socket timeout)
    returns the inner result when it completes in the same tick as the cancel (CPython
    gh-86296), and the task carries on. A task still running after ``recancel_s`` is cancelled
    again, so one unlucky XADD cannot hang the shutdown until systemd's SIGKILL.
    """
    pending = set(tasks)
    while pending:
        for t in pending:
            t.cancel()
        _, pending = await asyncio.wait(pending, timeout=recancel_s)
        if pending:
            log.warning("cancel_lost", tasks=sorted(t.get_name() for t in pending))
