"""Account state: REST snapshots replace, notifications patch, silence makes it stale."""

from __future__ import annotations

from monitor.model import Book, Portfolio
from monitor.positions.accounts import AccountState, Balance, merge_books, status
from monitor.positions.recognize import Position

S = 1_000_000_000
L1 = "VIX270120C00025000"


def pos(sym: str, qty: int, account: str = "A") -> Position:
    return Position(symbol=sym, quantity=qty, cost_basis_usd=90.0 * qty, account=account)


def state() -> AccountState:
    return AccountState(source="tastytrade:t", book="main", stale_after_s=10.0)


def test_a_snapshot_replaces_the_accounts_positions_and_bumps_the_version_on_change() -> None:
    st = state()
    st.apply_snapshot("A", [pos(L1, 4)], 1 * S)
    v = st.version
    st.apply_snapshot("A", [pos(L1, 4)], 2 * S)
    assert st.version == v  # the same positions: nothing to rebuild
    st.apply_snapshot("A", [], 3 * S)
    assert st.positions == {} and st.version == v + 1


def test_a_notification_patches_and_quantity_zero_removes() -> None:
    st = state()
    st.apply_snapshot("A", [pos(L1, 4)], 1 * S)
    st.apply_position(pos(L1, 3), 2 * S)
    assert st.positions[("A", L1)].quantity == 3
    st.apply_position(pos(L1, 0), 3 * S)
    assert st.positions == {}


def test_silence_past_the_limit_is_stale_but_keeps_the_positions() -> None:
    st = state()
    assert st.stale(0)  # never heard from
    st.apply_snapshot("A", [pos(L1, 4)], 1 * S)
    assert not st.stale(5 * S)
    assert st.stale(12 * S) and ("A", L1) in st.positions
    assert status(st, 12 * S).age_s == 11.0
    st.heard(12 * S)
    assert not st.stale(13 * S)


def test_broker_account_sums_the_accounts_and_names_its_source() -> None:
    st = state()
    st.apply_balance(Balance(account="A", cash_usd=100.0, maintenance_requirement_usd=5.0), 1 * S)
    st.apply_balance(Balance(account="B", cash_usd=50.0, maintenance_requirement_usd=None), 2 * S)
    acct = st.broker_account()
    assert acct is not None
    assert (acct.cash_usd, acct.requirement_usd, acct.source, acct.ts_ns) == (
        150.0, None, "tastytrade:t A+B", 1 * S)


def test_the_recognized_book_carries_the_brokers_cash() -> None:
    st = state()
    st.apply_snapshot("A", [pos(L1, 2)], 1 * S)
    st.apply_balance(Balance(account="A", cash_usd=60_000.0), 1 * S)
    book = st.recognized().book
    assert book.cash_usd == 60_000.0 and [y.name for y in book.layers] == ["VIX 270120"]


def test_an_account_book_replaces_the_portfolio_book_of_its_name() -> None:
    base = Portfolio(books=[Book(name="main", cash_usd=1.0), Book(name="other")])
    merged = merge_books(base, [Book(name="main", cash_usd=2.0), Book(name="ira")])
    assert [(b.name, b.cash_usd) for b in merged.books] == [
        ("main", 2.0), ("other", 0.0), ("ira", 0.0)]


def test_a_snapshot_requested_before_a_notification_does_not_undo_it() -> None:
    st = state()
    st.apply_snapshot("A", [pos(L1, 2)], 1 * S)
    st.apply_position(pos(L1, 4), 3 * S)  # a fill streamed while the snapshot was in flight
    st.apply_snapshot("A", [pos(L1, 2)], 4 * S, requested_ns=2 * S)
    assert st.positions[("A", L1)].quantity == 4
    st.apply_snapshot("A", [pos(L1, 4)], 6 * S, requested_ns=5 * S)  # a newer one wins again
    st.apply_snapshot("A", [], 8 * S, requested_ns=7 * S)
    assert st.positions == {}
