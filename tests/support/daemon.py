"""Run ``vixmon run`` as a real subprocess and follow its JSON log lines."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent.parent


class Daemon:
    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.lines: list[dict[str, Any]] = []
        self.raw: list[str] = []
        self._waiters: list[
            tuple[Callable[[dict[str, Any]], bool], asyncio.Future[dict[str, Any]]]
        ] = []
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        async for raw in self.proc.stdout:
            text = raw.decode(errors="replace").rstrip()
            self.raw.append(text)
            try:
                line = json.loads(text)
            except ValueError:
                continue
            self.lines.append(line)
            for pred, fut in list(self._waiters):
                if not fut.done() and pred(line):
                    fut.set_result(line)
        # the process closed stdout (it exited): nothing more can match
        for _pred, fut in self._waiters:
            if not fut.done():
                fut.set_exception(AssertionError("daemon exited:\n" + "\n".join(self.raw[-30:])))

    async def wait_log(
        self, pred: Callable[[dict[str, Any]], bool], timeout_s: float
    ) -> dict[str, Any]:
        """Return the first log line (past or future) matching ``pred``."""
        for line in self.lines:
            if pred(line):
                return line
        if self._reader.done():
            raise AssertionError("daemon exited:\n" + "\n".join(self.raw[-30:]))
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiters.append((pred, fut))
        try:
            return await asyncio.wait_for(fut, timeout_s)
        except TimeoutError:
            tail = "\n".join(self.raw[-30:])
            raise AssertionError(
                f"log line not seen in {timeout_s}s; last lines:\n{tail}"
            ) from None

    async def http_port(self, timeout_s: float = 30) -> int:
        line = await self.wait_log(lambda line: line.get("event") == "http_listening", timeout_s)
        return int(line["port"])

    async def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 15) -> int:
        if self.proc.returncode is None:
            self.proc.send_signal(sig)
        rc = await asyncio.wait_for(self.proc.wait(), timeout_s)
        await self._reader
        return rc

    async def kill(self) -> None:
        if self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()
        await self._reader


@contextlib.asynccontextmanager
async def run_daemon(
    config: Path, *args: str, env: dict[str, str] | None = None
) -> AsyncIterator[Daemon]:
    argv = [sys.executable, "-m", "monitor.cli", "run", "--config", str(config), *args]
    async with run_command(argv, env={**os.environ, **(env or {})}, cwd=ROOT) as daemon:
        yield daemon


@contextlib.asynccontextmanager
async def run_command(
    argv: list[str], *, env: dict[str, str], cwd: Path
) -> AsyncIterator[Daemon]:
    """Start ``argv`` with exactly ``env`` in ``cwd`` and follow its output; kill it on exit."""
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env=env,
        cwd=cwd,
    )
    daemon = Daemon(proc)
    try:
        yield daemon
    finally:
        await daemon.kill()


class Receiver:
    """An in-process HTTP endpoint recording every POST body and header set."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], dict[str, Any]]] = []
        self._waiters: list[
            tuple[Callable[[dict[str, Any]], bool], asyncio.Future[dict[str, Any]]]
        ] = []
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def _handle(self, req: web.Request) -> web.Response:
        body = await req.json()
        self.requests.append((dict(req.headers), body))
        for pred, fut in self._waiters:
            if not fut.done() and pred(body):
                fut.set_result(body)
        return web.json_response({"ok": True})

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hook", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}/hook"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def wait_for(
        self, pred: Callable[[dict[str, Any]], bool], timeout_s: float
    ) -> dict[str, Any]:
        for _h, body in self.requests:
            if pred(body):
                return body
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiters.append((pred, fut))
        return await asyncio.wait_for(fut, timeout_s)


async def get_text(url: str) -> str:
    async with aiohttp.ClientSession() as s, s.get(url) as resp:
        resp.raise_for_status()
        return await resp.text()


async def get_json(url: str) -> Any:
    async with aiohttp.ClientSession() as s, s.get(url) as resp:
        return await resp.json()
