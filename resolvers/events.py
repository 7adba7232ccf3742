"""Live updates across server processes through PostgreSQL `LISTEN/NOTIFY`.

Writers call `notify` inside their transaction, so an event exists exactly when its change was
committed. Each process keeps one listening connection and fans events out to its subscribers;
a subscriber then re-reads what changed (a tally row, a timeline page) through the usual policy,
so the notification itself carries no data anyone could be denied.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

CHANNEL = "qilijia_events"
#: what subscribers receive after the listener reconnected: re-read, something may have changed
RECONNECTED = "reconnected"
log = logging.getLogger("qilijia.events")


async def notify(session: AsyncSession, topic: str) -> None:
    await session.execute(sa.select(sa.func.pg_notify(CHANNEL, json.dumps({"topic": topic}))))


class Broker:
    """One LISTEN connection per process; in-process queues per subscriber."""

    def __init__(self, connect_kwargs: dict[str, Any]) -> None:
        self.connect_kwargs = connect_kwargs
        self._subscribers: dict[str, set[asyncio.Queue[str]]] = defaultdict(set)
        self._conn: asyncpg.Connection | None = None
        self._lock = asyncio.Lock()
        self._stopping = False
        self._reconnecting: asyncio.Task[None] | None = None

    async def start(self) -> None:
        async with self._lock:
            if self._conn is None or self._conn.is_closed():
                self._conn = await asyncpg.connect(**self.connect_kwargs)
                await self._conn.add_listener(CHANNEL, self._on_notify)
                self._conn.add_termination_listener(self._on_terminate)

    async def stop(self) -> None:
        self._stopping = True
        if self._reconnecting is not None:
            self._reconnecting.cancel()
        if self._conn is not None and not self._conn.is_closed():
            with contextlib.suppress(Exception):
                await self._conn.close()
        self._conn = None

    def _on_notify(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        try:
            topic = json.loads(payload)["topic"]
        except (ValueError, KeyError, TypeError):
            return
        for queue in list(self._subscribers.get(topic, ())):
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(topic)

    def _on_terminate(self, _conn: object) -> None:
        self._conn = None
        if self._stopping:
            return
        log.warning("event listener connection lost; reconnecting")
        if self._reconnecting is None or self._reconnecting.done():
            self._reconnecting = asyncio.get_running_loop().create_task(self._reconnect())

    async def _reconnect(self) -> None:
        """Listen again, then wake every subscriber: they re-read what they show, so nothing
        committed while the listener was gone is missed."""
        delay = 0.2
        while not self._stopping and self._subscribers:
            try:
                await self.start()
                break
            except (OSError, asyncpg.PostgresError):
                log.warning("event listener cannot reconnect yet; retrying in %.1f s", delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
        for queues in list(self._subscribers.values()):
            for queue in list(queues):
                with contextlib.suppress(asyncio.QueueFull):
                    queue.put_nowait(RECONNECTED)

    @contextlib.asynccontextmanager
    async def subscribe(self, topic: str) -> AsyncIterator[asyncio.Queue[str]]:
        await self.start()
        queue: asyncio.Queue[str] = asyncio.Queue(maxsize=100)
        self._subscribers[topic].add(queue)
        try:
            yield queue
        finally:
            self._subscribers[topic].discard(queue)
            if not self._subscribers[topic]:
                del self._subscribers[topic]
