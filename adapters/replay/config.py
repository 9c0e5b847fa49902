from __future__ import annotations

from typing import Annotated

import msgspec


class ReplayFeedConfig(
    msgspec.Struct,
    frozen=True,
    kw_only=True,
    forbid_unknown_fields=True,
    tag="replay",
    tag_field="kind",
):
    """Play a recorded session (JSON lines, optionally gzipped) at ``speed`` x real time."""

    path: str
    name: str = "replay"
    speed: Annotated[float, msgspec.Meta(ge=0, le=100_000)] = 60.0
    """Recorded seconds per wall-clock second; 0 plays as fast as possible."""
    loop: bool = False
    restamp: bool = True
    """Shift recorded times so the session starts now (the demo); False keeps recorded times."""
