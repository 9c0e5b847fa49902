"""argv -> settings -> logging -> run. Exit codes: 0 ok, 1 runtime failure, 2 bad config/usage."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import cast

from monitor import settings
from monitor.logging import configure_logging

EXIT_CONFIG = 2


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="vixmon", description="Streaming risk monitor for SPX "
                                "iron condors hedged with layered VIX calls.")
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the daemon")
    run.add_argument("--config", type=Path, help="config TOML (default: the shipped demo)")
    run.add_argument("--role", choices=["all", "ingest", "engine"], default="all")
    check = sub.add_parser("check-config", help="validate a config and its portfolio")
    check.add_argument("path", type=Path, nargs="?")
    reload = sub.add_parser("reload", help="ask the running daemon to reload its config")
    reload.add_argument("--config", type=Path, help="config of the daemon (for its HTTP address)")
    return p


def _load_or_exit(path: Path | None) -> settings.Loaded:
    try:
        return settings.load(path)
    except settings.ConfigError as exc:
        for err in exc.errors:
            print(f"config error: {err}", file=sys.stderr)
        raise SystemExit(EXIT_CONFIG) from None


def _run(args: argparse.Namespace) -> int:
    from monitor.app import App, Role  # noqa: PLC0415  (keeps check-config light)

    loaded = _load_or_exit(args.config)
    lc = loaded.settings.logging
    configure_logging(level=lc.level, json=lc.json)
    return asyncio.run(App(loaded, role=cast(Role, args.role)).run())


def _check(args: argparse.Namespace) -> int:
    loaded = _load_or_exit(args.path)
    books = loaded.portfolio.books
    print(f"ok: {loaded.config_path} ({len(books)} book(s), portfolio {loaded.portfolio_path})")
    return 0


def _reload(args: argparse.Namespace) -> int:
    http = _load_or_exit(args.config).settings.http
    req = urllib.request.Request(f"http://{http.host}:{http.port}/api/v1/reload", method="POST")
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


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    match args.command:
        case "run":
            return _run(args)
        case "check-config":
            return _check(args)
        case "reload":
            return _reload(args)
    return EXIT_CONFIG


if __name__ == "__main__":
    sys.exit(main())
