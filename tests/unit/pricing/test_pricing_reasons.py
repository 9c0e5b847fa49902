"""Invalid quotes give NaN and a reason code, never 0 and never an exception."""

from __future__ import annotations

import math

import pytest

from monitor.pricing import black
from monitor.pricing.reasons import REASON_LABELS, IvReason

CALL, PUT = 1.0, -1.0
F, K, T, DF = 5000.0, 4900.0, 10 / 365, math.exp(-0.04 * 10 / 365)


def _solve(cp: float, premium: float, **kw: object) -> tuple[float, IvReason]:
    args = {"forward": F, "strike": K, "t_years": T, "df": DF} | kw
    vol, reason = black.implied_vol(cp, premium=premium, **args)  # type: ignore[arg-type]
    return float(vol), IvReason(int(reason))


@pytest.mark.parametrize(
    ("cp", "premium", "overrides", "expected"),
    [
        (CALL, math.nan, {}, IvReason.NO_QUOTE),
        (CALL, 0.0, {}, IvReason.NO_QUOTE),
        (CALL, 120.0, {"t_years": 0.0}, IvReason.EXPIRED),
        (CALL, 120.0, {"t_years": -0.01}, IvReason.EXPIRED),
        (CALL, 90.0, {}, IvReason.BELOW_INTRINSIC),
        (CALL, 5000.0, {}, IvReason.ABOVE_BOUND),
        (PUT, 4900.0, {}, IvReason.ABOVE_BOUND),
        (CALL, DF * 100.0 + 0.02, {}, IvReason.BELOW_TICK),
        (PUT, DF * 100.0 + 0.01, {"strike": 5100.0}, IvReason.BELOW_TICK),
        (PUT, 0.03, {}, IvReason.BELOW_TICK),
        (CALL, 120.0, {"forward": -1.0}, IvReason.BAD_INPUT),
        (CALL, 120.0, {"strike": 0.0}, IvReason.BAD_INPUT),
        (0.5, 120.0, {}, IvReason.BAD_INPUT),
    ],
)
def test_invalid_quote_gives_nan_and_its_reason(
    cp: float, premium: float, overrides: dict[str, float], expected: IvReason
) -> None:
    vol, reason = _solve(cp, premium, **overrides)
    assert reason is expected
    assert math.isnan(vol)


def test_quote_exactly_at_intrinsic_is_below_tick_not_below_intrinsic() -> None:
    _, reason = _solve(CALL, DF * (F - K))
    assert reason is IvReason.BELOW_TICK


def test_tick_zero_solves_any_positive_time_value() -> None:
    vol, reason = _solve(PUT, 0.001, tick=0.0)
    assert reason is IvReason.OK
    assert vol > 0.0


def test_one_tick_of_time_value_solves() -> None:
    vol, reason = _solve(PUT, 0.05)
    assert reason is IvReason.OK
    assert 0.0 < vol < 5.0


def test_every_reason_has_a_short_label() -> None:
    assert [r.label for r in IvReason] == list(REASON_LABELS)
    assert all(0 < len(label) <= 45 for label in REASON_LABELS)
