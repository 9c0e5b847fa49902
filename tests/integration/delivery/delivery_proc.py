"""A delivery-only process for crash tests: ``python -m tests.integration.delivery.delivery_proc``.

It runs a DeliveryService with one webhook sink (URL and secret from TEST_WEBHOOK_URL and
TEST_WEBHOOK_SECRET) on the Redis at argv[1] under consumer name argv[2], prints a JSON
``delivery_ready`` line, and runs until killed.
"""

from __future__ import annotations

import asyncio
import sys

import redis.asyncio as aioredis
import structlog
from prometheus_client import CollectorRegistry

from monitor.clock import LiveClock
from monitor.logging import configure_logging
from monitor.sinks.delivery import DeliveryService
from tests.integration.delivery.support import FAST_RETRY, webhook_config


async def main(redis_url: str, consumer: str) -> None:
    client = aioredis.Redis.from_url(redis_url, socket_timeout=5)
    service = DeliveryService(
        client,
        [webhook_config(retry=FAST_RETRY)],
        clock=LiveClock(),
        registry=CollectorRegistry(),
        consumer=consumer,
        read_block_s=0.2,
    )
    await service.prepare()
    structlog.get_logger("delivery_proc").info("delivery_ready", consumer=consumer)
    await service.run()


if __name__ == "__main__":
    configure_logging(json=True)
    asyncio.run(main(sys.argv[1], sys.argv[2]))
