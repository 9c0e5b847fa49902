"""VIX momentum: bars, RSI(14) against the textbook table, MACD, the mean-reversion signal."""

from __future__ import annotations

import numpy as np
import pytest

from monitor.rules import momentum as M
from monitor.rules.config import MomentumConfig

# StockCharts' RSI(14) worked example (closes, and the RSI from the 15th close on). Their
# spreadsheet rounds the averages to two decimals, hence the 0.1 tolerance.
CLOSES = [
    44.34,
    44.09,
    44.15,
    43.61,
    44.33,
    44.83,
    45.10,
    45.42,
    45.84,
    46.08,
    45.89,
    46.03,
    45.61,
    46.28,
    46.28,
    46.00,
    46.03,
    46.41,
    46.22,
    45.64,
    46.21,
    46.25,
    45.71,
    46.45,
    45.78,
    45.35,
    44.03,
    44.18,
    44.22,
    44.57,
    43.42,
    42.66,
    43.13,
]
RSI_TABLE = [
    70.53,
    66.32,
    66.55,
    69.41,
    66.36,
    57.97,
    62.93,
    63.26,
    56.06,
    62.38,
    54.71,
    50.42,
    39.99,
    41.46,
    41.87,
    45.46,
    37.30,
    33.08,
    37.77,
]


def test_rsi_matches_the_textbook_table() -> None:
    got = [M.rsi(np.array(CLOSES[:n]), 14) for n in range(15, len(CLOSES) + 1)]
    assert got == pytest.approx(RSI_TABLE, abs=0.1)


def test_rsi_needs_period_plus_one_closes() -> None:
    assert np.isnan(M.rsi(np.array(CLOSES[:14]), 14))


def test_ema_is_the_recursion_seeded_at_the_first_close() -> None:
    x = np.array(CLOSES)
    a, want = 2 / 13, [x[0]]
    for v in x[1:]:
        want.append(a * v + (1 - a) * want[-1])
    np.testing.assert_allclose(M.ema(x, 12), want, rtol=1e-12)


def test_macd_histogram_of_a_flat_series_is_zero() -> None:
    assert np.allclose(M.macd_histogram(np.full(50, 20.0), 12, 26, 9), 0.0)


def test_bars_bucket_by_minute_and_ignore_an_older_bucket() -> None:
    bars = M.Bars(max_bars=10)
    for bucket, price in [(1, 15.0), (1, 16.0), (2, 17.0), (1, 99.0), (3, 14.0)]:
        bars.update(bucket, price)
    assert bars.close == [16.0, 17.0, 14.0] and bars.high[0] == 16.0
    assert bars.completed_closes().tolist() == [16.0, 17.0]


def spike_then_fade(n_calm: int, n_after: int) -> M.Bars:
    """Calm VIX, a jump, then a slow fade: the histogram peaks and then contracts."""
    bars = M.Bars(max_bars=600)
    closes = [15.0] * n_calm + [28.0 - 0.2 * i for i in range(n_after)] + [0.0]
    for i, c in enumerate(closes):
        bars.update(i, c)
    return bars


def test_a_fading_spike_in_contango_means_mean_reversion_is_likely() -> None:
    m = M.analyze({"1m": spike_then_fade(30, 12)}, vix=26.0, contango=0.02, cfg=MomentumConfig())
    assert m.by_timeframe["1m"].contracting is True and m.mean_reversion is True


def test_a_contracting_histogram_in_backwardation_is_not_mean_reversion() -> None:
    m = M.analyze({"1m": spike_then_fade(30, 12)}, vix=26.0, contango=-0.05, cfg=MomentumConfig())
    assert m.mean_reversion is False


def test_the_signal_is_unknown_until_the_macd_has_macd_slow_completed_bars() -> None:
    cfg = MomentumConfig()
    bars = M.Bars(max_bars=600)
    for i in range(cfg.macd_slow):  # macd_slow - 1 completed bars, one forming
        bars.update(i, 15.0 + i % 3)
    assert M.analyze({"1m": bars}, vix=15.0, contango=0.05, cfg=cfg).mean_reversion is None
    bars.update(cfg.macd_slow, 15.0)
    assert M.analyze({"1m": bars}, vix=15.0, contango=0.05, cfg=cfg).mean_reversion is not None


def test_a_stale_vix_quote_makes_the_signal_unknown() -> None:
    m = M.analyze(
        {"1m": spike_then_fade(30, 12)}, vix=float("nan"), contango=0.02, cfg=MomentumConfig()
    )
    assert m.mean_reversion is None


@pytest.mark.parametrize("length", [1, 2, 63, 64, 65, 128, 600])
@pytest.mark.parametrize("period", [9, 12, 26])
def test_ema_follows_its_recursion_across_block_boundaries(length: int, period: int) -> None:
    x = 15 + np.cumsum(np.random.default_rng(length * period).normal(0, 0.3, length))
    a = 2 / (period + 1)
    want, y = [], x[0]
    for v in x:  # the definition: seeded at x[0]
        y = a * v + (1 - a) * y
        want.append(y)
    np.testing.assert_allclose(M.ema(x, period), want, rtol=1e-12)
