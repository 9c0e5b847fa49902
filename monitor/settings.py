"""Configuration: frozen, keyword-only msgspec Structs decoded from TOML.

``load(path)`` decodes each top-level section on its own so that one run reports every section's
first mistake, each named by its TOML path (``feeds[0].speed``), and then validates the
portfolio the config names. Secrets are never in the TOML: only ``SecretRef``s pointing at
environment variables or credential files.
"""

from __future__ import annotations

import ipaddress
import os
import re
import time
import tomllib
import urllib.parse
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec

from adapters.accounts import AccountConfig, check_accounts
from adapters.registry import FeedConfig
from adapters.replay.config import ReplayFeedConfig
from adapters.simulator.config import SimulatorFeedConfig, check_start, start_ns
from monitor.model import Book, Portfolio
from monitor.positions import checks as position_checks
from monitor.rules import config as rc
from monitor.rules.calendar import EventCalendar, parse_events
from monitor.secrets import SecretRef
from monitor.sinks.config import LogSinkConfig, SinkConfig
from monitor.validation import leaf_errors, secret_refs

Count = Annotated[int, msgspec.Meta(ge=1, le=2**62)]
Millis = Annotated[int, msgspec.Meta(ge=1, le=86_400_000)]
Seconds = Annotated[float, msgspec.Meta(gt=0)]
NonNegativeSeconds = Annotated[float, msgspec.Meta(ge=0)]
Rate = Annotated[float, msgspec.Meta(ge=-1, le=1)]


def _packaged_data() -> Path:
    """Return the folder of the data files shipped inside the package (``monitor/data``).

    An installed wheel has no ``config/`` beside it: the defaults are package data. The demo
    config names its portfolio and session relative to itself, so they resolve here too.
    """
    data = resources.files("monitor") / "data"
    if not isinstance(data, Path):  # imported from a zip: the defaults are not real files
        raise RuntimeError(f"vixmon's package data is not on a file system: {data}")
    return data


DATA_DIR = _packaged_data()
DEFAULT_CONFIG = DATA_DIR / "vixmon.toml"
DEFAULT_EVENTS = DATA_DIR / "events.toml"


class RedisConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    url: str = ""
    """Empty: start the embedded server with data in ``state_dir``."""
    state_dir: str = "state"
    key_prefix: str = "vixmon"
    quotes_maxlen: Count = 1_000_000
    dead_maxlen: Count = 100_000
    dead_raw_max_bytes: Annotated[int, msgspec.Meta(ge=64, le=16 * 2**20)] = 65_536
    """A dead-lettered quote's ``raw`` copy is cut to this many bytes (``raw_bytes``: its size)."""
    max_entry_bytes: Annotated[int, msgspec.Meta(ge=4096, le=512 * 2**20)] = 8 * 2**20
    """A quote stream entry larger than this is rejected whole, undecoded (``entry_too_large``)."""
    block_ms: Millis = 500
    socket_timeout_s: Seconds = 5.0
    claim_idle_ms: Millis = 30_000
    """Pending entries idle this long are taken over from a dead consumer (XAUTOCLAIM)."""
    read_count: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 256
    cluster: bool = False
    """``url`` names one node of a Redis Cluster (the client discovers the rest)."""
    sentinels: list[str] = msgspec.field(default_factory=list)
    """``host:port`` of each Sentinel; the master's address comes from them, never from ``url``
    (which then only gives the user, password and database: ``redis://:password@/0``)."""
    sentinel_master: str = ""
    """The master's name in the Sentinels' ``sentinel monitor <name> ...``."""

    def sentinel_addresses(self) -> list[tuple[str, int]]:
        """Return ``sentinels`` as (host, port) pairs; ``check_sentinels`` has vetted them."""
        return [parse_host_port(s) for s in self.sentinels]


def parse_host_port(text: str) -> tuple[str, int]:
    """Split ``host:port`` (IPv6 as ``[::1]:26379``); raise ValueError saying what is wrong."""
    host, sep, port = text.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not sep or not host:
        raise ValueError(f"{text!r} is not host:port")
    if not (port.isascii() and port.isdigit()) or not 1 <= int(port) <= 65535:
        raise ValueError(f"{text!r}: the port must be a number from 1 to 65535")
    return host, int(port)


def check_sentinels(r: RedisConfig) -> list[str]:
    """Return the errors of the ``[redis]`` Sentinel keys, each named by its TOML path."""
    if not r.sentinels and not r.sentinel_master:
        return []
    errors = [] if r.sentinel_master else [
        "redis.sentinel_master: needed with redis.sentinels (the name in `sentinel monitor`)"]
    if not r.sentinels:
        errors.append("redis.sentinels: needed with redis.sentinel_master (host:port of each)")
    for i, text in enumerate(r.sentinels):
        try:
            parse_host_port(text)
        except ValueError as exc:
            errors.append(f"redis.sentinels[{i}]: {exc}")
    if r.cluster:
        errors.append("redis.sentinels: not with redis.cluster (a Cluster fails over by itself)")
    url = urllib.parse.urlsplit(r.url)
    if r.url and (url.scheme != "redis" or url.netloc.rpartition("@")[2]):  # a host or port
        errors.append("redis.url: with redis.sentinels give only user, password and database, "
                      "as redis://:password@/0 (the master's address comes from Sentinel)")
    return errors


class EngineConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    cadence_ms: Millis = 250
    consumer: str = ""
    """Consumer name in the quotes group; empty: hostname-pid."""
    rate: Rate = 0.04
    rate_curve: list[tuple[float, float]] = msgspec.field(default_factory=list)
    """Optional (days, rate) points; linear between, flat beyond. Overrides ``rate``."""
    dividend_yield: Rate = 0.013
    stale_after_s: Seconds = 60.0
    """The whole market is stale when no instrument has quoted for this long (a silent feed)."""
    mark_max_age_s: Seconds = 900.0
    """A leg's mark is unusable when its own quote is older than this (feeds send changes only)."""
    last_trade_max_age_s: Seconds = 900.0
    """Without a two-sided quote, a last trade at most this old is the mark (else settlement)."""
    time_source: Literal["wall", "market"] = "wall"
    """``market``: evaluate at the newest quote's event time (replays of recorded sessions)."""
    max_future_skew_s: Annotated[float, msgspec.Meta(ge=0, le=3600)] = 5.0
    """A quote stamped more than this ahead of the wall clock is rejected (``future_ts``)."""
    max_market_jump_s: Seconds = 4 * 86_400.0
    """On market time: a quote stamped more than this after the newest accepted one is rejected
    (``future_ts``); a recording with a longer gap (a long weekend) needs a larger value."""


class ScaleConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Several engine processes sharing the books (``monitor.scale``, docs/reliability.md)."""

    partitions: Annotated[int, msgspec.Meta(ge=0, le=4096)] = 0
    """0: this engine evaluates every book (one engine). N: books are hashed into N partitions,
    each owned by one engine replica at a time through a lease in Redis."""
    replica: str = ""
    """This replica's name, unique among the engines sharing the Redis; stable across restarts
    (a restart takes its partitions back at once). Empty: hostname-pid."""
    lease_ttl_s: Annotated[float, msgspec.Meta(ge=1, le=300)] = 5.0
    """A partition whose owner stopped renewing is free after this."""
    renew_every_s: Annotated[float, msgspec.Meta(gt=0, le=100)] = 1.0
    """How often a replica renews its leases, heartbeats and rebalances (< lease_ttl_s / 2)."""
    forget_after_s: Annotated[float, msgspec.Meta(ge=10, le=30 * 86_400)] = 3600.0
    """A replica silent this long is dropped from the registry with its quote consumer group."""


class HttpConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    host: str = "127.0.0.1"
    port: Annotated[int, msgspec.Meta(ge=0, le=65_535)] = 9464
    """0: any free port (tests)."""
    token: SecretRef | None = None
    """Bearer token for the routes ``protect`` names; required unless ``host`` is loopback."""
    protect: Literal["writes", "api", "all"] = "writes"
    """Routes that need the token: POSTs; also every /api/ route; everything (/metrics too)."""
    allowed_hosts: list[str] = msgspec.field(default_factory=list)
    """Host header names accepted besides loopback ones (bound elsewhere: only these, if set)."""
    header_timeout_s: Annotated[float, msgspec.Meta(gt=0, le=300)] = 5.0
    """A connection must send complete request headers within this (also the keep-alive)."""
    body_timeout_s: Annotated[float, msgspec.Meta(gt=0, le=300)] = 10.0
    max_body_bytes: Annotated[int, msgspec.Meta(ge=0, le=16_777_216)] = 65_536
    max_connections: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 100


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
    cooldown_s: NonNegativeSeconds = 60.0
    """Minimum time between two notifications for one alert key."""
    repeat_interval_s: NonNegativeSeconds = 3600.0
    """A still-firing alert is re-sent this often (0: never)."""


class LoggingConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    level: Literal["debug", "info", "warning", "error", "critical"] = "info"
    json: bool | None = None
    """None: JSON unless stdout is a terminal."""


class ShutdownConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    drain_timeout_s: NonNegativeSeconds = 10.0


class HistoryConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What survives a restart (``monitor.history``)."""

    persist: bool = True
    """Keep the rule memory (VIX bars, break-even baselines, gain timers) in Redis."""
    save_interval_s: Annotated[float, msgspec.Meta(gt=0)] = 60.0
    max_age_s: Annotated[float, msgspec.Meta(gt=0)] = 7 * 86_400.0
    """A stored memory older than this is ignored on start."""
    vix_csv_url: str = ""
    """Cboe's daily VIX history, e.g. https://cdn.cboe.com/api/global/us_indices/daily_prices/
    VIX_History.csv; empty: no fetch, the cached copy only."""
    vix_csv_cache: str = "VIX_History.csv"
    """The cached copy, relative to ``redis.state_dir``."""
    fetch_timeout_s: Annotated[float, msgspec.Meta(gt=0)] = 10.0


class Settings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    portfolio: str = ""
    """Path of the portfolio TOML, relative to this file's folder; empty: none, the books are
    the ``[[accounts]]``' (each starts empty until its broker answers)."""
    redis: RedisConfig = msgspec.field(default_factory=RedisConfig)
    engine: EngineConfig = msgspec.field(default_factory=EngineConfig)
    http: HttpConfig = msgspec.field(default_factory=HttpConfig)
    scale: ScaleConfig = msgspec.field(default_factory=ScaleConfig)
    feeds: list[FeedConfig] = msgspec.field(default_factory=lambda: [SimulatorFeedConfig()])
    sinks: list[SinkConfig] = msgspec.field(default_factory=lambda: [LogSinkConfig()])
    rules: RulesConfig = msgspec.field(default_factory=RulesConfig)
    alerts: AlertsConfig = msgspec.field(default_factory=AlertsConfig)
    logging: LoggingConfig = msgspec.field(default_factory=LoggingConfig)
    shutdown: ShutdownConfig = msgspec.field(default_factory=ShutdownConfig)
    history: HistoryConfig = msgspec.field(default_factory=HistoryConfig)
    accounts: list[AccountConfig] = msgspec.field(default_factory=list)
    """Broker account sources (``adapters/accounts.py``): positions, cost basis, balances."""


class ConfigError(Exception):
    """Every problem found in a config or portfolio, each as ``file: toml.path: message``."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


class Loaded(msgspec.Struct, frozen=True, kw_only=True):
    settings: Settings
    portfolio: Portfolio
    config_path: Path
    portfolio_path: Path | None
    """None: the config names no portfolio file (its books come from ``[[accounts]]``)."""
    events: EventCalendar = msgspec.field(default_factory=EventCalendar.empty)
    """The macro calendar named by ``rules.calendar.path``."""

    @property
    def base_dir(self) -> Path:
        return self.config_path.parent

    @property
    def state_dir(self) -> Path:
        """The embedded Redis's data folder: relative to the config's folder, except for the
        built-in demo config, whose folder is inside the installed package (often read-only):
        its state goes under the working directory."""
        builtin = self.config_path == DEFAULT_CONFIG.resolve()
        return (Path.cwd() if builtin else self.base_dir) / self.settings.redis.state_dir


_PATH_RE = re.compile(r" - at `\$(.*)`$")
_UNKNOWN_RE = re.compile(r"^Object contains unknown field `(.*)`$")


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
    path, text = (prefix or "(top level)", message) if m is None else (
        _toml_path(prefix, m[1]), message[: m.start()])
    if (unknown := _UNKNOWN_RE.match(text)) is not None:
        # name the key itself (rules.roll.otm_slak), not only its table
        key = unknown[1]
        return f"{key if path == '(top level)' else f'{path}.{key}'}: unknown key"
    return f"{path}: {text}"


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc.strerror}"]) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError([f"{path}: invalid UTF-8 at byte {exc.start}: {exc.reason}"]) from exc
    except tomllib.TOMLDecodeError as exc:  # a ValueError too: caught before the NUL case
        raise ConfigError([f"{path}: invalid TOML: {exc}"]) from exc
    except ValueError as exc:  # a NUL byte in the path
        raise ConfigError([f"{path!r}: cannot read: {exc}"]) from exc


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


def _check_settings(s: Settings, path: Path, now_ns: int) -> list[str]:
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
    if s.scale.partitions and s.scale.renew_every_s * 2 >= s.scale.lease_ttl_s:
        errors.append("scale.renew_every_s: must be below half of scale.lease_ttl_s (a lease "
                      "would expire between two renewals)")
    if ":" in s.scale.replica:
        errors.append("scale.replica: must not contain ':' (it separates the lease token)")
    if s.scale.partitions and not (s.redis.url or s.redis.sentinels):
        errors.append("scale.partitions: engines share books through one Redis: set redis.url "
                      "or redis.sentinels (the embedded server is private to one process)")
    if s.redis.cluster and not s.redis.url:
        errors.append("redis.cluster: needs redis.url (a node of the cluster)")
    errors += check_sentinels(s.redis)
    for i, feed in enumerate(s.feeds):
        if isinstance(feed, ReplayFeedConfig) and not (path.parent / feed.path).is_file():
            errors.append(f"feeds[{i}].path: no such file: {path.parent / feed.path}")
        if isinstance(feed, SimulatorFeedConfig) and feed.speed > 1 and (
                s.engine.time_source == "wall"):
            errors.append(f"feeds[{i}].speed: above 1 the simulated clock runs ahead of the "
                          'wall clock (future_ts): set engine.time_source = "market"')
        if isinstance(feed, SimulatorFeedConfig):
            errors += check_start(feed, f"feeds[{i}]", now_ns, s.engine.time_source == "market")
    names = [f.name for f in s.feeds]
    for i, name in enumerate(names):
        if names.index(name) != i:
            errors.append(f"feeds[{i}].name: duplicate feed name {name!r}")
    sink_names = [k.name for k in s.sinks]
    for i, name in enumerate(sink_names):
        if sink_names.index(name) != i:
            errors.append(f"sinks[{i}].name: duplicate sink name {name!r}")
    if s.http.token is None and not is_loopback_host(s.http.host):
        errors.append(f"http.token: required when http.host ({s.http.host!r}) is not loopback")
    errors += check_accounts(s.accounts, path.parent)
    if not s.portfolio and not s.accounts:
        errors.append("portfolio: required unless [[accounts]] supply the books")
    return [f"{path}: {e}" for e in errors]


def is_loopback_host(host: str) -> bool:
    """Return whether ``host`` (an ``[http] host`` value) listens on loopback only."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # "" (every interface) or a name: not provably loopback


def _check_book(book: Book, prefix: str, now_ns: int | None) -> list[str]:
    errors: list[str] = []
    for ci, condor in enumerate(book.condors):
        if len(condor.legs) != 4:
            errors.append(f"{prefix}.condors[{ci}].legs: an iron condor has exactly 4 legs")
    for yi, layer in enumerate(book.layers):
        if not layer.legs:
            errors.append(f"{prefix}.layers[{yi}].legs: a layer needs at least one leg")
    return errors + position_checks.check_book(book, prefix, now_ns)


def load_portfolio(path: Path, *, now_ns: int | None = None) -> Portfolio:
    """Decode and validate a portfolio file; raise ConfigError naming each TOML path.

    ``now_ns``: the clock the portfolio will run under (an expired contract is an error);
    None skips that check (a replay runs on its recording's clock)."""
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
        errors += _check_book(book, f"books[{bi}]", now_ns)
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


def check_secrets(s: Settings, environ: Mapping[str, str] | None = None) -> list[str]:
    """Resolve every secret the config references; return ``toml.path: problem`` for each that
    cannot be (never the value). The sinks are resolved as their factory will at startup."""
    from monitor.secrets import SecretError, read_secret
    from monitor.sinks.factory import resolve
    from monitor.sinks.signing import SigningSecretError

    env = dict(os.environ if environ is None else environ)
    errors: list[str] = []
    for sink in s.sinks:
        try:
            resolve(sink, env)
        except (SecretError, SigningSecretError) as exc:
            errors.append(str(exc))
    others = [f for f in msgspec.structs.fields(Settings) if f.name != "sinks"]
    for f in others:
        for where, ref in secret_refs(getattr(s, f.name), f.name):
            try:
                value = read_secret(ref, environ=env)
            except (SecretError, ValueError) as exc:
                errors.append(f"{where}: {exc}")
                continue
            if not value:
                what = "is empty" if value == "" else "names no env var, file or credential"
                errors.append(f"{where}: the secret {what}")
    return errors


def portfolio_clock_ns(s: Settings, now_ns: int) -> int | None:
    """Return when the portfolio's contracts must still be live: ``now_ns`` on wall time; on
    market time the earliest simulator start (a simulated session runs on its own dates), or
    None when a recording's clock decides (its dates are in the file, not the config)."""
    if s.engine.time_source == "wall":
        return now_ns
    starts = [min(start_ns(f, now_ns), now_ns) for f in s.feeds
              if isinstance(f, SimulatorFeedConfig)]  # a start ahead of now is its own error
    return min(starts) if starts and len(starts) == len(s.feeds) else None


def accounts_portfolio(s: Settings) -> Portfolio:
    """The portfolio of a config without a portfolio file: one empty book per ``book`` the
    ``[[accounts]]`` map to (cash, legs and entry prices come from the brokers)."""
    names = list(dict.fromkeys(a.book for a in s.accounts if a.book))
    return Portfolio(books=[Book(name=n) for n in names])


def load(
    path: Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    secrets: bool = True,
    now_ns: int | None = None,
) -> Loaded:
    """Load the config (default: the shipped demo) and the portfolio it names.

    Everything ``run`` needs is checked here, so ``check-config`` and ``reload`` refuse what
    would fail later: value ranges, finite numbers, NUL-free strings, readable files and (unless
    ``secrets`` is False) every secret resolved from ``environ`` (default: the process's).
    An expired contract is checked against the clock the config will run under (see
    ``portfolio_clock_ns``; ``now_ns``, default the wall clock, stands for now).
    """
    try:
        config_path = (path or DEFAULT_CONFIG).resolve()
    except (OSError, ValueError) as exc:
        raise ConfigError([f"{path!r}: cannot read: {exc}"]) from exc
    settings, errors = _decode_sections(_read_toml(config_path), config_path)
    if settings is None:
        raise ConfigError(errors)
    errors = [f"{config_path}: {e}" for e in leaf_errors(settings)]
    if errors:
        raise ConfigError(errors)
    wall_ns = time.time_ns() if now_ns is None else now_ns
    errors = _check_settings(settings, config_path, wall_ns)
    if secrets:
        errors += [f"{config_path}: {e}" for e in check_secrets(settings, environ)]
    portfolio_path = (config_path.parent / settings.portfolio).resolve() if (
        settings.portfolio) else None
    portfolio: Portfolio | None = accounts_portfolio(settings)
    try:
        if portfolio_path is not None:
            portfolio = load_portfolio(portfolio_path,
                                       now_ns=portfolio_clock_ns(settings, wall_ns))
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
