"""The one place that knows every account source (``[[accounts]]``): config union, factory,
overlay loading and the checks ``check-config`` runs on them.

Adding a broker is one config Struct (tagged with its ``kind``) in the union and one ``case``
in ``build_account_source``.
"""

from __future__ import annotations

import asyncio
import contextlib
import tomllib
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Protocol

import aiohttp
import msgspec

from adapters.tastytrade.config import TastytradeAccountConfig
from adapters.tradier.account_config import TradierAccountConfig
from monitor.clock import Clock
from monitor.model import Book, Portfolio
from monitor.positions.accounts import AccountState, merge_books
from monitor.positions.recognize import Overlay, Unplaced
from monitor.rules.margin import BrokerAccount

AccountConfig = TastytradeAccountConfig | TradierAccountConfig


class AccountSource(Protocol):
    """A running account source: ``run`` keeps ``state`` current until cancelled."""

    @property
    def state(self) -> AccountState: ...

    async def snapshot(self, http: aiohttp.ClientSession) -> None:
        """Fetch one full REST snapshot into ``state`` (raise on failure)."""
        ...

    async def run(self) -> None: ...


def build_account_source(cfg: AccountConfig, clock: Clock,
                         on_change: Callable[[], None] = lambda: None) -> AccountSource:
    """Construct the client for one ``[[accounts]]`` entry."""
    match cfg:
        case TastytradeAccountConfig():
            from adapters.tastytrade.client import TastytradeAccounts

            return TastytradeAccounts(cfg, clock, on_change)
        case TradierAccountConfig():
            from adapters.tradier.account_client import TradierAccounts

            return TradierAccounts(cfg, clock, on_change)


class OverlayError(ValueError):
    """An overlay file that cannot be used; the message names the file and TOML path."""


def load_overlay(path: Path) -> Overlay:
    """Decode a structure overlay TOML (``names``, ``condors``, ``layers``, ``exclude``,
    ``entry_prices``); raise OverlayError naming the file and the TOML path."""
    try:
        with path.open("rb") as fh:
            raw = tomllib.load(fh)
    except OSError as exc:
        raise OverlayError(f"{path}: cannot read: {exc.strerror}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise OverlayError(f"{path}: invalid TOML: {exc}") from exc
    try:
        return msgspec.convert(raw, Overlay, strict=False)
    except msgspec.ValidationError as exc:
        text = str(exc).replace(" - at `$.", ": at ").replace(" - at `$", "")
        raise OverlayError(f"{path}: {text.rstrip('`')}") from exc


def check_accounts(accounts: Sequence[AccountConfig], base_dir: Path) -> list[str]:
    """Return ``accounts[i].field: problem`` for each mistake (names, overlays)."""
    errors: list[str] = []
    names = [a.name for a in accounts]
    for i, cfg in enumerate(accounts):
        if names.index(cfg.name) != i:
            errors.append(f"accounts[{i}].name: duplicate account source name {cfg.name!r}")
        if not cfg.book:
            errors.append(f"accounts[{i}].book: must name the book the positions form")
        if cfg.overlay:
            try:
                load_overlay(base_dir / cfg.overlay)
            except OverlayError as exc:
                errors.append(f"accounts[{i}].overlay: {exc}")
    return errors


class AccountBooks:
    """Every configured account source, and the portfolio their positions make.

    ``run`` keeps the sources running (owned tasks, cancelled together) and calls ``apply``
    with the merged portfolio whenever a source's positions change, at most once per
    ``settle_s`` so that the four legs of one condor fill arrive as one change.
    """

    def __init__(self, configs: Sequence[AccountConfig], clock: Clock, base_dir: Path,
                 *, settle_s: float = 0.05, refresh_s: float = 5.0) -> None:
        self._changed = asyncio.Event()
        self.sources = [build_account_source(c, clock, self._changed.set) for c in configs]
        self.overlays = [load_overlay(base_dir / c.overlay) if c.overlay else None
                         for c in configs]
        self.clock = clock
        self.settle_s = settle_s
        self.refresh_s = refresh_s
        self.unplaced: list[Unplaced] = []
        """Every position the last recognition could not place (reported, never dropped)."""
        self.unplaced_by_source: dict[str, list[Unplaced]] = {}

    def portfolio(self, base: Portfolio) -> Portfolio:
        """Return ``base`` with the account books in place of the books they map to."""
        books: dict[str, list[Book]] = {}
        unplaced: dict[str, list[Unplaced]] = {}
        for source, overlay in zip(self.sources, self.overlays, strict=True):
            if not source.state.snapshot_ns and not source.state.positions:
                continue  # never heard from: keep the portfolio's book (if any) meanwhile
            result = source.state.recognized(overlay)
            books.setdefault(result.book.name, []).append(result.book)
            unplaced[source.state.source] = result.unplaced
        self.unplaced_by_source = unplaced
        self.unplaced = [u for us in unplaced.values() for u in us]
        return merge_books(base, [_join(name, parts) for name, parts in books.items()])

    def unplaced_in(self, book: str) -> list[Unplaced]:
        """The positions of ``book``'s sources that the last recognition could not place."""
        return [u for source in self.sources if source.state.book == book
                for u in self.unplaced_by_source.get(source.state.source, [])]

    def broker_accounts(self) -> dict[str, BrokerAccount]:
        """The broker's requirement and cash per book (one source per book: else none)."""
        per_book: dict[str, list[BrokerAccount]] = {}
        for source in self.sources:
            acct = source.state.broker_account()
            if acct is not None:
                per_book.setdefault(source.state.book, []).append(acct)
        return {book: accts[0] for book, accts in per_book.items() if len(accts) == 1}

    async def run(self, apply: Callable[[], Awaitable[None]]) -> None:
        """Run every source; await ``apply()`` after each settled change, until cancelled."""
        async with asyncio.TaskGroup() as tg:
            for source in self.sources:
                tg.create_task(source.run())
            while True:
                # balances change without a position change: refresh them every refresh_s too
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.refresh_s):
                        await self._changed.wait()
                        await asyncio.sleep(self.settle_s)  # coalesce a burst of fills
                self._changed.clear()
                await apply()


def _join(name: str, parts: list[Book]) -> Book:
    if len(parts) == 1:
        return parts[0]
    return Book(name=name, cash_usd=sum(p.cash_usd for p in parts),
                condors=[c for p in parts for c in p.condors],
                layers=[y for p in parts for y in p.layers],
                others=[o for p in parts for o in p.others])
