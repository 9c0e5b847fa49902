"""Partitions and their desired owners: every replica derives the same answer on its own."""

from __future__ import annotations

import pytest

from monitor.model import Book, Portfolio
from monitor.scale.partitions import (
    MARKET_BOOK,
    books_of,
    desired,
    desired_owner,
    key_book,
    partition_of,
)


def test_a_book_always_falls_in_the_same_partition() -> None:
    assert partition_of("desk-7", 16) == partition_of("desk-7", 16)
    assert 0 <= partition_of(MARKET_BOOK, 16) < 16


@pytest.mark.parametrize("replicas", [["a"], ["a", "b"], ["a", "b", "c"]])
def test_every_partition_has_exactly_one_desired_owner_among_the_live(
    replicas: list[str],
) -> None:
    shares = [desired(r, replicas, 32) for r in replicas]
    assert sorted(p for share in shares for p in share) == list(range(32))


def test_two_replicas_share_the_partitions_roughly_evenly() -> None:
    a, b = desired("a", ["a", "b"], 64), desired("b", ["a", "b"], 64)
    assert 16 <= len(a) <= 48 and len(a) + len(b) == 64


def test_a_joining_replica_takes_partitions_only_from_the_others_never_moves_the_rest() -> None:
    before = {r: desired(r, ["a", "b"], 64) for r in ("a", "b")}
    after = {r: desired(r, ["a", "b", "c"], 64) for r in ("a", "b", "c")}
    assert after["a"] <= before["a"] and after["b"] <= before["b"]
    assert after["c"] == (before["a"] - after["a"]) | (before["b"] - after["b"])


def test_a_dead_replicas_partitions_go_to_the_survivors() -> None:
    assert desired("a", ["a"], 8) == frozenset(range(8))
    assert desired_owner(3, []) is None


def test_books_of_keeps_the_books_of_the_owned_partitions_only() -> None:
    books = [Book(name=f"b{i}") for i in range(40)]
    owned = frozenset({0, 2})
    kept = books_of(Portfolio(books=books), owned, 4).books
    assert kept and all(partition_of(b.name, 4) in owned for b in kept)
    assert len(kept) == sum(partition_of(b.name, 4) in owned for b in books)


def test_an_alert_keys_book_is_its_middle_part() -> None:
    assert key_book("layer_gain|desk-7|L1|x") == "desk-7"
