"""Our registry carries prometheus_client's process, platform and GC collectors."""

from __future__ import annotations

import os
import sys

import pytest
from prometheus_client import CollectorRegistry

from adapters.base import FeedStats
from monitor.metrics import PipelineMetrics, StateCollector


@pytest.fixture
def registry() -> CollectorRegistry:
    reg = CollectorRegistry()
    PipelineMetrics(reg)
    return reg


@pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="process metrics read /proc")
def test_process_metrics_describe_this_process(registry: CollectorRegistry) -> None:
    rss = registry.get_sample_value("process_resident_memory_bytes")
    assert rss is not None and rss > 1_000_000
    fds = registry.get_sample_value("process_open_fds")
    assert fds is not None and fds >= 3
    assert (registry.get_sample_value("process_start_time_seconds") or 0) > 1.5e9


def test_python_info_names_the_running_interpreter(registry: CollectorRegistry) -> None:
    v = sys.version_info
    labels = {
        "implementation": sys.implementation.name.replace("cpython", "CPython"),
        "major": str(v.major),
        "minor": str(v.minor),
        "patchlevel": str(v.micro),
        "version": f"{v.major}.{v.minor}.{v.micro}",
    }
    assert registry.get_sample_value("python_info", labels) == 1.0


def test_gc_collections_are_counted_per_generation(registry: CollectorRegistry) -> None:
    for gen in ("0", "1", "2"):
        value = registry.get_sample_value("python_gc_collections_total", {"generation": gen})
        assert value is not None and value >= 0


def test_quotes_an_adapter_dropped_are_exported_per_feed() -> None:
    reg = CollectorRegistry()
    stats = FeedStats(dropped=3)
    reg.register(StateCollector(lambda: None, lambda: {"tradier": stats}))
    sample = reg.get_sample_value("vixmon_feed_dropped_quotes_total", {"feed": "tradier"})
    assert sample == 3.0
