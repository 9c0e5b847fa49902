"""Secrets come from environment variables or credential files, never from the TOML itself.

A ``SecretRef`` in the config names where to look: an environment variable, a file path, or a
systemd credential name (read from ``$CREDENTIALS_DIRECTORY``, as set by ``LoadCredential=``).
Every secret read is registered with the log redaction processor.
"""

from __future__ import annotations

import os
from pathlib import Path

import msgspec

from monitor.logging import register_secret


class SecretRef(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    env: str | None = None
    file: str | None = None
    credential: str | None = None


class SecretError(RuntimeError):
    """Raised when a secret the config names cannot be read."""


def read_secret(ref: SecretRef | None, *, environ: dict[str, str] | None = None) -> str | None:
    """Return the secret ``ref`` points at (stripped), or None when ``ref`` names nothing."""
    if ref is None:
        return None
    env = os.environ if environ is None else environ
    value: str | None = None
    if ref.env:
        value = env.get(ref.env)
        if value is None:
            raise SecretError(f"environment variable {ref.env} is not set")
    elif ref.file:
        value = _read_file(Path(ref.file))
    elif ref.credential:
        directory = env.get("CREDENTIALS_DIRECTORY")
        if not directory:
            raise SecretError(f"credential {ref.credential!r}: $CREDENTIALS_DIRECTORY is not set")
        value = _read_file(Path(directory) / ref.credential)
    if value is not None:
        value = value.strip()
        register_secret(value)
    return value


def _read_file(path: Path) -> str:
    try:
        return path.read_text()
    except OSError as exc:
        raise SecretError(f"cannot read secret file {path}: {exc.strerror}") from exc
