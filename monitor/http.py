"""The local HTTP surface: /metrics, /healthz, /readyz, /api/v1/status, /api/v1/snapshot."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest


class AppView(Protocol):
    """What the HTTP layer may ask the running app."""

    def status(self) -> dict[str, Any]: ...

    def snapshot(self) -> dict[str, Any] | None: ...

    def ready(self) -> tuple[bool, str]: ...

    async def reload(self) -> tuple[bool, str]: ...


def make_app(view: AppView, registry: CollectorRegistry) -> web.Application:
    """Build the aiohttp application (no I/O until it is started)."""

    async def metrics(_req: web.Request) -> web.Response:
        body = generate_latest(registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def healthz(_req: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(_req: web.Request) -> web.Response:
        ok, why = view.ready()
        return web.json_response({"ready": ok, "reason": why}, status=200 if ok else 503)

    async def status(_req: web.Request) -> web.Response:
        return web.json_response(view.status())

    async def snapshot(_req: web.Request) -> web.Response:
        doc = view.snapshot()
        if doc is None:
            return web.json_response({"error": "no snapshot yet"}, status=503)
        return web.json_response(doc)

    async def reload(_req: web.Request) -> web.Response:
        ok, message = await view.reload()
        return web.json_response({"reloaded": ok, "message": message}, status=200 if ok else 422)

    routes: list[tuple[str, str, Callable[[web.Request], Awaitable[web.StreamResponse]]]] = [
        ("GET", "/metrics", metrics),
        ("GET", "/healthz", healthz),
        ("GET", "/readyz", readyz),
        ("GET", "/api/v1/status", status),
        ("GET", "/api/v1/snapshot", snapshot),
        ("POST", "/api/v1/reload", reload),
    ]
    app = web.Application()
    for method, path, handler in routes:
        app.router.add_route(method, path, handler)
    return app
