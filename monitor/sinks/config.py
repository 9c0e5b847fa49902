"""Sink configuration: one frozen Struct per sink kind, a tagged union over them.

URLs and signing secrets are ``SecretRef``s (env var, file or systemd credential), never plain
strings: a webhook URL is a bearer token (Slack's certainly is), so it never sits in the TOML.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from monitor.secrets import SecretRef

SinkName = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
PositiveSeconds = Annotated[float, msgspec.Meta(gt=0)]
NonNegativeSeconds = Annotated[float, msgspec.Meta(ge=0)]


class RetryConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Exponential backoff with jitter; an event older than ``max_age_s`` is dead-lettered."""

    initial_delay_s: PositiveSeconds = 1.0
    max_delay_s: Annotated[float, msgspec.Meta(gt=0, le=60)] = 5.0
    """Cap of one backoff delay: a healed receiver is tried again within this long."""
    multiplier: Annotated[float, msgspec.Meta(ge=1)] = 2.0
    jitter: Annotated[float, msgspec.Meta(ge=0, le=1)] = 0.2
    """Each delay is shortened by a random fraction up to this much (0: no jitter)."""
    max_age_s: PositiveSeconds = 86_400.0
    """Give up once the event has waited this long (counted from when it was queued in the
    outbox, on the wall clock: a replayed alert's market time does not age it)."""
    max_retry_after_s: PositiveSeconds = 3_600.0
    """Cap on a receiver's ``Retry-After``."""


class RateLimitConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Token bucket: ``per_s`` messages per second on average, ``burst`` at once."""

    per_s: PositiveSeconds = 1.0
    burst: Annotated[int, msgspec.Meta(ge=1)] = 3


class LogSinkConfig(
    msgspec.Struct,
    frozen=True,
    kw_only=True,
    forbid_unknown_fields=True,
    tag_field="kind",
    tag="log",
):
    """One structured log line per alert event."""

    name: SinkName = "log"
    logger: str = "vixmon.alerts"


class WebhookSinkConfig(
    msgspec.Struct,
    frozen=True,
    kw_only=True,
    forbid_unknown_fields=True,
    tag_field="kind",
    tag="webhook",
):
    """JSON POSTs signed per the Standard Webhooks spec."""

    name: SinkName
    url: SecretRef
    signing_secrets: list[SecretRef]
    """``whsec_``-prefixed secrets; every one signs each message (several during rotation)."""
    timeout_s: PositiveSeconds = 15.0
    group_wait_s: NonNegativeSeconds = 0.0
    """0: send each event at once; else events for one book within the window go together."""
    max_group_size: Annotated[int, msgspec.Meta(ge=1, le=500)] = 50
    catch_up_group_size: Annotated[int, msgspec.Meta(ge=1, le=500)] = 1
    """Events of one book per message while the rate limit leaves a backlog (1: never group:
    every event keeps its own ``webhook-id``)."""
    retry: RetryConfig = msgspec.field(default_factory=RetryConfig)
    rate_limit: RateLimitConfig | None = None

    def __post_init__(self) -> None:
        if not self.signing_secrets:
            raise ValueError("a webhook sink needs at least one signing secret")


class SlackSinkConfig(
    msgspec.Struct,
    frozen=True,
    kw_only=True,
    forbid_unknown_fields=True,
    tag_field="kind",
    tag="slack",
):
    """A Slack incoming webhook: Block Kit blocks plus the ``text`` fallback."""

    name: SinkName
    webhook_url: SecretRef
    timeout_s: PositiveSeconds = 15.0
    group_wait_s: NonNegativeSeconds = 0.0
    max_group_size: Annotated[int, msgspec.Meta(ge=1, le=10)] = 10
    """Events per grouped message (Slack allows 50 blocks, an event takes up to five: those that
    do not fit in full are shown as one line each)."""
    catch_up_group_size: Annotated[int, msgspec.Meta(ge=1, le=200)] = 100
    """Events of one book per message while the rate limit leaves a backlog (after an outage):
    the first ones in full, the rest one line each, so 1,000 alerts go out in 10 messages."""
    retry: RetryConfig = msgspec.field(default_factory=RetryConfig)
    rate_limit: RateLimitConfig = msgspec.field(default_factory=RateLimitConfig)
    """Slack drops bursts over about one message per second per webhook."""


SinkConfig = LogSinkConfig | WebhookSinkConfig | SlackSinkConfig
