"""The deployment paths run for real: the wheel installed non-editable, outside the source tree.

Each shipped config (deploy/systemd, deploy/docker) is laid out the way its install steps lay it
out (the ``sudo install`` lines of docs/deployment.md, the Dockerfile's ``COPY … /etc/vixmon/``),
checked with ``vixmon check-config`` and run with ``vixmon run`` until it reports ready, from a
working directory outside the checkout, with state and credentials in temp folders and the numba
backend.
The only changes to a shipped config are its state folder and its port (0: any free one).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import platform
import re
import secrets
import shlex
import shutil
import socket
import subprocess
import tempfile
import tomllib
import zipfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from monitor import settings
from tests.deploy.conftest import DEPLOY, end_redis
from tests.deploy.installed import Installed
from tests.deploy.test_container import dockerfile_etc_files
from tests.support.clocked import with_live_book
from tests.support.daemon import ROOT, Daemon, Receiver, get_json, run_command

DEPLOYMENT_DOC = ROOT / "docs" / "deployment.md"
READY_TIMEOUT_S = 120
DATA_FILES = ("events.toml", "vixmon.toml", "portfolio.toml", "sample-session.jsonl.gz")


# ---- the wheel -------------------------------------------------------------------------------


def test_wheel_ships_every_default_data_file_and_nothing_else_from_the_tree(
    installed: Installed,
) -> None:
    names = zipfile.ZipFile(installed.wheel).namelist()
    assert {f"monitor/data/{n}" for n in DATA_FILES} <= set(names)
    assert {n.split("/")[0] for n in names if "dist-info" not in n} == {"monitor", "adapters"}


def test_the_installed_package_is_the_wheel_not_the_checkout(
    installed: Installed, tmp_path: Path
) -> None:
    code = (
        "import monitor, adapters, monitor.settings as s\n"
        "print(monitor.__file__); print(adapters.__file__); print(s.DEFAULT_CONFIG)\n"
        "print(s.DEFAULT_EVENTS)"
    )
    done = subprocess.run(
        [installed.python, "-c", code], cwd=tmp_path, env=installed.env(),
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    for path in map(Path, done.stdout.split()):
        assert path.is_relative_to(installed.venv), path
        assert path.exists(), path


def test_version_prints_the_installed_version(installed: Installed, tmp_path: Path) -> None:
    done = installed.run("--version", cwd=tmp_path)
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert (done.returncode, done.stdout.strip()) == (0, f"vixmon {version}")


# ---- laying out a deployment as its install steps do ----------------------------------------


def install_steps(title: str) -> str:
    """The first ```sh block under the heading ``### {title}`` of docs/deployment.md."""
    text = DEPLOYMENT_DOC.read_text()
    start = text.index(f"\n### {title}\n")
    block = text.index("```sh\n", start) + len("```sh\n")
    return text[block : text.index("```", block)]


def documented_etc_files() -> list[Path]:
    """What docs/deployment.md's systemd steps install into /etc/vixmon/ besides the config."""
    files: list[Path] = []
    for line in install_steps("systemd").splitlines():
        words = shlex.split(line)
        if words[:3] == ["sudo", "install", "-m"] and words[-1] == "/etc/vixmon/":
            files += [ROOT / w for w in words[4:-1]]
    return files


@dataclass(frozen=True)
class Deployment:
    name: str
    config: Path
    """The shipped config: becomes /etc/vixmon/vixmon.toml."""
    etc_files: list[Path]


DEPLOYMENTS = {
    "systemd": Deployment("systemd", DEPLOY / "systemd" / "vixmon.toml", documented_etc_files()),
    "docker": Deployment("docker", DEPLOY / "docker" / "vixmon.toml", dockerfile_etc_files()),
}


def test_the_documented_steps_install_from_the_lock_and_the_package_without_dependencies() -> None:
    steps = install_steps("systemd")
    assert "sudo /opt/vixmon/bin/pip install --require-hashes -r requirements.lock" in steps
    assert "sudo /opt/vixmon/bin/pip install --no-deps ." in steps
    assert DEPLOYMENTS["systemd"].etc_files, "no `sudo install … /etc/vixmon/` line found"


def as_installed(shipped: Path, etc: Path, state: Path) -> Path:
    """Copy ``shipped`` to ``etc/vixmon.toml`` with its state folder and port made local."""
    text = shipped.read_text()
    text, n_state = re.subn(r'(?m)^state_dir\s*=\s*"[^"]*"', f'state_dir = "{state}"', text)
    text, n_port = re.subn(r"(?m)^port\s*=\s*\d+", "port = 0", text)
    assert (n_state, n_port) == (1, 1), f"{shipped}: expected one state_dir and one port"
    etc.mkdir(parents=True, exist_ok=True)
    (etc / "vixmon.toml").write_text(text)
    return etc / "vixmon.toml"


def secret_refs(node: object, kind: str) -> Iterator[str]:
    """Yield every ``{ <kind> = "NAME" }`` secret reference in a decoded TOML document."""
    if isinstance(node, dict):
        if isinstance(node.get(kind), str) and len(node) == 1:
            yield node[kind]
        for value in node.values():
            yield from secret_refs(value, kind)
    elif isinstance(node, list):
        for value in node:
            yield from secret_refs(value, kind)


def secret_value(name: str, receiver_url: str) -> str:
    if "url" in name.lower():
        return receiver_url
    if "secret" in name.lower():
        return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    return secrets.token_urlsafe(24)


def provide_secrets(config: Path, credentials: Path, receiver_url: str) -> dict[str, str]:
    """Write each ``credential`` the config names into ``credentials`` (systemd's
    ``$CREDENTIALS_DIRECTORY``); return the environment: that folder plus each ``env`` secret."""
    doc: dict[str, Any] = tomllib.loads(config.read_text())
    credentials.mkdir(mode=0o700, exist_ok=True)
    for name in secret_refs(doc, "credential"):
        (credentials / name).write_text(secret_value(name, receiver_url))
    env = {name: secret_value(name, receiver_url) for name in secret_refs(doc, "env")}
    return {"CREDENTIALS_DIRECTORY": str(credentials), **env}


@pytest.fixture
def workdir() -> Iterator[Path]:
    """A short temp folder outside the checkout (unix socket paths must stay under 108 bytes)."""
    path = Path(tempfile.mkdtemp(prefix="vxd-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def lay_out(deployment: Deployment, root: Path) -> Path:
    etc = root / "etc-vixmon"
    config = as_installed(deployment.config, etc, root / "state")
    for source in deployment.etc_files:
        shutil.copy(source, etc / source.name)
    with_live_book(etc)
    return config


@pytest.mark.parametrize("name", DEPLOYMENTS)
def test_shipped_config_passes_check_config_as_installed(
    name: str, installed: Installed, workdir: Path
) -> None:
    config = lay_out(DEPLOYMENTS[name], workdir)
    env = provide_secrets(config, workdir / "credentials", "http://127.0.0.1:9/hook")
    done = installed.run("check-config", str(config), cwd=workdir, **env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"ok: {config}")


# ---- running to ready ------------------------------------------------------------------------


@contextlib.contextmanager
def notify_socket(directory: Path) -> Iterator[tuple[str, socket.socket]]:
    """A datagram socket standing in for systemd's NOTIFY_SOCKET."""
    path = directory / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        sock.setblocking(False)
        yield str(path), sock


async def wait_ready(sock: socket.socket, daemon: Daemon) -> str:
    """Return the READY=1 datagram, failing with the daemon's output if it exits first."""
    loop = asyncio.get_running_loop()

    async def ready() -> str:
        while True:
            message = (await loop.sock_recv(sock, 4096)).decode()
            if "READY=1" in message.splitlines():
                return message

    waiting = asyncio.ensure_future(ready())
    exited = asyncio.ensure_future(daemon.proc.wait())
    done, _ = await asyncio.wait({waiting, exited}, timeout=READY_TIMEOUT_S,
                                 return_when=asyncio.FIRST_COMPLETED)
    waiting.cancel()
    exited.cancel()
    if waiting not in done:
        tail = "\n".join(daemon.raw[-30:])
        raise AssertionError(f"no READY=1 within {READY_TIMEOUT_S}s; last lines:\n{tail}")
    return waiting.result()


@contextlib.asynccontextmanager
async def running(
    argv: list[str], installed: Installed, cwd: Path, env: dict[str, str]
) -> AsyncIterator[Daemon]:
    async with run_command(argv, env=installed.env(**env), cwd=cwd) as daemon:
        try:
            yield daemon
        finally:
            await daemon.kill()
            for line in daemon.lines:
                if line.get("event") == "embedded_redis_started":
                    end_redis(int(line["pid"]))


def kernels_backend(daemon: Daemon) -> str:
    [line] = [x for x in daemon.lines if x.get("event") == "pricing_kernels_loaded"]
    return str(line.get("backend"))


@pytest.mark.slow
@pytest.mark.parametrize("name", DEPLOYMENTS)
async def test_shipped_config_runs_to_ready_from_the_wheel_with_numba(
    name: str, installed: Installed, workdir: Path
) -> None:
    config = lay_out(DEPLOYMENTS[name], workdir)
    receiver = Receiver()
    await receiver.start()
    try:
        env = provide_secrets(config, workdir / "credentials", receiver.url)
        with notify_socket(workdir) as (address, sock):
            argv = [str(installed.vixmon), "run", "--config", str(config)]
            async with running(argv, installed, workdir, {**env, "NOTIFY_SOCKET": address}) as d:
                status = await wait_ready(sock, d)
                port = await d.http_port()
                ready = await get_json(f"http://127.0.0.1:{port}/readyz")
                assert ready == {"ready": True, "reason": "ok"}, status
                assert kernels_backend(d) == "numba"
                [tuned] = [x for x in d.lines if x.get("event") == "malloc_tuned"]
                if platform.libc_ver()[0] == "glibc" and "MALLOC_ARENA_MAX" not in os.environ:
                    assert tuned.get("MALLOC_ARENA_MAX") == 2
                assert await d.stop() == 0
    finally:
        await receiver.stop()
    assert (workdir / "state").is_dir()  # the embedded Redis kept its data where configured


def in_netns(pid: int, python: Path, code: str) -> str:
    done = subprocess.run(
        ["nsenter", f"--target={pid}", "--net", str(python), "-c", code],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.slow
async def test_the_builtin_demo_runs_from_the_wheel_without_a_config(
    installed: Installed, workdir: Path
) -> None:
    """``vixmon run`` as a new user types it. The demo listens on its fixed port 9464, so it runs
    in a network namespace of its own (root only): no other process can hold that port there."""
    if not all(shutil.which(tool) for tool in ("unshare", "nsenter", "ip")):
        pytest.fail("unshare, nsenter (util-linux) and ip (iproute2) are required", pytrace=False)
    demo = tomllib.loads(settings.DEFAULT_CONFIG.read_text())
    url = f"http://127.0.0.1:{demo['http']['port']}/readyz"
    lo_up = f'{shutil.which("ip")} link set lo up && exec "$0" "$@"'
    argv = ["unshare", "--net", "sh", "-c", lo_up, str(installed.vixmon), "run"]
    with notify_socket(workdir) as (address, sock):
        async with running(argv, installed, workdir, {"NOTIFY_SOCKET": address}) as d:
            await wait_ready(sock, d)
            probe = f"import urllib.request; print(urllib.request.urlopen({url!r}).read().decode())"
            ready = await asyncio.to_thread(in_netns, d.proc.pid, installed.python, probe)
            assert '"ready": true' in ready
            assert kernels_backend(d) == "numba"
            assert await d.stop() == 0
    assert (workdir / "state").is_dir()  # the built-in config keeps its state in the cwd
    assert not [p for p in installed.venv.rglob("state") if p.is_dir()]  # nor in the package
