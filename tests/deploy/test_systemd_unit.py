"""deploy/systemd/vixmon.service: systemd accepts it, rates it ≤ 1.5, and it fits the daemon.

``systemd-analyze verify`` also checks that every Exec*= binary exists, so it runs against a
throwaway root laid out like an install: the unit in /etc/systemd/system, systemd's own units,
and /opt/vixmon/bin/vixmon (the virtualenv of the install steps in docs/deployment.md).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from collections.abc import Iterator
from pathlib import Path

from monitor.settings import ShutdownConfig
from tests.deploy.conftest import DEPLOY
from tests.deploy.installed import Installed

UNIT = DEPLOY / "systemd" / "vixmon.service"
EXAMPLE = DEPLOY / "systemd" / "vixmon.toml"
MAX_EXPOSURE = 1.5


def unit_directives(path: Path = UNIT) -> dict[str, list[str]]:
    """Return ``Key -> [values]`` of a unit file (keys may repeat; sections are merged)."""
    out: dict[str, list[str]] = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";", "[")):
            continue
        key, _, value = line.partition("=")
        out.setdefault(key.strip(), []).append(value.strip())
    return out


def one(key: str) -> str:
    values = unit_directives()[key]
    assert len(values) == 1, f"{key} is set {len(values)} times"
    return values[0]


def credentials(node: object) -> Iterator[str]:
    """Yield every ``{ credential = "NAME" }`` secret reference in a decoded TOML document."""
    if isinstance(node, dict):
        if isinstance(node.get("credential"), str):
            yield node["credential"]
        for value in node.values():
            yield from credentials(value)
    elif isinstance(node, list):
        for value in node:
            yield from credentials(value)


def install_root(root: Path, vixmon: Path) -> Path:
    """Lay out a minimal root with the unit installed and vixmon where ExecStart expects it."""
    (root / "etc/systemd/system").mkdir(parents=True)
    shutil.copy(UNIT, root / "etc/systemd/system/vixmon.service")
    shutil.copytree("/usr/lib/systemd/system", root / "usr/lib/systemd/system", symlinks=True)
    (root / "usr/bin").mkdir(parents=True)
    kill = shutil.which("kill")
    assert kill is not None
    shutil.copy(kill, root / "usr/bin/kill")
    (root / "bin").symlink_to("usr/bin")
    prefix = Path(one("ExecStart").split()[0]).parent
    bin_dir = root / prefix.relative_to("/")
    bin_dir.mkdir(parents=True)
    shutil.copy(vixmon, bin_dir / "vixmon")
    return root


def test_unit_passes_systemd_analyze_verify(
    systemd_analyze: Path, installed: Installed, tmp_path: Path
) -> None:
    root = install_root(tmp_path / "root", installed.vixmon)
    done = subprocess.run(
        [systemd_analyze, "verify", f"--root={root}", "vixmon.service"],
        capture_output=True,
        text=True,
        check=False,
    )
    # verify exits 0 on unknown keys and bad values too; any message is a finding
    assert (done.returncode, done.stderr + done.stdout) == (0, "")


def test_unit_security_exposure_is_at_most_1_5(systemd_analyze: Path) -> None:
    done = subprocess.run(
        [systemd_analyze, "security", "--offline=true", "--no-pager", str(UNIT)],
        capture_output=True,
        text=True,
        check=False,
    )
    m = re.search(r"Overall exposure level for vixmon\.service: (\d+\.\d+)", done.stdout)
    assert m is not None, done.stdout + done.stderr
    exposure = float(m.group(1))
    print(f"systemd-analyze security exposure: {exposure}")
    assert exposure <= MAX_EXPOSURE, done.stdout


def test_unit_is_a_notify_service_with_watchdog_reload_and_state() -> None:
    assert one("Type") == "notify"
    assert one("NotifyAccess") == "main"  # the embedded redis-server child may not notify
    assert int(one("WatchdogSec")) > 0
    assert one("ExecReload") == "/bin/kill -HUP $MAINPID"
    assert one("StateDirectory") == "vixmon"
    assert one("KillMode") == "mixed"  # SIGTERM to vixmon only: it stops its Redis after draining
    assert one("Restart") == "on-failure"


def test_unit_drops_every_privilege_the_issue_names() -> None:
    d = unit_directives()
    expected = {
        "DynamicUser": "yes", "ProtectSystem": "strict", "NoNewPrivileges": "yes",
        "PrivateTmp": "yes", "PrivateDevices": "yes", "CapabilityBoundingSet": "",
        "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX", "UMask": "0077",
    }  # fmt: skip
    assert {k: one(k) for k in expected} == expected
    assert "@system-service" in d["SystemCallFilter"]


def test_drain_limit_is_shorter_than_the_stop_timeout() -> None:
    stop_s = int(one("TimeoutStopSec"))
    example = tomllib.loads(EXAMPLE.read_text())
    # the drain, then stopping HTTP and the embedded Redis (up to 5 s), must fit before SIGKILL
    for drain_s in (ShutdownConfig().drain_timeout_s, example["shutdown"]["drain_timeout_s"]):
        assert drain_s + 5 < stop_s


def test_example_config_uses_exactly_the_units_credentials_and_state_directory() -> None:
    example = tomllib.loads(EXAMPLE.read_text())
    loaded = {v.split(":", 1)[0] for v in unit_directives()["LoadCredential"]}
    assert set(credentials(example)) == loaded
    assert example["redis"]["state_dir"] == f"/var/lib/{one('StateDirectory')}"


def test_unit_runs_the_numba_backend_with_its_kernel_cache_in_the_cache_directory() -> None:
    """The example config passing check-config and running to ready from the installed wheel,
    with the install steps of docs/deployment.md: tests/deploy/test_installed.py."""
    d = unit_directives()
    env = dict(kv.split("=", 1) for line in d["Environment"] for kv in line.split())
    assert env.get("VIXMON_PRICING_BACKEND", "auto") != "numpy"
    assert "MemoryDenyWriteExecute" not in d  # numba's JIT maps writable+executable pages
    assert env["NUMBA_CACHE_DIR"].startswith(f"/var/cache/{one('CacheDirectory')}/")
