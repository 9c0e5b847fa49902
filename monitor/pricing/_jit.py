"""Optional numba compilation: the same scalar source runs compiled or as plain Python.

Set ``VIXMON_PRICING_BACKEND=numpy`` to run without numba (the vectorized numpy path gives
results identical to the compiled kernels; see tests/unit/pricing/test_pricing_backends.py).
Compiled code is cached on disk (``cache=True``), so only the first run after an install pays
the compile; ``black.warm_up()`` loads everything before the first live tick.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, cast

F = TypeVar("F", bound=Callable[..., Any])

_numba: Any = None
if os.environ.get("VIXMON_PRICING_BACKEND", "auto").lower() != "numpy":
    try:
        import numba as _numba
    except ImportError:
        _numba = None

HAVE_NUMBA = _numba is not None

_KERNEL_SOURCES = (
    "_jit.py",
    "_elementary.py",
    "_special.py",
    "_rational_cubic.py",
    "_lbr.py",
    "_table.py",
    "_kernels.py",
    "_batch.py",
)


def _drop_stale_cache(package: Path) -> None:
    # numba re-validates a cached function against its own file only, so an edit to a helper
    # in another module would leave callers running the old inlined code. One stamp over all
    # kernel sources clears every cached kernel whenever any of them changes.
    digest = hashlib.sha256()
    for name in _KERNEL_SOURCES:
        digest.update((package / name).read_bytes())
    cache = package / "__pycache__"
    stamp = cache / "numba-kernels.stamp"
    try:
        if stamp.exists() and stamp.read_text() == digest.hexdigest():
            return
        cache.mkdir(exist_ok=True)
        for stale in (*cache.glob("*.nbi"), *cache.glob("*.nbc")):
            stale.unlink()
        stamp.write_text(digest.hexdigest())
    except OSError:
        return  # read-only install: numba falls back to its own cache locations


if HAVE_NUMBA:
    _drop_stale_cache(Path(__file__).resolve().parent)


def jit(func: F) -> F:
    """Compile a scalar helper with numba (cached, no fastmath) or return it unchanged.

    ``error_model="numpy"`` keeps IEEE semantics (x/0 is inf, not an exception), which the
    numpy path has too; without fastmath LLVM neither reassociates nor fuses multiply-adds, so
    both paths perform the same float operations in the same order.
    """
    if _numba is None:
        return func
    return cast(F, _numba.njit(cache=True, nogil=True, error_model="numpy")(func))


def inline_jit(func: F) -> F:
    """Like :func:`jit`, but numba inlines the function into its callers (``inline="always"``).

    LLVM leaves most compiled helpers as calls (numba's calling convention makes them look
    large), and a loop that calls a function is neither vectorized nor overlapped well; the
    small arithmetic helpers of the block stages are inlined this way instead.
    """
    if _numba is None:
        return func
    jitted = _numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")(func)
    return cast(F, jitted)
