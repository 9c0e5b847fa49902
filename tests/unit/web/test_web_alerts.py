"""The page's alert list: a muted lower level is folded under the alert that mutes it; a firing
key shows its last event's summary, and the hub keeps no more of its events than the recent list.
"""

from __future__ import annotations

import gc

from monitor.alerts import KeyState
from monitor.model import AlertEvent
from monitor.web.hub import Hub


def firing(*keys: str) -> dict[str, KeyState]:
    return {k: KeyState(firing=True, notified=True, since_ns=1) for k in keys}


def muted_by(doc: dict[str, object]) -> dict[str, object]:
    rows = doc["firing"]
    assert isinstance(rows, list)
    return {r["key"]: r["muted_by"] for r in rows}


def test_a_lower_layer_threshold_is_muted_by_the_higher_one_of_the_same_layer() -> None:
    doc = Hub().alerts_doc(
        firing("layer_gain|main|L1@1.5", "layer_gain|main|L1@2", "layer_gain|main|L2@1.5")
    )
    assert muted_by(doc) == {
        "layer_gain|main|L1@1.5": "layer_gain|main|L1@2",
        "layer_gain|main|L1@2": None,
        "layer_gain|main|L2@1.5": None,  # another layer's fact: not muted
    }


def test_backwardation_mutes_contango_low_and_vix_vix3m_but_nothing_else() -> None:
    doc = Hub().alerts_doc(
        firing(
            "term_structure|market|vix_vix3m",
            "term_structure|market|contango_low",
            "term_structure|market|backwardation",
            "breakeven|main|IC:lower:inside",
        )
    )
    assert muted_by(doc) == {
        "term_structure|market|vix_vix3m": "term_structure|market|backwardation",
        "term_structure|market|contango_low": "term_structure|market|backwardation",
        "term_structure|market|backwardation": None,
        "breakeven|main|IC:lower:inside": None,
    }


def event(key: str, summary: str) -> AlertEvent:
    return AlertEvent(id=f"{key}:{summary}", key=key, rule="layer_gain", book="main",
                      subject=key, status="firing", severity="warning", summary=summary,
                      ts_ns=1, advisory={"plan": "harvest and roll " * 400})


def events_held(root: object) -> int:
    """The alert events reachable from ``root``."""
    seen, todo, found = {id(root)}, [root], 0
    while todo:
        for ref in gc.get_referents(todo.pop()):
            if id(ref) not in seen and not isinstance(ref, type):
                seen.add(id(ref))
                todo.append(ref)
                found += isinstance(ref, AlertEvent)
    return found


def test_a_firing_key_shows_its_last_summary_and_only_recent_events_are_kept() -> None:
    hub = Hub(recent_max=3)
    hub.publish(event(f"layer_gain|main|L{i}@1.5", f"L{i} gained") for i in range(50))
    hub.publish([event("layer_gain|main|L7@1.5", "L7 gained more")])
    rows = hub.alerts_doc(firing("layer_gain|main|L7@1.5", "layer_gain|main|L9@1.5"))["firing"]
    assert [r["summary"] for r in rows] == ["L7 gained more", "L9 gained"]
    assert events_held(hub) == 3  # the recent list's; every other key keeps its summary alone
