"""Soak: two engine replicas for ``--seconds`` at ``--rate`` quotes/s, alerts firing all along,
one replica killed (-9) midway and restarted; then the verdict.

Setup, all on this machine: Debian's redis-server (AOF on); two ``vixmon run --role engine``
replicas sharing ``--books`` books over 16 partitions (``[scale]``), the first started holding
the delivery lease; a load generator process XADDing the option chains (the simulator's
universe, restamped) at ``--rate`` quotes/s in 500-quote entries; and this process, which runs
the webhook receiver and a driver that every ``--toggle-s`` flips one of eight VIX calls between
calm (no gain) and a 160% gain, so a group of books' layer alerts fire and resolve all the time.
At ``--kill-at`` (a fraction of the run) the delivering replica is killed with SIGKILL and
started again ``--down-s`` later under the same name.

Sampled every 2 s: each replica's RSS and private memory (/proc/<pid>/smaps_rollup), the lag
and pending count of each replica's quote consumer group, and the outbox entries the sink has
yet to deliver. At the end the load stops, the outbox drains, and the verdict is:

- every event ever appended to the outbox (XINFO STREAM entries-added: the outbox is capped, so
  the early entries are trimmed by the end) reached the receiver, each of those still in the
  outbox by id (none lost), and no alert key has two firing
  events without a resolve between them (none sent twice); a repeated webhook-id is a retry of
  the same message, counted and reported;
- the survivor's RSS grew at most 5% from the end of the warm-up (``--warmup-s``) to the end;
- the quote consumer lag stayed bounded (at most ``--max-lag-s`` of input).

Exit code 0 when all hold, 1 otherwise; ``--json`` writes the figures.

    .venv/bin/python bench/soak.py [--seconds 1800] [--rate 100000] [--books 200]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import itertools
import json
import multiprocessing as mp
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from multiprocessing.synchronize import Event as MpEvent
from pathlib import Path
from typing import Any

import msgspec
import redis
from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from adapters.simulator.market import default_universe  # noqa: E402
from monitor import keys  # noqa: E402
from monitor.model import Quote  # noqa: E402
from monitor.quotes import FIELD_BINARY, FIELD_FEED, encode_batch  # noqa: E402
from monitor.sinks.outbox import decode_event  # noqa: E402
from tests.support.clocked import layer_expiry  # noqa: E402
from tests.support.redis_servers import RedisProcess, redis_server_binary  # noqa: E402
from tests.support.replicas import hook_env, replica_config  # noqa: E402

PREFIX = "vixmon"
PARTITIONS = 16
STRIKES = [18.0, 19.0, 20.0, 21.0, 22.0, 23.0, 24.0, 25.0]
ENTRY = 1.0
CALM, SPIKE = (0.95, 1.05), (2.55, 2.65)
BATCH = 500


def today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def layer_symbols() -> list[str]:
    exp = layer_expiry(today())
    return [f"VIX{exp:%y%m%d}C{round(k * 1000):08d}" for k in STRIKES]


def write_books(path: Path, n: int) -> None:
    legs = layer_symbols()
    path.write_text("".join(
        f'[[books]]\nname = "s{i:05d}"\ncash_usd = 50000.0\n[[books.layers]]\nname = "L1"\n'
        f'legs = [{{ symbol = "{legs[i % len(legs)]}", quantity = 1, entry_price = {ENTRY} }}]\n'
        for i in range(n)
    ))


def chain() -> list[Quote]:
    """The simulator's universe (SPX chains, VX curve, VIX options), without the layer legs."""
    d = today()
    vx = [layer_expiry(d + dt.timedelta(days=30 * i)) for i in range(7)]
    spx = [d + dt.timedelta(days=30 * i + 40) for i in range(3)]
    skip = set(layer_symbols())
    out = []
    for sym in sorted(default_universe(6000.0, vx, spx)):
        if sym not in skip:
            out.append(Quote(sym=sym, ts=0, bid=1.0, ask=1.1))
    return out


def load_main(url: str, rate: float, go: MpEvent, stop: MpEvent) -> None:
    """XADD the chain at ``rate`` quotes/s, restamped, in ``BATCH``-quote entries."""
    client = redis.Redis.from_url(url)
    quotes = chain()
    ring = (quotes * (BATCH // len(quotes) + 2))[: BATCH + len(quotes)]
    go.wait()
    interval_s, next_at, offset = BATCH / rate, time.perf_counter(), 0
    while not stop.is_set():
        now = time.time_ns()
        chunk = [msgspec.structs.replace(q, ts=now) for q in ring[offset: offset + BATCH]]
        offset = (offset + BATCH) % len(quotes)
        client.xadd(keys.quotes(PREFIX), {FIELD_BINARY: encode_batch(chunk), FIELD_FEED: b"load"},
                    maxlen=1_000_000, approximate=True)
        next_at += interval_s
        pause = next_at - time.perf_counter()
        if pause > 0:
            time.sleep(pause)  # pacing a producer, not synchronization
        else:
            next_at = time.perf_counter()


@dataclass
class Received:
    webhook_ids: Counter[str] = field(default_factory=Counter)
    events: dict[str, dict[str, Any]] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)


async def receiver(got: Received) -> tuple[web.AppRunner, str]:
    async def hook(req: web.Request) -> web.Response:
        body = msgspec.json.decode(await req.read())
        got.webhook_ids[req.headers["webhook-id"]] += 1
        for ev in body["events"]:
            if ev["id"] not in got.events:
                got.events[ev["id"]] = ev
                got.order.append(ev["id"])
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}/hook"


class Replica:
    def __init__(self, name: str, cfg: Path, env: dict[str, str], log_dir: Path) -> None:
        self.name, self.cfg, self.env, self.log_dir = name, cfg, env, log_dir
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        log = (self.log_dir / f"{self.name}-{self.starts}.log").open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "monitor.cli", "run", "--config", str(self.cfg),
             "--role", "engine"], cwd=ROOT, env={**os.environ, **self.env}, stdout=log,
            stderr=subprocess.STDOUT)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(30)

    def memory_mb(self) -> tuple[float, float]:
        """Return (RSS, private) in MB from smaps_rollup (0, 0 when not running)."""
        if self.proc is None or self.proc.poll() is not None:
            return 0.0, 0.0
        fields: dict[str, int] = {}
        try:
            text = Path(f"/proc/{self.proc.pid}/smaps_rollup").read_text()
        except OSError:
            return 0.0, 0.0
        for line in text.splitlines()[1:]:
            name, _, rest = line.partition(":")
            fields[name] = int(rest.split()[0])
        private = fields.get("Private_Clean", 0) + fields.get("Private_Dirty", 0)
        return fields.get("Rss", 0) / 1024, private / 1024


def lag(client: redis.Redis) -> dict[str, tuple[int, int]]:
    """Return per quote consumer group: (lag, pending)."""
    try:
        groups = client.xinfo_groups(keys.quotes(PREFIX))
    except redis.ResponseError:
        return {}
    return {g["name"].decode(): (int(g.get("lag") or 0), int(g["pending"])) for g in groups}


def outbox_left(client: redis.Redis) -> int:
    try:
        groups = client.xinfo_groups(keys.outbox(PREFIX))
    except redis.ResponseError:
        return 0
    return sum(int(g.get("lag") or 0) + int(g["pending"]) for g in groups)


def settled(client: redis.Redis, got: Received) -> bool:
    """Every layer alert received is resolved (the legs are calm) and the outbox is empty."""
    last: dict[str, str] = {}
    for i in got.order:
        ev = got.events[i]
        if ev["rule"] == "layer_gain":
            last[ev["key"]] = ev["status"]
    return "firing" not in last.values() and outbox_left(client) == 0


def delivering(client: redis.Redis) -> str:
    raw = client.get(keys.delivery_lease(PREFIX))
    return "" if raw is None else raw.decode().partition(":")[0]


def verdict(
    outbox: Sequence[tuple[bytes, dict[bytes, bytes]]], added: int, got: Received
) -> dict[str, Any]:
    """``outbox``: the entries the capped outbox still holds; ``added``: every entry it ever
    got (XINFO STREAM entries-added, Redis >= 7), one event each."""
    written = [decode_event(f[b"event"]) for _i, f in outbox]
    missing = [e.id for e in written if e.id not in got.events]
    by_key: dict[str, list[str]] = defaultdict(list)
    for i in got.order:
        ev = got.events[i]
        by_key[ev["key"]].append(ev["status"])
    doubled = [k for k, s in by_key.items()
               if any(x == y == "firing" for x, y in itertools.pairwise(s))]
    return {
        "events_written": added,
        "events_received": len(got.events),
        "lost": max(len(missing), added - len(got.events)),
        "fired_twice": len(doubled),
        "fired_twice_keys": doubled[:5],
        "webhook_messages": sum(got.webhook_ids.values()),
        "webhook_id_repeats": sum(n - 1 for n in got.webhook_ids.values()),
        "layer_firings": sum(1 for e in got.events.values()
                             if e["rule"] == "layer_gain" and e["status"] == "firing"),
    }


async def soak(args: argparse.Namespace) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="vixmon-soak-"))
    server = RedisProcess(redis_server_binary(), tmp / "redis")
    server.start()
    client = redis.Redis.from_url(server.url)
    got = Received()
    runner, url = await receiver(got)
    books = tmp / "books.toml"
    write_books(books, args.books)
    env = hook_env(url)
    if args.numba:
        env.pop("VIXMON_PRICING_BACKEND")
    reps = {n: Replica(n, replica_config(tmp, n, url=server.url, cluster=False, books=books,
                                         partitions=PARTITIONS, log_level="warning"), env, tmp)
            for n in "ab"}
    go, stop = mp.Event(), mp.Event()
    gen = mp.Process(target=load_main, args=(server.url, args.rate, go, stop), daemon=True)
    samples: list[dict[str, Any]] = []
    try:
        gen.start()
        reps["a"].start()
        while delivering(client) != "a":  # noqa: ASYNC110  (another process's state, in Redis)
            await asyncio.sleep(0.2)
        reps["b"].start()
        go.set()
        legs = layer_symbols()
        started = time.monotonic()
        kill_at, restart_at = args.seconds * args.kill_at, args.seconds * args.kill_at + args.down_s
        killed: str | None = None
        next_toggle, next_sample, flips = 0.0, 0.0, 0
        while (t := time.monotonic() - started) < args.seconds:
            if t >= next_toggle:
                sym = legs[flips % len(legs)]
                bid, ask = SPIKE if (flips // len(legs)) % 2 == 0 else CALM
                q = Quote(sym=sym, ts=time.time_ns(), bid=bid, ask=ask)
                client.xadd(keys.quotes(PREFIX), {FIELD_BINARY: encode_batch([q]),
                                                  FIELD_FEED: b"driver"})
                flips += 1
                next_toggle += args.toggle_s
            if killed is None and t >= kill_at:
                killed = delivering(client) or "a"
                reps[killed].kill()
                samples.append({"t_s": round(t, 1), "event": f"killed {killed}"})
            if killed is not None and reps[killed].starts == 1 and t >= restart_at:
                reps[killed].start()
                samples.append({"t_s": round(t, 1), "event": f"restarted {killed}"})
            if t >= next_sample:
                row: dict[str, Any] = {"t_s": round(t, 1), "lag": lag(client),
                                       "outbox_left": outbox_left(client)}
                for n, r in reps.items():
                    row[f"{n}_rss_mb"], row[f"{n}_private_mb"] = r.memory_mb()
                samples.append(row)
                next_sample += 2.0
            await asyncio.sleep(0.05)  # the driver's tick: it paces, nothing waits on it
        stop.set()
        gen.join(10)
        # calm every leg, then let the outbox drain
        for sym in legs:
            q = Quote(sym=sym, ts=time.time_ns(), bid=CALM[0], ask=CALM[1])
            client.xadd(keys.quotes(PREFIX), {FIELD_BINARY: encode_batch([q]),
                                              FIELD_FEED: b"driver"})
        drain_until = time.monotonic() + 60
        while not settled(client, got) and time.monotonic() < drain_until:  # noqa: ASYNC110
            await asyncio.sleep(0.2)  # other processes' progress, read from Redis
        codes = {n: r.stop() for n, r in reps.items()}
        outbox = client.xrange(keys.outbox(PREFIX))
        added = int(client.xinfo_stream(keys.outbox(PREFIX))["entries-added"])
    finally:
        stop.set()
        for r in reps.values():
            r.kill()
        await runner.cleanup()
        server.stop()
    return summarize(args, samples, verdict(outbox, added, got), codes, killed or "")


def summarize(args: argparse.Namespace, samples: list[dict[str, Any]], v: dict[str, Any],
              codes: dict[str, int], killed: str) -> dict[str, Any]:
    survivor = "b" if killed == "a" else "a"
    rows = [s for s in samples if "lag" in s]
    warm = [s for s in rows if s["t_s"] >= args.warmup_s]
    rss0 = warm[0][f"{survivor}_rss_mb"] if warm else 0.0
    rss1 = rows[-1][f"{survivor}_rss_mb"] if rows else 0.0
    allowed_lag = args.max_lag_s * args.rate / BATCH  # in entries
    kill_t = next((s["t_s"] for s in samples if str(s.get("event", "")).startswith("killed")), 0)
    back_t = next((s["t_s"] for s in samples if str(s.get("event", "")).startswith("restart")), 0)
    # the killed replica's own backlog (the input while it was down) is not lag of a live one
    caught_up = next((s["t_s"] for s in rows if s["t_s"] > back_t
                      and s["lag"].get(f"engine:{killed}", (0, 0))[0] <= allowed_lag), None)
    live_lags = [lg for s in rows for g, (lg, _p) in s["lag"].items()
                 if not (g == f"engine:{killed}" and kill_t <= s["t_s"] < (caught_up or 1e18))]
    max_lag = max(live_lags, default=0)
    growth = (rss1 - rss0) / rss0 if rss0 else 0.0
    ok = (v["lost"] == 0 and v["fired_twice"] == 0 and growth <= 0.05 and caught_up is not None
          and max_lag <= allowed_lag and v["layer_firings"] > 0
          and all(c == 0 for c in codes.values()))
    return {
        "ok": ok, "seconds": args.seconds, "rate": args.rate, "books": args.books,
        "killed": killed, "survivor": survivor, "exit_codes": codes,
        "survivor_rss_mb": [round(rss0, 1), round(rss1, 1)], "rss_growth": round(growth, 4),
        "max_private_mb": {n: round(max((s[f"{n}_private_mb"] for s in rows), default=0), 1)
                           for n in "ab"},
        "max_lag_entries": max_lag, "allowed_lag_entries": allowed_lag,
        "backlog_at_restart_entries": max((s["lag"].get(f"engine:{killed}", (0, 0))[0]
                                           for s in rows), default=0),
        "caught_up_s_after_restart": None if caught_up is None else round(caught_up - back_t, 1),
        "max_outbox_left": max((s["outbox_left"] for s in rows), default=0),
        **v, "samples": samples,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--seconds", type=float, default=1800)
    ap.add_argument("--rate", type=float, default=100_000)
    ap.add_argument("--books", type=int, default=200)
    ap.add_argument("--toggle-s", type=float, default=0.5)
    ap.add_argument("--kill-at", type=float, default=0.5)
    ap.add_argument("--down-s", type=float, default=5.0)
    ap.add_argument("--warmup-s", type=float, default=60.0)
    ap.add_argument("--max-lag-s", type=float, default=2.0)
    ap.add_argument("--numba", action="store_true", help="price with numba (default: numpy)")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    result = asyncio.run(soak(args))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    brief = {k: v for k, v in result.items() if k != "samples"}
    for k, v in brief.items():
        print(f"{k:>22}: {v}")
    sys.exit(0 if result["ok"] else 1)


if __name__ == "__main__":
    main()
