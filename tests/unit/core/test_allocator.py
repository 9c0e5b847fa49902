"""Returning the C heap's free pages after a burst: best effort, never an error."""

from __future__ import annotations

import platform

import pytest

from monitor import allocator


def test_trim_returns_whether_it_ran_and_never_raises() -> None:
    assert isinstance(allocator.trim(), bool)
    assert isinstance(allocator.trim(), bool)  # looked up once, callable again


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc_trim is glibc's")
def test_trim_runs_glibcs_malloc_trim_on_glibc() -> None:
    assert allocator.trim() is True
