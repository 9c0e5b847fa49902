"""Benchmark: 1,000 and 10,000 books x 20 legs on full SPX + VIX chains at 100,000 quotes/s.

Targets (issue 17, on this 2-core class of machine): 10,000 books in <= 50 ms per full cycle in
one process; a changed leg of one book evaluated and alerted with p99 <= 10 ms from XADD to
webhook receipt under that load; private memory <= 150 MB per engine process with the full
chains loaded (shared libraries reported apart).

The universe ("full chains"): SPXW calls and puts every 5 points from 3,000 to 9,000 on twelve
monthly expiries, VIX calls and puts 10..80 on the seven VX expiries, the VX futures and the
indices (~30,000 instruments), priced by the simulator's market after a volatility shock. The
books are bench/rules.py's: three iron condors and eight one-leg VIX call layers each. Book
``b0000``'s first layer holds a VIX 60 call nobody else holds and the load never quotes: the
trial leg.

Two layers, each useful alone:

- ``inproc`` (always): one Engine in this process. Between cycles a fresh batch of
  ``rate x 250 ms`` changed quotes (25,000 at 100,000 quotes/s) is ingested (timed apart), then
  ``Engine.evaluate`` (pricing, books, every rule) and the alert machine's step are timed; after
  each full cycle the trial leg moves and ``Engine.evaluate_books`` of its book alone is timed
  (the changed-leg path). Memory from /proc/self/smaps_rollup once the chains are loaded.
- ``redis`` (``--processes N``, N >= 1): a redis-server on a free port, N ``vixmon run --role
  engine`` daemons (``[scale] partitions = 16``, replicas ``a``, ``b``, ...; with ``--processes
  0`` no daemon runs), a load generator process XADDing ``--rate`` quotes/s of the full chains
  in binary batches, and a webhook receiver in this process. Trials move the trial leg over its
  1.5 gain threshold and back; t0 is taken just before the XADD, t1 when the receiver has the
  ``firing`` event. By default each tick follows the last one's webhook at once (closed loop:
  the ticks, ~80/s, are load too, and each lands when the daemon has just finished the last);
  ``--trial-gap-ms G`` waits a random 0..2G ms before each (open loop: a tick comes when it
  comes, as a trader's does). Measuring starts after ``--warmup-s`` and once the start's burst
  (every firing key's first webhook) is delivered: a round of trials sees only its own two.
  Consumer lag and pending entries (XINFO GROUPS) are sampled every second; each daemon's
  private memory is read from /proc/<pid>/smaps_rollup at the end, and its cycle time from its
  /metrics.

    .venv/bin/python bench/scale.py [--books 1000] [--cycles 20] [--rate 100000]
        [--processes 0|1|2] [--seconds 30] [--no-inproc] [--trial-gap-ms 0]
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import datetime as dt
import multiprocessing as mp
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.synchronize import Event as MpEvent
from pathlib import Path

import msgspec
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import latency as latency_bench  # noqa: E402
import rules as rules_bench  # noqa: E402

from adapters.simulator.market import SimMarket  # noqa: E402
from monitor import allocator, symbols  # noqa: E402
from monitor.alerts import AlertMachine, Transition  # noqa: E402
from monitor.engine import Engine  # noqa: E402
from monitor.model import Portfolio, Quote  # noqa: E402
from monitor.rules.base import Signal  # noqa: E402
from monitor.settings import Settings, load_events  # noqa: E402
from monitor.sinks.outbox import pieces  # noqa: E402

S = 1_000_000_000
MS = 1_000_000
CYCLE_S = 0.25
VX = rules_bench.VX
TRIAL_BOOK, TRIAL_LAYER = "b0000", "L0"
TRIAL_SYMBOL = symbols.option_symbol("VIX", VX[0], 1, 60.0)
TRIAL_ENTRY = 1.0
FIRE, CLEAR = (2.65, 2.75), (1.00, 1.10)  # gain 1.7: 1.5 crossed, 2.0 not; 0.05: cleared
TRIAL_KEY = f"layer_gain|{TRIAL_BOOK}|{TRIAL_LAYER}@1.5"
SECRET = "whsec_c2NhbGUtYmVuY2gtc2lnbmluZy1rZXkhIQ=="


# ---- the universe, the books, the quotes -------------------------------------------------------


def spx_expiries() -> list[dt.date]:
    """Twelve monthly (third Friday) expiries from December 2026: bench/rules.py's three too."""
    out = []
    for m in range(12):
        year, month = 2026 + (11 + m) // 12, (11 + m) % 12 + 1
        first = dt.date(year, month, 1)
        out.append(first + dt.timedelta(days=(4 - first.weekday()) % 7 + 14))
    assert set(rules_bench.SPX_EXP) <= set(out)
    return out


def full_chains() -> list[str]:
    """Return every symbol of the full-chains universe (~30,000)."""
    out = ["SPX", "VIX", "VIX3M", "VIX9D"]
    for exp in VX:
        out.append(symbols.future_symbol(exp))
        out += [symbols.option_symbol("VIX", exp, r, float(k)) for k in range(10, 81)
                for r in (1, -1)]
    for exp in spx_expiries():
        out += [symbols.option_symbol("SPXW", exp, r, float(k)) for k in range(3000, 9001, 5)
                for r in (1, -1)]
    return out


def portfolio(n_books: int) -> Portfolio:
    """bench/rules.py's books; the trial book's first layer holds the trial leg."""
    base = rules_bench.portfolio(n_books)
    first = base.books[0]
    leg = msgspec.structs.replace(
        first.layers[0].legs[0], symbol=TRIAL_SYMBOL, quantity=1, entry_price=TRIAL_ENTRY
    )
    layer = msgspec.structs.replace(first.layers[0], legs=[leg])
    book = msgspec.structs.replace(first, layers=[layer, *first.layers[1:]])
    return msgspec.structs.replace(base, books=[book, *base.books[1:]])


def snapshots(names: list[str], n: int = 2) -> list[list[Quote]]:
    """``n`` quote snapshots of the universe a few seconds apart, after a volatility shock."""
    insts = [symbols.parse(s) for s in names]
    market = SimMarket(seed=3, start_ns=rules_bench.OPEN_NS, spike_at_ns=rules_bench.OPEN_NS + S)
    out = []
    for _ in range(n):
        for _ in range(5):
            market.step(1.0)
        out.append([q for q in market.quotes(insts) if q.sym != TRIAL_SYMBOL])
    return out


QUOTES_ENCODER = msgspec.msgpack.Encoder()
QUOTES_DECODER = msgspec.msgpack.Decoder(list[Quote])


def trial_quote(bid_ask: tuple[float, float], ts_ns: int) -> Quote:
    return Quote(sym=TRIAL_SYMBOL, ts=ts_ns, bid=bid_ask[0], ask=bid_ask[1])


# ---- memory ------------------------------------------------------------------------------------


def smaps_rollup(pid: int | str = "self") -> dict[str, int]:
    """Return /proc/<pid>/smaps_rollup's fields in kB."""
    out: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        name, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[-1] == "kB":
            out[name] = int(parts[0])
    return out


def mappings(pid: int | str = "self") -> dict[str, dict[str, int]]:
    """Per mapped file (or [heap] / [anon]): Rss, Private_* and Shared_* summed, in kB."""
    out: dict[str, dict[str, int]] = {}
    current: dict[str, int] | None = None
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        head = line.split()
        if head and "-" in head[0] and len(head) >= 5 and ":" not in head[0]:
            name = head[5] if len(head) > 5 else "[anon]"
            current = out.setdefault(name, {})
            continue
        key, _, rest = line.partition(":")
        if current is not None and rest.strip().endswith("kB"):
            current[key] = current.get(key, 0) + int(rest.split()[0])
    return out


def private_anon_mb(pid: int | str = "self") -> float:
    """Private memory outside file mappings (heap, arrays, anonymous maps), in MB."""
    return sum(v.get("Private_Clean", 0) + v.get("Private_Dirty", 0)
               for k, v in mappings(pid).items() if not k.startswith("/")) / 1024


def allocator_free_mb() -> tuple[float, float] | None:
    """Return (pymalloc, glibc malloc) MB this process's allocators hold free: private memory
    no object uses, left by the first cycle's peak and the cycles' churn (fragmentation).
    None where glibc's mallinfo2 is missing."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallinfo2.restype = _MallInfo2
    except (OSError, AttributeError):
        return None
    glibc = libc.mallinfo2().fordblks / 2**20
    with tempfile.TemporaryFile() as f:  # _debugmallocstats writes to the C stderr only
        saved = os.dup(2)
        try:
            os.dup2(f.fileno(), 2)
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        f.seek(0)
        text = f.read().decode(errors="replace")
    free = 0
    for line in text.splitlines():
        if "# bytes in available blocks" in line or "unused pools *" in line:
            free += int(line.rpartition("=")[2].replace(",", ""))
    return free / 2**20, glibc


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]


def memory_report(pid: int | str = "self", top: int = 6) -> list[str]:
    r = smaps_rollup(pid)
    private = r.get("Private_Clean", 0) + r.get("Private_Dirty", 0)
    shared = r.get("Shared_Clean", 0) + r.get("Shared_Dirty", 0)
    maps = mappings(pid)
    files = {k: v for k, v in maps.items() if k.startswith("/")}
    file_private = sum(v.get("Private_Clean", 0) + v.get("Private_Dirty", 0)
                       for v in files.values())
    mb = {k: v / 1024 for k, v in r.items()}
    file_shared = sum(v.get("Shared_Clean", 0) + v.get("Shared_Dirty", 0) for v in files.values())
    lines = [
        f"rss {mb.get('Rss', 0):7.1f} MB = private {private / 1024:7.1f} MB (clean "
        f"{mb.get('Private_Clean', 0):.1f}, dirty {mb.get('Private_Dirty', 0):.1f})"
        f" + shared {shared / 1024:.1f} MB",
        f"  private, without file mappings (heap, arrays, anon): "
        f"{(private - file_private) / 1024:7.1f} MB   (target <= 150 MB)",
        f"  file mappings (shared libraries, .pyc, numba cache): private "
        f"{file_private / 1024:.1f} MB, shared {file_shared / 1024:.1f} MB",
    ]
    free = allocator_free_mb() if pid == "self" else None
    if free is not None:
        lines.insert(2, f"    of which free inside the allocators: pymalloc {free[0]:.1f} MB, "
                        f"glibc {free[1]:.1f} MB")
    biggest = sorted(files.items(), key=lambda kv: -kv[1].get("Rss", 0))[:top]
    for name, v in biggest:
        sh = (v.get("Shared_Clean", 0) + v.get("Shared_Dirty", 0)) / 1024
        lines.append(f"    {v.get('Rss', 0) / 1024:6.1f} MB rss ({sh:5.1f} shared)  "
                     f"{Path(name).name}")
    return lines


# ---- layer (a): in process ---------------------------------------------------------------------


def pct(xs: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(xs, np.float64), q * 100)) if xs else float("nan")


def row(name: str, xs: list[float], target: str = "") -> str:
    return (f"{name:44s} p50 {pct(xs, 0.5):8.2f}  p90 {pct(xs, 0.9):8.2f}  p99 "
            f"{pct(xs, 0.99):8.2f}  max "
            f"{max(xs) if xs else float('nan'):8.2f} ms   {target}")


def inproc(n_books: int, cycles: int, rate: float) -> None:
    stages = [("imports", private_anon_mb())]
    t = time.perf_counter()
    # held as a daemon meets them (msgpack off the stream, decoded per batch), not as ~60,000
    # Quote objects no engine holds; the engine parses the symbols it receives, as a daemon does
    packed = [QUOTES_ENCODER.encode(snap) for snap in snapshots(full_chains())]
    symbols.parse.cache_clear()
    t_snap = time.perf_counter() - t
    t = time.perf_counter()
    book = portfolio(n_books)
    t_books = time.perf_counter() - t
    settings = msgspec.convert({"portfolio": "bench"}, Settings)
    events = load_events(ROOT / "config" / "events.toml")
    now = rules_bench.OPEN_NS + 10 * S
    warm = Engine(settings, portfolio(1))  # compiles the pricing kernels outside the timings
    warm.ingest(QUOTES_DECODER.decode(packed[0]))
    warm.evaluate(now)
    del warm
    stages.append(("+ chains' quotes held (packed), kernels compiled", private_anon_mb()))
    # as the daemon: a second thread for the cycle's analysis, the machine's wake times noted
    aside = ThreadPoolExecutor(1)
    engine = Engine(settings, book, events=events, aside=aside)
    machine = AlertMachine(cooldown_s=0, repeat_interval_s=3600)
    engine.memory.held = machine.held()  # a full emission sends what the machine needs

    def step(signals: list[Signal], at_ns: int) -> Transition:
        out = machine.step(signals, at_ns)
        engine.memory.note_wake(out.wake)
        return out

    engine.ingest(QUOTES_DECODER.decode(packed[0]))
    engine.ingest([trial_quote(CLEAR, now)])
    t = time.perf_counter()
    first = engine.evaluate(now)
    t_first = time.perf_counter() - t
    # as the daemon writes the start's burst: decided at once, made piece by piece between
    # the outbox writes (the loop runs its other tasks there); the longest stretch is what
    # holds the loop
    t = time.perf_counter()
    decided = machine.decide(first.signals, now)
    engine.memory.note_wake(decided.wake)
    t_decide = time.perf_counter() - t
    piece_s = []
    for chunk, _states in pieces(decided.decided, decided.changed):
        t = time.perf_counter()
        for d in chunk:
            machine.make(d)
        piece_s.append(time.perf_counter() - t)
    n_events = len(decided.decided)
    del decided
    n_keys = len(first.signals)
    del first  # the app keeps no cycle but the engine's last one
    stages.append(("+ engine, books, first cycle, alert states", private_anon_mb()))
    rng = np.random.default_rng(11)
    per_batch = max(1, round(rate * CYCLE_S))
    ingest_ms, cycle_ms, machine_ms, book_ms, fired = [], [], [], [], 0
    for i in range(3 + cycles):
        now += round(CYCLE_S * S)
        snap = QUOTES_DECODER.decode(packed[i % 2])
        pick = rng.choice(len(snap), size=min(per_batch, len(snap)), replace=False)
        batch = [msgspec.structs.replace(snap[j], ts=now) for j in pick.tolist()]
        t0 = time.perf_counter()
        engine.ingest(batch)
        t1 = time.perf_counter()
        c = engine.evaluate(now)
        t2 = time.perf_counter()
        step(c.signals, now)
        t3 = time.perf_counter()
        # the changed-leg path: the trial leg crosses its threshold (or back), its book alone
        engine.ingest([trial_quote(FIRE if i % 2 == 0 else CLEAR, now + 1)])
        t4 = time.perf_counter()
        part = engine.evaluate_books([TRIAL_BOOK], now + 1) if engine.can_evaluate_books() else None
        events_out = step(part.signals, now + 1).events if part is not None else []
        t5 = time.perf_counter()
        if i < 3:
            continue
        ingest_ms.append((t1 - t0) * 1e3)
        cycle_ms.append((t2 - t1) * 1e3)
        machine_ms.append((t3 - t2) * 1e3)
        if part is not None:
            book_ms.append((t5 - t4) * 1e3)
            fired += any(e.key == TRIAL_KEY for e in events_out)
    aside.shutdown()
    legs = len(engine.portfolio_index().leg_symbol)
    print(f"\n== in process: {n_books:,} books, {legs:,} legs, {len(engine.market):,} instruments, "
          f"{n_keys:,} alert keys; {cycles} cycles of {CYCLE_S * 1e3:.0f} ms with "
          f"{per_batch:,} changed quotes each ({rate:,.0f} quotes/s)")
    print(f"setup: chains + 2 snapshots {t_snap:.1f} s, books {t_books:.1f} s; first cycle "
          f"(every key emitted) {t_first * 1e3:.0f} ms; its {n_events:,} events: decided in "
          f"{t_decide * 1e3:.0f} ms, made in {len(piece_s)} pieces, "
          f"{sum(piece_s) * 1e3:.0f} ms in all, the longest piece {max(piece_s) * 1e3:.0f} ms")
    print(row("ingest of one batch (not in the cycle)", ingest_ms))
    print(row("full cycle (Engine.evaluate)", cycle_ms, "target <= 50 ms at 10,000 books"))
    print(row("alert machine step after it", machine_ms))
    print(row("changed leg: evaluate_books + machine", book_ms,
              f"(trial alert events seen in {fired} of {len(book_ms)})"))
    print("memory, chains and books loaded:")
    for line in memory_report():
        print("  " + line)
    print("  private without file mappings, by stage: "
          + "; ".join(f"{name} {mb:.0f} MB" for name, mb in stages))


# ---- layer (b): with Redis, engine daemons, a webhook receiver ---------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_redis(state: Path) -> tuple[subprocess.Popen[bytes], str]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not installed (apt-get install redis-server)")
    port = free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(state), "--save", "",
         "--appendonly", "no", "--logfile", str(state / "redis.log")]
    )
    import redis

    client = redis.Redis(port=port)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)  # waiting for a server to come up, not synchronization
    client.close()
    return proc, f"redis://127.0.0.1:{port}"


def load_main(url: str, rate: float, batch: int, go: MpEvent, stop: MpEvent,
              sent: object) -> None:
    """The load generator: ``rate`` quotes/s of the full chains, restamped, in binary XADDs."""
    import redis

    from monitor.quotes import FIELD_BINARY, FIELD_FEED, encode_batch

    client = redis.Redis.from_url(url)
    snaps = snapshots(full_chains())
    go.wait()
    interval_s, next_at, i = batch / rate, time.perf_counter(), 0
    while not stop.is_set():
        snap = snaps[(i // (len(snaps[0]) // batch)) % 2]
        start = (i * batch) % max(1, len(snap) - batch)
        now = time.time_ns()
        chunk = [msgspec.structs.replace(q, ts=now) for q in snap[start : start + batch]]
        client.xadd("{vixmon:quotes}", {FIELD_BINARY: encode_batch(chunk), FIELD_FEED: b"load"},
                    maxlen=2_000_000, approximate=True)
        with sent.get_lock():  # type: ignore[attr-defined]
            sent.value += len(chunk)  # type: ignore[attr-defined]
        i += 1
        next_at += interval_s
        pause = next_at - time.perf_counter()
        if pause > 0:
            time.sleep(pause)  # pacing a producer
        else:
            next_at = time.perf_counter()


def toml_portfolio(p: Portfolio) -> str:
    out = []
    for b in p.books:
        out.append(f'[[books]]\nname = "{b.name}"\ncash_usd = {b.cash_usd!r}\n')
        for kind, groups in (("condors", b.condors), ("layers", b.layers)):
            for g in groups:
                legs = ", ".join(
                    f'{{ symbol = "{leg.symbol}", quantity = {leg.quantity}, '
                    f"entry_price = {leg.entry_price!r} }}" for leg in g.legs
                )
                out.append(f'[[books.{kind}]]\nname = "{g.name}"\nlegs = [{legs}]\n')
    return "\n".join(out)


def daemon_config(tmp: Path, redis_url: str, replica: str, partitions: int) -> Path:
    path = tmp / f"vixmon-{replica or 'single'}.toml"
    scale = f'[scale]\npartitions = {partitions}\nreplica = "{replica}"\n' if partitions else ""
    path.write_text(f"""
portfolio = "{tmp / "portfolio.toml"}"
[redis]
url = "{redis_url}"
[engine]
cadence_ms = 250
time_source = "wall"
[http]
port = 0
[logging]
json = true
[rules.layer_gain]
thresholds = [1.5]
severities = ["warning"]
[alerts]
cooldown_s = 0
repeat_interval_s = 0
{scale}
[[sinks]]
kind = "webhook"
name = "bench"
url = {{ env = "BENCH_WEBHOOK_URL" }}
signing_secrets = [{{ env = "BENCH_WEBHOOK_SECRET" }}]
""")
    return path


class Daemon(latency_bench.Daemon):
    """bench/latency.py's daemon follower, named, with a /metrics reader of every histogram."""

    def __init__(self, name: str, proc: asyncio.subprocess.Process) -> None:
        super().__init__(proc)
        self.name = name

    async def get(self, path: str) -> str:
        import aiohttp

        url = f"http://127.0.0.1:{self.http_port}{path}"
        async with aiohttp.ClientSession() as session, session.get(url) as resp:
            return await resp.text()

    async def metrics(self) -> dict[str, tuple[float, float]]:
        """Return (mean ms, count) of every histogram in /metrics."""
        from prometheus_client.parser import text_string_to_metric_families

        out = {}
        for family in text_string_to_metric_families(await self.get("/metrics")):
            if family.type != "histogram":
                continue
            vals = {s.name: s.value for s in family.samples}
            count = vals.get(f"{family.name}_count", 0.0)
            if count:
                out[family.name] = (vals[f"{family.name}_sum"] / count * 1e3, count)
        return out

    async def stop(self) -> None:
        if self.proc.returncode is None:
            self.proc.terminate()
            try:
                await asyncio.wait_for(self.proc.wait(), 30)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        await self.reader


class Receiver:
    """The webhook receiver: resolves the trial waiting for a status of ``TRIAL_KEY``."""

    def __init__(self) -> None:
        self.waiting: dict[str, asyncio.Future[int]] = {}
        self.events = 0

    async def handle(self, req: object) -> object:
        from aiohttp import web

        arrived_ns = time.time_ns()
        body = msgspec.json.decode(await req.read())  # type: ignore[attr-defined]
        for event in body["events"]:
            self.events += 1
            if event["key"] == TRIAL_KEY:
                fut = self.waiting.pop(event["status"], None)
                if fut is not None and not fut.done():
                    fut.set_result(arrived_ns)
        return web.Response(text="ok")

    async def start(self) -> tuple[object, str]:
        from aiohttp import web

        app = web.Application()
        app.router.add_post("/hook", self.handle)  # type: ignore[arg-type]
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        return runner, f"http://127.0.0.1:{runner.addresses[0][1]}/hook"


async def trial(writer: object, receiver: Receiver, status: str,
                bid_ask: tuple[float, float]) -> int | None:
    """XADD the trial quote; return XADD -> webhook received in ns (None: timed out)."""
    fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    receiver.waiting[status] = fut
    t0 = time.time_ns()
    await writer.publish("trial", [trial_quote(bid_ask, t0)])  # type: ignore[attr-defined]
    try:
        return await asyncio.wait_for(fut, 10) - t0
    except TimeoutError:
        receiver.waiting.pop(status, None)
        return None


async def groups_info(client: object) -> dict[str, tuple[int, int]]:
    """(lag, pending) per consumer group of the quote stream."""
    out = {}
    for g in await client.xinfo_groups("{vixmon:quotes}"):  # type: ignore[attr-defined]
        name = g["name"].decode() if isinstance(g["name"], bytes) else g["name"]
        out[name] = (int(g.get("lag") or 0), int(g.get("pending") or 0))
    return out


async def wait_owned(daemons: list[Daemon], partitions: int, timeout_s: float = 60) -> None:
    """Wait until the replicas own every partition between them, each some (if several)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        owned = []
        for d in daemons:
            scale = msgspec.json.decode(await d.get("/api/v1/status")).get("scale") or {}
            owned.append(len(scale.get("owned", [])))
        if sum(owned) == partitions and all(owned):
            return
        await asyncio.sleep(0.2)  # polling a daemon's status, no event to await across processes
    raise SystemExit(f"partitions not settled: {owned}")


async def with_redis(args: argparse.Namespace, url: str, go: MpEvent, sent: object) -> None:
    from monitor import bus

    receiver = Receiver()
    runner, hook = await receiver.start()
    env = {**os.environ, "BENCH_WEBHOOK_URL": hook, "BENCH_WEBHOOK_SECRET": SECRET}
    partitions = 16 if args.processes > 1 or args.partitioned else 0
    replicas = [chr(ord("a") + i) for i in range(args.processes)] if partitions else [""]
    client = bus.connect(url, socket_timeout_s=10)
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "portfolio.toml").write_text(toml_portfolio(portfolio(args.books)))
        daemons = []
        for r in replicas:
            cfg = daemon_config(Path(tmp), url, r, partitions)
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "monitor.cli", "run", "--config", str(cfg),
                "--role", "engine", stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT, env=env, cwd=ROOT,
            )
            daemons.append(Daemon(r or "single", proc))
        try:
            for d in daemons:
                await asyncio.wait_for(d.started.wait(), 300)
            if partitions:
                await wait_owned(daemons, partitions)
        except (TimeoutError, SystemExit):
            for d in daemons:
                print(f"--- {d.name}\n" + "\n".join(d.tail), file=sys.stderr)
            raise
        writer = bus.QuoteWriter(client, prefix="vixmon", maxlen=2_000_000)
        await trial(writer, receiver, "resolved", CLEAR)  # known start (may time out: not firing)
        go.set()
        # warm-up (not measured): the full chains arrive, the first cycle's every-key emission
        # is delivered; trials run meanwhile
        warm_start = time.perf_counter()
        warm_until = warm_start + args.warmup_s
        while time.perf_counter() < warm_until:
            await trial(writer, receiver, "firing", FIRE)
            await trial(writer, receiver, "resolved", CLEAR)
        # ... and until that backlog is delivered (a round sees no events but its own two),
        # at most a minute more: a tick queued behind thousands of webhooks times the backlog
        backlog_until = time.perf_counter() + 60
        while time.perf_counter() < backlog_until:
            before = receiver.events
            await trial(writer, receiver, "firing", FIRE)
            await trial(writer, receiver, "resolved", CLEAR)
            if receiver.events - before <= 2:
                break
        warm_s, warm_events = time.perf_counter() - warm_start, receiver.events
        fire: list[float] = []
        lags: dict[str, list[tuple[int, int]]] = {}
        failed = 0
        rng = np.random.default_rng(17)
        sent0, started = sent.value, time.perf_counter()  # type: ignore[attr-defined]
        next_lag = started
        while time.perf_counter() - started < args.seconds:
            if args.trial_gap_ms:  # open loop: the next tick comes when it comes
                await asyncio.sleep(rng.uniform(0, 2 * args.trial_gap_ms) / 1e3)  # pacing
            fired = await trial(writer, receiver, "firing", FIRE)
            if args.trial_gap_ms:
                await asyncio.sleep(rng.uniform(0, 2 * args.trial_gap_ms) / 1e3)  # pacing
            resolved = await trial(writer, receiver, "resolved", CLEAR)
            if fired is None or resolved is None:
                failed += 1
            if fired is not None:
                fire.append(fired / MS)
            if time.perf_counter() >= next_lag:
                for g, v in (await groups_info(client)).items():
                    lags.setdefault(g, []).append(v)
                next_lag += 1.0
        elapsed = time.perf_counter() - started
        achieved = (sent.value - sent0) / elapsed  # type: ignore[attr-defined]
        mems = {d.name: memory_report(d.proc.pid, top=4) for d in daemons}
        metrics = {d.name: await d.metrics() for d in daemons}
        for d in daemons:
            await d.stop()
    await client.aclose()
    await runner.cleanup()  # type: ignore[attr-defined]
    mode = f"{len(daemons)} engine process(es), [scale] partitions = {partitions}"
    print(f"\n== with Redis: {args.books:,} books, {mode}; load {args.rate:,.0f} quotes/s asked, "
          f"{achieved:,.0f} achieved, {elapsed:.0f} s")
    print(f"warm-up {warm_s:.1f} s, {warm_events:,} webhook events; then trials: {len(fire)} "
          f"firing received, {failed} timed out (10 s); webhook events received "
          f"{receiver.events - warm_events:,}")
    print(row("tick XADD -> webhook received (firing)", fire, "target p99 <= 10 ms"))
    for g, vs in sorted(lags.items()):
        print(f"consumer group {g:12s} lag max {max(v[0] for v in vs):8,}  last {vs[-1][0]:8,};"
              f"  pending max {max(v[1] for v in vs):6,}  last {vs[-1][1]:6,}")
    for name, m in metrics.items():
        cyc = m.get("vixmon_engine_cycle_seconds")
        part = m.get("vixmon_engine_book_evaluation_seconds")
        print(f"engine {name}: full cycle mean "
              + (f"{cyc[0]:.1f} ms over {cyc[1]:.0f}" if cyc else "n/a")
              + "; changed books mean "
              + (f"{part[0]:.2f} ms over {part[1]:.0f}" if part else "n/a"))
        for line in mems[name]:
            print("  " + line)


def redis_layer(args: argparse.Namespace) -> None:
    ctx = mp.get_context("spawn")
    go, stop = ctx.Event(), ctx.Event()
    sent = ctx.Value("q", 0)
    with tempfile.TemporaryDirectory() as state:
        server, url = start_redis(Path(state))
        loader = ctx.Process(target=load_main, args=(url, args.rate, args.batch, go, stop, sent),
                             daemon=True)
        loader.start()
        try:
            asyncio.run(with_redis(args, url, go, sent))
        finally:
            stop.set()
            go.set()
            loader.join(10)
            server.terminate()
            server.wait(10)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--books", type=int, default=1000)
    ap.add_argument("--cycles", type=int, default=20, help="in-process full cycles timed")
    ap.add_argument("--rate", type=float, default=100_000.0, help="quotes/s of input")
    ap.add_argument("--processes", type=int, default=0, help="engine daemons (0: no Redis layer)")
    ap.add_argument("--partitioned", action="store_true",
                    help="with one process: [scale] partitions = 16 anyway")
    ap.add_argument("--seconds", type=float, default=30.0, help="Redis layer duration")
    ap.add_argument("--batch", type=int, default=2500, help="quotes per load XADD")
    ap.add_argument("--warmup-s", type=float, default=8.0, help="Redis layer warm-up")
    ap.add_argument("--no-inproc", action="store_true")
    ap.add_argument("--trial-gap-ms", type=float, default=0.0,
                    help="mean random pause before each trial tick (0: back to back, each tick "
                         "right after the last one's webhook: the ticks are then load too)")
    args = ap.parse_args()
    allocator.tune(os.environ)  # as `vixmon run` does (the daemons tune themselves)
    if not args.no_inproc:
        inproc(args.books, args.cycles, args.rate)
    if args.processes:
        redis_layer(args)


if __name__ == "__main__":
    main()
