"""``vixmon replay FILE --html OUT``: the session as one self-contained HTML page. [pure]

Charts are SVG drawn here, in Python: no script, no style sheet or font fetched, nothing but the
file. Over the session's timeline: each layer's gain with the thresholds; each condor's
hedge-inclusive break-evens against the forward's ±1σ/±2σ band; the VX contango; VIX with its
RSI and MACD histogram; each book's P&L since the session's first cycle. Every alert event is a
vertical mark where it fired (coloured by severity, its summary on hover) on the charts of its
rule, and every new roll plan a dashed mark on the layer chart; both are listed below.
"""

from __future__ import annotations

import datetime as dt
import html
import math
from collections.abc import Iterable, Sequence
from typing import Any

W, H = 960, 220
M = {"l": 70, "r": 16, "t": 12, "b": 26}
COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf")
SEVERITY = {"critical": "#d62728", "warning": "#ff7f0e", "info": "#1f77b4"}
RULES_OF = {
    "layers": ("layer_gain", "roll", "sizing"),
    "breakevens": ("breakeven",),
    "contango": ("term_structure",),
    "vix": ("momentum",),
    "pnl": ("stress", "margin", "greeks", "vega"),
}
NS = 1_000_000_000


class Scale:
    def __init__(self, d0: float, d1: float, r0: float, r1: float) -> None:
        self.d0, self.d1, self.r0, self.r1 = d0, d1, r0, r1

    def __call__(self, x: float) -> float:
        span = (self.d1 - self.d0) or 1.0
        return self.r0 + (x - self.d0) * (self.r1 - self.r0) / span


def _esc(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _time(ts_ns: int) -> str:
    return dt.datetime.fromtimestamp(ts_ns / NS, dt.UTC).strftime("%H:%M:%S")


def _range(values: Iterable[float | None], *, include: Sequence[float] = ()) -> tuple[float, float]:
    vals = [v for v in values if v is not None and math.isfinite(v)] + list(include)
    if not vals:
        return 0.0, 1.0
    lo, hi = min(vals), max(vals)
    pad = (hi - lo) * 0.06 or abs(hi) * 0.05 or 1.0
    return lo - pad, hi + pad


def _path(points: Sequence[tuple[float, float | None]], x: Scale, y: Scale) -> str:
    out, pen = [], False
    for t, v in points:
        if v is None or not math.isfinite(v):
            pen = False
            continue
        out.append(f"{'L' if pen else 'M'}{x(t):.1f},{y(v):.1f}")
        pen = True
    return "".join(out)


class Chart:
    """One SVG panel over the session's time axis."""

    def __init__(self, t0: int, t1: int, lo: float, hi: float, label: str, fmt: str) -> None:
        self.x = Scale(t0, t1, M["l"], W - M["r"])
        self.y = Scale(lo, hi, H - M["b"], M["t"])
        self.lo, self.hi, self.fmt = lo, hi, fmt
        self.parts: list[str] = []
        self.label = label
        self._axes(t0, t1)

    def _axes(self, t0: int, t1: int) -> None:
        for i in range(5):
            v = self.lo + (self.hi - self.lo) * i / 4
            y = self.y(v)
            self.parts.append(f'<line x1="{M["l"]}" x2="{W - M["r"]}" y1="{y:.1f}" y2="{y:.1f}" '
                              f'stroke="#e5e5e5"/><text x="{M["l"] - 6}" y="{y + 4:.1f}" '
                              f'text-anchor="end">{_esc(format(v, self.fmt))}</text>')  # fmt: skip
        for i in range(6):
            t = t0 + (t1 - t0) * i / 5
            self.parts.append(f'<text x="{self.x(t):.1f}" y="{H - 8}" text-anchor="middle">'
                              f"{_time(round(t))}</text>")  # fmt: skip

    def line(self, points: Sequence[tuple[float, float | None]], color: str, name: str,
             *, width: float = 1.6, dash: str = "") -> None:  # fmt: skip
        d = _path(points, self.x, self.y)
        if d:
            extra = f' stroke-dasharray="{dash}"' if dash else ""
            self.parts.append(f'<path d="{d}" fill="none" stroke="{color}" stroke-width="{width}"'
                              f'{extra}><title>{_esc(name)}</title></path>')  # fmt: skip

    def hline(self, v: float, color: str, name: str) -> None:
        if self.lo <= v <= self.hi:
            y = self.y(v)
            self.parts.append(f'<line x1="{M["l"]}" x2="{W - M["r"]}" y1="{y:.1f}" y2="{y:.1f}" '
                              f'stroke="{color}" stroke-dasharray="6 4"><title>{_esc(name)}'
                              "</title></line>")  # fmt: skip

    def band(self, ts: Sequence[int], lo: Sequence[float | None], hi: Sequence[float | None],
             fill: str) -> None:  # fmt: skip
        pts = [(t, a, b) for t, a, b in zip(ts, lo, hi, strict=True)
               if a is not None and b is not None]  # fmt: skip
        if len(pts) < 2:
            return
        top = " ".join(f"{self.x(t):.1f},{self.y(b):.1f}" for t, _a, b in pts)
        bottom = " ".join(f"{self.x(t):.1f},{self.y(a):.1f}" for t, a, _b in reversed(pts))
        self.parts.append(f'<polygon points="{top} {bottom}" fill="{fill}" stroke="none"/>')

    def bars(self, points: Sequence[tuple[int, float | None]], name: str) -> None:
        zero = self.y(0.0)
        width = max(1.0, (W - M["l"] - M["r"]) / max(len(points), 1) * 0.8)
        for t, v in points:
            if v is None:
                continue
            y = self.y(v)
            color = "#2ca02c" if v >= 0 else "#d62728"
            self.parts.append(f'<rect x="{self.x(t) - width / 2:.1f}" y="{min(y, zero):.1f}" '
                              f'width="{width:.1f}" height="{abs(zero - y):.1f}" fill="{color}"/>')
        self.parts.append(f"<title>{_esc(name)}</title>")

    def mark(self, ts_ns: int, color: str, title: str, *, kind: str, dash: str = "") -> None:
        x = self.x(ts_ns)
        extra = f' stroke-dasharray="{dash}"' if dash else ""
        self.parts.append(f'<line class="mark" data-kind="{kind}" data-ts-ns="{ts_ns}" '
                          f'x1="{x:.1f}" x2="{x:.1f}" y1="{M["t"]}" y2="{H - M["b"]}" '
                          f'stroke="{color}" stroke-width="1.5"{extra}><title>{_esc(title)}'
                          "</title></line>")  # fmt: skip

    def svg(self, chart_id: str) -> str:
        return (f'<figure><figcaption>{_esc(self.label)}</figcaption><svg id="{chart_id}" '
                f'viewBox="0 0 {W} {H}" width="100%" role="img" xmlns="http://www.w3.org/2000/svg"'
                f' font-family="sans-serif" font-size="11">{"".join(self.parts)}</svg></figure>')


def _series(samples: Sequence[dict[str, Any]], *keys: str) -> list[tuple[int, float | None]]:
    out = []
    for s in samples:
        v: Any = s
        for k in keys:
            v = v.get(k) if isinstance(v, dict) else None
        out.append((int(s["ts_ns"]), v if isinstance(v, (int, float)) else None))
    return out


def _plan_ts(plan: dict[str, Any]) -> int | None:
    text = plan.get("time_utc")
    if not text:
        return None
    return round(dt.datetime.fromisoformat(str(text)).timestamp() * NS)


def _marks(chart: Chart, section: str, alerts: Sequence[dict[str, Any]],
           plans: Sequence[dict[str, Any]]) -> None:  # fmt: skip
    rules = RULES_OF[section]
    for a in alerts:
        if a.get("status") == "firing" and a.get("rule") in rules:
            color = SEVERITY.get(str(a.get("severity")), "#555")
            chart.mark(int(a["ts_ns"]), color, f"{_time(int(a['ts_ns']))} {a.get('summary')}",
                       kind="alert")  # fmt: skip
    if section == "layers":
        for p in plans:
            ts = _plan_ts(p)
            if ts is not None:
                chart.mark(ts, "#555", f"plan: {p.get('action_text', '')}", kind="plan", dash="3 3")


def _layers(samples: Sequence[dict[str, Any]], thresholds: Sequence[float], t: tuple[int, int],
            alerts: Sequence[dict[str, Any]], plans: Sequence[dict[str, Any]]) -> str:  # fmt: skip
    names = sorted({k for s in samples for k in s.get("layers", {})})
    series = {n: _series(samples, "layers", n) for n in names}
    lo, hi = _range((v for pts in series.values() for _t, v in pts), include=[0.0, *thresholds])
    chart = Chart(t[0], t[1], lo * 100, hi * 100, "Layer gain (%) and thresholds", ".0f")
    for th in thresholds:
        chart.hline(th * 100, "#ff7f0e", f"threshold {th:.0%}")
    for i, n in enumerate(names):
        pts = [(ts, None if v is None else v * 100) for ts, v in series[n]]
        chart.line(pts, COLORS[i % len(COLORS)], f"{n} gain")
    _marks(chart, "layers", alerts, plans)
    return chart.svg("layers") + _legend(names)


def _breakevens(samples: Sequence[dict[str, Any]], t: tuple[int, int],
                alerts: Sequence[dict[str, Any]]) -> str:  # fmt: skip
    out = []
    names = sorted({k for s in samples for k in s.get("condors", {})})
    for n in names:
        ts = [int(s["ts_ns"]) for s in samples]
        rows = [s.get("condors", {}).get(n, {}) for s in samples]
        fwd = [r.get("forward") for r in rows]
        move = [r.get("move") for r in rows]

        def band(k: float, fwd: list[Any] = fwd, move: list[Any] = move) -> list[float | None]:
            return [None if f is None or m is None else f + k * m for f, m in zip(fwd, move,
                                                                                 strict=True)]

        lower, upper = [r.get("lower") for r in rows], [r.get("upper") for r in rows]
        lo, hi = _range([*band(-2), *band(2), *lower, *upper])
        chart = Chart(t[0], t[1], lo, hi, f"{n}: break-evens (hedge included) against the ±1σ "
                      "and ±2σ expected move around the forward", ",.0f")  # fmt: skip
        chart.band(ts, band(-2), band(2), "rgba(31,119,180,0.08)")
        chart.band(ts, band(-1), band(1), "rgba(31,119,180,0.18)")
        chart.line(list(zip(ts, fwd, strict=True)), "#ff7f0e", "forward", dash="4 3")
        chart.line(list(zip(ts, lower, strict=True)), "#d62728", "lower break-even", width=2)
        chart.line(list(zip(ts, upper, strict=True)), "#d62728", "upper break-even", width=2)
        _marks(chart, "breakevens", alerts, [])
        out.append(chart.svg("breakevens-" + n.replace("/", "-")))
    return "".join(out)


def _simple(samples: Sequence[dict[str, Any]], t: tuple[int, int], keys: tuple[str, str],
            label: str, fmt: str, section: str, alerts: Sequence[dict[str, Any]],
            scale: float = 1.0, lines: Sequence[float] = ()) -> str:  # fmt: skip
    pts = [(ts, None if v is None else v * scale) for ts, v in _series(samples, *keys)]
    lo, hi = _range((v for _t, v in pts), include=list(lines))
    chart = Chart(t[0], t[1], lo, hi, label, fmt)
    for v in lines:
        chart.hline(v, "#999", f"{v:g}")
    chart.line(pts, COLORS[0], label)
    _marks(chart, section, alerts, [])
    return chart.svg(keys[-1])


def _macd(samples: Sequence[dict[str, Any]], t: tuple[int, int]) -> str:
    pts = _series(samples, "momentum", "macd_histogram")
    lo, hi = _range((v for _t, v in pts), include=[0.0])
    chart = Chart(t[0], t[1], lo, hi, "VIX MACD histogram", ".3f")
    chart.bars(pts, "MACD histogram")
    return chart.svg("macd")


def _pnl(samples: Sequence[dict[str, Any]], t: tuple[int, int],
         alerts: Sequence[dict[str, Any]]) -> tuple[str, dict[str, float | None]]:  # fmt: skip
    names = sorted({k for s in samples for k in s.get("books", {})})
    series, totals = {}, {}
    for n in names:
        raw = _series(samples, "books", n)
        first = next((v for _t, v in raw if v is not None), None)
        series[n] = [(ts, None if v is None or first is None else v - first) for ts, v in raw]
        last = next((v for _t, v in reversed(series[n]) if v is not None), None)
        totals[n] = last
    lo, hi = _range((v for pts in series.values() for _t, v in pts), include=[0.0])
    chart = Chart(t[0], t[1], lo, hi, "Session P&L per book (USD, change of book value)", ",.0f")
    chart.hline(0.0, "#999", "0")
    for i, n in enumerate(names):
        chart.line(series[n], COLORS[i % len(COLORS)], f"{n} P&L", width=2)
    _marks(chart, "pnl", alerts, [])
    return chart.svg("pnl") + _legend(names), totals


def _legend(names: Sequence[str]) -> str:
    items = "".join(f'<span><i style="background:{COLORS[i % len(COLORS)]}"></i>{_esc(n)}</span>'
                    for i, n in enumerate(names))  # fmt: skip
    return f'<p class="legend">{items}</p>'


def _table(alerts: Sequence[dict[str, Any]], plans: Sequence[dict[str, Any]]) -> str:
    rows = [(int(a["ts_ns"]), a.get("status", ""), a.get("severity", ""), a.get("summary", ""))
            for a in alerts]  # fmt: skip
    rows += [(ts, "plan", "", p.get("action_text", "")) for p in plans
             if (ts := _plan_ts(p)) is not None]  # fmt: skip
    body = "".join(
        f'<tr class="sev-{_esc(sev)}"><td>{_time(ts)}</td><td>{_esc(status)}</td>'
        f"<td>{_esc(sev)}</td><td>{_esc(text)}</td></tr>"
        for ts, status, sev, text in sorted(rows, key=lambda r: r[0])
    )
    return ("<table><tr><th>time (UTC)</th><th>event</th><th>severity</th><th>summary</th></tr>"
            f"{body}</table>")  # fmt: skip


CSS = """body{font:14px/1.4 system-ui,sans-serif;margin:1.5rem auto;max-width:1000px;color:#222}
figure{margin:1rem 0}figcaption{font-weight:600;margin-bottom:.2rem}svg text{fill:#555}
.legend span{margin-right:1rem}.legend i{display:inline-block;width:14px;height:3px;
vertical-align:middle;margin-right:4px}table{border-collapse:collapse;width:100%}
td,th{border-bottom:1px solid #ddd;padding:.2rem .4rem;text-align:left;vertical-align:top}
.sev-critical td{color:#b00}.sev-warning td{color:#a60}.summary td:last-child{text-align:right}"""


def render(doc: dict[str, Any], samples: Sequence[dict[str, Any]],
           thresholds: Sequence[float]) -> str:  # fmt: skip
    """Return the report page for a replay document and its timeline."""
    session = doc.get("session", {})
    alerts, plans = doc.get("alerts", []), doc.get("plans", [])
    if not samples:
        t: tuple[int, int] = (0, 1)
    else:
        t = (int(samples[0]["ts_ns"]), int(samples[-1]["ts_ns"]))
    pnl_svg, totals = _pnl(samples, t, alerts)
    totals_rows = "".join(
        f"<tr><td>{_esc(n)}</td><td>{'—' if v is None else f'{v:+,.2f} USD'}</td></tr>"
        for n, v in totals.items()
    )
    firing = sum(1 for a in alerts if a.get("status") == "firing")
    parts = [
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">",
        f"<title>vixmon replay — {_esc(session.get('file', ''))}</title><style>{CSS}</style>",
        "</head><body>",
        f"<h1>Replay of {_esc(session.get('file', ''))}</h1>",
        f"<p>{_esc((session.get('start') or {}).get('time_utc', ''))} → "
        f"{_esc((session.get('end') or {}).get('time_utc', ''))} · {session.get('quotes', 0):,} "
        f"quotes, {session.get('cycles', 0):,} cycles · {firing} alerts fired, {len(plans)} "
        f"plans · config {_esc(session.get('config', ''))}, portfolio "
        f"{_esc(session.get('portfolio', ''))}</p>",
        f'<h2>Session P&amp;L</h2><table class="summary">{totals_rows}</table>',
        pnl_svg,
        "<h2>Layers</h2>", _layers(samples, thresholds, t, alerts, plans),
        "<h2>Break-evens</h2>", _breakevens(samples, t, alerts),
        "<h2>VX curve</h2>",
        _simple(samples, t, ("curve", "contango"), "Contango M2/M1 − 1 (%)", ".2f", "contango",
                alerts, scale=100.0, lines=[0.0]),
        "<h2>VIX</h2>",
        _simple(samples, t, ("curve", "vix"), "VIX", ".2f", "vix", alerts),
        _simple(samples, t, ("momentum", "rsi"), "VIX RSI", ".0f", "vix", alerts,
                lines=[30.0, 70.0]),
        _macd(samples, t),
        "<h2>Alerts and plans</h2>", _table(alerts, plans),
        "</body></html>\n",
    ]  # fmt: skip
    return "".join(parts)
