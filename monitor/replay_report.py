"""The replay report: run a recorded session through the same rules on simulated time.

``vixmon replay FILE --report out.json [--markdown out.md]`` reads the recording with the replay
feed's ``read_groups``, applies each group of quotes to an ``Engine`` and evaluates it at the
group's event time (once per ``engine.cadence_ms`` of recorded time at most), then steps an
``AlertMachine`` with the config's cooldown and repeat interval. No Redis, no clock, no
randomness: event ids are sequential, so the same file and config give a byte-identical report.

Every roll plan (``monitor.plan``) is reported with its inputs: for each book with a firing layer,
the plan of the first cycle and of every cycle whose decision (harvest, roll, quantity, binding,
timing) differs from the book's previous one.
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
from monitor.engine import Cycle, Engine
from monitor.model import AlertEvent
from monitor.settings import Loaded
from monitor.web import report as html_report
from monitor.web.timeline import sample

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


def run(
    path: Path,
    loaded: Loaded,
    progress: Progress | None = None,
    timeline: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Replay ``path`` against ``loaded``'s portfolio and rules; return the report document.

    ``timeline``: appended one point per evaluated cycle (``monitor.web.timeline``).
    """
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
    plans: list[dict[str, Any]] = []
    last_plan: dict[str, tuple[Any, ...]] = {}
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
            plans += _new_plans(cycle, last_plan)
            if timeline is not None:
                timeline.append(sample(cycle, cfg))
            cycles += 1
            next_eval = ts + cadence_ns
        if progress is not None:
            progress(done, total)
    doc = _document(path, loaded, events, quotes, bad, cycles, total, first_ns, last_ns)
    doc["plans"] = plans
    return doc


def _decision(plan: dict[str, Any]) -> tuple[Any, ...]:
    harvest = tuple((h["layer"], h["units_harvested"]) for h in plan["harvest"])
    roll = plan["roll"]["label"] if plan["roll"] else None
    return harvest, roll, plan["roll_contracts"], plan["binding"], plan["action"]


def _new_plans(cycle: Cycle, last: dict[str, tuple[Any, ...]]) -> list[dict[str, Any]]:
    """Return the plans of this cycle whose decision changed since the book's previous one."""
    plans = cycle.rules.analysis.plans if cycle.rules is not None else None
    if plans is None:
        return []
    out = []
    for book in cycle.state.index.book_names:
        p = plans.get(book)
        if p is None:
            last.pop(book, None)
            continue
        key = _decision(p.doc)
        if last.get(book) != key:
            last[book] = key
            out.append({**_times(cycle.now_ns), "action_text": p.action, **p.doc})
    return out


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
            "portfolio": loaded.portfolio_path.name if loaded.portfolio_path else None,
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


def _num(x: Any, fmt: str = ",.2f") -> str:
    return "n/a" if x is None else format(float(x), fmt)


def _plan_rows(p: dict[str, Any]) -> list[tuple[str, str, str]]:
    """The plan's inputs and how each number follows from them."""
    rows = [("harvest mode", p["harvest_rule"], p["harvest_mode"])]
    for h in p["harvest"]:
        legs = " + ".join(
            f"{leg['quantity']} x 100 x {_num(leg['price'])}" for leg in h["legs"]
        )
        rows.append(
            (
                f"harvest {h['layer']}",
                f"{h['units_harvested']} of {h['units']} units (gain {h['gain_ratio']:+.0%}): "
                f"{legs or 'nothing'} - entry {_num(h['entry_cost_usd'])}",
                f"gain ${_num(h['gain_usd'])}, vega {_num(h['vega_usd'], '+,.2f')}",
            )
        )
    lo, hi = p["recycle_band"]
    rows.append(
        (
            "budget",
            f"{hi:g} x gain {_num(p['harvested_gain_usd'])} (band {lo:g}-{hi:g})",
            f"${_num(p['budget_usd'])}",
        )
    )
    rows.append(
        (
            "martingale cap",
            f"floor({p['martingale_coefficient']:g} x harvested contracts)",
            str(p["martingale_cap_contracts"]),
        )
    )
    r = p["roll"]
    if r is not None:
        rows.append(
            (
                "roll instrument",
                f"{r['label']}: {r['dte']} DTE, {r['strike']:g} / {r['future']:g} - 1 = "
                f"{r['otm_pct']:.2f}% OTM; best of {p['candidates_considered']} live",
                f"${_num(r['cost_usd_per_unit'])} and vega "
                f"{_num(r['vega_usd_per_unit'], '+,.2f')} per unit",
            )
        )
        rows.append(
            (
                "roll",
                f"{p['roll_contracts']} x ${_num(r['cost_usd_per_unit'])} (affordable "
                f"{p['affordable_contracts']}, cap {p['martingale_cap_contracts']})",
                f"${_num(p['roll_cost_usd'])}, {p['recycle_fraction_used']:.0%} of the gain",
            )
        )
    rows += [
        ("net vega now", p["vega_unit"], _num(p["vega_now_usd"], "+,.2f")),
        ("after harvest", "now - harvested vega", _num(p["vega_after_harvest_usd"], "+,.2f")),
        ("after roll", "after harvest + roll vega", _num(p["vega_after_roll_usd"], "+,.2f")),
        ("baseline", p["vega_baseline_source"], _num(p["vega_baseline_usd"], "+,.2f")),
        (
            "binding",
            "what decided the size",
            f"{p['binding']} (residual {_num(p['residual_vega_usd'], '+,.2f')})",
        ),
    ]
    rows += [
        (f"precondition: {c['name']}", c["value"], str(c["holds"])) for c in p["preconditions"]
    ]
    return rows


def markdown(doc: dict[str, Any]) -> str:
    """Render the report document as Markdown (a table of alerts, then each roll plan)."""
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
    lines += ["", f"## Roll plans ({len(doc.get('plans', []))})", ""]
    for p in doc.get("plans", []):
        lines += [
            f"### {p['time_et'][11:19]} ET: book `{_cell(p['book'])}`",
            "",
            _cell(p["action_text"]),
            "",
            "| step | computation | value |",
            "|---|---|---|",
        ]
        lines += [f"| {k} | {_cell(c)} | {_cell(v)} |" for k, c, v in _plan_rows(p)]
        lines.append("")
    return "\n".join(lines) + "\n"


def main(
    loaded: Loaded,
    path: Path,
    *,
    report: Path | None,
    markdown_out: Path | None,
    progress: bool = True,
    html_out: Path | None = None,
) -> int:
    """Run ``vixmon replay``: write the report(s); without any, print the Markdown."""
    if not path.is_file():
        print(f"replay: no such file {path}", file=sys.stderr)
        return 2
    timeline: list[dict[str, Any]] | None = [] if html_out is not None else None
    doc = run(path, loaded, ProgressBar() if progress else None, timeline)
    if report is not None:
        write_json(doc, report)
    if markdown_out is not None:
        markdown_out.write_text(markdown(doc))
    if html_out is not None:
        thresholds = loaded.settings.rules.layer_gain.thresholds
        html_out.write_text(html_report.render(doc, timeline or [], thresholds))
    outputs = (report, markdown_out, html_out)
    if all(p is None for p in outputs):
        sys.stdout.write(markdown(doc))
    else:
        written = ", ".join(str(p) for p in outputs if p is not None)
        print(
            f"{len(doc['alerts'])} alert events over {doc['session']['cycles']} cycles; "
            f"wrote {written}"
        )
    return 0
