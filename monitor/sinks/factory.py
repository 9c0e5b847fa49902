"""From sink config to sinks: secrets read (and registered for redaction), sinks built.

Secrets are read once, when the service is built, so a missing or malformed one fails startup
with the TOML path of the reference (``sinks.ops.url``), never the value.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass

import aiohttp
import yarl

from monitor.logging import register_secret
from monitor.secrets import SecretError, SecretRef, read_secret
from monitor.sinks.base import Sink
from monitor.sinks.config import LogSinkConfig, SinkConfig, SlackSinkConfig, WebhookSinkConfig
from monitor.sinks.log import LogSink
from monitor.sinks.signing import SigningSecretError, signing_key
from monitor.sinks.slack import SlackSink
from monitor.sinks.webhook import WebhookSink


@dataclass(frozen=True, slots=True)
class SinkPlan:
    """A sink's config with its secrets read."""

    config: SinkConfig
    url: str = ""
    keys: tuple[bytes, ...] = ()


def sink_kind(cfg: SinkConfig) -> str:
    """Return the config's ``kind`` tag."""
    match cfg:
        case LogSinkConfig():
            return "log"
        case WebhookSinkConfig():
            return "webhook"
        case SlackSinkConfig():
            return "slack"


def build_sink(plan: SinkPlan, session: aiohttp.ClientSession) -> Sink:
    """Return the sink ``plan`` describes; HTTP sinks share ``session``."""
    cfg = plan.config
    match cfg:
        case LogSinkConfig():
            return LogSink(name=cfg.name, logger=cfg.logger)
        case WebhookSinkConfig():
            return WebhookSink(
                name=cfg.name,
                url=plan.url,
                keys=plan.keys,
                timeout_s=cfg.timeout_s,
                session=session,
            )
        case SlackSinkConfig():
            return SlackSink(name=cfg.name, url=plan.url, timeout_s=cfg.timeout_s, session=session)


def resolve(cfg: SinkConfig, environ: dict[str, str] | None) -> SinkPlan:
    """Read the secrets ``cfg`` references (``environ`` defaults to the process's)."""
    match cfg:
        case LogSinkConfig():
            return SinkPlan(cfg)
        case WebhookSinkConfig():
            url = _url(cfg.name, "url", cfg.url, environ)
            keys = tuple(
                _key(cfg.name, i, _secret(cfg.name, f"signing_secrets[{i}]", ref, environ))
                for i, ref in enumerate(cfg.signing_secrets)
            )
            return SinkPlan(cfg, url, keys)
        case SlackSinkConfig():
            return SinkPlan(cfg, _url(cfg.name, "webhook_url", cfg.webhook_url, environ))


def _secret(sink: str, field: str, ref: SecretRef, environ: dict[str, str] | None) -> str:
    try:
        value = read_secret(ref, environ=environ)
    except SecretError as exc:
        raise SecretError(f"sinks.{sink}.{field}: {exc}") from None
    if not value:
        what = "is empty" if value == "" else "names no env var, file or credential"
        raise SecretError(f"sinks.{sink}.{field}: the secret {what}")
    return value


def _url(sink: str, field: str, ref: SecretRef, environ: dict[str, str] | None) -> str:
    url = _secret(sink, field, ref, environ)
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SecretError(f"sinks.{sink}.{field}: the secret is not an http(s) URL")
    for part in secret_url_parts(url):
        register_secret(part)
    return url


def secret_url_parts(url: str) -> list[str]:
    """Return every piece of ``url`` that may carry its secret, as error texts can show it.

    A receiver's error page echoes the path or the query; aiohttp's exceptions print the URL
    as yarl normalized it (percent-encoding changed). So: the whole URL, the path, the query,
    each query value, each path segment that looks like a token, and the password — raw,
    encoded and decoded.
    """
    parts = urllib.parse.urlsplit(url)
    forms = {url, parts.path, parts.query, parts.path + (f"?{parts.query}" if parts.query else "")}
    try:
        normalized = yarl.URL(url)
    except ValueError:
        normalized = None
    if normalized is not None:
        forms |= {str(normalized), normalized.raw_path, normalized.path}
        forms |= {normalized.raw_query_string, normalized.query_string, normalized.raw_path_qs}
        forms |= {normalized.path_qs}
    for segment in parts.path.split("/"):
        if _looks_like_token(segment):
            forms |= {segment, urllib.parse.unquote(segment)}
    for _key, value in urllib.parse.parse_qsl(parts.query, keep_blank_values=True):
        forms |= {value, urllib.parse.quote(value, safe="")}
    if parts.password:
        forms.add(parts.password)
    return sorted(f for f in forms if f and f != "/")


def _looks_like_token(segment: str) -> bool:
    # not plain words ("services", "webhook"): they would be blanked in every log line
    return len(segment) >= 20 or (len(segment) >= 8 and any(c.isdigit() for c in segment))


def _key(sink: str, index: int, secret: str) -> bytes:
    try:
        return signing_key(secret)
    except SigningSecretError as exc:
        raise SigningSecretError(f"sinks.{sink}.signing_secrets[{index}]: {exc}") from None
