"""A scrape of /metrics, read the way a PromQL query sees it."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families

# the series names a query may use for each family type (text format 0.0.4)
_SUFFIXES = {
    "counter": ("_total",),
    "gauge": ("",),
    "histogram": ("", "_bucket", "_sum", "_count"),
    "summary": ("", "_sum", "_count"),
    "info": ("_info",),
    "stateset": ("",),
    "unknown": ("",),
}


@dataclass(frozen=True, slots=True)
class Family:
    name: str
    """As exposed: a counter's name ends in ``_total``."""
    type: str
    label_names: frozenset[str]
    """Labels seen on its samples (without ``le``/``quantile``); empty when it has none."""
    has_samples: bool


class Exposition:
    def __init__(self, text: str) -> None:
        self.text = text
        self.families: dict[str, Family] = {}
        for fam in text_string_to_metric_families(text):
            exposed = fam.name + "_total" if fam.type == "counter" else fam.name
            labels = {k for s in fam.samples for k in s.labels} - {"le", "quantile"}
            self.families[exposed] = Family(exposed, fam.type, frozenset(labels), bool(fam.samples))
        # prometheus_client exposes a counter's or histogram's creation time as its own gauge
        for name in [n for n in self.families if n.endswith("_created")]:
            base = name.removesuffix("_created")
            if base in self.families or base + "_total" in self.families:
                del self.families[name]

    def series_names(self) -> set[str]:
        """Every series name a query can select from this scrape."""
        names: set[str] = set()
        for fam in self.families.values():
            base = fam.name.removesuffix("_total") if fam.type == "counter" else fam.name
            names.update(base + suffix for suffix in _SUFFIXES.get(fam.type, ("",)))
        return names

    def vixmon_families(self) -> dict[str, Family]:
        return {n: f for n, f in self.families.items() if n.startswith("vixmon_")}
