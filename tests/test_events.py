"""The LISTEN/NOTIFY broker: delivery, and recovery when its connection is cut."""

from __future__ import annotations

import asyncio

from app.database import asyncpg_connect_kwargs
from resolvers.events import CHANNEL, RECONNECTED, Broker
from tests.conftest import fetch


async def test_delivery_and_reconnection(db_url: str) -> None:
    broker = Broker(asyncpg_connect_kwargs(db_url))
    try:
        async with broker.subscribe("vote:1") as queue, broker.subscribe("vote:2") as other:
            await fetch(db_url, "SELECT pg_notify($1, $2)", CHANNEL, '{"topic": "vote:1"}')
            assert await asyncio.wait_for(queue.get(), 5) == "vote:1"
            assert other.empty()
            # the database drops the listener (a restart, a failover, an operator's kill)
            await fetch(
                db_url,
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'qilijia-listener'",
            )
            assert await asyncio.wait_for(queue.get(), 10) == RECONNECTED
            assert await asyncio.wait_for(other.get(), 10) == RECONNECTED
            await fetch(db_url, "SELECT pg_notify($1, $2)", CHANNEL, '{"topic": "vote:2"}')
            assert await asyncio.wait_for(other.get(), 5) == "vote:2"
            assert queue.empty()
    finally:
        await broker.stop()
