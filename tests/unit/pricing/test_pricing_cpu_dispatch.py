"""The backends agree whatever SIMD code numpy picks for this CPU.

numpy chooses its exp/log implementation at run time (AVX-512, AVX2 or baseline code on x86),
and they differ in the last bit. NPY_DISABLE_CPU_FEATURES turns the upper groups off, so the
agreement tests run here once per setting the CPU allows, each in a fresh interpreter.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from numpy._core._multiarray_umath import __cpu_dispatch__, __cpu_features__

AGREEMENT = Path(__file__).with_name("test_pricing_backends.py")
SETTINGS = {"unlimited": "", "no-x86-v4": "X86_V4", "no-x86-v4-v3": "X86_V4 X86_V3"}


def _available(groups: str) -> bool:
    # numpy refuses to disable a baseline group and ignores ones it does not dispatch to.
    return all(g in __cpu_dispatch__ and __cpu_features__.get(g) for g in groups.split())


@pytest.mark.parametrize("groups", SETTINGS.values(), ids=SETTINGS.keys())
def test_backends_agree_with_numpy_dispatch_limited_to(groups: str) -> None:
    if not _available(groups):
        pytest.skip(f"numpy does not dispatch to {groups} on this CPU")
    env = {k: v for k, v in os.environ.items() if k != "NPY_DISABLE_CPU_FEATURES"}
    if groups:
        env["NPY_DISABLE_CPU_FEATURES"] = groups
    cmd = [sys.executable, "-m", "pytest", str(AGREEMENT), "-q", "-p", "no:cacheprovider"]
    run = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
