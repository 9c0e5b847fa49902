"""Keep the C heap small: tune glibc's malloc at start, give its free memory back after a burst.

``tune`` (called once at start, before any thread) caps the number of glibc's arenas at two.
By default there are up to 8 per core: every thread that allocates (the pricing worker, the
analysis, Redis and HTTP executors) gets its own, each keeping its own free pages. An
operator's ``MALLOC_ARENA_MAX`` in the environment wins.

The mmap threshold is left to glibc on purpose (measured, docs/scaling.md): fixed at 128 KiB a
1,000-book daemon held ~15 MB less, at 1 MiB nothing less, but every cycle's arrays above it
are then mapped and faulted in anew: cycles 20-30% slower at 1,000 books, and at 10,000 a full
cycle took 86 ms instead of 46. ``MALLOC_MMAP_THRESHOLD_`` sets it.

``trim``: a spike's first cycle (or the first cycle after a start) makes tens of thousands of
short-lived objects; once they are freed, glibc's malloc keeps the emptied pages in its arenas,
so the process's private memory stays at the burst's peak. ``malloc_trim(0)`` returns the free
pages at the top of each arena and, since glibc 2.8, the whole free pages inside them too.

Elsewhere (musl, macOS, Windows) there is nothing to call: ``tune`` returns {}, ``trim`` False.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Callable, Mapping

_trim: Callable[[int], int] | None = None
_loaded = False

M_ARENA_MAX = -8  # a mallopt parameter, from glibc's malloc.h
ARENA_MAX = 2


def _libc() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None


def tune(environ: Mapping[str, str]) -> dict[str, int]:
    """Cap glibc's arenas (see the module's docstring) unless ``environ`` sets them; return
    what was set, by environment variable name ({} elsewhere than glibc). Call once at start,
    before other threads. Never raises."""
    libc = _libc()
    fn = getattr(libc, "mallopt", None) if libc is not None else None
    if fn is None:
        return {}
    fn.argtypes, fn.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    if "MALLOC_ARENA_MAX" in environ or fn(M_ARENA_MAX, ARENA_MAX) != 1:  # 1: success
        return {}
    return {"MALLOC_ARENA_MAX": ARENA_MAX}


def _malloc_trim() -> Callable[[int], int] | None:
    """Return glibc's ``malloc_trim``, looked up once; None where there is no such function."""
    global _trim, _loaded
    if not _loaded:
        _loaded = True
        libc = _libc()
        fn = getattr(libc, "malloc_trim", None) if libc is not None else None
        if fn is None:
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
