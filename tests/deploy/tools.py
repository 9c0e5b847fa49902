"""Find the external checkers the deploy tests need, installing Debian's packages when missing.

A missing tool is a failure with the reason, never a skip: CI machines are root with apt access,
and a check that silently does not run is a check that does not exist.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

_apt_updated = False


def _run_apt(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    return subprocess.run(
        ["apt-get", *args], env=env, capture_output=True, text=True, timeout=900, check=False
    )


def _apt_install(package: str) -> str:
    """Install ``package`` with apt-get; return an empty string or why it failed."""
    global _apt_updated
    if shutil.which("apt-get") is None:
        return "apt-get is not available on this machine"
    if os.geteuid() != 0:
        return "installing needs root (run the suite as root or install the package first)"
    if not _apt_updated:
        update = _run_apt("update")
        if update.returncode != 0:
            return f"apt-get update failed:\n{update.stderr[-2000:]}"
        _apt_updated = True
    done = _run_apt("install", "-y", "--no-install-recommends", package)
    if done.returncode != 0:
        return f"apt-get install {package} failed:\n{done.stderr[-2000:]}"
    return ""


def ensure_tool(binary: str, package: str) -> Path:
    """Return the path of ``binary``, installing the Debian ``package`` that ships it if needed."""
    found = shutil.which(binary)
    if found is None:
        why = _apt_install(package)
        found = shutil.which(binary)
        if found is None:
            pytest.fail(
                f"{binary} is required for this test and could not be installed from Debian's "
                f"{package!r} package: {why or 'the package did not provide it'}",
                pytrace=False,
            )
    return Path(found)
