"""The page's alert list: a muted lower level is folded under the alert that mutes it."""

from __future__ import annotations

from monitor.alerts import KeyState
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
