"""Standard Webhooks signatures: ``v1,<base64 HMAC-SHA256 of "id.timestamp.body">``. [pure]

Secrets are ``whsec_`` followed by base64 of the key bytes. During a rotation several secrets
are configured; the message is signed with each and the signatures are space-separated, so a
receiver holding either secret verifies it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Sequence

SECRET_PREFIX = "whsec_"
MIN_KEY_BYTES = 16


class SigningSecretError(ValueError):
    """Raised for a malformed signing secret; the message never contains the secret."""


def signing_key(secret: str) -> bytes:
    """Return the key bytes of a ``whsec_`` secret."""
    if not secret.startswith(SECRET_PREFIX):
        raise SigningSecretError(f"signing secret must start with {SECRET_PREFIX!r}")
    encoded = secret[len(SECRET_PREFIX) :]
    padded = encoded + "=" * (-len(encoded) % 4)
    try:
        key = base64.b64decode(padded, validate=True)
    except binascii.Error:
        raise SigningSecretError("signing secret is not valid base64 after 'whsec_'") from None
    if len(key) < MIN_KEY_BYTES:
        raise SigningSecretError(f"signing secret key must be at least {MIN_KEY_BYTES} bytes")
    return key


def signature_header(keys: Sequence[bytes], msg_id: str, timestamp_s: int, body: bytes) -> str:
    """Return the ``webhook-signature`` value: one ``v1,`` signature per key."""
    signed = f"{msg_id}.{timestamp_s}.".encode() + body
    return " ".join(
        "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
        for key in keys
    )


def webhook_headers(
    keys: Sequence[bytes], msg_id: str, timestamp_s: int, body: bytes
) -> dict[str, str]:
    """Return the three Standard Webhooks headers for one delivery attempt."""
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp_s),
        "webhook-signature": signature_header(keys, msg_id, timestamp_s, body),
    }
