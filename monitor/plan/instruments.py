"""The live roll instruments: in-band VIX calls, or call spreads for the conversion variant.

Long legs are the roll candidates of ``monitor.rules.roll`` (DTE window, OTM band against the
VX future of the same expiry, fresh two-sided quote), bought at the ask. A spread sells a higher
strike of the same expiry at its bid; its net vega per unit is the long's minus the short's, so
the short strike is what tunes the vega the plan adds per dollar: every quoted higher strike is
offered and the search picks the one that restores the baseline.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from monitor.market import MarketState
from monitor.plan.model import PlanLeg, RollInstrument
from monitor.pricing.valuation import Valuation
from monitor.rules.roll import Candidate, Chain
from monitor.rules.vega import per_contract

MAX_LONGS = 8


def calls(cands: Sequence[Candidate]) -> list[RollInstrument]:
    """Return one instrument per candidate call, ranked as the candidates are."""
    return [
        RollInstrument(
            legs=(PlanLeg(c.symbol, 1, c.ask, _mid(c.bid, c.ask), c.vega_usd),),
            expiry=c.expiry,
            dte=c.dte,
            strike=c.strike,
            short_strike=None,
            future=c.future,
            otm=c.otm,
            in_band=c.in_band,
            rank=r,
        )
        for r, c in enumerate(cands[:MAX_LONGS])
    ]


def spreads(
    cands: Sequence[Candidate],
    ch: Chain,
    market: MarketState,
    val: Valuation,
    now_ns: int,
    max_age_ns: int,
) -> list[RollInstrument]:
    """Return every (candidate long, higher quoted strike of its expiry) call spread."""
    out: list[RollInstrument] = []
    vega = per_contract(val, ch.rows) if len(ch.rows) else np.zeros(0)
    for r, c in enumerate(cands[:MAX_LONGS]):
        long = PlanLeg(c.symbol, 1, c.ask, _mid(c.bid, c.ask), c.vega_usd)
        same = (ch.expiry_ordinal == c.expiry.toordinal()) & (ch.strike > c.strike)
        for j in np.flatnonzero(same).tolist():
            row = int(ch.rows[j])
            bid, ask = float(market.bid[row]), float(market.ask[row])
            fresh = now_ns - int(market.ts_ns[row]) <= max_age_ns
            if not (fresh and bid > 0 and ask >= bid and math.isfinite(float(vega[j]))):
                continue
            short = PlanLeg(
                market.instruments[row].symbol, -1, bid, _mid(bid, ask), -float(vega[j])
            )
            out.append(
                RollInstrument(
                    legs=(long, short),
                    expiry=c.expiry,
                    dte=c.dte,
                    strike=c.strike,
                    short_strike=float(ch.strike[j]),
                    future=c.future,
                    otm=c.otm,
                    in_band=c.in_band,
                    rank=r,
                )
            )
    return out


def _mid(bid: float, ask: float) -> float:
    return (bid + ask) / 2 if bid >= 0 and ask >= bid else ask
