"""Roll candidates: the live VIX calls the roll plan may buy (``monitor.plan``).

A candidate is a live VIX call (fresh quote, an ask, a positive net vega) with
``dte_min <= DTE <= dte_max`` and ``otm_min <= K / F - 1 <= otm_max``, F the VX future of its
expiry (the forward the pricing core uses), ranked by its distance from the middle of both
windows. Its net vega per contract is its delta to that future x 100 (``monitor.rules.vega``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from monitor import symbols
from monitor.market import MarketState
from monitor.pricing.valuation import Valuation
from monitor.rules.config import RollConfig
from monitor.rules.vega import per_contract

NS = 1_000_000_000
F64 = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Chain:
    """The call options of the roll roots (built per market instrument set)."""

    rows: NDArray[np.int64]
    expiry_ordinal: NDArray[np.int64]
    strike: F64


def chain(market: MarketState, roots: list[str]) -> Chain:
    picked = [
        (r, i)
        for r, i in enumerate(market.instruments)
        if i.kind is symbols.Kind.OPTION
        and i.right > 0
        and i.root in roots
        and i.expiry is not None
    ]
    return Chain(
        rows=np.array([r for r, _ in picked], np.int64),
        expiry_ordinal=np.array([i.expiry.toordinal() for _, i in picked if i.expiry], np.int64),
        strike=np.array([i.strike for _, i in picked], np.float64),
    )


@dataclass(frozen=True, slots=True)
class Candidate:
    symbol: str
    expiry: dt.date
    dte: int
    strike: float
    future: float
    otm: float
    bid: float
    ask: float
    iv: float
    vega_usd: float
    """Net vega per contract: USD per VX point (delta to its future x 100)."""
    in_band: bool = True
    """False: no listed strike is in the OTM band; this is the nearest one."""

    def doc(self) -> dict[str, Any]:
        return {
            "symbol": self.symbol,
            "expiry": self.expiry.isoformat(),
            "dte": self.dte,
            "strike": self.strike,
            "future": round(self.future, 3),
            "otm_pct": round(self.otm * 100, 2),
            "bid": self.bid,
            "ask": self.ask,
            "iv": round(self.iv, 4),
            "vega_usd_per_contract": round(self.vega_usd, 2),
            "in_band": self.in_band,
        }


def candidates(
    ch: Chain,
    market: MarketState,
    val: Valuation,
    today: dt.date,
    now_ns: int,
    cfg: RollConfig,
    *,
    max_age_ns: int,
    stale: bool,
    limit: int | None = None,
) -> list[Candidate]:
    """Return the live roll candidates, best first (at most ``limit``, default
    ``max_candidates``).

    Candidates in the OTM band rank by distance from the middle of both windows. VIX strikes are
    a point apart, so the band (0.8 to 1.2 points at a future of 20) can hold no listed strike;
    then the strikes nearest to it, within ``otm_slack``, are offered, flagged ``in_band=False``.
    """
    if stale or not len(ch.rows):
        return []
    r = ch.rows
    dte = ch.expiry_ordinal - today.toordinal()
    fwd, ask, vega = val.forward[r], market.ask[r], per_contract(val, r)
    with np.errstate(invalid="ignore", divide="ignore"):
        otm = ch.strike / fwd - 1.0
        live = (
            (dte >= cfg.dte_min)
            & (dte <= cfg.dte_max)
            & (ask > 0)
            & (vega > 0)
            & (now_ns - market.ts_ns[r] <= max_age_ns)
        )
        off = np.maximum(cfg.otm_min - otm, otm - cfg.otm_max)  # <= 0 inside the band
    in_band = live & (off <= 1e-12)
    picks = np.flatnonzero(in_band if in_band.any() else live & (off <= cfg.otm_slack))
    mid_otm, half_otm = (cfg.otm_min + cfg.otm_max) / 2, max((cfg.otm_max - cfg.otm_min) / 2, 1e-9)
    mid_dte, half_dte = (cfg.dte_min + cfg.dte_max) / 2, max((cfg.dte_max - cfg.dte_min) / 2, 1e-9)
    score = np.abs(otm[picks] - mid_otm) / half_otm + np.abs(dte[picks] - mid_dte) / half_dte
    gap = np.maximum(off[picks], 0.0)
    order = sorted(
        range(len(picks)),
        key=lambda j: (float(gap[j]), float(score[j]), market.instruments[int(r[picks[j]])].symbol),
    )
    return [
        _candidate(
            market,
            val,
            int(r[picks[j]]),
            int(dte[picks[j]]),
            float(fwd[picks[j]]),
            float(otm[picks[j]]),
            float(vega[picks[j]]),
            bool(in_band[picks[j]]),
        )
        for j in order[: cfg.max_candidates if limit is None else limit]
    ]


def _candidate(
    market: MarketState,
    val: Valuation,
    row: int,
    dte: int,
    fwd: float,
    otm: float,
    vega: float,
    in_band: bool,
) -> Candidate:
    inst = market.instruments[row]
    assert inst.expiry is not None
    return Candidate(
        symbol=inst.symbol,
        expiry=inst.expiry,
        dte=dte,
        strike=inst.strike,
        future=fwd,
        otm=otm,
        bid=float(market.bid[row]),
        ask=float(market.ask[row]),
        iv=float(val.iv_mid[row]),
        vega_usd=vega,
        in_band=in_band,
    )
