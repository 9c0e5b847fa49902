"""Returning the C heap's free pages after a burst: best effort, never an error."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

from monitor import allocator


def test_trim_returns_whether_it_ran_and_never_raises() -> None:
    assert isinstance(allocator.trim(), bool)
    assert isinstance(allocator.trim(), bool)  # looked up once, callable again


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc_trim is glibc's")
def test_trim_runs_glibcs_malloc_trim_on_glibc() -> None:
    assert allocator.trim() is True


GLIBC = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")

# In a fresh interpreter: four threads allocate at once; prints how many arenas glibc made
_ARENAS = """
import ctypes, sys, threading
from monitor import allocator
if sys.argv[1] == "tuned":
    allocator.tune({})
libc = ctypes.CDLL("libc.so.6")
both = threading.Barrier(5)
def work():
    block = bytearray(1000)  # past pymalloc's 512 bytes: this thread's malloc
    both.wait()
    both.wait()
threads = [threading.Thread(target=work) for _ in range(4)]
for t in threads:
    t.start()
both.wait()
libc.fopen.restype, libc.fopen.argtypes = ctypes.c_void_p, [ctypes.c_char_p, ctypes.c_char_p]
libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
libc.fclose.argtypes = [ctypes.c_void_p]
out = libc.fopen(sys.argv[2].encode(), b"w")
libc.malloc_info(0, out)
libc.fclose(out)
both.wait()
for t in threads:
    t.join()
print(open(sys.argv[2]).read().count("<heap nr="))
"""


def _arenas(mode: str, tmp_path: Path) -> int:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    out = subprocess.run([sys.executable, "-c", _ARENAS, mode, str(tmp_path / "info.xml")],
                         env=env, check=True, capture_output=True, text=True)
    return int(out.stdout)


@GLIBC
def test_tuned_threads_share_two_arenas(tmp_path: Path) -> None:
    assert _arenas("default", tmp_path) > 2  # glibc's default: one more per thread, up to 8/core
    assert _arenas("tuned", tmp_path) == 2


@GLIBC
def test_tune_caps_the_arenas_unless_the_environment_does() -> None:
    assert allocator.tune({}) == {"MALLOC_ARENA_MAX": 2}
    assert allocator.tune({"MALLOC_ARENA_MAX": "4"}) == {}
