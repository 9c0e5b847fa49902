"""Strategy-based margin requirement per book (Cboe / Reg T, cash-settled European index options).

What is implemented, per book, from the net position in each contract (a long and a short of the
same contract in two structures of one book cancel):

1. **Spreads.** Within one (root, expiry) the short puts are paired with long puts and the short
   calls with long calls, sorted by strike (the highest short put with the highest long put, the
   lowest short call with the lowest long call: the pairing that minimizes the requirement). A
   credit spread requires the strike difference x 100 per contract (long put strike below the
   short's, long call strike above); a debit spread requires nothing beyond its premium.
2. **Iron condors** (and butterflies): when a (root, expiry) has both put and call credit
   spreads, and no short put strike is above a short call strike, only one side can finish in the
   money, so the requirement is the *greater* of the two sides (Cboe's short iron condor rule:
   the wider wing's width x 100 x contracts). The credit received stays in the book's cash.
3. **Uncovered shorts** (the shorts left unpaired): 100% of the option's current value plus
   ``pct`` of the underlying value minus the out-of-the-money amount, at least the value plus
   ``min_pct`` of the underlying value (calls) or of the strike (puts), x 100 per contract.
   Broad-based index options (SPX/SPXW) use 15% / 10%; VIX options 20% / 10% (Cboe's VIX
   options specification). The underlying value is the option's forward: the SPX forward, and
   for a VIX option the VX future of its expiry (what it settles against; in contango it is
   above the spot VIX, so this errs high).
4. **Long options** are paid for in full: no requirement beyond their premium, already out of
   the cash.

Not implemented: calendar spreads (a long of a later expiry does not cover a short), cross-root
pairing (SPX AM against SPXW PM), and the "lesser of the spread and the uncovered requirement"
refinement (for index credit spreads the spread is always the lesser in practice).

The spread and condor parts depend on the strikes only; the uncovered part is evaluated per
stress scenario from the scenario's option value and forward (``requirement``).

``funds`` is what can pay a variation call now: cash, less the short legs' marks (what buying
them back costs), plus the near-term theta-positive premium still to be earned (short legs with
positive theta expiring within ``near_term_days``: contracts x 100 x max(0, min(mark, entry
price) - intrinsic value), the time value left to decay to the book, never more than received).
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass

import msgspec
import numpy as np
from numpy.typing import NDArray

from monitor import symbols
from monitor.book import PortfolioState
from monitor.model import CONTRACT_MULTIPLIER
from monitor.pricing.valuation import Valuation

F64 = NDArray[np.float64]
INDEX_PCT, INDEX_MIN_PCT = 0.15, 0.10
VIX_PCT, VIX_MIN_PCT = 0.20, 0.10


class BrokerAccount(msgspec.Struct, frozen=True, kw_only=True):
    """What a broker reports for a book's account (issue #15 feeds it): it wins when present."""

    requirement_usd: float | None = None
    cash_usd: float | None = None
    source: str = "broker"
    """Where the numbers come from (shown beside them), e.g. ``tastytrade 5WT00001``."""
    ts_ns: int = 0


@dataclass(frozen=True, slots=True)
class Line:
    """One part of a book's requirement, for the snapshot."""

    book: int
    kind: str
    """``spread``, ``condor`` or ``uncovered``."""
    what: str
    usd: float
    """The requirement of this part now (an uncovered short's also moves per scenario)."""


@dataclass(frozen=True, slots=True)
class Margin:
    fixed_usd: F64
    """Per book: spreads and condors (strike-based, the same in every scenario)."""
    naked_book: NDArray[np.int64]
    naked_col: NDArray[np.int64]
    """Column of the uncovered short in the stress exposure's instruments."""
    naked_contracts: F64
    naked_pct: F64
    naked_min_pct: F64
    lines: list[Line]
    naked_line: NDArray[np.int64] | None = None
    """Position in ``lines`` of each uncovered short's line (None: found on demand)."""


@dataclass(frozen=True, slots=True)
class Contract:
    col: int
    root: str
    expiry: dt.date | None
    cp: float
    strike: float


def _pair(shorts: list[list[float]], longs: list[list[float]], put: bool) -> tuple[float, float]:
    """Pair [strike, contracts] lists in place; return (requirement USD, spread contracts)."""
    order = (lambda x: -x[0]) if put else (lambda x: x[0])
    shorts.sort(key=order)
    longs.sort(key=order)
    req = n_pairs = 0.0
    i = j = 0
    while i < len(shorts) and j < len(longs):
        m = min(shorts[i][1], longs[j][1])
        width = shorts[i][0] - longs[j][0] if put else longs[j][0] - shorts[i][0]
        req += m * max(width, 0.0) * CONTRACT_MULTIPLIER
        n_pairs += m
        shorts[i][1] -= m
        longs[j][1] -= m
        i += shorts[i][1] <= 0
        j += longs[j][1] <= 0
    return req, n_pairs


def layout(
    contracts: list[Contract], positions: Mapping[tuple[int, int], float], n_books: int
) -> Margin:
    """Build the requirement of every book from its net contracts per instrument column.

    ``positions`` maps (book, column) to the signed number of contracts.
    """
    by = {c.col: c for c in contracts}
    groups: dict[tuple[int, str, dt.date | None], dict[str, list[list[float]]]] = defaultdict(
        lambda: {"sp": [], "lp": [], "sc": [], "lc": []}
    )
    for (b, col), qty in positions.items():
        if qty == 0:
            continue
        c = by[col]
        side = ("s" if qty < 0 else "l") + ("p" if c.cp < 0 else "c")
        groups[(b, c.root, c.expiry)][side].append([c.strike, abs(qty), float(col)])
    fixed = np.zeros(n_books)
    lines: list[Line] = []
    naked: list[tuple[int, int, float, float, float]] = []
    for (b, root, expiry), g in groups.items():  # in book order: positions come row-major
        if not g["sp"] and not g["sc"]:
            continue  # longs only (hedge layers): paid in full
        short_put_k = [s[0] for s in g["sp"]]
        short_call_k = [s[0] for s in g["sc"]]
        put_req, n_put = _pair(g["sp"], g["lp"], put=True)
        call_req, n_call = _pair(g["sc"], g["lc"], put=False)
        name = f"{root} {expiry}"
        condor = put_req > 0 and call_req > 0 and max(short_put_k) <= min(short_call_k)
        if condor:
            fixed[b] += max(put_req, call_req)
            what = f"{name}: greater of put and call side"
            lines.append(Line(b, "condor", what, max(put_req, call_req)))
        else:
            fixed[b] += put_req + call_req
            for req, n, kind in ((put_req, n_put, "put"), (call_req, n_call, "call")):
                if n:
                    lines.append(Line(b, "spread", f"{name} {kind} spreads x{n:g}", req))
        pct, min_pct = (VIX_PCT, VIX_MIN_PCT) if root in symbols.VIX_ROOTS else (
            INDEX_PCT, INDEX_MIN_PCT)  # fmt: skip
        for s in g["sp"] + g["sc"]:
            if s[1] > 0:
                naked.append((b, int(s[2]), s[1], pct, min_pct))
                kind = "put" if by[int(s[2])].cp < 0 else "call"
                what = f"{name} {s[0]:g} {kind} x{s[1]:g} uncovered"
                lines.append(Line(b, "uncovered", what, math.nan))
    arr = np.array(naked, np.float64).reshape(-1, 5)
    return Margin(
        fixed_usd=fixed,
        naked_book=arr[:, 0].astype(np.int64),
        naked_col=arr[:, 1].astype(np.int64),
        naked_contracts=arr[:, 2],
        naked_pct=arr[:, 3],
        naked_min_pct=arr[:, 4],
        lines=lines,
        naked_line=_uncovered_lines(lines),
    )


def _uncovered_lines(lines: list[Line]) -> NDArray[np.int64]:
    return np.array([i for i, ln in enumerate(lines) if ln.kind == "uncovered"], np.int64)


def lines_now(m: Margin, value: F64, forward: F64, cp: F64, strike: F64) -> list[Line]:
    """Return the requirement's parts, the uncovered shorts evaluated at ``value``/``forward``
    (1 x instruments)."""
    out = list(m.lines)
    at = _uncovered_lines(m.lines) if m.naked_line is None else m.naked_line
    if not len(at):
        return out
    total, _ = uncovered_usd(m, value, forward, cp, strike)
    for j, i in enumerate(at.tolist()):
        ln = out[i]
        out[i] = Line(ln.book, ln.kind, ln.what, float(total[0, j]))
    return out


def uncovered_usd(m: Margin, value: F64, forward: F64, cp: F64, strike: F64) -> tuple[F64, F64]:
    """Return (requirement, its option-value part) of each uncovered short per scenario.

    ``value`` and ``forward``: (scenarios x instruments) option prices and underlying values;
    ``cp`` and ``strike`` per instrument. Both results are (scenarios x uncovered shorts), USD.
    """
    c = m.naked_col
    v, u, k, right = value[:, c], forward[:, c], strike[c], cp[c]
    otm = np.maximum(np.where(right > 0, k - u, u - k), 0.0)
    floor_base = np.where(right > 0, u, k[None, :])
    extra = np.maximum(m.naked_pct * u - otm, m.naked_min_pct * floor_base)
    units = m.naked_contracts * CONTRACT_MULTIPLIER
    return units * (v + extra), units * v


def requirement(
    m: Margin, n_books: int, value: F64, forward: F64, cp: F64, strike: F64
) -> tuple[F64, F64]:
    """Return (requirement, requirement beyond the uncovered shorts' value), books x scenarios."""
    total, val_part = uncovered_usd(m, value, forward, cp, strike)
    n_g = value.shape[0]
    req = np.repeat(m.fixed_usd[:, None], n_g, axis=1)
    beyond = req.copy()
    np.add.at(req, m.naked_book, total.T)
    np.add.at(beyond, m.naked_book, (total - val_part).T)
    return req, beyond


def requirement_change(
    m: Margin,
    n_books: int,
    value: F64,
    forward: F64,
    value0: F64,
    forward0: F64,
    cp: F64,
    strike: F64,
) -> tuple[F64, F64] | None:
    """Return ``requirement``'s two results minus their values at (``value0``, ``forward0``)
    (1 x instruments), books x scenarios; None when no book has an uncovered short (no change:
    the spread and condor parts are the same in every scenario)."""
    if not len(m.naked_col):
        return None
    total, val_part = uncovered_usd(m, value, forward, cp, strike)
    total0, val_part0 = uncovered_usd(m, value0, forward0, cp, strike)
    d_req = np.zeros((n_books, value.shape[0]))
    d_beyond = np.zeros_like(d_req)
    np.add.at(d_req, m.naked_book, (total - total0).T)
    np.add.at(d_beyond, m.naked_book, ((total - val_part) - (total0 - val_part0)).T)
    return d_req, d_beyond


@dataclass(frozen=True, slots=True)
class Funds:
    """Per book: what can pay a variation call now (see the module docstring)."""

    cash_usd: F64
    short_liability_usd: F64
    premium_to_earn_usd: F64

    @property
    def total_usd(self) -> F64:
        out: F64 = self.cash_usd - self.short_liability_usd + self.premium_to_earn_usd
        return out


def funds(state: PortfolioState, val: Valuation, cash_usd: F64, near_term_days: float) -> Funds:
    """Return cash, the short legs' marks and the near-term premium still to be earned."""
    idx = state.index
    # only the short legs count: work on them alone (a long leg adds 0 to both sums)
    short = np.flatnonzero(idx.leg_qty < 0)
    r, qty, book = idx.leg_row.take(short), idx.leg_qty.take(short), idx.leg_book.take(short)
    liability = -np.nan_to_num(state.leg_value_usd.take(short))
    mark, u = state.leg_mid.take(short), val.universe
    intrinsic = np.maximum(u.cp.take(r) * (val.forward.take(r) - u.strike.take(r)), 0.0)
    days = val.t_years.take(r) * 365.0
    with np.errstate(invalid="ignore"):
        take = (state.leg_theta_usd.take(short) > 0) & (days <= near_term_days) & np.isfinite(mark)
        left = np.maximum(
            np.minimum(mark, idx.leg_entry.take(short)) - np.nan_to_num(intrinsic), 0.0
        )
    earn = np.where(take, -qty * CONTRACT_MULTIPLIER * np.nan_to_num(left), 0.0)
    n_b = len(idx.book_names)
    return Funds(
        cash_usd=np.asarray(cash_usd, np.float64),
        short_liability_usd=np.bincount(book, liability, minlength=n_b).astype(np.float64),
        premium_to_earn_usd=np.bincount(book, earn, minlength=n_b).astype(np.float64),
    )
