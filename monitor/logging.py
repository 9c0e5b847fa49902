"""structlog's production chain: JSON lines to stdout (console renderer on a TTY).

stdlib loggers (aiohttp, redis, asyncio) and ``warnings`` are routed through the same processors,
contextvars carry ``book``/``feed`` context, and a redaction processor replaces every registered
secret (webhook URLs, signing secrets, tokens) wherever it appears in an event's values. When
stdout is systemd's journal stream, each line starts with its syslog priority (``<4>{...}``),
which journald strips and records, so ``journalctl -p warning`` works.
"""

from __future__ import annotations

import contextvars
import logging
import os
import sys
from collections.abc import Callable, Mapping, MutableMapping
from typing import Any

import structlog

_SECRETS: set[str] = set()
_MIN_SECRET_LEN = 6
REDACTED = "***"


def register_secret(value: str | None) -> None:
    """Have every later log line redact ``value`` (ignored when empty or trivially short)."""
    if value and len(value) >= _MIN_SECRET_LEN:
        _SECRETS.add(value)


def redact_text(text: str) -> str:
    """Return ``text`` with every registered secret replaced."""
    for secret in _SECRETS:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: _redact_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_value(v) for v in value]
    if isinstance(value, BaseException):
        return redact_text(repr(value))
    return value


def redact_secrets(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: scrub registered secrets from every value."""
    if not _SECRETS:
        return event_dict
    for key, value in list(event_dict.items()):
        event_dict[key] = _redact_value(value)
    return event_dict


def context_with(**values: Any) -> contextvars.Context:
    """Return a copy of the current context with ``values`` bound for every log line in it.

    Pass it as a task's ``context=``: the task's own lines and those of the stdlib libraries it
    calls (aiohttp, redis) carry the values, and nothing outside the task does.
    """
    ctx = contextvars.copy_context()
    ctx.run(structlog.contextvars.bind_contextvars, **values)
    return ctx


def _shared_processors() -> list[Any]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        redact_secrets,
    ]


# sd-daemon(3) priorities: journald strips a leading "<N>" and files the line at that priority
_SYSLOG_PRIORITY = {"critical": 2, "error": 3, "warning": 4, "info": 6, "debug": 7}


def stdout_is_journal(environ: Mapping[str, str] | None = None) -> bool:
    """Return whether stdout is the journald stream systemd gave us ($JOURNAL_STREAM)."""
    stream = (os.environ if environ is None else environ).get("JOURNAL_STREAM", "")
    try:
        st = os.fstat(sys.stdout.fileno())
    except (OSError, ValueError):
        return False
    return stream == f"{st.st_dev}:{st.st_ino}"


class JournalPriorityPrefix:
    """Wrap a renderer: prefix each line with its syslog priority, for ``journalctl -p``."""

    def __init__(self, render: Callable[..., str | bytes]) -> None:
        self._render = render

    def __call__(self, logger: Any, method: str, event_dict: MutableMapping[str, Any]) -> str:
        priority = _SYSLOG_PRIORITY.get(str(event_dict.get("level", "info")), 6)
        line = self._render(logger, method, event_dict)
        return f"<{priority}>" + (line.decode() if isinstance(line, bytes) else line)


def _renderer(json: bool | None) -> Any:
    use_json = (not sys.stdout.isatty()) if json is None else json
    if not use_json:
        return structlog.dev.ConsoleRenderer()
    render = structlog.processors.JSONRenderer()
    return JournalPriorityPrefix(render) if stdout_is_journal() else render


def configure_logging(*, level: str = "info", json: bool | None = None) -> None:
    """Configure structlog and the stdlib root logger once, at startup.

    JSON lines unless stdout is a terminal; under systemd each line starts with its priority.
    Raises ValueError for an unknown ``level``.
    """
    renderer = _renderer(json)
    shared = _shared_processors()
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.captureWarnings(True)  # warnings.warn() from libraries becomes a log line too
    for noisy in ("aiohttp.access",):
        logging.getLogger(noisy).setLevel(logging.WARNING)
