"""``vixmon run`` with an ``[[accounts]]`` section and no legs typed: the engine's book is the
account's, follows fills like a reload (ledger, subscriptions) and keeps it while the broker is
away."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import pytest

from monitor import settings
from monitor.app import App
from monitor.engine import Cycle, Engine
from monitor.model import AlertEvent, Book, Portfolio
from monitor.positions.recognize import structures
from tests.deploy.conftest import simulator_feed, write_config
from tests.fakes.tastytrade_accounts import FakeTastytradeAccounts

ACCT = "5WT00001"
OVERLAY = """\
[names]
"SPXW 261231 5575/5675/6350/6450" = "IC-DEC31"
"VIX 261216" = "L1-DEC"
"VIX 270317" = "L2-MAR"
"VIX 270616" = "L3-JUN"
"""
NEW_LAYER = "VIX270120C00030000"
LONE_PUT = "SPXW261231P05000000"


@pytest.fixture
async def fake() -> AsyncIterator[FakeTastytradeAccounts]:
    server = FakeTastytradeAccounts(accounts=(ACCT,))
    await server.start()
    yield server
    await server.close()


class Cycles:
    """Re-check a predicate after every engine cycle (the engine runs on its cadence)."""

    def __init__(self, app: App) -> None:
        assert app.loop is not None
        self.event = asyncio.Event()
        publish = app.loop.on_cycle

        def on_cycle(cycle: Cycle, events: list[AlertEvent]) -> None:
            if publish is not None:
                publish(cycle, events)
            self.event.set()

        app.loop.on_cycle = on_cycle

    async def until(self, predicate: Callable[[], object], within_s: float = 15.0) -> None:
        async with asyncio.timeout(within_s):
            while not predicate():
                self.event.clear()
                await self.event.wait()


async def test_the_account_book_runs_through_the_engine_and_follows_fills(
    tmp_path: Path, fake: FakeTastytradeAccounts, redis_url: str,
) -> None:
    demo = settings.load().portfolio.books[0]
    for structure in structures(demo):
        for leg in structure.legs:
            await fake.fill(ACCT, leg.symbol, leg.quantity, str(leg.entry_price))
    fake.cash[ACCT] = Decimal(str(demo.cash_usd))  # the broker's cash: the typed book's
    (tmp_path / "overlay.toml").write_text(OVERLAY)
    accounts = "\n" + fake.accounts_table(ACCT, extra=(
        f'overlay = "{tmp_path / "overlay.toml"}"\nheartbeat_s = 0.5\nstale_after_s = 1.0\n'
        "backoff = { initial_s = 0.05, max_s = 0.2 }\n"
    ))
    cfg = write_config(tmp_path, feeds=simulator_feed(), redis_url=redis_url, tables=accounts)
    cfg.write_text("\n".join(line for line in cfg.read_text().splitlines()
                             if not line.startswith("portfolio =")))  # no portfolio file at all
    env = {"TT_CLIENT_SECRET": "secret-good", "TT_REFRESH_TOKEN": "refresh-good"}
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            mp.setenv(k, v)
        loaded = settings.load(cfg)
        assert loaded.portfolio_path is None
        assert loaded.portfolio == Portfolio(books=[Book(name="main")])  # until the broker says
        app = App(loaded, handle_signals=False, environ={})
        assert app.accounts is not None
        app.accounts.refresh_s = 0.1  # re-check balances and staleness often (default 5 s)
        await app.startup()
    try:
        cycles = Cycles(app)
        engine = app.engine
        assert engine is not None

        def book() -> Book:
            return engine.portfolio.books[0]

        await cycles.until(lambda: [c.name for c in book().condors] == ["IC-DEC31"])
        assert book().condors == demo.condors
        assert [y.name for y in book().layers] == ["L1-DEC", "L2-MAR", "L3-JUN"]
        assert engine.accounts["main"].source.startswith("tastytrade")

        def priced_structs() -> list[str]:
            cycle = engine.last_cycle
            return [] if cycle is None else cycle.state.index.struct_names

        # the engine evaluates the account's structures (Greeks, stress) like typed ones
        await cycles.until(lambda: "IC-DEC31" in priced_structs())
        assert priced_structs() == ["IC-DEC31", "L1-DEC", "L2-MAR", "L3-JUN"]
        assert book().cash_usd == pytest.approx(demo.cash_usd)

        def all_priced() -> bool:
            cycle = engine.last_cycle
            return cycle is not None and bool(np.isfinite(cycle.state.struct_value_usd).all())

        await cycles.until(all_priced)  # the new legs' quotes have arrived
        assert_same_risk(engine, Portfolio(books=[demo]))

        def leg_quoted(symbol: str) -> bool:
            cycle = engine.last_cycle
            if cycle is None or symbol not in cycle.state.index.leg_symbol:
                return False
            i = list(cycle.state.index.leg_symbol).index(symbol)
            return bool(np.isfinite(cycle.state.leg_bid[i]))

        # a position no structure can take is reported (snapshot, gauge), never dropped
        source = app.accounts.sources[0].state.source
        labels = {"source": source, "book": "main"}
        assert app.registry.get_sample_value("vixmon_account_unplaced_positions", labels) == 0
        await fake.fill(ACCT, "AAPL", 100, "230.00")
        await cycles.until(lambda: app.accounts is not None and bool(app.accounts.unplaced))
        doc = await get_json(app, "/api/v1/snapshot")
        unplaced = doc["books"][0]["unplaced_positions"]
        assert [(u["symbol"], u["quantity"], u["account"]) for u in unplaced] == [
            ("AAPL", 100, ACCT)]
        assert "AAPL" in unplaced[0]["reason"]
        assert app.registry.get_sample_value("vixmon_account_unplaced_positions", labels) == 1
        assert priced_structs() == ["IC-DEC31", "L1-DEC", "L2-MAR", "L3-JUN"]

        await fake.fill(ACCT, NEW_LAYER, 2, "1.10")
        await cycles.until(lambda: any(y.name == "VIX 270120" for y in book().layers))
        assert NEW_LAYER in app.subscriptions.current()

        for leg in demo.condors[0].legs:  # close the condor
            await fake.fill(ACCT, leg.symbol, -leg.quantity, "1.00")
        await cycles.until(lambda: not book().condors)
        await cycles.until(lambda: any(e.structure == "IC-DEC31" for e in engine.ledger.entries))

        # a lone put is an ``other`` structure: it counts in the book, and closing it realizes
        await fake.fill(ACCT, LONE_PUT, 1, "3.00")
        await cycles.until(lambda: "other" in priced_structs() and leg_quoted(LONE_PUT))
        await fake.fill(ACCT, LONE_PUT, -1, "3.50")
        await cycles.until(lambda: any(e.kind == "other" for e in engine.ledger.entries))
        [closed] = [e for e in engine.ledger.entries if e.kind == "other"]
        assert (closed.structure, closed.symbol, closed.quantity, closed.entry_price,
                closed.source) == ("other", LONE_PUT, 1, pytest.approx(3.00), "marks")
        assert not book().others

        def stale_alert() -> bool:
            cycle = engine.last_cycle
            return cycle is not None and cycle.rules is not None and any(
                key.startswith("account_stale|main|") for key, _ in cycle.rules.not_clear())

        fake.down = True
        fake.drop_all()
        await cycles.until(stale_alert)  # the broker is away: account_stale fires...
        assert "VIX 270120" in [y.name for y in book().layers]  # ...and the book stays
        fake.down = False
        await cycles.until(lambda: not stale_alert())  # back: it resolves
    finally:
        await app.shutdown()


async def get_json(app: App, path: str) -> Any:
    async with aiohttp.ClientSession() as http, http.get(
            f"http://127.0.0.1:{app.http_port}{path}") as resp:
        assert resp.status == 200, await resp.text()
        return await resp.json()


GREEKS = ("book_delta_spx_1pct_usd", "book_delta_vix_1pct_usd", "book_gamma_spx_1pct_usd",
          "book_vega_usd", "book_theta_usd", "book_value_usd", "struct_value_usd",
          "struct_cost_usd", "struct_delta_1pct_usd", "struct_vega_usd", "struct_theta_usd")


def assert_same_risk(running: Engine, typed: Portfolio) -> None:
    """The running engine's account-fed book and the hand-typed ``typed`` portfolio, each
    priced on a copy of the same market and rule memory at the same instant, have the same
    Greeks (to a tolerance: the entry prices went through the broker's decimal strings) and
    the same alert conditions."""

    def twin(portfolio: Portfolio) -> Cycle:
        twin = Engine(running.settings, portfolio, events=running.events)
        twin.market = copy.deepcopy(running.market)
        twin.memory = copy.deepcopy(running.memory)
        twin.set_portfolio(portfolio)
        twin.accounts, twin.account_status = running.accounts, running.account_status
        return twin.evaluate(twin.market.latest_ts_ns)

    fed, hand = twin(running.portfolio), twin(typed)
    assert fed.state.index.struct_names == hand.state.index.struct_names
    for name in GREEKS:
        got, want = getattr(fed.state, name), getattr(hand.state, name)
        assert np.isfinite(want).all(), name
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-6, err_msg=name)
    assert fed.rules is not None and hand.rules is not None
    fed_keys = sorted(key for key, _ in fed.rules.not_clear())
    assert fed_keys == sorted(key for key, _ in hand.rules.not_clear())
    assert fed_keys, "the demo book on this market raises alerts to compare"
