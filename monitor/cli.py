"""argv -> settings -> logging -> run. Exit codes: 0 ok, 1 runtime failure, 2 bad config/usage."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tomllib
import urllib.error
import urllib.request
from pathlib import Path
from typing import cast

import msgspec

from monitor import settings
from monitor.logging import configure_logging

EXIT_CONFIG = 2
# a daemon listening on every address is reached on loopback
_LOOPBACK = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="vixmon",
        description="Streaming risk monitor for SPX iron condors hedged with layered VIX calls.",
    )
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the daemon")
    run.add_argument("--config", type=Path, help="config TOML (default: the shipped demo)")
    run.add_argument("--role", choices=["all", "ingest", "engine"], default="all")
    check = sub.add_parser("check-config", help="validate a config and its portfolio")
    check.add_argument("path", type=Path, nargs="?")
    reload = sub.add_parser("reload", help="ask the running daemon to reload its config")
    reload.add_argument("--config", type=Path, help="config of the daemon (for its HTTP address)")
    replay = sub.add_parser("replay", help="run a recorded session through the rules offline")
    replay.add_argument("file", type=Path, help="recorded session (JSON lines, gzip allowed)")
    replay.add_argument("--config", type=Path, help="config (portfolio, rules; default: demo)")
    replay.add_argument("--report", type=Path, help="write the JSON report to this file")
    replay.add_argument("--markdown", type=Path, help="write the Markdown report to this file")
    replay.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
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
    lc = loaded.settings.logging  # the level is validated with the rest of the config
    configure_logging(level=lc.level, json=lc.json)
    # imported late: the app pulls in pricing and I/O, a bad config should fail in milliseconds
    from monitor.app import App, Role

    return asyncio.run(App(loaded, role=cast(Role, args.role)).run())


def _check(args: argparse.Namespace) -> int:
    loaded = _load_or_exit(args.path)
    books = loaded.portfolio.books
    print(f"ok: {loaded.config_path} ({len(books)} book(s), portfolio {loaded.portfolio_path})")
    return 0


def _http_of(path: Path | None) -> settings.HttpConfig:
    """Read only ``[http]``: the daemon validates the rest on reload and reports every error."""
    config = path or settings.DEFAULT_CONFIG
    try:
        with config.open("rb") as fh:
            return msgspec.convert(tomllib.load(fh).get("http", {}), settings.HttpConfig)
    except (OSError, tomllib.TOMLDecodeError, msgspec.ValidationError) as exc:
        print(f"config error: {config}: {exc}", file=sys.stderr)
        raise SystemExit(EXIT_CONFIG) from None


def _reload(args: argparse.Namespace) -> int:
    http = _http_of(args.config)
    host = _LOOPBACK.get(http.host, http.host)
    if ":" in host:
        host = f"[{host}]"
    req = urllib.request.Request(f"http://{host}:{http.port}/api/v1/reload", method="POST")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            print(json.loads(resp.read())["message"])
            return 0
    except urllib.error.HTTPError as exc:
        print(json.loads(exc.read()).get("message", str(exc)), file=sys.stderr)
        return EXIT_CONFIG
    except OSError as exc:
        print(f"cannot reach vixmon at {http.host}:{http.port}: {exc}", file=sys.stderr)
        return 1


def _replay(args: argparse.Namespace) -> int:
    from monitor import replay_report

    loaded = _load_or_exit(args.config)
    return replay_report.main(loaded, args.file, report=args.report, markdown_out=args.markdown,
                              progress=not args.no_progress)


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
    return EXIT_CONFIG


if __name__ == "__main__":
    sys.exit(main())
