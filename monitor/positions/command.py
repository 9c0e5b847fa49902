"""``vixmon positions``: the recognized book from the configured accounts (or the portfolio).

One REST snapshot per ``[[accounts]]`` entry (read-only), recognized with its overlay; a book an
account maps to replaces the portfolio's book of that name. Printed as a table; ``--write``
also writes it as a portfolio TOML.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import aiohttp

from adapters.accounts import OverlayError, build_account_source, load_overlay
from adapters.base import FeedError
from monitor.clock import LiveClock
from monitor.model import Book, Portfolio
from monitor.positions.export import portfolio_toml, table
from monitor.positions.recognize import Unplaced
from monitor.settings import Loaded


async def _account_books(loaded: Loaded) -> tuple[list[Book], list[Unplaced], list[str]]:
    books: list[Book] = []
    unplaced: list[Unplaced] = []
    errors: list[str] = []
    async with aiohttp.ClientSession() as http:
        for cfg in loaded.settings.accounts:
            source = build_account_source(cfg, LiveClock())
            try:
                overlay = load_overlay(loaded.base_dir / cfg.overlay) if cfg.overlay else None
                await source.snapshot(http)
            except (FeedError, OverlayError, aiohttp.ClientError, OSError,
                    TimeoutError) as exc:
                errors.append(f"{cfg.name}: {exc}")
                continue
            result = source.state.recognized(overlay)
            books.append(result.book)
            unplaced += result.unplaced
    return books, unplaced, errors


def main(loaded: Loaded, *, write: Path | None = None) -> int:
    """Print the recognized book; return the exit code (1: an account could not be read)."""
    books, unplaced, errors = asyncio.run(_account_books(loaded)) if (
        loaded.settings.accounts) else ([], [], [])
    from_accounts = {b.name for b in books}
    kept = [b for b in loaded.portfolio.books if b.name not in from_accounts]
    portfolio = Portfolio(books=[*kept, *books])
    sys.stdout.write(table(portfolio, unplaced))
    for err in errors:
        print(f"account error: {err}", file=sys.stderr)
    if write is not None:
        write.write_text(portfolio_toml(portfolio))
        print(f"wrote {write}", file=sys.stderr)
    return 1 if errors else 0

