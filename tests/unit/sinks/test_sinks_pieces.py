"""One evaluation's outbox write in pieces: a key's events and its state go in one piece."""

from __future__ import annotations

from monitor.model import AlertEvent, AlertStatus
from monitor.sinks.outbox import pieces


def event(key: str, status: AlertStatus = "firing") -> AlertEvent:
    return AlertEvent(id=f"{key}/{status}", key=key, rule="r", book="b", subject=key,
                      status=status, severity="warning", summary="", ts_ns=1)


def test_fewer_events_than_a_piece_are_one_write_as_they_came() -> None:
    events = [event("a"), event("b")]
    assert pieces(events, {"a": 1, "b": 2, "quiet": 3}, size=2) == [
        (events, {"a": 1, "b": 2, "quiet": 3})
    ]
    assert pieces([], {"quiet": 3}, size=2) == [([], {"quiet": 3})]


def test_a_burst_is_split_in_order_each_state_with_its_event() -> None:
    events = [event(k) for k in "abcde"]
    out = pieces(events, {k: k.upper() for k in "abcde"} | {"quiet": "Q"}, size=2)
    assert [[e.key for e in evs] for evs, _ in out] == [["a", "b"], ["c", "d"], ["e"]]
    # a state with no event of this evaluation goes with the last piece
    assert [states for _, states in out] == [{"a": "A", "b": "B"}, {"c": "C", "d": "D"},
                                             {"e": "E", "quiet": "Q"}]


def test_a_keys_events_and_state_are_written_together() -> None:
    events = [event("a"), event("b"), event("c"), event("a", "resolved")]
    out = pieces(events, {"a": "resolved", "b": "firing", "c": "firing"}, size=2)
    # a crash between the writes can't leave "a" announced and its resolution unsent
    assert out == [([events[0], events[1], events[3]], {"a": "resolved", "b": "firing"}),
                   ([events[2]], {"c": "firing"})]
