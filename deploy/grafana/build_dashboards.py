"""Build vixmon's Grafana dashboards: deploy/grafana/dashboards/vixmon-{book,pipeline}.json.

    python deploy/grafana/build_dashboards.py        # rewrite the JSON files
    python deploy/grafana/build_dashboards.py --check  # exit 1 if they are out of date

The JSON files are what Grafana loads (provisioning) and what the tests check; this script is
their source, so panels stay consistent (one datasource, no overlapping grid positions) and a
review reads the queries, not 2,000 lines of JSON. Edit here, run it, commit both.

Every panel reads the `$datasource` variable (any Prometheus; the compose stack's provisioned
`vixmon-prometheus` by default) and selects `job=~"$job"` (default `vixmon`, the choices are the
jobs that export `vixmon_build_info`), so the JSON imports into an existing Grafana whatever its
datasource and scrape job are called.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
PROVISIONED_DATASOURCE = "vixmon-prometheus"  # provisioning/datasources/vixmon.yaml
DEFAULT_JOB = "vixmon"  # deploy/prometheus/prometheus.yml
OUT = Path(__file__).resolve().parent / "dashboards"
GRID_WIDTH = 24
SEL = 'job=~"$job"'
BOOK = f'{SEL}, book=~"$book"'
RATE = "$__rate_interval"


@dataclass
class Panel:
    """One Grafana panel: a type, a title, its queries (legend per query) and display options."""

    kind: str
    title: str
    queries: list[tuple[str, str]]
    width: int = 12
    height: int = 8
    unit: str = "short"
    description: str = ""
    thresholds: list[tuple[float | None, str]] = field(default_factory=lambda: [(None, "green")])
    threshold_lines: bool = False
    instant: bool = False
    options: dict[str, Any] = field(default_factory=dict)
    custom: dict[str, Any] = field(default_factory=dict)
    mappings: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Row:
    title: str
    panels: list[Panel]


def _targets(panel: Panel) -> list[dict[str, Any]]:
    return [
        {
            "refId": chr(ord("A") + i),
            "datasource": DATASOURCE,
            "expr": expr,
            "legendFormat": legend,
            "range": not panel.instant,
            "instant": panel.instant,
        }
        for i, (expr, legend) in enumerate(panel.queries)
    ]


def _field_config(panel: Panel) -> dict[str, Any]:
    steps = [{"value": v, "color": c} for v, c in panel.thresholds]
    custom = dict(panel.custom)
    if panel.threshold_lines:
        custom["thresholdsStyle"] = {"mode": "line+area"}
    return {
        "defaults": {
            "unit": panel.unit,
            "thresholds": {"mode": "absolute", "steps": steps},
            "mappings": panel.mappings,
            "custom": custom,
        },
        "overrides": [],
    }


def _panel_json(panel: Panel, pid: int, x: int, y: int) -> dict[str, Any]:
    return {
        "id": pid,
        "type": panel.kind,
        "title": panel.title,
        "description": panel.description,
        "datasource": DATASOURCE,
        "gridPos": {"h": panel.height, "w": panel.width, "x": x, "y": y},
        "targets": _targets(panel),
        "fieldConfig": _field_config(panel),
        "options": panel.options,
    }


def _layout(rows: list[Row]) -> Iterator[dict[str, Any]]:
    """Place rows and their panels left to right, wrapping at the grid width."""
    pid, y = 1, 0
    for row in rows:
        yield {
            "id": pid,
            "type": "row",
            "title": row.title,
            "collapsed": False,
            "gridPos": {"h": 1, "w": GRID_WIDTH, "x": 0, "y": y},
            "panels": [],
        }
        pid, y, x, line_height = pid + 1, y + 1, 0, 0
        for panel in row.panels:
            if x + panel.width > GRID_WIDTH:
                x, y, line_height = 0, y + line_height, 0
            yield _panel_json(panel, pid, x, y)
            pid, x, line_height = pid + 1, x + panel.width, max(line_height, panel.height)
        y += line_height


def _datasource_variable() -> dict[str, Any]:
    return {
        "name": "datasource",
        "label": "Data source",
        "type": "datasource",
        "query": "prometheus",
        "current": {"text": PROVISIONED_DATASOURCE, "value": PROVISIONED_DATASOURCE},
        "refresh": 1,
        "hide": 0,
    }


def _job_variable() -> dict[str, Any]:
    query = "label_values(vixmon_build_info, job)"
    return {
        "name": "job",
        "label": "Job",
        "type": "query",
        "datasource": DATASOURCE,
        "query": {"query": query, "refId": "job"},
        "definition": query,
        "refresh": 2,
        "includeAll": False,
        "multi": False,
        "current": {"text": DEFAULT_JOB, "value": DEFAULT_JOB},
        "sort": 1,
    }


def _book_variable() -> dict[str, Any]:
    query = f"label_values(vixmon_book_value_usd{{{SEL}}}, book)"
    return {
        "name": "book",
        "label": "Book",
        "type": "query",
        "datasource": DATASOURCE,
        "query": {"query": query, "refId": "book"},
        "definition": query,
        "refresh": 2,
        "includeAll": True,
        "allValue": ".*",
        "multi": True,
        "current": {"text": "All", "value": "$__all"},
        "sort": 1,
    }


def dashboard(
    uid: str, title: str, description: str, rows: list[Row], book: bool
) -> dict[str, Any]:
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["vixmon"],
        "editable": False,
        "graphTooltip": 1,
        "refresh": "10s",
        "schemaVersion": 39,
        "time": {"from": "now-1h", "to": "now"},
        "timezone": "browser",
        "templating": {
            "list": [_datasource_variable(), _job_variable(), *([_book_variable()] if book else [])]
        },
        "annotations": {"list": []},
        "links": [
            {"type": "dashboards", "tags": ["vixmon"], "asDropdown": False, "title": "vixmon"}
        ],
        "panels": list(_layout(rows)),
    }


# ---- the book overview -------------------------------------------------------------------------

GAIN_STEPS: list[tuple[float | None, str]] = [(None, "green"), (1.5, "orange"), (2.0, "red")]
NO_YES = [{"type": "value", "options": {"0": {"text": "no"}, "1": {"text": "yes"}}}]
LAST = {"reduceOptions": {"calcs": ["lastNotNull"]}}


def _q(metric: str, labels: str = SEL, legend: str = "") -> tuple[str, str]:
    return f"{metric}{{{labels}}}", legend


def _rate(metric: str, by: str, legend: str, window: str = RATE) -> tuple[str, str]:
    return f"sum by ({by}) (rate({metric}{{{SEL}}}[{window}]))", legend


def _quantile(q: float, metric: str, by: str, legend: str, window: str = RATE) -> tuple[str, str]:
    expr = f"histogram_quantile({q}, sum by ({by}le) (rate({metric}_bucket{{{SEL}}}[{window}])))"
    return expr, legend


# Panel tables read best one panel per block, so the formatter leaves them alone.
# fmt: off
def book_rows() -> list[Row]:
    gain = _q("vixmon_layer_gain_ratio", BOOK, "{{book}} {{structure}}")
    return [
        Row("Hedge layers", [
            Panel("timeseries", "Layer gain ratio", [gain], width=16, unit="percentunit",
                  thresholds=GAIN_STEPS, threshold_lines=True,
                  description="(value − entry cost) / |entry cost| of each hedge layer; the "
                              "lines are the default harvest thresholds, 150% and 200%."),
            Panel("bargauge", "Layer gain now", [gain], width=8, unit="percentunit",
                  thresholds=GAIN_STEPS, instant=True,
                  options={"orientation": "horizontal", "displayMode": "gradient", **LAST}),
            Panel("timeseries", "Structure value",
                  [_q("vixmon_structure_value_usd", BOOK, "{{structure}} ({{kind}})")],
                  width=16, unit="currencyUSD"),
            Panel("stat", "Stale structures", [(f"sum(vixmon_structure_stale{{{BOOK}}})", "")],
                  width=8, instant=True, thresholds=[(None, "green"), (1, "red")],
                  description="Structures with a leg lacking a fresh usable mark."),
            Panel("timeseries", "Harvestable gain", [
                _q("vixmon_layer_harvestable_gain_usd", BOOK, "{{book}} {{structure}}"),
            ], width=16, unit="currencyUSD",
                  description="Selling the layer at the touch, minus its entry cost."),
            Panel("stat", "Layer contracts and roll candidates", [
                _q("vixmon_layer_contracts", BOOK, "{{structure}}"),
                _q("vixmon_roll_candidates", SEL, "roll candidates"),
            ], width=8, instant=True, options={"textMode": "value_and_name", **LAST}),
        ]),
        Row("Net Greeks", [
            Panel("stat", "Net Greeks now", [
                (f"sum(vixmon_book_delta_spx_1pct_usd{{{BOOK}}})", "Δ SPX 1%"),
                (f"sum(vixmon_book_delta_vix_1pct_usd{{{BOOK}}})", "Δ VX 1%"),
                (f"sum(vixmon_book_gamma_spx_1pct_usd{{{BOOK}}})", "Γ SPX 1%"),
                (f"sum(vixmon_book_vega_usd{{{BOOK}}})", "vega / vol point"),
                (f"sum(vixmon_book_theta_usd{{{BOOK}}})", "theta / day"),
                (f"sum(vixmon_book_value_usd{{{BOOK}}})", "book value"),
            ], width=24, height=5, unit="currencyUSD", instant=True,
                  options={"colorMode": "none", "graphMode": "none",
                           "textMode": "value_and_name", **LAST}),
            Panel("timeseries", "Delta and gamma", [
                _q("vixmon_book_delta_spx_1pct_usd", BOOK, "{{book}} Δ SPX 1%"),
                _q("vixmon_book_delta_vix_1pct_usd", BOOK, "{{book}} Δ VX 1%"),
                _q("vixmon_book_gamma_spx_1pct_usd", BOOK, "{{book}} Γ SPX 1%"),
            ], unit="currencyUSD"),
            Panel("timeseries", "Vega and theta", [
                _q("vixmon_book_vega_usd", BOOK, "{{book}} vega"),
                _q("vixmon_book_theta_usd", BOOK, "{{book}} theta"),
            ], unit="currencyUSD"),
        ]),
        Row("Condor risk", [
            Panel("timeseries", "Break-evens", [
                _q("vixmon_breakeven_points", BOOK, "{{structure}} {{side}}"),
                _q("vixmon_breakeven_baseline_points", BOOK, "{{structure}} {{side}} baseline"),
            ], unit="none",
                  description="Condor break-evens at expiry, hedge P&L counted (SPX points), "
                              "and where they stood at the session open."),
            Panel("timeseries", "Break-even distance against the ±1σ band", [
                _q("vixmon_breakeven_distance_sigma", BOOK, "{{structure}} {{side}}"),
            ], unit="none", thresholds=[(None, "red"), (1.0, "green")], threshold_lines=True,
                  description="Distance of each break-even from the forward in smile sigmas; "
                              "below the line (1σ, rules.breakeven.k_sigma) it lies inside the "
                              "expected move."),
            Panel("timeseries", "Expected move (1σ to expiry)",
                  [_q("vixmon_expected_move_points", BOOK, "{{structure}}")], width=8,
                  unit="none"),
            Panel("timeseries", "Stress coverage", [
                _q("vixmon_stress_coverage_ratio", BOOK, "{{book}}"),
            ], width=8, unit="none", thresholds=[(None, "red"), (1.5, "green")],
                  threshold_lines=True,
                  description="(cash + near-term theta-positive premium) / worst loss on the "
                              "spot x vol grid; the line is rules.stress.min_coverage."),
            Panel("timeseries", "Stress: worst loss and assets", [
                _q("vixmon_stress_worst_loss_usd", BOOK, "{{book}} worst loss"),
                _q("vixmon_stress_coverage_assets_usd", BOOK, "{{book}} assets"),
            ], width=8, unit="currencyUSD"),
        ]),
        Row("VIX term structure", [
            Panel("bargauge", "VX futures curve", [
                _q("vixmon_vx_future_price", SEL, "M{{months_out}}"),
            ], width=8, instant=True, unit="none",
                  options={"orientation": "vertical", "displayMode": "basic", **LAST}),
            Panel("timeseries", "Contango and VIX/VIX3M", [
                _q("vixmon_vx_contango_ratio", SEL, "F2/F1 − 1"),
                _q("vixmon_vix_vix3m_ratio", SEL, "VIX/VIX3M"),
            ], width=8, unit="percentunit",
                  thresholds=[(None, "red"), (0.0, "orange"), (0.03, "green")],
                  threshold_lines=True,
                  description="The lines: backwardation (0) and rules.term_structure.min_contango "
                              "(3%); VIX/VIX3M at or above 100% is an inverted short end."),
            Panel("timeseries", "VX futures by months out",
                  [_q("vixmon_vx_future_price", SEL, "M{{months_out}}")], width=8,
                  unit="none"),
            Panel("timeseries", "VIX momentum", [
                _q("vixmon_vix_rsi", SEL, "RSI {{timeframe}}"),
                _q("vixmon_vix_macd_diff", SEL, "MACD histogram {{timeframe}}"),
            ], width=16, unit="none"),
            Panel("stat", "VIX mean reversion likely",
                  [_q("vixmon_vix_mean_reversion_likely", SEL)], width=8, instant=True,
                  mappings=NO_YES, thresholds=[(None, "green"), (1, "orange")]),
        ]),
        Row("Alerts and events", [
            Panel("table", "Alert states", [
                (f"sum by (rule, book, condition) (vixmon_rule_keys{{{BOOK}}})", ""),
            ], instant=True,
                  description="Alert keys per rule in breach, hold (inside the hysteresis band) "
                              "or unknown; every other key is clear."),
            Panel("stat", "Next macro event", [
                (f"vixmon_next_event_timestamp_seconds{{{SEL}}} - time()", "{{kind}}"),
            ], unit="dtdurations", instant=True,
                  thresholds=[(None, "red"), (3600, "orange"), (86400, "green")],
                  options={"textMode": "value_and_name", **LAST}),
            Panel("timeseries", "vixmon alert events", [
                (f"sum by (rule, status) (increase(vixmon_alert_events_total{{{SEL}}}[5m]))",
                 "{{rule}} {{status}}"),
            ], custom={"drawStyle": "bars", "fillOpacity": 60},
                  description="Notifications of vixmon's own rules: firing, repeat, resolved."),
            Panel("table", "Firing operational alerts",
                  [(f'ALERTS{{{SEL}, alertname=~"Vixmon.+", alertstate="firing"}}', "")],
                  instant=True,
                  description="Prometheus alerts from deploy/prometheus/rules/vixmon.yml."),
        ]),
    ]


# ---- the pipeline view -------------------------------------------------------------------------


def pipeline_rows() -> list[Row]:
    up_down: dict[str, Any] = {"thresholds": [(None, "red"), (1, "green")], "mappings": NO_YES}
    return [
        Row("Ingest and engine", [
            Panel("timeseries", "Quotes ingested / s",
                  [_rate("vixmon_quotes_ingested_total", "feed", "{{feed}}")], unit="ops"),
            Panel("timeseries", "Quotes rejected / s by reason",
                  [_rate("vixmon_quotes_rejected_total", "feed, reason", "{{feed}} {{reason}}")],
                  unit="ops", description="Invalid quotes, dead-lettered to vixmon:quotes:dead."),
            Panel("timeseries", "Consumer lag and pending", [
                _q("vixmon_quotes_consumer_lag", SEL, "lag {{instance}}"),
                _q("vixmon_quotes_consumer_pending", SEL, "pending {{instance}}"),
            ], description="Stream entries not yet read by the engine group (lag), and read "
                           "but not yet acknowledged (pending)."),
            Panel("timeseries", "Engine cycle time", [
                _quantile(0.5, "vixmon_engine_cycle_seconds", "", "p50"),
                _quantile(0.99, "vixmon_engine_cycle_seconds", "", "p99"),
            ], unit="s"),
        ]),
        Row("Feeds", [
            Panel("state-timeline", "Feed connected",
                  [_q("vixmon_feed_connected", SEL, "{{feed}}")], **up_down),
            Panel("timeseries", "Age of the newest quote",
                  [(f"time() - vixmon_feed_last_quote_timestamp_seconds{{{SEL}}}", "{{feed}}")],
                  unit="s", thresholds=[(None, "green"), (300, "red")], threshold_lines=True,
                  description="Wall time minus the venue time of the newest quote (a delayed "
                              "feed runs 15 minutes behind)."),
            Panel("timeseries", "Feed messages and parse errors / s", [
                _rate("vixmon_feed_messages_total", "feed", "{{feed}} messages"),
                _rate("vixmon_feed_parse_errors_total", "feed", "{{feed}} parse errors"),
            ], width=8, unit="ops"),
            Panel("stat", "Reconnects (1 h)", [
                (f"sum by (feed) (increase(vixmon_feed_reconnects_total{{{SEL}}}[1h]))",
                 "{{feed}}"),
            ], width=8, instant=True, thresholds=[(None, "green"), (3, "orange")]),
            Panel("stat", "Delayed data", [_q("vixmon_feed_delayed", SEL, "{{feed}}")], width=8,
                  instant=True, thresholds=[(None, "green"), (1, "orange")], mappings=NO_YES),
        ]),
        Row("Market data quality", [
            Panel("stat", "Market stale", [_q("vixmon_market_stale", SEL)], width=6,
                  instant=True, mappings=NO_YES, thresholds=[(None, "green"), (1, "red")]),
            Panel("timeseries", "Newest quote age (engine)",
                  [(f"time() - vixmon_market_last_quote_timestamp_seconds{{{SEL}}}", "age")],
                  width=6, unit="s",
                  description="Wall time minus the event time of the newest quote the engine "
                              "applied."),
            Panel("timeseries", "Crossed or locked quotes",
                  [_q("vixmon_quotes_crossed_locked_ratio", SEL, "share")], width=6,
                  unit="percentunit", thresholds=[(None, "green"), (0.05, "red")],
                  threshold_lines=True),
            Panel("timeseries", "Unmarked legs",
                  [_q("vixmon_book_unmarked_legs", SEL, "{{book}}")], width=6),
        ]),
        Row("Alert delivery", [
            Panel("timeseries", "Deliveries / s by outcome", [
                _rate("vixmon_alert_deliveries_total", "sink, outcome", "{{sink}} {{outcome}}"),
            ], unit="ops"),
            Panel("timeseries", "Delivery latency", [
                _quantile(0.5, "vixmon_alert_delivery_latency_seconds", "sink, ", "{{sink}} p50",
                          "5m"),
                _quantile(0.99, "vixmon_alert_delivery_latency_seconds", "sink, ", "{{sink}} p99",
                          "5m"),
            ], unit="s", description="From the alert's creation to the sink's 2xx."),
            Panel("timeseries", "Outbox pending",
                  [_q("vixmon_alert_outbox_pending", SEL, "{{sink}}")], width=8),
            Panel("state-timeline", "Sink enabled",
                  [_q("vixmon_alert_sink_enabled", SEL, "{{sink}}")], width=8, **up_down),
            Panel("stat", "Outbox data loss (24 h)",
                  [(f"sum(increase(vixmon_alert_outbox_data_loss_total{{{SEL}}}[24h]))", "")],
                  width=8, instant=True, thresholds=[(None, "green"), (1, "red")]),
        ]),
        Row("Process", [
            Panel("state-timeline", "Up", [_q("up", SEL, "{{instance}}")], width=8, **up_down),
            Panel("stat", "Config reload", [
                _q("vixmon_config_last_reload_successful", SEL, "{{instance}} last reload ok"),
            ], width=8, instant=True, mappings=NO_YES, thresholds=[(None, "red"), (1, "green")],
                  options={"textMode": "value_and_name", **LAST}),
            Panel("stat", "Last good reload", [
                (f"vixmon_config_last_reload_success_timestamp_seconds{{{SEL}}} * 1000",
                 "{{instance}}"),
            ], width=8, instant=True, unit="dateTimeFromNow",
                  options={"textMode": "value_and_name", **LAST}),
            Panel("table", "Version", [_q("vixmon_build_info", SEL)], width=24, height=5,
                  instant=True),
        ]),
    ]
# fmt: on


def build() -> dict[str, dict[str, Any]]:
    """Return every dashboard by file name."""
    return {
        "vixmon-book.json": dashboard(
            "vixmon-book",
            "vixmon / Book",
            "Hedge layers, net Greeks, condor risk, the VIX term structure and alert states.",
            book_rows(),
            book=True,
        ),
        "vixmon-pipeline.json": dashboard(
            "vixmon-pipeline",
            "vixmon / Pipeline",
            "Quote ingest, the engine's consumer, feeds, alert delivery and the process.",
            pipeline_rows(),
            book=False,
        ),
    }


def render(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the files are stale")
    args = parser.parse_args(argv)
    stale = []
    for name, doc in build().items():
        path = OUT / name
        text = render(doc)
        if args.check:
            if not path.is_file() or path.read_text() != text:
                stale.append(name)
        else:
            path.write_text(text)
    if stale:
        print(f"out of date: {', '.join(stale)} (run {Path(__file__).name})", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
