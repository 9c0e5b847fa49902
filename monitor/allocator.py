"""Give the C heap's free memory back to the system after a burst of allocations.

A spike's first cycle (or the first cycle after a start) makes tens of thousands of short-lived
objects; once they are freed, glibc's malloc keeps the emptied pages in its arenas, so the
process's private memory stays at the burst's peak. ``malloc_trim(0)`` returns the free pages
at the top of each arena and, since glibc 2.8, the whole free pages inside them too.

Elsewhere (musl, macOS, Windows) there is nothing to call: ``trim`` returns False.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Callable

_trim: Callable[[int], int] | None = None
_loaded = False


def _malloc_trim() -> Callable[[int], int] | None:
    """Return glibc's ``malloc_trim``, looked up once; None where there is no such function."""
    global _trim, _loaded
    if not _loaded:
        _loaded = True
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            fn = libc.malloc_trim
        except (OSError, AttributeError):
            return None
        fn.argtypes, fn.restype = [ctypes.c_size_t], ctypes.c_int
        _trim = fn
    return _trim


def trim() -> bool:
    """Return the C heap's free pages to the system; True if glibc's ``malloc_trim`` ran.

    Costs a walk over the heap's free chunks (a few ms after a large burst): call it after
    one, not every cycle. Never raises."""
    fn = _malloc_trim()
    if fn is None:
        return False
    try:
        fn(0)
    except Exception:  # freeing memory is best effort: never a reason to fail a cycle
        return False
    return True
