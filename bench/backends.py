"""Benchmark: engine cycle time per pricing backend, in each shipped deployment's config.

Runs the installed wheel (tests/deploy/installed.py: built from the tree, non-editable) with
deploy/systemd/vixmon.toml and deploy/docker/vixmon.toml laid out as their install steps lay them
out, once with the numba backend and once with ``VIXMON_PRICING_BACKEND=numpy``; after READY=1 it
lets each run for ``--seconds`` and reads ``vixmon_engine_cycle_seconds`` from /metrics (the
histogram every cycle observes: pricing, book state, every rule).

    .venv/bin/python bench/backends.py [--seconds 30]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.deploy.installed import Installed, installed_wheel
from tests.deploy.test_installed import (
    DEPLOYMENTS,
    lay_out,
    notify_socket,
    provide_secrets,
    running,
    wait_ready,
)
from tests.support.daemon import Receiver, get_text


def histogram(text: str, name: str) -> tuple[float, float, list[tuple[float, float]]]:
    """Return (sum, count, [(le, cumulative count)]) of a histogram without labels."""
    total = float(re.search(rf"^{name}_sum (\S+)$", text, re.M)[1])  # type: ignore[index]
    count = float(re.search(rf"^{name}_count (\S+)$", text, re.M)[1])  # type: ignore[index]
    buckets = [(float(le), float(n)) for le, n in
               re.findall(rf'^{name}_bucket\{{le="([^"]+)"\}} (\S+)$', text, re.M)]
    return total, count, buckets


def quantile(buckets: list[tuple[float, float]], count: float, q: float) -> float:
    """The upper bound of the bucket holding the q-quantile (a bound, not an interpolation)."""
    return next(le for le, n in buckets if n >= q * count)


async def measure(installed: Installed, name: str, backend: str, seconds: float) -> str:
    work = Path(tempfile.mkdtemp(prefix="vxb-"))
    receiver = Receiver()
    await receiver.start()
    try:
        config = lay_out(DEPLOYMENTS[name], work)
        env = provide_secrets(config, work / "credentials", receiver.url)
        if backend == "numpy":
            env["VIXMON_PRICING_BACKEND"] = "numpy"
        with notify_socket(work) as (address, sock):
            argv = [str(installed.vixmon), "run", "--config", str(config)]
            async with running(argv, installed, work, {**env, "NOTIFY_SOCKET": address}) as d:
                await wait_ready(sock, d)
                port = await d.http_port()
                await asyncio.sleep(seconds)  # the measurement window
                text = await get_text(f"http://127.0.0.1:{port}/metrics")
                await d.stop()
        total, count, buckets = histogram(text, "vixmon_engine_cycle_seconds")
        mean_ms = 1000 * total / count
        p50, p95 = (1000 * quantile(buckets, count, q) for q in (0.5, 0.95))
        return (f"{name:8} {backend:6} cycles {count:6.0f}  mean {mean_ms:6.2f} ms  "
                f"p50 <= {p50:g} ms  p95 <= {p95:g} ms")
    finally:
        await receiver.stop()
        shutil.rmtree(work, ignore_errors=True)


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=float, default=30.0)
    args = ap.parse_args()
    installed = installed_wheel()
    for name in DEPLOYMENTS:
        for backend in ("numba", "numpy"):
            print(await measure(installed, name, backend, args.seconds), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
