"""Give freed heap back to the OS after a burst of short-lived allocations.

The first cycle after a start (or after a partition or portfolio change) emits every alert key:
hundreds of thousands of short-lived objects and temporaries. Python frees them, but glibc keeps
the pages in its arenas, so the process's private memory would stay at that peak for ever.
``malloc_trim(0)`` returns them. Elsewhere than glibc this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
from functools import lru_cache
from typing import Any


@lru_cache(maxsize=1)
def _libc() -> Any:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
        return libc if hasattr(libc, "malloc_trim") else None
    except OSError:
        return None


def release_free_memory() -> bool:
    """Collect garbage, then return free heap pages to the OS; True if glibc did."""
    gc.collect()
    libc = _libc()
    if libc is None:
        return False
    return bool(libc.malloc_trim(0))
