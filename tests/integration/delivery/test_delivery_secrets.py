"""Webhook URLs and signing secrets come from credential files or env vars and never show up in
logs, in the status API or in the dead-letter stream, even when a receiver echoes them back."""

from __future__ import annotations

import asyncio
import base64
import io
import logging
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import msgspec
import pytest
import redis.asyncio as aioredis
import structlog
from prometheus_client import CollectorRegistry
from standardwebhooks import Webhook

from monitor.clock import FakeClock
from monitor.logging import configure_logging
from monitor.secrets import SecretError, SecretRef
from monitor.sinks.config import RetryConfig, SlackSinkConfig, WebhookSinkConfig
from monitor.sinks.delivery import DeliveryService
from monitor.sinks.signing import SigningSecretError
from tests.integration.delivery.support import (
    ECHO,
    FakeSleep,
    Receiver,
    events,
    running,
    wait_for,
)

SIGNING = "whsec_" + base64.b64encode(b"credential-file-secret!!").decode()
SLACK_TOKEN = "XoXoSlackTok3n"


@pytest.fixture
def json_stdout() -> Iterator[Callable[[], str]]:
    """Log through the production chain (JSON lines) and return what it printed."""
    saved = structlog.get_config()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    configure_logging(level="debug", json=True)
    printed = io.StringIO()
    handler = root.handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(printed)
    yield printed.getvalue
    structlog.configure(**saved)
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def credentials(tmp_path: Path, receiver: Receiver) -> dict[str, str]:
    """A systemd-style credentials directory, as ``LoadCredential=`` sets it up."""
    creds = tmp_path / "credentials"
    creds.mkdir()
    (creds / "hook-url").write_text(f"{receiver.url}?token=HookTok3nValue\n")
    (creds / "hook-secret").write_text(SIGNING + "\n")
    return {
        "CREDENTIALS_DIRECTORY": str(creds),
        "SLACK_URL": f"http://127.0.0.1:1/services/T0/B0/{SLACK_TOKEN}",
    }


def _service(redis: aioredis.Redis, environ: dict[str, str], clock: FakeClock) -> DeliveryService:
    hook = WebhookSinkConfig(
        name="hook",
        url=SecretRef(credential="hook-url"),
        signing_secrets=[SecretRef(credential="hook-secret")],
    )
    slack = SlackSinkConfig(
        name="desk",
        webhook_url=SecretRef(env="SLACK_URL"),
        retry=RetryConfig(initial_delay_s=10, max_age_s=60, jitter=0),
    )
    return DeliveryService(
        redis,
        [hook, slack],
        clock=clock,
        sleep=FakeSleep(clock),
        registry=CollectorRegistry(),
        consumer="test",
        environ=environ,
    )


async def test_secrets_never_reach_logs_status_or_dead_letters(
    redis: aioredis.Redis,
    receiver: Receiver,
    credentials: dict[str, str],
    clock: FakeClock,
    json_stdout: Callable[[], str],
) -> None:
    receiver.script = [ECHO, (422, {}, "")]  # the first event: echoed URL, then rejected
    service = _service(redis, credentials, clock)
    async with running(service):
        await service.outbox.append(events(2, clock=clock))
        await receiver.wait_accepted(1)
        await wait_for(lambda: sum(s.dead for s in service.status()) == 3)
        status = msgspec.json.encode(service.status()).decode()
    dead = str(await redis.xrange("{vixmon:alerts}:dead"))
    logs = json_stdout()

    assert "alert_delivery_failed" in logs and "alert_dead_lettered" in logs
    assert re.search(r"no route for \S*\*\*\*", logs)  # the receiver echoed the token
    hook_url = f"{receiver.url}?token=HookTok3nValue"
    for secret in (hook_url, "HookTok3nValue", SIGNING, SIGNING[6:], SLACK_TOKEN):
        assert secret not in logs
        assert secret not in status
        assert secret not in dead


PATH_TOKEN, QUERY_TOKEN = "PathTok3nSecret0042", "Query/Secret99"
URL_PIECES = (PATH_TOKEN, QUERY_TOKEN, "Query%2FSecret99", f"{PATH_TOKEN}?sig")


def _token_url(base: str) -> str:
    """A URL with a token in its path and another (percent-encoded) in its query."""
    return f"{base}/{PATH_TOKEN}?sig=Query%2FSecret99&v=2"


def _one_hook(redis: aioredis.Redis, url: str, clock: FakeClock) -> DeliveryService:
    hook = WebhookSinkConfig(
        name="hook", url=SecretRef(env="URL"), signing_secrets=[SecretRef(env="SECRET")]
    )
    return DeliveryService(
        redis,
        [hook],
        clock=clock,
        sleep=FakeSleep(clock),
        registry=CollectorRegistry(),
        consumer="test",
        environ={"URL": url, "SECRET": SIGNING},
    )


async def test_no_piece_of_a_url_with_a_path_token_and_a_query_survives_a_receiver_echo(
    redis: aioredis.Redis,
    receiver: Receiver,
    clock: FakeClock,
    json_stdout: Callable[[], str],
) -> None:
    url = _token_url(receiver.url)
    receiver.script = [ECHO, (422, {}, f"bad signature for {url}")]
    service = _one_hook(redis, url, clock)
    async with running(service):
        await service.outbox.append(events(1, clock=clock))
        await wait_for(lambda: service.status()[0].dead == 1)
        status = msgspec.json.encode(service.status()).decode()
    dead = str(await redis.xrange("{vixmon:alerts}:dead"))
    logs = json_stdout()
    assert "no route for" in logs and "bad signature for" in dead
    for secret in (url, *URL_PIECES):
        assert secret not in logs, secret
        assert secret not in status, secret
        assert secret not in dead, secret


async def test_no_piece_of_a_url_survives_in_an_aiohttp_error_that_prints_it(
    redis: aioredis.Redis, clock: FakeClock, json_stdout: Callable[[], str]
) -> None:
    async def broken_http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(65536)
        writer.write(b"HTTP/1.1 abc Broken\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(broken_http, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    service = _one_hook(redis, _token_url(f"http://127.0.0.1:{port}/hook"), clock)
    async with server, running(service):
        await service.outbox.append(events(1, clock=clock))
        await wait_for(lambda: service.status()[0].last_error is not None)
        status = msgspec.json.encode(service.status()).decode()
    logs = json_stdout()
    assert "ClientResponseError" in status and "url=" in status
    for secret in URL_PIECES:
        assert secret not in logs, secret
        assert secret not in status, secret


async def test_the_signing_secret_is_read_from_the_credentials_directory(
    redis: aioredis.Redis, receiver: Receiver, credentials: dict[str, str], clock: FakeClock
) -> None:
    service = _service(redis, credentials, clock)
    async with running(service):
        await service.outbox.append(events(1, clock=clock))
        await receiver.wait_accepted(1)
    req = receiver.accepted[0]
    Webhook(SIGNING).verify(req.body, req.headers)


def test_a_missing_credential_fails_at_startup_naming_the_sink_not_the_value(
    redis: aioredis.Redis, tmp_path: Path
) -> None:
    hook = WebhookSinkConfig(
        name="hook", url=SecretRef(env="NOPE_URL"), signing_secrets=[SecretRef(env="NOPE")]
    )
    with pytest.raises(SecretError, match=r"sinks\.hook\.url: environment variable NOPE_URL"):
        DeliveryService(
            redis,
            [hook],
            clock=FakeClock(),
            registry=CollectorRegistry(),
            consumer="t",
            environ={},
        )


def test_a_malformed_signing_secret_fails_at_startup_without_echoing_it(
    redis: aioredis.Redis,
) -> None:
    hook = WebhookSinkConfig(
        name="hook", url=SecretRef(env="URL"), signing_secrets=[SecretRef(env="SECRET")]
    )
    environ = {"URL": "https://example.invalid/hook", "SECRET": "not-a-whsec-secret"}
    with pytest.raises(SigningSecretError) as info:
        DeliveryService(
            redis,
            [hook],
            clock=FakeClock(),
            registry=CollectorRegistry(),
            consumer="t",
            environ=environ,
        )
    assert "signing_secrets[0]" in str(info.value)
    assert "not-a-whsec-secret" not in str(info.value)
