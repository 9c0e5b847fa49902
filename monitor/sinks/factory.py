"""From sink config to sinks: secrets read (and registered for redaction), sinks built.

Secrets are read once, when the service is built, so a missing or malformed one fails startup
with the TOML path of the reference (``sinks.ops.url``), never the value.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass

import aiohttp

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
        raise SecretError(f"sinks.{sink}.{field}: names no env var, file or credential")
    return value


def _url(sink: str, field: str, ref: SecretRef, environ: dict[str, str] | None) -> str:
    url = _secret(sink, field, ref, environ)
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SecretError(f"sinks.{sink}.{field}: the secret is not an http(s) URL")
    # a receiver's error page often echoes the path (Slack's token lives there): redact it too
    register_secret(parts.path + (f"?{parts.query}" if parts.query else ""))
    register_secret(parts.query)
    register_secret(parts.password)
    return url


def _key(sink: str, index: int, secret: str) -> bytes:
    try:
        return signing_key(secret)
    except SigningSecretError as exc:
        raise SigningSecretError(f"sinks.{sink}.signing_secrets[{index}]: {exc}") from None
