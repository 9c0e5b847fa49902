"""Engine replicas sharing many books through one Redis (``[scale]``), for failover and soak.

``write_books`` writes N one-layer books hedged with the same VIX call, so one quote of that
call moves every book's layer gain across (or back below) the 150% threshold at once;
``replica_config`` writes a ``vixmon run --role engine`` config for one replica; ``market``
returns the quotes that price the layer (the VIX index, its VX future and the call).
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

from monitor import symbols
from monitor.model import Quote
from tests.integration.delivery.support import SECRET
from tests.support.clocked import layer_expiry

ENTRY = 1.00
CALM, SPIKE = (0.95, 1.05), (2.55, 2.65)
"""Bid/ask of the layer's call: no gain (calm), and a gain of 160% (above the 150% line)."""


def layer_symbol(today: dt.date | None = None) -> str:
    today = today or dt.datetime.now(dt.UTC).date()
    return symbols.option_symbol("VIX", layer_expiry(today), 1, 20.0)


def hook_env(url: str, var: str = "SCALE_WEBHOOK_URL") -> dict[str, str]:
    """Return the environment a replica's webhook sink reads its URL and secret from."""
    return {var: url, f"{var}_SECRET": SECRET, "VIXMON_PRICING_BACKEND": "numpy"}


def book_names(n: int) -> list[str]:
    return [f"b{i:05d}" for i in range(n)]


def gain_key(book: str) -> str:
    """The alert key of a book's layer crossing the 150% line."""
    return f"layer_gain|{book}|L1@1.5"


def write_books(path: Path, n: int) -> Path:
    leg = layer_symbol()
    path.write_text("".join(
        f'[[books]]\nname = "{name}"\ncash_usd = 50000.0\n[[books.layers]]\nname = "L1"\n'
        f'legs = [{{ symbol = "{leg}", quantity = 1, entry_price = {ENTRY} }}]\n'
        for name in book_names(n)
    ))
    return path


def replica_config(
    tmp_path: Path, name: str, *, url: str, cluster: bool, books: Path, partitions: int = 8,
    ttl_s: float = 3.0, hook_env: str = "SCALE_WEBHOOK_URL", log_level: str = "info",
) -> Path:
    state = tmp_path / f"state-{name}"
    state.mkdir(exist_ok=True)
    path = tmp_path / f"{name}.toml"
    path.write_text(f"""
portfolio = "{books}"
[redis]
url = "{url}"
cluster = {"true" if cluster else "false"}
state_dir = "{state}"
claim_idle_ms = 2000
[scale]
partitions = {partitions}
replica = "{name}"
lease_ttl_s = {ttl_s}
renew_every_s = {ttl_s / 6}
[http]
port = 0
[logging]
json = true
level = "{log_level}"
[alerts]
cooldown_s = 0
[history]
persist = false
[[sinks]]
kind = "webhook"
name = "hook"
url = {{ env = "{hook_env}" }}
signing_secrets = [{{ env = "{hook_env}_SECRET" }}]
retry = {{ initial_delay_s = 0.01, max_delay_s = 0.05 }}
""")
    return path


def market(call: tuple[float, float], ts_ns: int | None = None) -> list[Quote]:
    """Return the quotes that price the layer: VIX, its VX future, and the call at ``call``."""
    ts = ts_ns or time.time_ns()
    exp = layer_expiry(dt.datetime.now(dt.UTC).date())
    bid, ask = call
    return [
        Quote(sym="VIX", ts=ts, last=18.0),
        Quote(sym=symbols.future_symbol(exp), ts=ts, bid=18.9, ask=19.1),
        Quote(sym=layer_symbol(), ts=ts, bid=bid, ask=ask),
    ]
