"""structlog's production chain: JSON lines to stdout (console renderer on a TTY).

On a terminal an alert event is one short line (``compact_alert``); its JSON line is complete.

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
    """Return ``text`` with every registered secret replaced, the longest first (a URL before
    the token inside it, so that no piece of the URL is left showing)."""
    for secret in sorted(_SECRETS, key=len, reverse=True):
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


# the fields of an alert event's log line (monitor.sinks.log) that the console line folds away
_ALERT_FIELDS = frozenset(
    {
        "alert_id", "key", "rule", "book", "subject", "status", "severity", "summary",
        "created_at", "values", "action", "advisory", "context", "delayed", "sink",
    }
)  # fmt: skip


_NEXT_MAX_CHARS = 120


def _first_sentence(text: str) -> str:
    head, dot, _rest = text.partition(". ")
    head += dot.strip()
    return head if len(head) <= _NEXT_MAX_CHARS else head[: _NEXT_MAX_CHARS - 1] + "…"


def compact_alert(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Console processor: fold an alert event into one short line.

    ``alert firing layer_gain|main|L1-DEC@1.5: <summary>`` plus the first sentence of the
    action (at most 120 characters) and the alert id; the values, advisory and context stay in
    the JSON form only.
    """
    if event_dict.get("event") != "alert" or "key" not in event_dict:
        return event_dict
    alert = {k: event_dict.pop(k) for k in _ALERT_FIELDS & event_dict.keys()}
    event_dict.pop("logger", None)  # always the alerts logger: the line says "alert" already
    delayed = " (delayed data)" if alert.get("delayed") else ""
    event_dict["event"] = f"alert {alert.get('status')} {alert['key']}: {alert.get('summary')}"
    event_dict["event"] += delayed
    if alert.get("action"):
        event_dict["next"] = _first_sentence(str(alert["action"]))
    event_dict["id"] = alert.get("alert_id")
    return event_dict


def _renderers(json: bool | None) -> list[Any]:
    use_json = (not sys.stdout.isatty()) if json is None else json
    if not use_json:
        return [compact_alert, structlog.dev.ConsoleRenderer(sort_keys=False)]
    render = structlog.processors.JSONRenderer()
    return [JournalPriorityPrefix(render) if stdout_is_journal() else render]


def configure_logging(*, level: str = "info", json: bool | None = None) -> None:
    """Configure structlog and the stdlib root logger once, at startup.

    JSON lines unless stdout is a terminal; under systemd each line starts with its priority.
    Raises ValueError for an unknown ``level``.
    """
    renderers = _renderers(json)
    shared = _shared_processors()
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *renderers],
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.captureWarnings(True)  # warnings.warn() from libraries becomes a log line too
    for noisy in ("aiohttp.access",):
        logging.getLogger(noisy).setLevel(logging.WARNING)
