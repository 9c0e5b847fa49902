"""argv -> settings -> logging -> run. Exit codes: 0 ok, 1 runtime failure, 2 bad config/usage."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tomllib
import urllib.error
import urllib.request
from importlib import metadata
from pathlib import Path
from typing import Any, cast

import msgspec
import structlog

from monitor import allocator, settings
from monitor.logging import configure_logging
from monitor.secrets import SecretError, read_secret

EXIT_CONFIG = 2
# a daemon listening on every address is reached on loopback
_LOOPBACK = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}


def _version() -> str:
    try:
        return metadata.version("vixmon")
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "(not installed)"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="vixmon",
        description="Streaming risk monitor for SPX iron condors hedged with layered VIX calls.",
    )
    p.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the daemon")
    run.add_argument("--config", type=Path, help="config TOML (default: the shipped demo)")
    run.add_argument("--role", choices=["all", "ingest", "engine"], default="all")
    run.add_argument("--replica", help="this engine replica's name (overrides scale.replica)")
    check = sub.add_parser("check-config", help="validate a config and its portfolio")
    check.add_argument("path", type=Path, nargs="?")
    reload = sub.add_parser("reload", help="ask the running daemon to reload its config")
    reload.add_argument("--config", type=Path, help="config of the daemon (for its HTTP address)")
    baseline = sub.add_parser("baseline", help="the vega baseline of a book (the roll target)")
    bsub = baseline.add_subparsers(dest="baseline_command", required=True)
    bset = bsub.add_parser("set", help="set a book's vega baseline in the running daemon")
    bset.add_argument("book", help="book name")
    bset.add_argument("value", type=float, nargs="?", help="USD per vol point (default: now)")
    bset.add_argument("--config", type=Path, help="config of the daemon (for its HTTP address)")
    replay = sub.add_parser("replay", help="run a recorded session through the rules offline")
    replay.add_argument("file", type=Path, help="recorded session (JSON lines, gzip allowed)")
    replay.add_argument("--config", type=Path, help="config (portfolio, rules; default: demo)")
    replay.add_argument("--report", type=Path, help="write the JSON report to this file")
    replay.add_argument("--markdown", type=Path, help="write the Markdown report to this file")
    replay.add_argument("--html", type=Path, help="write a self-contained HTML report (charts)")
    replay.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    rec = sub.add_parser("record", help="record the live quote stream to session files")
    rec.add_argument("--config", type=Path, help="config of the daemon (its Redis, state_dir)")
    rec.add_argument("--out", type=Path, help="folder for the files (default: STATE_DIR/sessions)")
    rec.add_argument("--redis", help="Redis URL (default: the config's, or its embedded one)")
    rec.add_argument("--max-file-mb", type=float, default=256.0, help="continue in a new part")
    rec.add_argument("--max-total-mb", type=float, default=8192.0, help="delete the oldest")
    pos = sub.add_parser("positions", help="the book recognized from the accounts (or portfolio)")
    pos.add_argument("--config", type=Path, help="config with [[accounts]] (default: demo)")
    pos.add_argument("--write", type=Path, help="also write the book as a portfolio TOML")
    return p


def _load_or_exit(path: Path | None) -> settings.Loaded:
    try:
        return settings.load(path)
    except settings.ConfigError as exc:
        for err in exc.errors:
            print(f"config error: {err}", file=sys.stderr)
        raise SystemExit(EXIT_CONFIG) from None


def _run(args: argparse.Namespace) -> int:
    loaded = _load_or_exit(args.config)
    if args.replica is not None:
        if not args.replica or ":" in args.replica:
            print("usage error: --replica: a non-empty name without ':'", file=sys.stderr)
            return EXIT_CONFIG
        scale = msgspec.structs.replace(loaded.settings.scale, replica=args.replica)
        loaded = msgspec.structs.replace(
            loaded, settings=msgspec.structs.replace(loaded.settings, scale=scale))
    lc = loaded.settings.logging  # the level is validated with the rest of the config
    configure_logging(level=lc.level, json=lc.json)
    tuned = allocator.tune(os.environ)  # before any thread: arenas are made per thread
    structlog.get_logger(__name__).info("malloc_tuned", **tuned)
    # imported late: the app pulls in pricing and I/O, a bad config should fail in milliseconds
    from monitor.app import App, Role

    return asyncio.run(App(loaded, role=cast(Role, args.role)).run())


def _check(args: argparse.Namespace) -> int:
    loaded = _load_or_exit(args.path)
    books = loaded.portfolio.books
    source = loaded.portfolio_path or "none: books from [[accounts]]"
    print(f"ok: {loaded.config_path} ({len(books)} book(s), portfolio {source})")
    return 0


def _http_of(path: Path | None) -> settings.HttpConfig:
    """Read only ``[http]``: the daemon validates the rest on reload and reports every error."""
    config = path or settings.DEFAULT_CONFIG
    try:
        with config.open("rb") as fh:
            return msgspec.convert(tomllib.load(fh).get("http", {}), settings.HttpConfig)
    except (OSError, ValueError, tomllib.TOMLDecodeError, msgspec.ValidationError) as exc:
        print(f"config error: {config}: {exc}", file=sys.stderr)
        raise SystemExit(EXIT_CONFIG) from None


def _post(config: Path | None, path: str, body: dict[str, Any] | None) -> dict[str, Any] | int:
    """POST to the running daemon's API (its address and token from the config): the JSON
    answer, or the exit code after printing why it failed."""
    http = _http_of(config)
    host = _LOOPBACK.get(http.host, http.host)
    if ":" in host:
        host = f"[{host}]"
    req = urllib.request.Request(f"http://{host}:{http.port}{path}", method="POST")
    if body is not None:
        req.data = json.dumps(body).encode()
        req.add_header("Content-Type", "application/json")
    try:
        token = read_secret(http.token)
    except SecretError as exc:
        print(f"config error: http.token: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            answer: dict[str, Any] = json.loads(resp.read())
            return answer
    except urllib.error.HTTPError as exc:
        try:
            doc = json.loads(exc.read())
        except ValueError:  # not one of our JSON answers (a proxy's page, say)
            doc = {}
        print(doc.get("message") or doc.get("error") or str(exc), file=sys.stderr)
        return EXIT_CONFIG
    except OSError as exc:
        print(f"cannot reach vixmon at {http.host}:{http.port}: {exc}", file=sys.stderr)
        return 1


def _reload(args: argparse.Namespace) -> int:
    doc = _post(args.config, "/api/v1/reload", None)
    if isinstance(doc, int):
        return doc
    print(doc["message"])
    return 0


def _baseline(args: argparse.Namespace) -> int:
    """POST /api/v1/baseline: the value given, or the book's net vega now."""
    doc = _post(args.config, "/api/v1/baseline", {"book": args.book, "value_usd": args.value})
    if isinstance(doc, int):
        return doc
    print(f"{doc['book']}: vega baseline {doc['vega_baseline_usd']:+,.2f} USD per vol "
          f"point ({doc['vega_baseline_source']})")  # fmt: skip
    return 0


def _replay(args: argparse.Namespace) -> int:
    from monitor import replay_report

    loaded = _load_or_exit(args.config)
    return replay_report.main(loaded, args.file, report=args.report, markdown_out=args.markdown,
                              progress=not args.no_progress, html_out=args.html)


def _record(args: argparse.Namespace) -> int:
    loaded = _load_or_exit(args.config)
    lc = loaded.settings.logging
    configure_logging(level=lc.level, json=lc.json)
    from monitor.recording import command

    return command.main(loaded, out=args.out, redis=args.redis, max_file_mb=args.max_file_mb,
                        max_total_mb=args.max_total_mb)  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    match args.command:
        case "run":
            return _run(args)
        case "check-config":
            return _check(args)
        case "reload":
            return _reload(args)
        case "replay":
            return _replay(args)
        case "baseline":
            return _baseline(args)
        case "record":
            return _record(args)
        case "positions":
            from monitor.positions import command as positions

            return positions.main(_load_or_exit(args.config), write=args.write)
    return EXIT_CONFIG


if __name__ == "__main__":
    sys.exit(main())
