"""Periodic work every server process runs: each job is safe when many processes run it at once."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from auth.wechat import WeChatClient
from models.background import repeating
from resolvers.ledger import credit_positions
from resolvers.messages import send_due
from resolvers.task import auto_close_resolved
from resolvers.vote import close_due_votes

log = logging.getLogger("qilijia.jobs")

Job = Callable[[async_sessionmaker[AsyncSession]], Awaitable[int]]
JOBS: dict[str, Job] = {
    "close_due_votes": close_due_votes,
    "auto_close_resolved_tasks": auto_close_resolved,
    # team positions held this period, into the Party members' participation records
    "credit_positions": credit_positions,
}


async def run_once(
    sessions: async_sessionmaker[AsyncSession], wechat: WeChatClient | None = None
) -> dict[str, int]:
    """Every job once, then the subscription messages due (sent when WeChat is configured)."""
    done = {name: await job(sessions) for name, job in JOBS.items()}
    done["send_messages"] = await send_due(sessions, wechat)
    return done


async def _round(sessions: async_sessionmaker[AsyncSession], wechat: WeChatClient | None) -> None:
    """Each job, and the sending, on its own: one failing does not hold up the others."""
    done: dict[str, int] = {}
    for name, job in [*JOBS.items(), ("send_messages", lambda s: send_due(s, wechat))]:
        try:
            done[name] = await job(sessions)
        except Exception:
            log.exception("periodic job %s failed; retrying next round", name)
    if any(done.values()):
        log.info("periodic jobs", extra={"done": done})


@contextlib.asynccontextmanager
async def periodic(
    sessions: async_sessionmaker[AsyncSession], interval: float, wechat: WeChatClient | None = None
) -> AsyncIterator[None]:
    async with repeating(lambda: _round(sessions, wechat), interval, name="qilijia-jobs"):
        yield
