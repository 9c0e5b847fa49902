"""Configuration of the risk rules: frozen, keyword-only Structs, one per rule family.

Each Struct is a section under ``[rules]`` in the TOML (``[rules.breakeven]``, ...); every key has a
default, so an absent section means "on, with the defaults". ``check`` returns the semantic
errors msgspec cannot express (ranges, orderings), each named by its TOML path.
"""

from __future__ import annotations

from typing import Literal

import msgspec

SeverityName = Literal["info", "warning", "critical"]


class RollConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The roll plan attached to every layer-gain alert (``monitor.plan``)."""

    variant: Literal["standard", "conversion"] = "standard"
    """``standard`` rolls into single calls; ``conversion`` into call spreads (short strike
    chosen by the plan to restore the vega baseline)."""
    recycle_fraction: float = 0.5
    """The preferred share of the harvested gain to roll, inside the recycle band: among plans
    equally close to the vega baseline, the one spending closest to it wins."""
    recycle_band: list[float] = msgspec.field(default_factory=list)
    """[min, max] share of the harvested gain the roll may spend at the ask; empty: the
    variant's range, 0.40-0.60 (standard) or 0.60-0.75 (conversion)."""
    roots: list[str] = msgspec.field(default_factory=lambda: ["VIX"])
    dte_min: int = 45
    dte_max: int = 90
    otm_min: float = 0.08
    """Candidate strikes lie in [F (1 + otm_min), F (1 + otm_max)], F: the expiry's VX future."""
    otm_max: float = 0.12
    otm_slack: float = 0.02
    """With no listed strike in the band, the nearest strike this close to it is offered."""
    max_candidates: int = 3
    martingale_coefficient: float = 1.5
    """The next layer may hold at most this multiple of the harvested layer's contracts."""
    martingale_coefficient_reverting: float = 1.0
    """The coefficient while the VIX mean-reversion signal is on (tighter)."""


class BreakevenConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    k_sigma: float = 1.0
    """A break-even closer than k_sigma standard deviations (smile IV at the break-even) fires."""
    hysteresis_sigma: float = 0.1
    drift_points: float = 50.0
    """A break-even that moved this many SPX points from its baseline fires..."""
    drift_sigma: float = 0.5
    """... as does one that moved this many expected moves (1 sigma, points)."""
    drift_hysteresis: float = 0.2
    """A drift alert re-arms below (1 - drift_hysteresis) x both drift limits."""
    inside_severity: SeverityName = "critical"
    drift_severity: SeverityName = "warning"


class TermStructureConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    curve_months: int = 8
    """Monthly VX futures exported as curve points (label months_out = 1..curve_months)."""
    min_contango: float = 0.03
    """F2/F1 - 1 below this fires ``contango_low``; below 0 fires ``backwardation``."""
    hysteresis: float = 0.005
    vix_vix3m_max: float = 1.0
    """VIX/VIX3M at or above this fires ``vix_vix3m`` (inverted short end)."""
    backwardation_severity: SeverityName = "critical"
    contango_severity: SeverityName = "warning"


class GreekLimits(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Per-book limits; a book's own table under ``[rules.greeks.books.NAME]`` overrides these."""

    delta_1pct_usd: float = 5000.0
    """|USD P&L per 1% SPX move| above this fires."""
    vega_usd: float = 5000.0
    gamma_1pct_usd: float = 2500.0
    theta_min_usd: float = -1000.0
    """Theta (USD per calendar day) below this fires."""
    vega_drift_usd: float = 2500.0
    """|net vega - baseline vega| above this fires (the baseline: ``monitor.plan.baseline``)."""


class GreeksConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    defaults: GreekLimits = msgspec.field(default_factory=GreekLimits)
    books: dict[str, GreekLimits] = msgspec.field(default_factory=dict)
    hysteresis: float = 0.1
    """A limit re-arms below (1 - hysteresis) x limit."""
    severity: SeverityName = "warning"

    def limits(self, book: str) -> GreekLimits:
        return self.books.get(book, self.defaults)


class StressConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    spot_shocks: list[float] = msgspec.field(
        default_factory=lambda: [round(-0.15 + 0.025 * i, 4) for i in range(11)]
    )
    """Relative SPX moves (-15% ... +10%)."""
    vol_per_pct_down: float = 1.0
    """The spot-vol model: SPX 30-day ATM implied vol rises this many vol points per 1% fall..."""
    vol_convexity: float = 0.05
    """... plus this many per (1% fall) squared (large falls lift vol more than in proportion)..."""
    vol_per_pct_up: float = 0.4
    """... and falls this many per 1% rise (never below ``vol_floor``)."""
    vol_band: list[float] = msgspec.field(default_factory=lambda: [-2.5, 0.0, 5.0])
    """Vol-of-vol: each spot move is also tried with the model vol shifted by these points."""
    term_ref_days: float = 30.0
    """An SPX expiry T days out moves sqrt(term_ref_days / T) times the 30-day shift (T beyond)."""
    vix_beta: float = 1.0
    """The VIX index moves vix_beta x the 30-day SPX vol shift (VIX points per vol point) ..."""
    vx_decay_per_year: float = 2.5
    """... a VX future (and its options' vol) that move times exp(-vx_decay_per_year x T)."""
    vix_vol_scale: float = 2.0
    """VIX options' implied vol rises vix_vol_scale vol points per VIX point (term-decayed)."""
    vol_floor: float = 0.01
    min_coverage: float = 1.5
    hysteresis: float = 0.1
    near_term_days: float = 60.0
    """Theta-positive legs expiring within this many days count as coverage (premium to earn)."""
    severity: SeverityName = "critical"


class MomentumConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    timeframe: Literal["1m", "1d"] = "1m"
    """Bars the mean-reversion signal reads."""
    rsi_period: int = 14
    macd_fast: int = 12
    macd_slow: int = 26
    macd_signal: int = 9
    contracting_bars: int = 2
    """The histogram shrank on this many consecutive completed bars (and is positive)."""
    max_bars: int = 600
    severity: SeverityName = "info"


class CalendarConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    path: str = ""
    """Macro calendar TOML, relative to the config file; empty: the one shipped with vixmon."""
    within_h: float = 24.0
    """``event_risk`` fires when a high-impact event is this close and a layer is above its gain
    threshold."""
    high_impact: list[str] = msgspec.field(default_factory=lambda: ["FOMC", "CPI", "PPI"])
    severity: SeverityName = "warning"


class SizingConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    growth: float = 0.25
    """A layer whose contracts grew by more than this fraction ..."""
    window_h: float = 24.0
    """... within this many hours after its gain alert fires ``sizing`` (for window_h)."""
    severity: SeverityName = "warning"


class DataQualityConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    crossed_locked_max: float = 0.05
    """Share of two-sided quotes that are crossed or locked above which ``quotes`` fires."""
    severity: SeverityName = "warning"


def _range(errors: list[str], path: str, value: float, lo: float, hi: float) -> None:
    if not lo <= value <= hi:
        errors.append(f"{path}: must be between {lo:g} and {hi:g}")


def _positive(errors: list[str], path: str, value: float) -> None:
    if not value > 0:
        errors.append(f"{path}: must be positive")


def check_roll(c: RollConfig) -> list[str]:
    errors: list[str] = []
    lo, hi = (0.40, 0.60) if c.variant == "standard" else (0.60, 0.75)
    _range(errors, "rules.roll.recycle_fraction", c.recycle_fraction, lo, hi)
    if c.recycle_band and (
        len(c.recycle_band) != 2 or not lo <= c.recycle_band[0] <= c.recycle_band[1] <= hi
    ):
        errors.append(
            f"rules.roll.recycle_band: must be [min, max] with {lo:g} <= min <= max <= {hi:g}"
        )
    if not 0 < c.dte_min <= c.dte_max:
        errors.append("rules.roll.dte_min: must be positive and not above dte_max")
    if not 0 <= c.otm_min <= c.otm_max:
        errors.append("rules.roll.otm_min: must be >= 0 and not above otm_max")
    _positive(errors, "rules.roll.max_candidates", c.max_candidates)
    _positive(errors, "rules.roll.martingale_coefficient", c.martingale_coefficient)
    if not 0 < c.martingale_coefficient_reverting <= c.martingale_coefficient:
        errors.append(
            "rules.roll.martingale_coefficient_reverting: must be positive and not "
            "above martingale_coefficient (it tightens)"
        )
    return errors


def check_stress(c: StressConfig) -> list[str]:
    errors: list[str] = []
    if len(c.spot_shocks) < 2 or sorted(c.spot_shocks) != c.spot_shocks:
        errors.append("rules.stress.spot_shocks: needs at least 2 ascending values")
    if any(s <= -1 for s in c.spot_shocks):
        errors.append("rules.stress.spot_shocks: a move must stay above -100%")
    if not c.vol_band or sorted(c.vol_band) != c.vol_band:
        errors.append("rules.stress.vol_band: needs at least 1 value, ascending")
    for name in ("vol_per_pct_down", "vol_convexity", "vol_per_pct_up", "vx_decay_per_year"):
        if not getattr(c, name) >= 0:
            errors.append(f"rules.stress.{name}: must not be negative")
    _positive(errors, "rules.stress.term_ref_days", c.term_ref_days)
    _positive(errors, "rules.stress.min_coverage", c.min_coverage)
    _positive(errors, "rules.stress.vol_floor", c.vol_floor)
    return errors


def check_momentum(c: MomentumConfig) -> list[str]:
    errors: list[str] = []
    if not 0 < c.macd_fast < c.macd_slow:
        errors.append("rules.momentum.macd_fast: must be positive and below macd_slow")
    for name in ("rsi_period", "macd_signal", "contracting_bars"):
        _positive(errors, f"rules.momentum.{name}", getattr(c, name))
    if c.max_bars < c.macd_slow + c.macd_signal + c.contracting_bars:
        errors.append("rules.momentum.max_bars: too few to warm up the MACD")
    return errors


def check_misc(
    be: BreakevenConfig,
    ts: TermStructureConfig,
    gk: GreeksConfig,
    sz: SizingConfig,
    cal: CalendarConfig,
    dq: DataQualityConfig,
) -> list[str]:
    errors: list[str] = []
    _positive(errors, "rules.breakeven.k_sigma", be.k_sigma)
    _range(errors, "rules.breakeven.drift_hysteresis", be.drift_hysteresis, 0.0, 0.99)
    _positive(errors, "rules.breakeven.drift_points", be.drift_points)
    _positive(errors, "rules.breakeven.drift_sigma", be.drift_sigma)
    _range(errors, "rules.term_structure.curve_months", ts.curve_months, 2, 12)
    _range(errors, "rules.greeks.hysteresis", gk.hysteresis, 0.0, 0.99)
    _positive(errors, "rules.sizing.window_h", sz.window_h)
    _positive(errors, "rules.sizing.growth", sz.growth)
    _positive(errors, "rules.calendar.within_h", cal.within_h)
    _range(errors, "rules.data_quality.crossed_locked_max", dq.crossed_locked_max, 0.0, 1.0)
    return errors
