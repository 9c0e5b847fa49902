"""A synthetic but internally consistent market (pure: no I/O, time passed in).

- SPX follows a stochastic-volatility path (log-OU volatility, leverage correlation) with jumps;
  a scheduled shock (SPX gaps down, volatility jumps) makes short-dated VIX calls pop.
- VIX is the 30-day implied level of that volatility; VX futures mean-revert toward a long-run
  level along the curve (contango when VIX is low, backwardation after a spike); VIX3M and VIX9D
  follow the same curve.
- SPX/SPXW options are priced with Black-76 on the carry forward with a downside skew; VIX/VIXW
  options with Black-76 on the VX future of their expiry with upside skew and vol-of-vol that
  rises in a spike. Quotes get tick-rounded spreads.
Prices come from ``monitor.pricing.black``, the same code the engine prices with.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from monitor import symbols
from monitor.model import Quote
from monitor.pricing import black
from monitor.pricing.expiry import settlement_ns, year_fraction

YEAR_S = 365.0 * 24 * 3600


@dataclass(slots=True)
class MarketParams:
    spx0: float = 6000.0
    vol0: float = 0.14
    vol_long: float = 0.17
    vol_kappa: float = 4.0
    vol_of_vol: float = 0.9
    rho: float = -0.7
    rate: float = 0.04
    dividend_yield: float = 0.013
    jump_intensity_per_year: float = 3.0
    vx_long: float = 20.0
    vx_kappa: float = 2.5
    spike_spx_gap: float = -0.022
    spike_vol_mult: float = 1.38


class SimMarket:
    def __init__(
        self, seed: int, start_ns: int, spike_at_ns: int | None, params: MarketParams | None = None
    ) -> None:
        self.p = params or MarketParams()
        self.rng = np.random.default_rng(seed)
        self.now_ns = start_ns
        self.spike_at_ns = spike_at_ns
        self.spx = self.p.spx0
        self.vol = self.p.vol0
        self.stress = 0.0
        """Extra vol-of-vol for VIX options after a shock, decaying."""

    def step(self, dt_s: float) -> None:
        """Advance the state by ``dt_s`` seconds."""
        p, dt_y = self.p, dt_s / YEAR_S
        z1, z2 = self.rng.standard_normal(2)
        w2 = p.rho * z1 + math.sqrt(1 - p.rho**2) * z2
        self.vol *= math.exp(
            p.vol_kappa * math.log(p.vol_long / self.vol) * dt_y
            + p.vol_of_vol * math.sqrt(dt_y) * w2
        )
        ret = (p.rate - p.dividend_yield - 0.5 * self.vol**2) * dt_y
        ret += self.vol * math.sqrt(dt_y) * z1
        if self.rng.random() < p.jump_intensity_per_year * dt_y:
            ret += self.rng.normal(-0.01, 0.005)
            self.vol *= 1.15
        self.now_ns += round(dt_s * 1e9)
        if self.spike_at_ns is not None and self.now_ns >= self.spike_at_ns:
            self.spike_at_ns = None
            ret += p.spike_spx_gap
            self.vol *= p.spike_vol_mult
            self.stress = 0.35
        self.stress *= math.exp(-dt_y * 20)
        self.spx *= math.exp(ret)

    @property
    def vix(self) -> float:
        return 100 * self.vol * 1.08

    def vx(self, t_years: float) -> float:
        """VX future (and VIX-like index) level for a horizon of ``t_years``."""
        p = self.p
        return p.vx_long + (self.vix - p.vx_long) * math.exp(-p.vx_kappa * t_years)

    def spx_vol(self, t_years: float, log_moneyness: float) -> float:
        atm = self.p.vol_long + (self.vol - self.p.vol_long) * math.exp(-3.0 * t_years)
        skew = -0.9 * log_moneyness / math.sqrt(max(t_years, 1 / 365) / 0.25) ** 0.5
        return float(max(0.05, atm * (1 + skew + 2.0 * log_moneyness**2)))

    def vix_vol(self, t_years: float, log_moneyness: float) -> float:
        horizon = max(t_years, 7 / 365)
        # a shock lifts short-dated vol-of-vol most; long-dated VIX options barely move
        base = 0.85 * (horizon / 0.08) ** -0.35 + self.stress * (0.08 / horizon) ** 0.5
        return float(max(0.25, base * (1 + 0.35 * log_moneyness)))

    def quote(self, inst: symbols.Instrument) -> Quote | None:
        """Quote one instrument at the current state; None once it has expired."""
        match inst.kind:
            case symbols.Kind.INDEX:
                level = self._index_level(inst.root)
                return Quote(sym=inst.symbol, ts=self.now_ns, last=round(level, 2))
            case symbols.Kind.FUTURE:
                t = self._t(inst)
                if t <= 0:
                    return None
                mid = self.vx(t)
                return _two_sided(inst.symbol, self.now_ns, mid, 0.05, 0.05)
            case symbols.Kind.OPTION:
                return self._option_quote(inst)
        return None

    def _index_level(self, root: str) -> float:
        match root:
            case "SPX":
                return float(self.spx)
            case "VIX":
                return float(self.vix)
            case "VIX9D":
                return self.vx(9 / 365) * 0.97 + self.vix * 0.03
            case _:
                return self.vx(0.25)

    def _t(self, inst: symbols.Instrument) -> float:
        assert inst.expiry is not None
        return float(year_fraction(settlement_ns(inst.root, inst.expiry), self.now_ns))

    def _option_quote(self, inst: symbols.Instrument) -> Quote | None:
        t = self._t(inst)
        if t <= 0:
            return None
        if inst.root in symbols.SPX_ROOTS:
            fwd = self.spx * math.exp((self.p.rate - self.p.dividend_yield) * t)
            vol = self.spx_vol(t, math.log(inst.strike / fwd))
            tick = 0.05 if fwd * vol * math.sqrt(t) * 0.1 < 3 else 0.10
        else:
            fwd = self.vx(t)
            vol = self.vix_vol(t, math.log(inst.strike / fwd))
            tick = 0.05
        df = math.exp(-self.p.rate * t)
        mid = float(black.price(float(inst.right), fwd, inst.strike, t, df, vol))
        half = max(tick, 0.02 * mid) / 2 + tick / 2
        return _two_sided(inst.symbol, self.now_ns, mid, half, tick)

    def quotes(self, instruments: Iterable[symbols.Instrument]) -> list[Quote]:
        out = []
        for inst in instruments:
            q = self.quote(inst)
            if q is not None:
                out.append(q)
        return out


def _two_sided(sym: str, ts: int, mid: float, half: float, tick: float) -> Quote:
    bid = max(0.0, math.floor((mid - half) / tick) * tick)
    ask = max(tick, math.ceil((mid + half) / tick) * tick)
    return Quote(sym=sym, ts=ts, bid=round(bid, 2), ask=round(ask, 2), bid_size=10, ask_size=10)


def default_universe(
    spx: float, vx_expiries: Iterable[dt.date], spx_expiries: Iterable[dt.date]
) -> list[str]:
    """Indices, the VX curve, VIX calls/puts per VX expiry and an SPXW grid per condor expiry."""
    out = ["SPX", "VIX", "VIX3M", "VIX9D"]
    for exp in vx_expiries:
        out.append(symbols.future_symbol(exp))
        for k in range(12, 61):
            out.append(symbols.option_symbol("VIX", exp, 1, float(k)))
        for k in range(10, 26):
            out.append(symbols.option_symbol("VIX", exp, -1, float(k)))
    centre = round(spx / 25) * 25
    for exp in spx_expiries:
        for k in range(int(centre * 0.8), int(centre * 1.15) + 1, 25):
            out += [symbols.option_symbol("SPXW", exp, r, float(k)) for r in (1, -1)]
    return out
