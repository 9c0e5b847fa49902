"""Optional numba compilation: the same scalar source runs compiled or as plain Python.

Set ``VIXMON_PRICING_BACKEND=numpy`` to run without numba (the vectorized numpy path gives
results identical to the compiled kernels; see tests/unit/pricing/test_backends.py).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

_WANTED = os.environ.get("VIXMON_PRICING_BACKEND", "auto").lower()

try:
    if _WANTED == "numpy":
        raise ImportError("numba disabled by VIXMON_PRICING_BACKEND=numpy")
    import numba

    HAVE_NUMBA = True
except ImportError:
    numba = None
    HAVE_NUMBA = False


def jit(func: F) -> F:
    """Compile a scalar helper with numba (cached, no fastmath) or return it unchanged.

    ``error_model="numpy"`` keeps IEEE semantics (x/0 is inf, not an exception), which the
    numpy path has too; without fastmath LLVM neither reassociates nor fuses, so both paths
    perform the same float operations in the same order.
    """
    if numba is None:
        return func
    compiled: F = numba.njit(cache=True, nogil=True, error_model="numpy")(func)
    return compiled


def jit_parallel(func: F) -> F:
    """Compile an array kernel whose outer loop uses ``prange`` across the machine's cores."""
    if numba is None:
        return func
    compiled: F = numba.njit(cache=True, nogil=True, error_model="numpy", parallel=True)(func)
    return compiled


def prange(n: int) -> range:
    """Return ``numba.prange`` inside compiled kernels and ``range`` otherwise."""
    return range(n)


if numba is not None:
    prange = numba.prange  # noqa: F811
