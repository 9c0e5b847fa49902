"""The per-cycle shortcuts of the rules' shared analyses (the smile grouped by chain, one-pass
structure sums, per-book sums over contiguous legs) agree with the plain per-row / per-leg
references they replace, on a realistic multi-book portfolio with an unquoted leg. The smile is
bit-identical (the same arithmetic per element); sums agree within 1e-12 relative plus 1e-9
absolute (they may add in another order); NaN where the reference is NaN."""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import pytest

from monitor.book import PortfolioState
from monitor.engine import Cycle
from monitor.model import CONTRACT_MULTIPLIER
from monitor.rules import overlay, vega
from monitor.rules.chains import ChainTable
from tests.unit.rules.rules_world import World
from tests.unit.rules.test_rules_vectorized_reference import mixed_portfolio

RTOL, ATOL = 1e-12, 1e-9


def close(got: object, want: object) -> None:
    np.testing.assert_allclose(
        np.asarray(got, np.float64), np.asarray(want, np.float64), rtol=RTOL, atol=ATOL
    )


@pytest.fixture(scope="module")
def cycle() -> Cycle:
    w = World(book=mixed_portfolio())
    w.tick()
    return w.tick(vol=0.28)


def reference_smile(table: ChainTable, key_ids: np.ndarray, strikes: np.ndarray) -> np.ndarray:
    """One masked pass over every row per chain (what ``ChainTable.smile`` did before)."""
    out = np.full(strikes.shape, np.nan)
    for i, chain in enumerate(table.ids.tolist()):
        mask = key_ids == i
        if chain < 0 or not mask.any():
            continue
        k = strikes[mask]
        finite = np.isfinite(k)
        fwd = float(table.val.chain_forward[chain])
        out[mask] = np.where(finite, table.val.smile_iv(chain, np.where(finite, k, fwd)), np.nan)
    return out


def test_the_smile_grouped_by_chain_is_the_per_chain_reference_bit_for_bit(cycle: Cycle) -> None:
    val = cycle.valuation
    chains = [(c.root, c.expiry) for c in val.universe.chains]
    # every chain, one key the universe lacks (-1) and one key no row uses
    keys = [*chains, ("SPXW", dt.date(2099, 1, 16)), chains[0]]
    table = ChainTable.build(keys, val)
    assert table.ids[len(chains)] == -1
    rng = np.random.default_rng(11)
    n = 3000
    key_ids = rng.integers(0, len(keys) - 1, n)
    strikes = rng.uniform(5.0, 9000.0, (n, 2))
    strikes[rng.random((n, 2)) < 0.05] = np.inf
    strikes[rng.random((n, 2)) < 0.05] = -np.inf
    strikes[rng.random((n, 2)) < 0.05] = np.nan
    got, want = table.smile(key_ids, strikes), reference_smile(table, key_ids, strikes)
    assert np.isfinite(want).sum() > n  # the comparison is not vacuous
    np.testing.assert_array_equal(got, want)
    assert table.smile(np.zeros(0, np.int64), np.zeros((0, 2))).shape == (0, 2)


def reference_exit_value(st: PortfolioState) -> np.ndarray:
    idx = st.index
    out = np.zeros(len(idx.struct_names))
    for s in range(len(out)):
        total = 0.0
        for i in np.flatnonzero(idx.leg_struct == s).tolist():
            side = st.leg_bid[i] if idx.leg_qty[i] > 0 else st.leg_ask[i]
            px = side if np.isfinite(side) else st.leg_mid[i]
            leg = idx.leg_qty[i] * CONTRACT_MULTIPLIER * px
            if np.isnan(leg):
                total = np.nan
                break
            total += float(np.nan_to_num(leg))
        out[s] = total
    return out


def test_exit_values_match_a_per_leg_reference_with_a_nan_and_an_infinite_leg(
    cycle: Cycle,
) -> None:
    st = cycle.state
    want = reference_exit_value(st)
    assert np.isnan(want).any() and np.isfinite(want).any()
    close(overlay.exit_value_usd(st), want)
    bid, ask, mid = st.leg_bid.copy(), st.leg_ask.copy(), st.leg_mid.copy()
    bid[:], ask[:], mid[0] = np.nan, np.nan, np.inf  # an overflowing mark stays finite-summed
    odd = dataclasses.replace(st, leg_bid=bid, leg_ask=ask, leg_mid=mid)
    close(overlay.exit_value_usd(odd), reference_exit_value(odd))


def test_net_vega_matches_a_per_leg_reference(cycle: Cycle) -> None:
    st, val, idx = cycle.state, cycle.valuation, cycle.state.index
    nv = vega.net_vega(st, val)
    leg = np.where(
        idx.leg_is_spx, st.leg_vega_usd, val.delta[idx.leg_row] * CONTRACT_MULTIPLIER * idx.leg_qty
    )
    close(nv.leg, leg)
    for s in range(len(idx.struct_names)):
        close(nv.struct[s], leg[idx.leg_struct == s].sum())  # NaN when any leg is
    owner = idx.struct_book[idx.leg_struct]
    for b in range(len(idx.book_names)):
        mine = (owner == b) & st.leg_priced & np.isfinite(leg)
        close(nv.book[b], leg[mine].sum())
    assert np.isfinite(nv.book).all()
    first_spx = int(np.flatnonzero(idx.leg_is_spx)[0])
    vegas = st.leg_vega_usd.copy()
    vegas[first_spx] = np.nan  # its structure is NaN, its book sums the other legs
    odd = vega.net_vega(dataclasses.replace(st, leg_vega_usd=vegas), val)
    s, b = int(idx.leg_struct[first_spx]), int(owner[first_spx])
    assert (
        np.isnan(odd.struct[s]) and np.isfinite(odd.struct[np.arange(len(odd.struct)) != s]).all()
    )
    keep = (owner == b) & st.leg_priced & np.isfinite(np.where(idx.leg_is_spx, vegas, leg))
    close(odd.book[b], leg[keep].sum())
