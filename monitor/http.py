"""The local HTTP surface: /metrics, /healthz, /readyz, /api/v1/status, /api/v1/snapshot, and
``POST /api/v1/reload``.

What guards it (``check_request`` decides, a middleware applies it, before any handler runs):

- every route has an access level: ``open`` (metrics, health), ``read`` (``GET /api/…``) and
  ``write`` (every POST). ``http.protect`` says which levels need the bearer token
  ``http.token`` (default: writes); a daemon bound to a non-loopback address does not start
  without a token, one bound to loopback accepts writes from local processes without one.
  Bound off loopback, reads always need the token (they serve positions: the risk page of
  ``monitor.web`` and its event stream are reads too). For GET/HEAD only, the page's session
  cookie (``session_cookie``: an HMAC of the token, set by ``POST /api/v1/session``) stands
  for the bearer header, which an ``EventSource`` cannot send; cookies never authorize writes.
- cross-origin requests cannot change state: a write with ``Sec-Fetch-Site`` other than
  ``same-origin``/``none``, or an ``Origin`` that is not the request's own host, is refused, and
  so is a write with a body that is not JSON (a ``text/plain`` form post is the classic CSRF).
- a daemon bound to loopback answers only to loopback Host names (and ``http.allowed_hosts``):
  a DNS-rebinding page cannot reach it under its own domain name.
- slow or idle clients cannot pile up: a connection must deliver complete request headers
  within ``http.header_timeout_s`` (aiohttp's keep-alive timer, which closes a connection that
  has no complete request yet, is set to it), a body must arrive within ``body_timeout_s`` and
  fit ``max_body_bytes``, and ``ConnectionGuard`` caps open connections: at the cap, a new one
  evicts the connection that has waited longest without a request in progress, so a flood of
  half-sent requests never locks out ``/healthz``.
"""

from __future__ import annotations

import asyncio
import hmac
import itertools
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from http.cookies import CookieError, SimpleCookie
from typing import Any, Literal, Protocol

import structlog
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

log = structlog.get_logger(__name__)

Access = Literal["open", "read", "write"]
Protect = Literal["writes", "api", "all"]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_SAME_SITE = frozenset({"same-origin", "none"})
_ACCEPT_BURST = 32
SESSION_COOKIE = "vixmon_session"
_NEEDS_TOKEN: dict[Protect, frozenset[Access]] = {
    "writes": frozenset({"write"}),
    "api": frozenset({"read", "write"}),
    "all": frozenset({"open", "read", "write"}),
}


class AppView(Protocol):
    """What the HTTP layer may ask the running app."""

    def status(self) -> dict[str, Any]: ...

    def snapshot(self) -> dict[str, Any] | None: ...

    def ready(self) -> tuple[bool, str]: ...

    async def reload(self) -> tuple[bool, str]: ...

    def plan(self, book: str | None) -> tuple[int, dict[str, Any]]: ...

    async def set_baseline(self, body: bytes) -> tuple[int, dict[str, Any]]: ...


@dataclass(frozen=True, slots=True)
class HttpPolicy:
    """Who may call what (built from ``[http]`` with the token read)."""

    token: str | None = None
    protect: Protect = "writes"
    loopback: bool = True
    """Bound to a loopback address: Host headers must be loopback names (or allowed)."""
    allowed_hosts: frozenset[str] = frozenset()
    max_body_bytes: int = 65_536
    body_timeout_s: float = 10.0


@dataclass(frozen=True, slots=True)
class Refusal:
    status: int
    reason: str


def host_name(host: str) -> str:
    """Return the name part of a Host header (``[::1]:9464`` -> ``[::1]``, ``a:1`` -> ``a``)."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[: host.find("]") + 1] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def check_request(
    policy: HttpPolicy, access: Access, method: str, headers: Mapping[str, str]
) -> Refusal | None:
    """Return why a request must be refused, or None to let it through. [pure]"""
    host = headers.get("Host")
    if host is not None and not _host_allowed(policy, host_name(host)):
        return Refusal(421, "unexpected Host header")
    if method not in _SAFE_METHODS:
        refusal = _cross_origin(headers, host)
        if refusal is not None:
            return refusal
    if _needs_token(policy, access) and not (
        method in _SAFE_METHODS and _session_ok(policy, headers.get("Cookie", ""))
    ):
        refusal = _authorized(policy, headers.get("Authorization", ""))
        if refusal is not None:
            return refusal
    if method not in _SAFE_METHODS and _has_body(headers):
        ctype = headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
        if ctype != "application/json":
            return Refusal(415, "a request body must be application/json")
    return None


def _needs_token(policy: HttpPolicy, access: Access) -> bool:
    if access == "read" and not policy.loopback:
        return True  # off loopback, positions (the API, the page, its stream) are not public
    return access in _NEEDS_TOKEN[policy.protect] and (access == "write" or bool(policy.token))


def session_cookie(token: str) -> str:
    """Return the page's session cookie value for ``token`` (a MAC of it, not the token)."""
    return hmac.new(token.encode(), b"vixmon page session", "sha256").hexdigest()


def _session_ok(policy: HttpPolicy, cookie_header: str) -> bool:
    """Whether the request carries the page's session cookie (accepted for GET/HEAD only: a
    browser sends cookies cross-site, so they never authorize a write)."""
    if policy.token is None or SESSION_COOKIE not in cookie_header:
        return False
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(cookie_header)
    except CookieError:
        return False
    given = jar.get(SESSION_COOKIE)
    return given is not None and hmac.compare_digest(
        given.value.encode(), session_cookie(policy.token).encode()
    )


def _host_allowed(policy: HttpPolicy, name: str) -> bool:
    if name in policy.allowed_hosts:
        return True
    if policy.loopback:
        return name in _LOOPBACK_NAMES or name.endswith(".localhost")
    return not policy.allowed_hosts


def _cross_origin(headers: Mapping[str, str], host: str | None) -> Refusal | None:
    site = headers.get("Sec-Fetch-Site")
    if site is not None and site.strip().lower() not in _SAME_SITE:
        return Refusal(403, f"cross-site request refused (Sec-Fetch-Site: {site})")
    origin = headers.get("Origin")
    if origin is not None:
        origin_host = origin.split("://", 1)[-1].rstrip("/").lower()
        if host is None or origin == "null" or origin_host != host.strip().lower():
            return Refusal(403, "cross-origin request refused")
    return None


def _authorized(policy: HttpPolicy, authorization: str) -> Refusal | None:
    if policy.token is None:
        # loopback without a token: a local process may write; elsewhere startup requires one
        return None if policy.loopback else Refusal(401, "no http.token configured")
    scheme, _, given = authorization.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        given.strip().encode(), policy.token.encode()
    ):
        return Refusal(401, "a valid bearer token is required (http.token)")
    return None


def _has_body(headers: Mapping[str, str]) -> bool:
    length = headers.get("Content-Length", "0").strip()
    return length not in ("", "0") or "Transfer-Encoding" in headers


def make_app(
    view: AppView,
    registry: CollectorRegistry,
    policy: HttpPolicy | None = None,
    extra_routes: Sequence[tuple[str, str, Access, Handler]] = (),
) -> web.Application:
    """Build the aiohttp application (no I/O until it is started); ``extra_routes``: more
    (method, path, access, handler), guarded alike (the risk page's, ``monitor.web.routes``)."""
    policy = policy or HttpPolicy()

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

    async def plan(req: web.Request) -> web.Response:
        code, doc = view.plan(req.query.get("book"))
        return web.json_response(doc, status=code)

    async def baseline(req: web.Request) -> web.Response:
        code, doc = await view.set_baseline(await req.read())
        return web.json_response(doc, status=code)

    routes: list[tuple[str, str, Access, Handler]] = [
        ("GET", "/metrics", "open", metrics),
        ("GET", "/healthz", "open", healthz),
        ("GET", "/readyz", "open", readyz),
        ("GET", "/api/v1/status", "read", status),
        ("GET", "/api/v1/snapshot", "read", snapshot),
        ("POST", "/api/v1/reload", "write", reload),
        ("GET", "/api/v1/plan", "read", plan),
        ("POST", "/api/v1/baseline", "write", baseline),
        *extra_routes,
    ]
    access = {(method, path): level for method, path, level, _ in routes}
    app = web.Application(
        middlewares=[_guard(policy, access)], client_max_size=max(policy.max_body_bytes, 1)
    )
    for method, path, _level, handler in routes:
        app.router.add_route(method, path, handler)
    return app


def _guard(policy: HttpPolicy, access: Mapping[tuple[str, str], Access]) -> Any:
    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        method = "GET" if request.method == "HEAD" else request.method
        level = access.get((method, request.path), "open" if method in _SAFE_METHODS else "write")
        refusal = check_request(policy, level, request.method, request.headers)
        if refusal is None and request.body_exists:
            refusal = await _read_body(request, policy.body_timeout_s)
        if refusal is not None:
            if refusal.status == 401 and request.path == "/" and method == "GET":
                raise web.HTTPSeeOther("/login")  # a browser without the session: the form
            headers = {"WWW-Authenticate": 'Bearer realm="vixmon"'} if refusal.status == 401 else {}
            log.info("http_refused", method=request.method, path=request.path,
                     status=refusal.status, reason=refusal.reason)  # fmt: skip
            return web.json_response(
                {"error": refusal.reason}, status=refusal.status, headers=headers
            )
        return await handler(request)

    return guard


async def _read_body(request: web.Request, timeout_s: float) -> Refusal | None:
    """Read the body now (handlers then get it from the cache), within ``timeout_s``."""
    try:
        async with asyncio.timeout(timeout_s):
            await request.read()
    except TimeoutError:
        return Refusal(408, f"request body not received within {timeout_s:g} s")
    except web.HTTPRequestEntityTooLarge:
        return Refusal(413, "request body too large")
    return None


class ConnectionGuard:
    """A protocol factory for aiohttp's server that caps open connections.

    At the cap, a new connection evicts the one that has waited longest without a request in
    progress (idle, or still sending its headers); if every connection is busy, the new one is
    answered 503 and closed.
    """

    def __init__(self, max_connections: int) -> None:
        self.server: web.Server | None = None
        """aiohttp's request-handler factory (set once the runner is set up)."""
        self._max = max_connections
        self._opened: dict[Any, int] = {}
        self._busy: set[Any] = set()
        self._order = itertools.count()
        self.evicted = 0

    def __call__(self) -> asyncio.Protocol:
        self._forget_closed()
        if len(self._opened) >= self._max and not self._evict_one():
            return _Busy()
        assert self.server is not None
        handler = self.server()
        self._opened[handler] = next(self._order)
        return handler

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        protocol = request.protocol
        self._busy.add(protocol)
        try:
            return await handler(request)
        finally:
            self._busy.discard(protocol)

    def _forget_closed(self) -> None:
        for handler in [h for h in self._opened if _closed(h)]:
            del self._opened[handler]
            self._busy.discard(handler)

    def _evict_one(self) -> bool:
        idle = [h for h in self._opened if h not in self._busy]
        if not idle:
            return False
        oldest = min(idle, key=self._opened.__getitem__)
        del self._opened[oldest]
        oldest.force_close()
        transport = oldest.transport
        if transport is not None:
            transport.close()
        self.evicted += 1
        return True


def _closed(handler: Any) -> bool:
    transport = handler.transport
    # a handler not yet connected has no transport: it was created just now, keep it
    return transport is not None and transport.is_closing()


class _Busy(asyncio.Protocol):
    """Answer 503 and hang up: every connection slot is serving a request."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        transport.write(
            b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
        )
        transport.close()


class HttpServer:
    """The listening socket, the aiohttp runner and the connection guard, started together."""

    def __init__(
        self,
        app: web.Application,
        *,
        header_timeout_s: float = 5.0,
        max_connections: int = 100,
    ) -> None:
        self._app = app
        self._header_timeout_s = header_timeout_s
        self._max_connections = max_connections
        self._runner: web.AppRunner | None = None
        self._server: asyncio.Server | None = None
        self.guard: ConnectionGuard | None = None
        self.port = 0

    async def start(self, host: str, port: int) -> None:
        """Listen on ``host``:``port`` (0: a free port, then in ``self.port``)."""
        runner = web.AppRunner(
            self._app,
            access_log=None,
            # aiohttp closes a connection with no complete request once this runs out (from
            # the connection's start, or from the previous response): the header timeout
            keepalive_timeout=self._header_timeout_s,
            handler_cancellation=True,
        )
        self.guard = ConnectionGuard(self._max_connections)
        self._app.middlewares.insert(0, self.guard.middleware)
        await runner.setup()
        self._runner = runner
        self.guard.server = runner.server
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            # asyncio accepts up to ``backlog`` connections per wake-up: a small burst leaves
            # the sockets of evicted connections time to close before more are accepted
            self.guard,
            host or None,
            port,
            reuse_address=True,
            backlog=_ACCEPT_BURST,
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        """Stop listening, then close connections (in-flight requests get a short grace)."""
        if self._server is not None:
            self._server.close()
            self._server = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
