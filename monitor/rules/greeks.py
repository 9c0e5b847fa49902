"""Net Greeks and vega neutrality: per-book limits on the book's net dollar Greeks.

Per book, five keys (all "at or beyond" the limit; re-arm inside ``(1 - hysteresis) x limit``):
- ``delta``: |USD P&L per 1% SPX move| >= ``delta_1pct_usd``
- ``vega``: |USD per vol point| >= ``vega_usd``
- ``gamma``: |change of the 1% delta per further 1%| >= ``gamma_1pct_usd``
- ``theta``: USD per calendar day <= ``theta_min_usd``
- ``vega_drift``: |net vega - baseline vega| >= ``vega_drift_usd``; the baseline is the book's
  net vega at the session open (09:30 ET) and after every change of its positions.
Limits come from ``[rules.greeks.defaults]``, overridden per book by
``[rules.greeks.books.NAME]``. A book with a priced leg lacking a fresh mark is ``unknown``;
legs that cannot be priced at all are left out of the sums (``monitor.book``) and named by the
``data_quality`` rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from monitor.book import PortfolioIndex, PortfolioState
from monitor.model import Scalar
from monitor.rules import codes as C
from monitor.rules.base import Signal

if TYPE_CHECKING:
    from monitor.rules.context import RuleContext
    from monitor.settings import RulesConfig

RULE = "greeks"
SUBJECTS = ("delta", "vega", "gamma", "theta", "vega_drift")
_LIMIT_KEYS = ("delta_1pct_usd", "vega_usd", "gamma_1pct_usd", "theta_min_usd", "vega_drift_usd")
F64 = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Limits:
    """Per-book limit arrays (books x 5, in SUBJECTS order)."""

    table: F64


def limits(index: PortfolioIndex, cfg: RulesConfig) -> Limits:
    g = cfg.greeks
    rows = [[getattr(g.limits(b), k) for k in _LIMIT_KEYS] for b in index.book_names]
    return Limits(table=np.array(rows, np.float64).reshape(len(index.book_names), 5))


def book_stale(state: PortfolioState) -> NDArray[np.bool_]:
    """Return, per book, whether a priced leg's mark is stale (or no leg is priced).

    Unpriced legs are left out of the book's sums and named by ``data_quality``; they do not
    make the book's Greeks unknown.
    """
    return state.book_stale


def measures(state: PortfolioState, vega: F64, vega_baseline: F64) -> F64:
    """Return the measured values (books x 5): |delta|, |vega|, |gamma|, theta, |vega drift|."""
    return np.stack(
        [
            np.abs(state.book_delta_spx_1pct_usd),
            np.abs(vega),
            np.abs(state.book_gamma_spx_1pct_usd),
            state.book_theta_usd,
            np.abs(vega - vega_baseline),
        ],
        axis=1,
    )


def conditions(x: F64, lim: F64, hysteresis: float, stale: NDArray[np.bool_]) -> C.Codes:
    """Return codes (books x 5) for measured ``x`` against limits ``lim``."""
    unknown = np.repeat(stale[:, None], 5, axis=1)
    codes = C.levels_above(x, lim, lim * (1 - hysteresis), unknown)
    theta_lim = lim[:, 3]
    codes[:, 3] = C.levels_below(
        x[:, 3], theta_lim, theta_lim + np.abs(theta_lim) * hysteresis, stale
    )
    return codes


def evaluate(ctx: RuleContext, cfg: RulesConfig, now_ns: int) -> list[Signal]:
    del now_ns
    st = ctx.state
    idx = st.index
    lim = ctx.layouts.get("greeks:limits", idx, cfg, lambda: limits(idx, cfg)).table
    baseline = ctx.analysis.vega_baseline
    x = measures(st, ctx.analysis.net_vega.book, baseline)
    codes = conditions(x, lim, cfg.greeks.hysteresis, book_stale(st)).reshape(-1)
    layout = ctx.layouts.get(RULE, idx, cfg, lambda: _layout(idx.book_names))
    out = []
    for p in ctx.select(RULE, layout, codes).tolist():
        b, j = divmod(p, 5)
        code = int(codes[p])
        render = partial(_signal, ctx, b, j, code, float(lim[b, j]), cfg)
        out.append(
            C.lazy(
                RULE,
                layout.books[p],
                layout.subjects[p],
                code,
                cfg.greeks.severity,
                ctx.context,
                render,
            )
        )
    return out


def _layout(books: list[str]) -> C.Layout:
    return C.Layout.of(RULE, [b for b in books for _ in SUBJECTS], list(SUBJECTS) * len(books))


def _signal(ctx: RuleContext, b: int, j: int, code: int, limit: float, cfg: RulesConfig) -> Signal:
    st = ctx.state
    raw = {
        "delta_1pct_usd": float(st.book_delta_spx_1pct_usd[b]),
        "vega_usd": float(ctx.analysis.net_vega.book[b]),
        "gamma_1pct_usd": float(st.book_gamma_spx_1pct_usd[b]),
        "theta_usd": float(st.book_theta_usd[b]),
        "vega_baseline_usd": float(ctx.analysis.vega_baseline[b]),
    }
    vals: dict[str, Scalar] = {k: _r(v) for k, v in raw.items()}
    vals["limit"] = limit
    base = ctx.memory.vega.get(st.index.book_names[b])
    vals["vega_baseline_source"] = None if base is None else base.describe()
    return Signal(
        rule=RULE,
        book=st.index.book_names[b],
        subject=SUBJECTS[j],
        condition=C.CONDITIONS[code],
        severity=cfg.greeks.severity,
        summary=_summary(j, code, raw, limit)
        + (f"; baseline {vals['vega_baseline_source']}" if j == 4 and base is not None else ""),
        values=vals,
        action=_ACTIONS[j] if code == C.BREACH else None,
        context=ctx.context,
    )


_NAMES = {
    0: ("delta_1pct_usd", "net delta {v:+,.0f} USD per 1% SPX"),
    1: ("vega_usd", "net vega {v:+,.0f} USD per vol point"),
    2: ("gamma_1pct_usd", "net gamma {v:+,.0f} USD per 1% per 1%"),
    3: ("theta_usd", "net theta {v:+,.0f} USD per day"),
}

_ACTIONS = {
    0: "Re-centre the condor or trim the side carrying the delta.",
    1: "Net vega is outside its limit: resize the VIX-call layers before adding condor risk.",
    2: "Gamma is outside its limit: the condor's short strikes are close; consider rolling out.",
    3: "Theta is below its floor: the hedge costs more than the condor earns per day.",
    4: "Net vega left its baseline: harvest or roll layers to restore the book's vega.",
}


def _summary(j: int, code: int, raw: dict[str, float], limit: float) -> str:
    if code == C.UNKNOWN:
        return f"{SUBJECTS[j]} unknown: a leg lacks a fresh mark"
    if j == 4:
        vega, base = raw["vega_usd"], raw["vega_baseline_usd"]
        return (
            f"net vega {vega:+,.0f} USD drifted {vega - base:+,.0f} from baseline {base:+,.0f} "
            f"(tolerance {limit:,.0f})"
        )
    key, text = _NAMES[j]
    bound = f"floor {limit:+,.0f}" if j == 3 else f"limit {limit:,.0f}"
    return f"{text.format(v=raw[key])} ({bound})"


def _r(x: float) -> float | None:
    return None if np.isnan(x) else round(x, 2)
