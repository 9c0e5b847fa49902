"""``vixmon run`` with an ``[[accounts]]`` section and no legs typed: the engine's book is the
account's, follows fills like a reload (ledger, subscriptions) and keeps it while the broker is
away."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from monitor import settings
from monitor.app import App
from monitor.engine import Cycle
from monitor.model import AlertEvent, Book
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
    (tmp_path / "overlay.toml").write_text(OVERLAY)
    empty = tmp_path / "portfolio.toml"
    empty.write_text('[[books]]\nname = "main"\n')  # no legs typed
    accounts = f"""
[[accounts]]
kind = "tastytrade"
accounts = ["{ACCT}"]
book = "main"
client_secret = {{ env = "TT_CLIENT_SECRET" }}
refresh_token = {{ env = "TT_REFRESH_TOKEN" }}
api_url = "{fake.api_url}"
streamer_url = "{fake.streamer_url}"
overlay = "{tmp_path / 'overlay.toml'}"
heartbeat_s = 0.5
stale_after_s = 1.0
backoff = {{ initial_s = 0.05, max_s = 0.2 }}
"""
    cfg = write_config(tmp_path, feeds=simulator_feed(), redis_url=redis_url, portfolio=empty,
                       tables=accounts)
    env = {"TT_CLIENT_SECRET": "secret-good", "TT_REFRESH_TOKEN": "refresh-good"}
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            mp.setenv(k, v)
        app = App(settings.load(cfg), handle_signals=False, environ={})
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

        await fake.fill(ACCT, NEW_LAYER, 2, "1.10")
        await cycles.until(lambda: any(y.name == "VIX 270120" for y in book().layers))
        assert NEW_LAYER in app.subscriptions.current()

        for leg in demo.condors[0].legs:  # close the condor
            await fake.fill(ACCT, leg.symbol, -leg.quantity, "1.00")
        await cycles.until(lambda: not book().condors)
        await cycles.until(lambda: any(e.structure == "IC-DEC31" for e in engine.ledger.entries))

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
