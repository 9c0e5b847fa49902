"""Sink config: TOML in, frozen tagged Structs out, with defaults that match the issue."""

from __future__ import annotations

import tomllib

import msgspec
import pytest

from monitor.secrets import SecretRef
from monitor.sinks.config import (
    LogSinkConfig,
    SinkConfig,
    SlackSinkConfig,
    WebhookSinkConfig,
)


def load(text: str) -> list[SinkConfig]:
    return msgspec.convert(tomllib.loads(text)["sinks"], list[SinkConfig])


def test_each_kind_decodes_from_toml_with_secrets_as_references() -> None:
    sinks = load(
        """
        [[sinks]]
        kind = "log"

        [[sinks]]
        kind = "webhook"
        name = "ops"
        url = { env = "VIXMON_WEBHOOK_URL" }
        signing_secrets = [{ credential = "webhook-secret" }, { file = "/etc/vixmon/old" }]
        group_wait_s = 2.5
        retry = { max_age_s = 3600 }

        [[sinks]]
        kind = "slack"
        name = "desk"
        webhook_url = { credential = "slack-url" }
        rate_limit = { per_s = 0.5, burst = 2 }
        """
    )
    log, hook, slack = sinks
    assert log == LogSinkConfig(name="log")
    assert isinstance(hook, WebhookSinkConfig)
    assert hook.url == SecretRef(env="VIXMON_WEBHOOK_URL")
    assert hook.signing_secrets[1] == SecretRef(file="/etc/vixmon/old")
    assert (hook.group_wait_s, hook.retry.max_age_s) == (2.5, 3600)
    assert isinstance(slack, SlackSinkConfig)
    assert (slack.rate_limit.per_s, slack.rate_limit.burst) == (0.5, 2)


def test_defaults_retry_for_a_day_time_out_after_15_s_and_send_at_once() -> None:
    hook = WebhookSinkConfig(name="h", url=SecretRef(env="U"), signing_secrets=[SecretRef(env="S")])
    assert hook.timeout_s == 15.0
    assert hook.group_wait_s == 0.0
    assert hook.retry.max_age_s == 86_400.0
    assert hook.rate_limit is None


def test_slack_defaults_to_one_message_per_second_with_a_small_burst() -> None:
    slack = SlackSinkConfig(name="s", webhook_url=SecretRef(env="U"))
    assert slack.rate_limit.per_s == 1.0
    assert slack.rate_limit.burst == 3


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('kind = "webhook"\nname = "x"\nurl = "https://hooks.example/abc"\nsigning_secrets = []',
         "Expected `object`"),
        ('kind = "webhook"\nname = "x"\nurl = {env = "U"}\nsigning_secrets = []',
         "at least one signing secret"),
        ('kind = "slack"\nname = "x"\nwebhook_url = {env = "U"}\nchannel = "#x"',
         "unknown field `channel`"),
        ('kind = "pager"\nname = "x"', "Invalid value 'pager'"),
        ('kind = "log"\nname = "has space"', "matching regex"),
        ('kind = "slack"\nname = "x"\nwebhook_url = {env = "U"}\ntimeout_s = 0',
         "Expected `float` >"),
    ],
)  # fmt: skip
def test_mistakes_are_rejected_with_a_message_that_names_them(toml: str, message: str) -> None:
    with pytest.raises(msgspec.ValidationError, match=message):
        load("[[sinks]]\n" + toml)
