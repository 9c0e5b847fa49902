"""Checks every decoded config value must pass whatever its key, sans I/O.

msgspec's ``Meta`` constraints give each numeric key its range; what they cannot say for every
key at once is checked here by walking the decoded Structs: every float is finite (TOML allows
``inf`` and ``nan``, and one of them in a duration or a limit crashes or spins the daemon), every
string is free of NUL characters (they end paths at the OS boundary), and every ``SecretRef``
is found, with its TOML path, so the loader can resolve it before ``run`` needs it.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import msgspec

from monitor.secrets import SecretRef


def walk(value: Any, path: str) -> Iterator[tuple[str, Any]]:
    """Yield (TOML path, leaf value) for every leaf of a decoded config value."""
    if isinstance(value, SecretRef):
        yield path, value
    elif isinstance(value, msgspec.Struct):
        for name in value.__struct_fields__:
            yield from walk(getattr(value, name), f"{path}.{name}" if path else name)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from walk(item, f"{path}.{key}")
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            yield from walk(item, f"{path}[{i}]")
    else:
        yield path, value


def leaf_errors(value: Any, path: str = "") -> list[str]:
    """Return ``path: message`` for every non-finite float and every string holding a NUL."""
    errors: list[str] = []
    for where, leaf in walk(value, path):
        if isinstance(leaf, float) and not math.isfinite(leaf):
            errors.append(f"{where}: must be a finite number, got {leaf!r}")
        elif isinstance(leaf, str) and "\x00" in leaf:
            errors.append(f"{where}: must not contain a NUL character")
    return errors


def secret_refs(value: Any, path: str = "") -> list[tuple[str, SecretRef]]:
    """Return every ``SecretRef`` in a decoded config value, with its TOML path."""
    return [(where, leaf) for where, leaf in walk(value, path) if isinstance(leaf, SecretRef)]
