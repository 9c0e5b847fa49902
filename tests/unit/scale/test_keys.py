"""Every Redis key is named in one module, hash-tagged for Cluster, and listed in the docs."""

from __future__ import annotations

import re
from pathlib import Path

from monitor import keys

DOCS = Path(__file__).resolve().parents[3] / "docs" / "scaling.md"


def slot_tag(key: str) -> str:
    """Return what Redis Cluster hashes: the first non-empty {...}, else the whole key."""
    m = re.search(r"\{([^}]+)\}", key)
    return m.group(1) if m else key


def test_keys_written_in_one_script_or_transaction_share_a_hash_tag() -> None:
    alerting = [keys.outbox("P"), keys.outbox_dead("P"), keys.alert_states("P"),
                keys.alert_states("P", 3), keys.lease("P", 3), keys.delivery_lease("P")]
    assert {slot_tag(k) for k in alerting} == {"P:alerts"}
    assert {slot_tag(k) for k in (keys.quotes("P"), keys.quotes_dead("P"))} == {"P:quotes"}


def test_the_docs_list_every_key() -> None:
    table = DOCS.read_text()
    for key in keys.all_keys("P", partitions=1):
        documented = key.replace(":p0", ":p<n>")
        assert f"`{documented}`" in table, f"{documented} is not in docs/scaling.md"


def test_legacy_names_map_onto_todays_keys() -> None:
    renames = dict(keys.legacy_renames("P"))
    assert renames["P:alerts:state"] == keys.alert_states("P")
    assert all(slot_tag(new) in ("P:alerts", "P:quotes") for new in renames.values())
