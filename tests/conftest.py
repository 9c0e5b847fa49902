"""Shared fixtures: a real Redis server for every test that needs one.

With REDIS_URL set the tests use that server (flushing a dedicated DB number is the user's
choice); otherwise each test session starts its own embedded server on a unix socket and never
touches a system Redis on 6379.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from monitor.redis_server import EmbeddedRedis
from tests.support.redis_servers import (  # noqa: F401  (fixtures: Redis 7 and Redis Cluster)
    backend,
    redis7_server,
    redis7_url,
    redis_cluster,
    redis_cluster_clean,
)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Yield a Redis URL for the whole session."""
    if url := os.environ.get("REDIS_URL"):
        yield url
        return
    server = EmbeddedRedis(tmp_path_factory.mktemp("redis"))
    server.start_blocking()
    try:
        yield server.url
    finally:
        server.stop_blocking()


@pytest.fixture
async def redis_url(redis_server: str) -> AsyncIterator[str]:
    """Yield the session server's URL with an empty database for this test."""
    client = aioredis.Redis.from_url(redis_server)
    await client.flushdb()
    await client.aclose()
    yield redis_server


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    """Yield a client on an empty database."""
    client = aioredis.Redis.from_url(redis_url)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
def project_root() -> Path:
    return Path(__file__).resolve().parent.parent
