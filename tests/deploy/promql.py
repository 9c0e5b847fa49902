"""Pull the series names out of PromQL expressions (dashboard panels, alerting rules).

Not a parser: strings, label matchers, range selectors, grouping clauses and Grafana variables
are blanked, then every identifier that is not a function call or a keyword is a series name.
``promtool check rules`` separately proves each expression parses, so this only has to read
valid PromQL.
"""

from __future__ import annotations

import re

KEYWORDS = frozenset(
    {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring",
     "group_left", "group_right", "inf", "nan", "atan2"}
)  # fmt: skip
# series Prometheus makes itself rather than scraping them
SYNTHETIC = frozenset({"up", "ALERTS", "ALERTS_FOR_STATE", "scrape_duration_seconds"})

_STRING = re.compile(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|`[^`]*`')
_VARIABLE = re.compile(r"\$\{?\w+(?::\w+)?\}?")
_BRACES = re.compile(r"\{[^{}]*\}")
_RANGE = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_IDENT = re.compile(r"(?<![\w.])[A-Za-z_:][A-Za-z0-9_:]*")
_LABEL_VALUES = re.compile(r"^\s*label_values\(\s*([A-Za-z_:][A-Za-z0-9_:]*)")


def series_names(expr: str) -> set[str]:
    """Return the series names ``expr`` selects."""
    text = _VARIABLE.sub("1", _STRING.sub('""', expr))
    text = _GROUPING.sub(" ", _RANGE.sub("", _BRACES.sub("", text)))
    names = set()
    for m in _IDENT.finditer(text):
        if text[m.end() :].lstrip().startswith("(") or m.group(0).lower() in KEYWORDS:
            continue
        names.add(m.group(0))
    return names


def template_series_names(query: str) -> set[str]:
    """Series names of a Grafana templating query (``label_values(metric, label)``)."""
    m = _LABEL_VALUES.match(query)
    return {m.group(1)} if m else series_names(query)
