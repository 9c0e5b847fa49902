"""The HTTP surface on a real listening socket: tokens, cross-origin and Host checks, slow and
half-sent requests, and the connection cap."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client import CollectorRegistry

from monitor import settings
from monitor.http import HttpPolicy, HttpServer, make_app
from tests.support.clocked import DEMO_SIMULATOR
from tests.support.daemon import ROOT

TOKEN = "s3cret-http-token-value"


class View:
    """The app as the HTTP layer sees it; counts reloads (the state change being guarded)."""

    def __init__(self) -> None:
        self.reloads = 0

    def status(self) -> dict[str, Any]:
        return {"version": "test"}

    def snapshot(self) -> dict[str, Any] | None:
        return {"books": {}}

    def ready(self) -> tuple[bool, str]:
        return True, "ok"

    async def reload(self) -> tuple[bool, str]:
        self.reloads += 1
        return True, "reloaded"


@contextlib.asynccontextmanager
async def serving(
    policy: HttpPolicy | None = None, **kw: Any
) -> AsyncIterator[tuple[HttpServer, View, str]]:
    view = View()
    server = HttpServer(make_app(view, CollectorRegistry(), policy), **kw)
    await server.start("127.0.0.1", 0)
    try:
        yield server, view, f"http://127.0.0.1:{server.port}"
    finally:
        await server.close()


async def request(method: str, url: str, **kw: Any) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as s, s.request(method, url, **kw) as resp:
        return resp.status, await resp.json(content_type=None)


async def test_on_loopback_without_a_token_a_local_process_can_reload() -> None:
    async with serving() as (_, view, base):
        status, body = await request("POST", f"{base}/api/v1/reload")
    assert (status, body["reloaded"], view.reloads) == (200, True, 1)


async def test_a_cross_origin_text_plain_post_is_refused_before_reloading() -> None:
    headers = {"Origin": "http://evil.example", "Content-Type": "text/plain"}
    async with serving() as (_, view, base):
        status, body = await request("POST", f"{base}/api/v1/reload", data="x", headers=headers)
    assert status == 403 and "cross-origin" in body["error"]
    assert view.reloads == 0


async def test_a_same_origin_post_from_a_page_of_the_daemon_itself_is_accepted() -> None:
    async with serving() as (_, view, base):
        headers = {"Origin": base, "Sec-Fetch-Site": "same-origin"}
        status, _ = await request("POST", f"{base}/api/v1/reload", headers=headers, json={})
    assert (status, view.reloads) == (200, 1)


async def test_a_post_a_browser_marks_cross_site_is_refused() -> None:
    async with serving() as (_, view, base):
        status, _ = await request(
            "POST", f"{base}/api/v1/reload", headers={"Sec-Fetch-Site": "cross-site"}
        )
    assert (status, view.reloads) == (403, 0)


async def test_a_post_whose_body_is_not_json_is_refused() -> None:
    async with serving() as (_, view, base):
        status, _ = await request(
            "POST", f"{base}/api/v1/reload", data="x", headers={"Content-Type": "text/plain"}
        )
    assert (status, view.reloads) == (415, 0)


@pytest.mark.parametrize("path", ["/api/v1/status", "/api/v1/reload"])
async def test_on_loopback_a_foreign_host_header_is_refused_against_dns_rebinding(
    path: str,
) -> None:
    async with serving() as (_, view, base):
        method = "POST" if path.endswith("reload") else "GET"
        status, _ = await request(method, base + path, headers={"Host": "rebind.evil.example"})
    assert (status, view.reloads) == (421, 0)


async def test_an_allowed_host_name_is_accepted() -> None:
    policy = HttpPolicy(allowed_hosts=frozenset({"vixmon.internal"}))
    async with serving(policy) as (_, _view, base):
        status, _ = await request(
            "GET", f"{base}/api/v1/status", headers={"Host": "vixmon.internal:9464"}
        )
    assert status == 200


async def test_with_a_token_a_post_needs_it_and_reads_stay_open() -> None:
    async with serving(HttpPolicy(token=TOKEN)) as (_, view, base):
        missing, _ = await request("POST", f"{base}/api/v1/reload")
        wrong, _ = await request(
            "POST", f"{base}/api/v1/reload", headers={"Authorization": "Bearer nope"}
        )
        right, _ = await request(
            "POST", f"{base}/api/v1/reload", headers={"Authorization": f"Bearer {TOKEN}"}
        )
        read, _ = await request("GET", f"{base}/api/v1/status")
    assert (missing, wrong, right, read) == (401, 401, 200, 200)
    assert view.reloads == 1


async def test_protect_api_puts_every_api_route_behind_the_token_but_not_health() -> None:
    async with serving(HttpPolicy(token=TOKEN, protect="api")) as (_, _view, base):
        status, _ = await request("GET", f"{base}/api/v1/status")
        authed, _ = await request(
            "GET", f"{base}/api/v1/status", headers={"Authorization": f"Bearer {TOKEN}"}
        )
        health, _ = await request("GET", f"{base}/healthz")
    assert (status, authed, health) == (401, 200, 200)


async def test_off_loopback_without_a_token_no_write_gets_through() -> None:
    async with serving(HttpPolicy(loopback=False)) as (_, view, base):
        status, _ = await request("POST", f"{base}/api/v1/reload")
    assert (status, view.reloads) == (401, 0)


def _config(tmp_path: Path, http: str) -> Path:
    path = tmp_path / "vixmon.toml"
    demo = f'portfolio = "{ROOT / "config" / "portfolio.toml"}"\n{DEMO_SIMULATOR}'
    path.write_text(f"{demo}[http]\n{http}\n")
    return path


def test_a_config_bound_off_loopback_without_a_token_fails_naming_http_token(
    tmp_path: Path,
) -> None:
    with pytest.raises(settings.ConfigError, match=r"http\.token: required"):
        settings.load(_config(tmp_path, 'host = "0.0.0.0"'))


@pytest.mark.slow
def test_vixmon_run_bound_off_loopback_without_a_token_exits_2(tmp_path: Path) -> None:
    config = _config(tmp_path, 'host = "0.0.0.0"\nport = 0')
    done = subprocess.run(
        [sys.executable, "-m", "monitor.cli", "run", "--config", str(config)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert done.returncode == 2
    assert "http.token" in done.stderr + done.stdout


def test_a_config_bound_off_loopback_with_a_token_loads(tmp_path: Path) -> None:
    loaded = settings.load(
        _config(tmp_path, 'host = "0.0.0.0"\ntoken = { env = "T" }'), environ={"T": TOKEN}
    )
    assert loaded.settings.http.token is not None


async def _half_sent(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")  # never finished
    await writer.drain()
    return reader, writer


async def test_a_half_sent_request_is_closed_after_the_header_timeout() -> None:
    async with serving(header_timeout_s=0.2) as (server, _view, _base):
        reader, writer = await _half_sent(server.port)
        assert await reader.read() == b""  # the server hung up (EOF), without an answer
        writer.close()


async def test_a_body_that_never_arrives_is_answered_408() -> None:
    async with serving(HttpPolicy(body_timeout_s=0.2)) as (server, view, _base):
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(
            b"POST /api/v1/reload HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"
        )
        await writer.drain()
        status_line = await reader.readline()
        writer.close()
    assert status_line.startswith(b"HTTP/1.1 408")
    assert view.reloads == 0


async def test_hundreds_of_half_sent_requests_do_not_lock_out_healthz() -> None:
    # the header timeout is long here: only the connection cap keeps /healthz reachable
    async with serving(header_timeout_s=60, max_connections=50) as (server, _view, base):
        held = [await _half_sent(server.port) for _ in range(300)]
        status, body = await request("GET", f"{base}/healthz")
        assert server.guard is not None and server.guard.evicted >= 250
        for _reader, writer in held:
            writer.close()
    assert (status, body) == (200, {"status": "ok"})
