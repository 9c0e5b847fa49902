"""Optional numba compilation, and one source for the compiled and the numpy backends.

Most pricing formulas are written once, as functions that work on a float and on an array
alike (numpy ufuncs, :func:`select` for a choice): :func:`shared` lets compiled kernels call
them per option, while the numpy backend calls them on whole arrays. Where a function chooses
between costly formulas, its scalar form branches and its array form works on index subsets:
:func:`scalar_form` pairs the two under one name. The backends then agree to rounding (numpy's
exp and log are not libm's), not bit for bit: tests/unit/pricing/test_pricing_backends.py
states the tolerance.

Set ``VIXMON_PRICING_BACKEND=numpy`` to run without numba. Compiled code is cached on disk
(``cache=True``), so only the first run after an install pays the compile; ``black.warm_up()``
loads everything before the first live tick.
"""

from __future__ import annotations

import functools
import hashlib
import os
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, cast

import numpy as np

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")

_numba: Any = None
_extending: Any = None
if os.environ.get("VIXMON_PRICING_BACKEND", "auto").lower() != "numpy":
    try:
        import numba as _numba
        from numba import extending as _extending
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
_OPTIONS: dict[str, Any] = {"cache": True, "nogil": True, "error_model": "numpy"}
_INLINED: dict[str, Any] = {"no_cpython_wrapper": True, "error_model": "numpy"}


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
    return cast(F, _numba.njit(**_OPTIONS)(func))


def inline_jit(func: F) -> F:
    """Like :func:`jit`, but numba inlines the function into its callers (``inline="always"``).

    LLVM leaves most compiled helpers as calls (numba's calling convention makes them look
    large), and a loop that calls a function is neither vectorized nor overlapped well; the
    small arithmetic helpers of the block stages are inlined this way instead.
    """
    if _numba is None:
        return func
    return cast(F, _numba.njit(**_OPTIONS, inline="always")(func))


def shared(func: F) -> F:
    """Return ``func`` unchanged for Python callers (floats or arrays), and let compiled
    kernels call it too (a numba ``overload`` of it; compiled once per signature).

    Its body must read the same for a float and an array: ufuncs (``np.sqrt``, ``np.maximum``,
    ``np.logical_not``) rather than ``math`` or ``min``/``max``/``not``, ``&``/``|`` on
    comparisons, and :func:`select` rather than ``if`` or a conditional expression.
    """
    if _extending is not None:
        _CALLED[func] = func
        _extending.overload(func, jit_options=_INLINED, strict=False)(_compiled_as(func))
    return func


def shared_inline(func: F) -> F:
    """Like :func:`shared`, but inlined into compiled callers (see :func:`inline_jit`); for
    small straight-line formulas in the loops of the block kernels."""
    if _extending is not None:
        _INLINE.add(func)
        _extending.overload(func, inline="always", strict=False)(_compiled_as(func))
    return func


_INLINE: set[Callable[..., Any]] = set()
_INLINE_SCALAR: dict[Callable[..., Any], Callable[..., Any]] = {}  # array form -> scalar form
_CALLED: dict[Callable[..., Any], Callable[..., Any]] = {}  # shared or array form -> compiled


def inlined(func: F) -> F:
    """Return what compiled code should call for a :func:`shared_inline` function (or an
    inline :func:`scalar_form` pair): a numba function inlined before typing. For numba-only
    modules to bind at import (``_batch``); without numba, ``func`` itself."""
    if _numba is None:
        return func
    return cast(F, _inline_dispatcher(_INLINE_SCALAR.get(func, func)))


def _compiled_as(func: Callable[..., Any]) -> Callable[..., Any]:
    # numba's overload wants a typing function returning the Python function to compile. That
    # is a copy of ``func`` whose calls to other shared helpers go to numba functions made from
    # copies of them (njit(inline="always") for the inlined ones, which numba inlines before
    # typing): inlining overloads within overloads would type every level again, and did
    # double the first compile.
    return lambda *args: _numba_copy(func)


@functools.cache
def _numba_copy(func: Callable[..., Any]) -> Callable[..., Any]:
    names = dict(func.__globals__)
    for name in func.__code__.co_names:  # the globals its code reads
        value = names.get(name)
        if callable(value) and (value in _INLINE or value in _INLINE_SCALAR):
            names[name] = inlined(value)
        elif callable(value) and value in _CALLED:
            names[name] = _called_dispatcher(_CALLED[value])
    copy = types.FunctionType(func.__code__, names, func.__name__, func.__defaults__)
    copy.__qualname__ = func.__qualname__
    return copy


@functools.cache
def _called_dispatcher(func: Callable[..., Any]) -> Any:
    # Helpers reached from inside compiled helpers are numba functions of their own, compiled
    # once per process and linked into their callers (as @jit helpers are).
    return _numba.njit(nogil=True, error_model="numpy")(_numba_copy(func))


@functools.cache
def _inline_dispatcher(func: Callable[..., Any]) -> Any:
    return _numba.njit(inline="always", error_model="numpy")(_numba_copy(func))


def select(condition: Any, if_true: T, if_false: T) -> T:
    """Return ``if_true`` where ``condition`` holds, else ``if_false`` (numpy's ``where``;
    a plain conditional expression in compiled code). Both sides are evaluated."""
    return cast(T, np.where(condition, cast(Any, if_true), cast(Any, if_false)))


def scalar_form(scalar: Callable[..., Any], *, inline: bool = False) -> Callable[[F], F]:
    """Decorate the array form of a function with ``scalar``, its form for one option: Python
    callers get the array form, compiled kernels the scalar one (numba's ``overload``).

    For functions that choose between costly formulas: per option a branch evaluates only
    one, on arrays each formula runs on the subset that needs it. The formulas themselves are
    :func:`shared`, so the two forms differ only in how they choose. ``inline`` inlines the
    scalar form into compiled callers (for small ones called in loops LLVM should vectorize).
    """

    def pair(array_form: F) -> F:
        if _extending is not None:
            if inline:
                _INLINE_SCALAR[array_form] = scalar
            else:
                _CALLED[array_form] = scalar
            how = "always" if inline else "never"
            _extending.overload(array_form, jit_options=_INLINED, strict=False, inline=how)(
                _compiled_as(scalar)
            )
        return array_form

    return pair


if _numba is not None:
    # select lowers to one LLVM select instruction: no call, nothing for numba to inline.
    from numba.core import types as _types

    def _type_select(context: Any) -> Any:
        def typer(condition: Any, if_true: Any, if_false: Any) -> Any:
            if isinstance(condition, _types.Boolean):
                return context.unify_pairs(if_true, if_false)
            return None

        return typer

    def _lower_select(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        condition, if_true, if_false = args
        out = sig.return_type
        if_true = context.cast(builder, if_true, sig.args[1], out)
        if_false = context.cast(builder, if_false, sig.args[2], out)
        return builder.select(condition, if_true, if_false)

    _extending.type_callable(select)(_type_select)
    _extending.lower_builtin(select, _types.boolean, _types.Any, _types.Any)(_lower_select)
