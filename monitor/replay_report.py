"""The replay report: run a recorded session through the same rules on simulated time.

``vixmon replay FILE --report out.json [--markdown out.md]`` reads the recording with the replay
feed's ``read_groups``, applies each group of quotes to an ``Engine`` and evaluates it at the
group's event time (once per ``engine.cadence_ms`` of recorded time at most), then steps an
``AlertMachine`` with the config's cooldown and repeat interval. No Redis, no clock, no
randomness: event ids are sequential, so the same file and config give a byte-identical report.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo

import msgspec

from adapters.replay.feed import read_groups
from monitor.alerts import AlertMachine
from monitor.engine import Engine
from monitor.model import AlertEvent
from monitor.settings import Loaded

NEW_YORK = ZoneInfo("America/New_York")
NS = 1_000_000_000
Progress = Callable[[int, int], None]


class ProgressBar:
    """A one-line text progress bar on a stream (redrawn at most once per percent)."""

    def __init__(self, stream: IO[str] | None = None, width: int = 40) -> None:
        self._stream = stream or sys.stderr
        self._width = width
        self._shown = -1
        self._tty = self._stream.isatty()

    def __call__(self, done: int, total: int) -> None:
        pct = 100 if total <= 0 else min(100, done * 100 // total)
        # on a terminal redraw each percent; in a log, a line every 10% is enough
        if pct == self._shown or (not self._tty and pct % 10 and pct != 100):
            return
        self._shown = pct
        filled = self._width * pct // 100
        bar = "#" * filled + "-" * (self._width - filled)
        start, end = ("\r", "\n" if pct == 100 else "") if self._tty else ("", "\n")
        self._stream.write(f"{start}replay [{bar}] {pct:3d}% {done}/{total} groups{end}")
        self._stream.flush()


def _times(ts_ns: int) -> dict[str, str]:
    utc = dt.datetime.fromtimestamp(ts_ns / NS, dt.UTC)
    return {"time_utc": utc.isoformat(), "time_et": utc.astimezone(NEW_YORK).isoformat()}


def _event_doc(ev: AlertEvent) -> dict[str, Any]:
    doc: dict[str, Any] = msgspec.to_builtins(ev)
    return {"ts_ns": ev.ts_ns, **_times(ev.ts_ns), **{k: v for k, v in doc.items() if k != "ts_ns"}}


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def run(path: Path, loaded: Loaded, progress: Progress | None = None) -> dict[str, Any]:
    """Replay ``path`` against ``loaded``'s portfolio and rules; return the report document."""
    total = sum(1 for _ in read_groups(path))
    cfg = loaded.settings
    engine = Engine(cfg, loaded.portfolio, events=loaded.events)
    ids = iter(range(1, 1 << 62))
    machine = AlertMachine(
        cooldown_s=cfg.alerts.cooldown_s,
        repeat_interval_s=cfg.alerts.repeat_interval_s,
        new_id=lambda: f"evt_{next(ids):06d}",
    )
    cadence_ns = cfg.engine.cadence_ms * 1_000_000
    events: list[AlertEvent] = []
    quotes = bad = cycles = 0
    first_ns = last_ns = next_eval = 0
    for done, (ts, group, bad_lines) in enumerate(read_groups(path), start=1):
        bad += bad_lines
        if group:
            engine.ingest(group)
            quotes += len(group)
            first_ns = first_ns or ts
            last_ns = max(last_ns, ts)
        if group and ts >= next_eval:
            cycle = engine.evaluate(engine.market.latest_ts_ns)
            events += machine.step(cycle.signals, cycle.now_ns).events
            cycles += 1
            next_eval = ts + cadence_ns
        if progress is not None:
            progress(done, total)
    return _document(path, loaded, events, quotes, bad, cycles, total, first_ns, last_ns)


def _document(
    path: Path,
    loaded: Loaded,
    events: list[AlertEvent],
    quotes: int,
    bad: int,
    cycles: int,
    groups: int,
    first_ns: int,
    last_ns: int,
) -> dict[str, Any]:
    by_rule = Counter((e.rule, e.status) for e in events)
    return {
        "session": {
            "file": path.name,
            "sha256": _sha256(path),
            "config": loaded.config_path.name,
            "portfolio": loaded.portfolio_path.name,
            "start": {"ts_ns": first_ns, **_times(first_ns)} if first_ns else None,
            "end": {"ts_ns": last_ns, **_times(last_ns)} if last_ns else None,
            "groups": groups,
            "quotes": quotes,
            "bad_lines": bad,
            "cycles": cycles,
        },
        "counts": [{"rule": r, "status": s, "events": n} for (r, s), n in sorted(by_rule.items())],
        "alerts": [_event_doc(e) for e in events],
    }


def write_json(doc: dict[str, Any], out: Path) -> None:
    out.write_bytes(msgspec.json.format(msgspec.json.encode(doc), indent=2) + b"\n")


def _cell(text: str) -> str:
    """Escape a Markdown table cell (a pipe splits cells even inside backticks)."""
    return text.replace("|", "\\|")


def _ctx(ctx: dict[str, Any], key: str) -> str:
    value = ctx.get(key)
    return "n/a" if value is None else str(value)


def _num(x: Any, fmt: str = ",.2f") -> str:
    return "n/a" if x is None else format(float(x), fmt)


def _advisory_rows(a: dict[str, Any]) -> list[tuple[str, str, str]]:
    legs = " + ".join(f"{leg['quantity']} x 100 x {_num(leg['exit_price'])}" for leg in a["legs"])
    rows = [
        ("harvest proceeds", legs, f"${_num(a['harvest_proceeds_usd'])}"),
        (
            "harvestable gain",
            f"{_num(a['harvest_proceeds_usd'])} - {_num(a['entry_cost_usd'])}",
            f"${_num(a['harvestable_gain_usd'])}",
        ),
        (
            "recycle",
            f"{_num(a['harvestable_gain_usd'])} x {a['recycle_fraction']:g}",
            f"${_num(a['recycle_usd'])}",
        ),
    ]
    c = a.get("candidate")
    if c is not None:
        rows += [
            (
                "candidate",
                f"{c['symbol']}: {c['dte']} DTE, {c['strike']:g} / {c['future']:g} - 1 "
                f"= {c['otm_pct']:.2f}% OTM",
                f"ask {c['ask']:.2f}, net vega {c['vega_usd_per_contract']:.2f} per contract",
            ),
            (
                "affordable",
                f"floor({_num(a['recycle_usd'])} / ({c['ask']:.2f} x 100))",
                str(a["affordable_contracts"]),
            ),
            (
                "martingale cap",
                f"floor({a['martingale_coefficient']:g} x {a['contracts']})",
                str(a["max_next_layer_contracts"]),
            ),
            (
                "roll",
                f"min({a['affordable_contracts']}, {a['max_next_layer_contracts']})",
                f"{a['roll_contracts']} contracts, ${_num(a['roll_cost_usd'])}",
            ),
        ]
    rows += [
        ("net vega now", "book, USD per vol point", _num(a["vega_now_usd"], "+,.2f")),
        (
            "after harvest",
            f"{_num(a['vega_now_usd'], '+,.2f')} - ({_num(a['layer_vega_usd'], '+,.2f')})",
            _num(a["vega_after_harvest_usd"], "+,.2f"),
        ),
    ]
    if c is not None:
        rows += [
            (
                "after roll",
                f"{_num(a['vega_after_harvest_usd'], '+,.2f')} + {a['roll_contracts']} x "
                f"{c['vega_usd_per_contract']:.2f}",
                _num(a["vega_after_roll_usd"], "+,.2f"),
            ),
            (
                "restore baseline",
                f"ceil(({_num(a['vega_baseline_usd'], '+,.2f')} - "
                f"({_num(a['vega_after_harvest_usd'], '+,.2f')})) / "
                f"{c['vega_usd_per_contract']:.2f}), at least 0",
                f"{a['restore_contracts']} contracts",
            ),
        ]
    return rows


def markdown(doc: dict[str, Any]) -> str:
    """Render the report document as Markdown (a table of alerts, then each roll advisory)."""
    s = doc["session"]
    start = s["start"]["time_et"] if s["start"] else "n/a"
    end = s["end"]["time_et"] if s["end"] else "n/a"
    lines = [
        f"# vixmon replay report: {s['file']}",
        "",
        "| | |",
        "|---|---|",
        f"| file | `{s['file']}` (sha256 `{s['sha256'][:16]}…`) |",
        f"| config, portfolio | `{s['config']}`, `{s['portfolio']}` |",
        f"| recorded | {start} to {end} |",
        f"| quotes, groups, cycles | {s['quotes']}, {s['groups']}, {s['cycles']} |",
        "",
        f"## Alerts ({len(doc['alerts'])} events)",
        "",
        "| time (ET) | status | severity | key | summary |",
        "|---|---|---|---|---|",
    ]
    for a in doc["alerts"]:
        summary = _cell(a["summary"])
        lines.append(
            f"| {a['time_et'][11:19]} | {a['status']} | {a['severity']} | "
            f"`{_cell(a['key'])}` | {summary} |"
        )
    lines += ["", "## Roll advisories", ""]
    for a in doc["alerts"]:
        if a["rule"] != "layer_gain" or a["status"] == "resolved" or not a.get("advisory"):
            continue
        lines += [
            f"### {a['time_et'][11:19]} ET: `{_cell(a['key'])}`",
            "",
            f"{a['action']}",
            "",
            "| step | computation | value |",
            "|---|---|---|",
        ]
        lines += [f"| {k} | {c} | {v} |" for k, c, v in _advisory_rows(a["advisory"])]
        ctx = a.get("context") or {}
        lines += [
            "",
            f"Context: next event {_ctx(ctx, 'next_event')} "
            f"(in {_ctx(ctx, 'next_event_in_h')} h), VIX {_ctx(ctx, 'vix')}, "
            f"RSI {_ctx(ctx, 'vix_rsi')}, MACD histogram {_ctx(ctx, 'vix_macd_histogram')}, "
            f"VX contango {_ctx(ctx, 'vx_contango')}.",
            "",
        ]
    return "\n".join(lines) + "\n"


def main(
    loaded: Loaded,
    path: Path,
    *,
    report: Path | None,
    markdown_out: Path | None,
    progress: bool = True,
) -> int:
    """Run ``vixmon replay``: write the report(s); without any, print the Markdown."""
    if not path.is_file():
        print(f"replay: no such file {path}", file=sys.stderr)
        return 2
    doc = run(path, loaded, ProgressBar() if progress else None)
    if report is not None:
        write_json(doc, report)
    if markdown_out is not None:
        markdown_out.write_text(markdown(doc))
    if report is None and markdown_out is None:
        sys.stdout.write(markdown(doc))
    else:
        written = ", ".join(str(p) for p in (report, markdown_out) if p is not None)
        print(
            f"{len(doc['alerts'])} alert events over {doc['session']['cycles']} cycles; "
            f"wrote {written}"
        )
    return 0
