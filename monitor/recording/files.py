"""Session files: gzip JSON lines in the replay format, one file per New York day, capped.

Each line is one stream entry's quotes as a JSON array (``adapters.replay`` reads a quote
object or an array per line). Files are named ``PREFIX-YYYY-MM-DD.jsonl.gz`` by the quotes'
New York date; a file that reaches ``max_file_bytes`` is continued in ``…-YYYY-MM-DD.1.jsonl.gz``
and so on, and when the folder's session files exceed ``max_total_bytes`` the oldest are
deleted (never the one being written). Every write is flushed to a gzip member boundary
(``Z_SYNC_FLUSH``): a file is readable while it grows, and a crash loses at most the last entry.
A recording continued after a restart appends a new gzip member, which gzip readers join.
"""

from __future__ import annotations

import datetime as dt
import gzip
import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO
from zoneinfo import ZoneInfo

import msgspec

from monitor.model import Quote, QuoteLike

NY = ZoneInfo("America/New_York")
_encode = msgspec.json.Encoder().encode
_NAME = re.compile(r"^(?P<prefix>.+)-(?P<day>\d{4}-\d{2}-\d{2})(?:\.(?P<part>\d+))?\.jsonl\.gz$")


def ny_day(ts_ns: int) -> dt.date:
    return dt.datetime.fromtimestamp(ts_ns / 1e9, NY).date()


def as_quote(q: QuoteLike) -> Quote:
    """Return a ``Quote`` (a binary batch row gives its fields; only what is set is written)."""
    if isinstance(q, Quote):
        return q
    fields = {f: getattr(q, f, None) for f in Quote.__struct_fields__}
    return Quote(**{k: v for k, v in fields.items() if v is not None})


def line(quotes: Sequence[QuoteLike]) -> bytes:
    """Return one session line (a JSON array of the quotes, newline-terminated)."""
    return _encode([as_quote(q) for q in quotes]) + b"\n"


@dataclass(frozen=True, slots=True)
class Limits:
    max_file_bytes: int = 256 * 1024 * 1024
    max_total_bytes: int = 8 * 1024 * 1024 * 1024


class SessionFiles:
    """Write quotes to the day's session file, rotating by day and size."""

    def __init__(self, folder: Path, *, prefix: str = "session", limits: Limits = Limits()) -> None:
        self.folder = folder
        self.prefix = prefix
        self.limits = limits
        self.path: Path | None = None
        self._fh: gzip.GzipFile | None = None
        self._raw: IO[bytes] | None = None
        self._day: dt.date | None = None
        self.lines = 0
        self.quotes = 0
        self.skipped = 0
        """Quotes the stream held that failed validation (not written)."""
        folder.mkdir(parents=True, exist_ok=True)

    def name(self, day: dt.date, part: int) -> Path:
        suffix = f".{part}" if part else ""
        return self.folder / f"{self.prefix}-{day.isoformat()}{suffix}.jsonl.gz"

    def write(self, quotes: Sequence[QuoteLike]) -> None:
        """Append one entry's quotes (grouped by New York day of their times)."""
        by_day: dict[dt.date, list[QuoteLike]] = {}
        for q in quotes:
            by_day.setdefault(ny_day(q.ts), []).append(q)
        for day, group in sorted(by_day.items()):
            fh = self._file_for(day)
            fh.write(line(group))
            fh.flush(zlib.Z_SYNC_FLUSH)
            self.lines += 1
            self.quotes += len(group)

    def _file_for(self, day: dt.date) -> gzip.GzipFile:
        if self._fh is not None and self._day == day and self._size() < self.limits.max_file_bytes:
            return self._fh
        self.close()
        # continue the day's newest part, or open the next one (never reuse a deleted number)
        parts = [n for d, n, _p in self._found() if d == day.isoformat()]
        part = max(parts, default=0)
        path = self.name(day, part)
        if path.exists() and path.stat().st_size >= self.limits.max_file_bytes:
            part += 1
            path = self.name(day, part)
        self._raw = path.open("ab")
        fh = gzip.GzipFile(fileobj=self._raw, mode="ab")
        self._fh, self.path, self._day = fh, path, day
        self._enforce_total()
        return fh

    def _size(self) -> int:
        return 0 if self._raw is None else self._raw.tell()

    def _found(self) -> list[tuple[str, int, Path]]:
        found = []
        for p in self.folder.iterdir():
            m = _NAME.match(p.name)
            if m and m["prefix"] == self.prefix:
                found.append((m["day"], int(m["part"] or 0), p))
        return sorted(found)

    def files(self) -> list[Path]:
        """Return this recorder's session files, oldest first."""
        return [p for _d, _n, p in self._found()]

    def _enforce_total(self) -> None:
        files = self.files()
        total = sum(p.stat().st_size for p in files)
        for p in files:
            if total <= self.limits.max_total_bytes or p == self.path:
                break
            total -= p.stat().st_size
            p.unlink()

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
        if self._raw is not None:
            self._raw.close()
        self._fh = self._raw = None
