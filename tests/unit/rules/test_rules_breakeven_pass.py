"""The compiled break-even pass agrees with the numpy one (rtol 1e-12), dead and one-sided
condors, a chain the valuation lacks and a hedge overlay of any size included."""

from __future__ import annotations

import numpy as np
import pytest

from monitor.rules import breakeven, breakeven_pass
from monitor.rules.chains import ChainTable
from tests.unit.rules.rules_world import World

pytestmark = pytest.mark.skipif(not breakeven_pass.AVAILABLE, reason="numba is not installed")


@pytest.fixture(scope="module")
def market() -> tuple[breakeven.Breakevens, ChainTable]:
    cycle = World().tick(vol=0.25)
    assert cycle.rules is not None
    be = cycle.rules.analysis.breakevens
    assert be.prepared is not None and be.chains is not None
    return be, be.chains


def compare(
    nodes: np.ndarray,
    pnl: np.ndarray,
    chain_id: np.ndarray,
    chains: ChainTable,
    overlay: np.ndarray,
) -> None:
    got = breakeven_pass.solve(nodes, pnl, overlay, chains.ids[chain_id], chains.flat())
    want = breakeven.solve_numpy(nodes, pnl, chain_id, chains, overlay)
    for name, g, w in zip(("lower", "upper", "distance"), got, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=0, err_msg=name)


def test_the_compiled_pass_agrees_across_overlays(
    market: tuple[breakeven.Breakevens, ChainTable],
) -> None:
    be, chains = market
    prep, cd = be.prepared, be.condors
    assert prep is not None
    rng = np.random.default_rng(5)
    rows = np.repeat(np.arange(len(cd)), 400)
    # from losing everywhere (no profit zone) to profitable everywhere (no break-even)
    overlay = rng.uniform(-3e5, 3e5, len(rows))
    overlay[::37] = np.nan  # a stale hedge counts 0
    compare(prep.nodes[rows], prep.pnl[rows], cd.chain_id[rows], chains, overlay)


def test_a_chain_the_valuation_lacks_gives_no_distance(
    market: tuple[breakeven.Breakevens, ChainTable],
) -> None:
    be, chains = market
    prep, cd = be.prepared, be.condors
    assert prep is not None
    missing = ChainTable(val=chains.val, ids=np.full_like(chains.ids, -1))
    compare(prep.nodes, prep.pnl, cd.chain_id, missing, np.zeros(len(cd)))
    lower, _upper, dist = breakeven_pass.solve(
        prep.nodes, prep.pnl, np.zeros(len(cd)), missing.ids[cd.chain_id], missing.flat()
    )
    assert np.isfinite(lower).all() and np.isnan(dist).all()
