"""`make image-test`: build the image with podman and run it the way it is deployed.

Steps: a Debian bookworm base (debootstrap + ``podman import``, cached as a local image: base
images cannot be pulled here), ``podman build`` of deploy/docker/Dockerfile on it, then a
container started read-only as the image's unprivileged user, with a tmpfs on /tmp and a state
folder for /var/lib/vixmon. It must pass its HEALTHCHECK, load the numba kernels the build
compiled, and on SIGTERM drain and exit 0. Prints start -> ready figures. Needs root.

podman from Debian runs on machines of our kind once it is given ``--runtime runc`` and explicit
``--ulimit`` values (the inherited limits cannot be applied inside the build sandbox). The host's
CA bundle is mounted into the build so that pip trusts what the host trusts.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
BASE = "localhost/vixmon-base:bookworm-py311"
IMAGE = "localhost/vixmon:image-test"
MIRROR = os.environ.get("DEBIAN_MIRROR", "http://deb.debian.org/debian")


# podman asks for the runtime's default limits, which the sandbox here may not grant: explicit
# ones (no higher than this shell's) avoid "error setting rlimit ... operation not permitted"
_NOFILE = min(16384, resource.getrlimit(resource.RLIMIT_NOFILE)[1])
RUN_FLAGS = ["--runtime", "runc", "--ulimit", f"nofile={_NOFILE}:{_NOFILE}",
             "--ulimit", "nproc=4096:4096"]
HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")
READY_TIMEOUT_S = 180
STOP_TIMEOUT_S = 30
MEASURE_S = 20


def step(message: str) -> None:
    print(f"image-test: {message}", flush=True)


def sh(
    *argv: str | Path, check: bool = True, quiet: bool = False
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([str(a) for a in argv], capture_output=True, text=True, check=False)
    if check and done.returncode != 0:
        sys.exit(f"image-test: {' '.join(map(str, argv))} failed ({done.returncode}):\n"
                 f"{done.stdout[-4000:]}\n{done.stderr[-4000:]}")
    if not quiet and done.stdout.strip():
        print(done.stdout.rstrip()[-2000:], flush=True)
    return done


def ensure_tools() -> None:
    missing = [tool for tool in ("podman", "runc", "debootstrap") if shutil.which(tool) is None]
    if missing:
        step(f"installing {' '.join(missing)} from Debian")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update"], check=True, env=env, capture_output=True)
        subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", *missing],
                       check=True, env=env, capture_output=True)


def ensure_base() -> None:
    """Make the base image once: Debian bookworm with python3.11 and venv (cached in podman)."""
    if sh("podman", "image", "exists", BASE, check=False).returncode == 0:
        step(f"base image {BASE} cached")
        return
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="vixmon-base-", dir="/var/tmp") as tmp:
        rootfs = Path(tmp) / "rootfs"
        step(f"debootstrap bookworm into {rootfs} (a few minutes, once)")
        sh("debootstrap", "--variant=minbase", "--include=python3.11,python3-venv,ca-certificates",
           "bookworm", rootfs, MIRROR, quiet=True)
        for junk in ("var/cache/apt/archives", "var/lib/apt/lists", "usr/share/doc"):
            shutil.rmtree(rootfs / junk, ignore_errors=True)
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        subprocess.run(["podman", "import", "--change", 'CMD ["/bin/sh"]', "-", BASE],
                       stdin=tar.stdout, check=True, capture_output=True)
        tar.wait()
    step(f"base image {BASE} made in {time.monotonic() - started:.0f} s")


def build() -> None:
    started = time.monotonic()
    step(f"podman build {IMAGE}")
    sh("podman", "build", *RUN_FLAGS, "--format", "docker", "--build-arg", f"PYTHON_IMAGE={BASE}",
       "--volume", f"{HOST_CA}:/etc/ssl/certs/ca-certificates.crt:ro",
       "-f", ROOT / "deploy/docker/Dockerfile", "-t", IMAGE, ROOT, quiet=True)
    size = sh("podman", "image", "inspect", "--format", "{{.Size}}", IMAGE, quiet=True).stdout
    step(f"built in {time.monotonic() - started:.0f} s, {int(size) / 1e6:.0f} MB")


def health(container: str) -> bool:
    return sh("podman", "healthcheck", "run", container, check=False, quiet=True).returncode == 0


def log_lines(container: str) -> list[dict[str, object]]:
    out = sh("podman", "logs", container, check=False, quiet=True)
    lines = []
    for raw in (out.stdout + out.stderr).splitlines():
        try:
            lines.append(json.loads(raw))
        except ValueError:
            continue
    return lines


def event(lines: list[dict[str, object]], name: str) -> dict[str, object] | None:
    return next((x for x in lines if x.get("event") == name), None)


def cycle_figures(container: str, backend: str) -> str:
    """Mean engine cycle so far, from the daemon's own histogram (scraped inside the container)."""
    code = ("import re, urllib.request as u; t = u.urlopen('http://127.0.0.1:9464/metrics')"
            ".read().decode(); f = lambda k: float(re.search(rf'^vixmon_engine_cycle_seconds_{k}"
            " (\\S+)$', t, re.M)[1]); print(f('sum'), f('count'))")
    out = sh("podman", "exec", container, "python", "-c", code, quiet=True).stdout.split()
    total, count = float(out[0]), float(out[1])
    return f"{backend}: {count:.0f} engine cycles, mean {1000 * total / count:.2f} ms"


def run_container(state: Path, backend: str = "numba") -> None:
    """Run the image until healthy, check it, measure its cycles, stop it; exit on a failure."""
    state.chmod(0o700)
    os.chown(state, 10001, 10001)
    name = f"vixmon-image-test-{os.getpid()}-{backend}"
    env = ["-e", "VIXMON_PRICING_BACKEND=numpy"] if backend == "numpy" else []
    started = time.monotonic()
    # the image's own user and command; read-only root, tmpfs /tmp, no network but loopback
    sh("podman", "run", "-d", "--name", name, *RUN_FLAGS, "--read-only", "--read-only-tmpfs=false",
       "--tmpfs", "/tmp:rw,nosuid,nodev,size=256m", "--network", "none", "--cap-drop", "ALL",
       "--security-opt", "no-new-privileges", "-v", f"{state}:/var/lib/vixmon", *env, IMAGE,
       quiet=True)
    try:
        while not health(name):
            if time.monotonic() - started > READY_TIMEOUT_S:
                sys.exit(f"image-test: not healthy after {READY_TIMEOUT_S} s\n"
                         + sh("podman", "logs", name, check=False, quiet=True).stderr[-3000:])
            status = sh("podman", "inspect", "--format", "{{.State.Status}}", name, quiet=True)
            if status.stdout.strip() != "running":
                sys.exit("image-test: the container exited:\n"
                         + sh("podman", "logs", name, check=False, quiet=True).stdout[-3000:])
            time.sleep(0.25)  # polling a health command: there is no event to wait for
        healthy_s = time.monotonic() - started
        user = sh("podman", "exec", name, "id", "-u", quiet=True).stdout.strip()
        writable = sh("podman", "exec", name, "touch", "/opt/vixmon/x", check=False, quiet=True)
        lines = log_lines(name)
        kernels = event(lines, "pricing_kernels_loaded") or {}
        step(f"healthy {healthy_s:.1f} s after `podman run` (health command polled every 0.25 s)")
        step(f"uid {user}; root filesystem writable: {writable.returncode == 0}; "
             f"kernels loaded in {kernels.get('seconds')} s, backend {kernels.get('backend')}")
        failures = []
        if user != "10001":
            failures.append(f"runs as uid {user}")
        if writable.returncode == 0:
            failures.append("the root filesystem is writable")
        if kernels.get("backend") != backend:
            failures.append(f"pricing backend {kernels.get('backend')}, not {backend}")
        time.sleep(MEASURE_S)  # a window of engine cycles to average
        step(cycle_figures(name, backend))
        stop_started = time.monotonic()
        sh("podman", "stop", "-t", str(STOP_TIMEOUT_S), name, quiet=True)
        code = sh("podman", "inspect", "--format", "{{.State.ExitCode}}", name, quiet=True)
        lines = log_lines(name)
        drained = event(lines, "drained") is not None
        step(f"SIGTERM -> exit {code.stdout.strip()} in {time.monotonic() - stop_started:.1f} s, "
             f"drained: {drained}")
        if code.stdout.strip() != "0":
            failures.append(f"exit code {code.stdout.strip()} after SIGTERM")
        if not drained:
            failures.append("no `drained` log line after SIGTERM")
        if failures:
            print(sh("podman", "logs", name, check=False, quiet=True).stdout[-3000:])
            sys.exit("image-test: FAILED: " + "; ".join(failures))
    finally:
        sh("podman", "rm", "-f", name, check=False, quiet=True)


def main() -> None:
    if os.geteuid() != 0:
        sys.exit("image-test: needs root (podman with runc, debootstrap)")
    ensure_tools()
    ensure_base()
    build()
    for backend in ("numba", "numpy"):  # the image runs numba; numpy for the comparison
        with tempfile.TemporaryDirectory(prefix="vixmon-image-state-") as state:
            run_container(Path(state), backend)
    step("passed")


if __name__ == "__main__":
    main()
