"""The recognized book as text: a table for the terminal and a portfolio TOML to start from.

Pure: a ``Portfolio`` (and what could not be placed) in, strings out. The TOML is the format
``settings.load_portfolio`` reads, so ``vixmon positions --write portfolio.toml`` gives a
hand-editable portfolio for people who do not want a live account connection.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from monitor.model import CONTRACT_MULTIPLIER, Leg, Portfolio
from monitor.positions.recognize import Unplaced

_KINDS = (("condors", "condor"), ("layers", "layer"), ("others", "other"))


def _structures(book: object) -> list[tuple[str, str, list[Leg]]]:
    return [(kind, s.name, s.legs) for attr, kind in _KINDS for s in getattr(book, attr)]


def table(portfolio: Portfolio, unplaced: Sequence[Unplaced] = ()) -> str:
    """Format every leg of every structure, then what could not be placed."""
    rows = [("BOOK", "STRUCTURE", "KIND", "SYMBOL", "QTY", "ENTRY", "COST USD")]
    for book in portfolio.books:
        for kind, name, legs in _structures(book):
            for leg in legs:
                cost = leg.entry_price * leg.quantity * CONTRACT_MULTIPLIER
                rows.append((book.name, name, kind, leg.symbol, f"{leg.quantity:+d}",
                             f"{leg.entry_price:.2f}", f"{cost:,.2f}"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
             for r in rows]
    for u in unplaced:
        where = f" ({u.account})" if u.account else ""
        lines.append(f"not placed: {u.symbol} {u.quantity:+d}{where}: {u.reason}")
    return "\n".join(lines) + "\n"


def _str(s: str) -> str:
    return json.dumps(s)  # a JSON string is a valid TOML basic string


def portfolio_toml(portfolio: Portfolio) -> str:
    """Write ``portfolio`` in the portfolio TOML format."""
    out = ["# Written by `vixmon positions`: quantities signed (negative = short), entry prices",
           "# per share in points (the broker's average open price).", ""]
    for book in portfolio.books:
        out += ["[[books]]", f"name = {_str(book.name)}", f"cash_usd = {book.cash_usd!r}", ""]
        for kind, name, legs in _structures(book):
            out += [f"[[books.{kind}s]]", f"name = {_str(name)}", "legs = ["]
            out += [f"  {{ symbol = {_str(leg.symbol)}, quantity = {leg.quantity}, "
                    f"entry_price = {round(leg.entry_price, 6)!r} }}," for leg in legs]
            out += ["]", ""]
    return "\n".join(out)
