"""Standard Webhooks signatures, checked against the reference ``standardwebhooks`` package."""

from __future__ import annotations

import base64
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from monitor.sinks.signing import SigningSecretError, signing_key, webhook_headers

KEY = b"0123456789abcdef0123456789abcdef"
SECRET = "whsec_" + base64.b64encode(KEY).decode()


@settings(max_examples=50)
@given(body=st.binary(max_size=2000).map(lambda b: b.hex().encode()), msg_id=st.uuids())
def test_the_reference_implementation_verifies_what_we_sign(body: bytes, msg_id: object) -> None:
    headers = webhook_headers([KEY], f"evt_{msg_id}", int(time.time()), body)
    Webhook(SECRET).verify(body, headers, json_parse=False)


def test_with_several_secrets_each_one_verifies_alone() -> None:
    old = b"o" * 24
    headers = webhook_headers([old, KEY], "evt_1", int(time.time()), b"{}")
    assert headers["webhook-signature"].count("v1,") == 2
    Webhook(SECRET).verify(b"{}", headers)
    Webhook("whsec_" + base64.b64encode(old).decode()).verify(b"{}", headers)


def test_a_changed_body_or_id_does_not_verify() -> None:
    headers = webhook_headers([KEY], "evt_1", int(time.time()), b'{"a":1}')
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(b'{"a":2}', headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(b'{"a":1}', {**headers, "webhook-id": "evt_2"})


def test_the_headers_carry_id_and_timestamp_as_given() -> None:
    headers = webhook_headers([KEY], "evt_9", 1_795_000_000, b"{}")
    assert headers["webhook-id"] == "evt_9"
    assert headers["webhook-timestamp"] == "1795000000"
    assert headers["webhook-signature"].startswith("v1,")


def test_a_secret_without_padding_is_accepted_like_the_reference_does() -> None:
    assert signing_key(SECRET.rstrip("=")) == KEY


@pytest.mark.parametrize(
    "secret", ["sk_live_abcdefghijklmnop", "whsec_***not base64***", "whsec_c2hvcnQ="]
)
def test_a_malformed_secret_is_refused_without_being_echoed(secret: str) -> None:
    with pytest.raises(SigningSecretError) as info:
        signing_key(secret)
    assert secret not in str(info.value)
    assert secret[6:] not in str(info.value)
