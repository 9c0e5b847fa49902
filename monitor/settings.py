"""Configuration: frozen, keyword-only msgspec Structs decoded from TOML.

``load(path)`` decodes each top-level section on its own so that one run reports every section's
first mistake, each named by its TOML path (``feeds[0].speed``), and then validates the
portfolio the config names. Secrets are never in the TOML: only ``SecretRef``s pointing at
environment variables or credential files.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any, Literal

import msgspec

from adapters.registry import FeedConfig
from adapters.simulator.config import SimulatorFeedConfig
from monitor import symbols
from monitor.model import Book, Portfolio
from monitor.rules import config as rc
from monitor.rules.calendar import EventCalendar, parse_events
from monitor.sinks.config import LogSinkConfig, SinkConfig

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "config" / "vixmon.toml"
DEFAULT_EVENTS = DEFAULT_CONFIG.parent / "events.toml"


class RedisConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    url: str = ""
    """Empty: start the embedded server with data in ``state_dir``."""
    state_dir: str = "state"
    key_prefix: str = "vixmon"
    quotes_maxlen: int = 1_000_000
    dead_maxlen: int = 100_000
    block_ms: int = 500
    socket_timeout_s: float = 5.0
    claim_idle_ms: int = 30_000
    """Pending entries idle this long are taken over from a dead consumer (XAUTOCLAIM)."""
    read_count: int = 256


class EngineConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    cadence_ms: int = 250
    consumer: str = ""
    """Consumer name in the quotes group; empty: hostname-pid."""
    rate: float = 0.04
    rate_curve: list[tuple[float, float]] = msgspec.field(default_factory=list)
    """Optional (days, rate) points; linear between, flat beyond. Overrides ``rate``."""
    dividend_yield: float = 0.013
    stale_after_s: float = 60.0
    """The whole market is stale when no instrument has quoted for this long (a silent feed)."""
    mark_max_age_s: float = 900.0
    """A leg's mark is unusable when its own quote is older than this (feeds send changes only)."""
    time_source: Literal["wall", "market"] = "wall"
    """``market``: evaluate at the newest quote's event time (replays of recorded sessions)."""


class HttpConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    host: str = "127.0.0.1"
    port: int = 9464


class LayerGainConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    thresholds: list[float] = msgspec.field(default_factory=lambda: [1.5, 2.0])
    hysteresis: float = 0.1
    """Re-arm only after the gain ratio falls below threshold - hysteresis."""
    severities: list[str] = msgspec.field(default_factory=lambda: ["warning", "critical"])


class RulesConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    layer_gain: LayerGainConfig = msgspec.field(default_factory=LayerGainConfig)
    roll: rc.RollConfig = msgspec.field(default_factory=rc.RollConfig)
    breakeven: rc.BreakevenConfig = msgspec.field(default_factory=rc.BreakevenConfig)
    term_structure: rc.TermStructureConfig = msgspec.field(default_factory=rc.TermStructureConfig)
    greeks: rc.GreeksConfig = msgspec.field(default_factory=rc.GreeksConfig)
    stress: rc.StressConfig = msgspec.field(default_factory=rc.StressConfig)
    momentum: rc.MomentumConfig = msgspec.field(default_factory=rc.MomentumConfig)
    calendar: rc.CalendarConfig = msgspec.field(default_factory=rc.CalendarConfig)
    sizing: rc.SizingConfig = msgspec.field(default_factory=rc.SizingConfig)
    data_quality: rc.DataQualityConfig = msgspec.field(default_factory=rc.DataQualityConfig)


class AlertsConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    cooldown_s: float = 60.0
    """Minimum time between two notifications for one alert key."""
    repeat_interval_s: float = 3600.0
    """A still-firing alert is re-sent this often (0: never)."""


class LoggingConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    level: Literal["debug", "info", "warning", "error", "critical"] = "info"
    json: bool | None = None
    """None: JSON unless stdout is a terminal."""


class ShutdownConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    drain_timeout_s: float = 10.0


class Settings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    portfolio: str
    """Path of the portfolio TOML, relative to this file's folder."""
    redis: RedisConfig = msgspec.field(default_factory=RedisConfig)
    engine: EngineConfig = msgspec.field(default_factory=EngineConfig)
    http: HttpConfig = msgspec.field(default_factory=HttpConfig)
    feeds: list[FeedConfig] = msgspec.field(default_factory=lambda: [SimulatorFeedConfig()])
    sinks: list[SinkConfig] = msgspec.field(default_factory=lambda: [LogSinkConfig()])
    rules: RulesConfig = msgspec.field(default_factory=RulesConfig)
    alerts: AlertsConfig = msgspec.field(default_factory=AlertsConfig)
    logging: LoggingConfig = msgspec.field(default_factory=LoggingConfig)
    shutdown: ShutdownConfig = msgspec.field(default_factory=ShutdownConfig)


class ConfigError(Exception):
    """Every problem found in a config or portfolio, each as ``file: toml.path: message``."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


class Loaded(msgspec.Struct, frozen=True, kw_only=True):
    settings: Settings
    portfolio: Portfolio
    config_path: Path
    portfolio_path: Path
    events: EventCalendar = msgspec.field(default_factory=EventCalendar.empty)
    """The macro calendar named by ``rules.calendar.path``."""

    @property
    def base_dir(self) -> Path:
        return self.config_path.parent


_PATH_RE = re.compile(r" - at `\$(.*)`$")


def _toml_path(prefix: str, msgspec_path: str) -> str:
    """Turn msgspec's ``$.a[0].b`` suffix into ``prefix.a[0].b``."""
    path = msgspec_path.lstrip(".")
    if not prefix:
        return path or "(top level)"
    if not path:
        return prefix
    return prefix + ("" if path.startswith("[") else ".") + path


def _split_error(prefix: str, exc: msgspec.ValidationError) -> str:
    message = str(exc)
    m = _PATH_RE.search(message)
    if m is None:
        return f"{prefix or '(top level)'}: {message}"
    return f"{_toml_path(prefix, m[1])}: {message[: m.start()]}"


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc.strerror}"]) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{path}: invalid TOML: {exc}"]) from exc


def _decode_sections(raw: dict[str, Any], path: Path) -> tuple[Settings | None, list[str]]:
    errors: list[str] = []
    fields = {f.name: f for f in msgspec.structs.fields(Settings)}
    for key, value in raw.items():
        if key not in fields:
            errors.append(f"{path}: {key}: unknown key")
            continue
        try:
            msgspec.convert(value, fields[key].type, strict=True)
        except msgspec.ValidationError as exc:
            errors.append(f"{path}: {_split_error(key, exc)}")
    if errors:
        return None, errors
    try:
        return msgspec.convert(raw, Settings, strict=True), []
    except msgspec.ValidationError as exc:
        return None, [f"{path}: {_split_error('', exc)}"]


def _check_settings(s: Settings, path: Path) -> list[str]:
    errors: list[str] = []
    lg = s.rules.layer_gain
    if not lg.thresholds or sorted(lg.thresholds) != lg.thresholds:
        errors.append("rules.layer_gain.thresholds: must be a non-empty ascending list")
    if len(lg.severities) != len(lg.thresholds):
        errors.append("rules.layer_gain.severities: needs one severity per threshold")
    for i, sev in enumerate(lg.severities):
        if sev not in ("info", "warning", "critical"):
            errors.append(f"rules.layer_gain.severities[{i}]: must be info, warning or critical")
    if not 0 <= lg.hysteresis < min(lg.thresholds or [1.0]):
        errors.append("rules.layer_gain.hysteresis: must be >= 0 and below the lowest threshold")
    r = s.rules
    errors += rc.check_roll(r.roll) + rc.check_stress(r.stress) + rc.check_momentum(r.momentum)
    errors += rc.check_misc(r.breakeven, r.term_structure, r.greeks, r.sizing, r.calendar,
                            r.data_quality)
    if s.engine.cadence_ms <= 0:
        errors.append("engine.cadence_ms: must be positive")
    if s.redis.block_ms / 1000 >= s.redis.socket_timeout_s:
        errors.append("redis.block_ms: a blocking read must stay shorter than socket_timeout_s")
    names = [f.name for f in s.feeds]
    for i, name in enumerate(names):
        if names.index(name) != i:
            errors.append(f"feeds[{i}].name: duplicate feed name {name!r}")
    sink_names = [k.name for k in s.sinks]
    for i, name in enumerate(sink_names):
        if sink_names.index(name) != i:
            errors.append(f"sinks[{i}].name: duplicate sink name {name!r}")
    return [f"{path}: {e}" for e in errors]


def _check_book(book: Book, prefix: str) -> list[str]:
    errors: list[str] = []
    for ci, condor in enumerate(book.condors):
        cpath = f"{prefix}.condors[{ci}]"
        if len(condor.legs) != 4:
            errors.append(f"{cpath}.legs: an iron condor has exactly 4 legs")
        for li, leg in enumerate(condor.legs):
            errors += _check_leg(leg.symbol, leg.quantity, f"{cpath}.legs[{li}]", symbols.SPX_ROOTS)
    for yi, layer in enumerate(book.layers):
        ypath = f"{prefix}.layers[{yi}]"
        if not layer.legs:
            errors.append(f"{ypath}.legs: a layer needs at least one leg")
        for li, leg in enumerate(layer.legs):
            errors += _check_leg(leg.symbol, leg.quantity, f"{ypath}.legs[{li}]", symbols.VIX_ROOTS)
    return errors


def _check_leg(sym: str, quantity: int, path: str, roots: frozenset[str]) -> list[str]:
    try:
        inst = symbols.parse(sym)
    except symbols.SymbolError as exc:
        return [f"{path}.symbol: {exc}"]
    if inst.kind is not symbols.Kind.OPTION or inst.root not in roots:
        return [f"{path}.symbol: {sym!r} must be an option with root {'/'.join(sorted(roots))}"]
    if quantity == 0:
        return [f"{path}.quantity: must not be zero"]
    return []


def load_portfolio(path: Path) -> Portfolio:
    """Decode and validate a portfolio file; raise ConfigError naming each TOML path."""
    raw = _read_toml(path)
    try:
        portfolio = msgspec.convert(raw, Portfolio, strict=True)
    except msgspec.ValidationError as exc:
        raise ConfigError([f"{path}: {_split_error('', exc)}"]) from exc
    errors: list[str] = []
    seen: set[str] = set()
    for bi, book in enumerate(portfolio.books):
        if book.name in seen:
            errors.append(f"books[{bi}].name: duplicate book name {book.name!r}")
        seen.add(book.name)
        errors += _check_book(book, f"books[{bi}]")
    if errors:
        raise ConfigError([f"{path}: {e}" for e in errors])
    return portfolio


def load_events(path: Path) -> EventCalendar:
    """Decode the macro calendar; raise ConfigError naming the TOML path of a mistake."""
    raw = _read_toml(path.resolve())
    try:
        return parse_events(raw)
    except msgspec.ValidationError as exc:
        raise ConfigError([f"{path.resolve()}: {_split_error('', exc)}"]) from exc


def load(path: Path | None = None) -> Loaded:
    """Load the config (default: the shipped demo) and the portfolio it names."""
    config_path = (path or DEFAULT_CONFIG).resolve()
    settings, errors = _decode_sections(_read_toml(config_path), config_path)
    if settings is None:
        raise ConfigError(errors)
    errors = _check_settings(settings, config_path)
    portfolio_path = (config_path.parent / settings.portfolio).resolve()
    try:
        portfolio = load_portfolio(portfolio_path)
    except ConfigError as exc:
        errors += exc.errors
        portfolio = None
    try:
        cal = settings.rules.calendar.path
        events = load_events(config_path.parent / cal if cal else DEFAULT_EVENTS)
    except ConfigError as exc:
        errors += exc.errors
        events = EventCalendar.empty()
    if errors or portfolio is None:
        raise ConfigError(errors)
    return Loaded(
        settings=settings,
        portfolio=portfolio,
        config_path=config_path,
        portfolio_path=portfolio_path,
        events=events,
    )
