"""Periodic work every server process runs: each job is safe when many processes run it at once.

A job is given the WeChat templates (empty where WeChat is not configured), for the messages it
writes: a vote's result, the reminders, an urgent notice."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.storage import Storage
from app.uploads import forget_unattached
from auth.wechat import WeChatClient
from models.background import repeating
from models.message import MessageKind, Template
from resolvers.ledger import credit_positions
from resolvers.messages import send_due
from resolvers.notice import tell_due
from resolvers.photos import PhotoLinks, recheck_held
from resolvers.reminders import remind
from resolvers.task import auto_close_resolved
from resolvers.vote import close_due_votes, open_due_votes

log = logging.getLogger("qilijia.jobs")

Sessions = async_sessionmaker[AsyncSession]
Templates = Mapping[MessageKind, Template]
Job = Callable[[Sessions, Templates], Awaitable[int]]


def _silent(job: Callable[[Sessions], Awaitable[int]]) -> Job:
    """A job that tells nobody anything: it has no use for the templates."""

    async def run(sessions: Sessions, templates: Templates) -> int:
        return await job(sessions)

    return run


JOBS: dict[str, Job] = {
    # announced votes whose owner roll has been published long enough, and checked
    "open_due_votes": open_due_votes,
    "close_due_votes": close_due_votes,
    "auto_close_resolved_tasks": _silent(auto_close_resolved),
    # team positions held this period, into the Party members' participation records
    "credit_positions": _silent(credit_positions),
    # before the sending, so that a reminder due now goes out in the same round
    "remind": remind,
    # urgent notices scheduled for a time that has come
    "tell_urgent_notices": tell_due,
}


@dataclass(frozen=True)
class Outside:
    """What some jobs reach beyond the database: WeChat (when configured), the photos' signed
    URLs, the file storage."""

    wechat: WeChatClient | None = None
    links: PhotoLinks | None = None
    storage: Storage | None = None


def _outside(outside: Outside) -> list[tuple[str, Job]]:
    """The jobs that call WeChat (sending the messages due, asking the image check again) and
    the clean-up of uploads never attached."""
    wechat, links = outside.wechat, outside.links
    return [
        ("send_messages", _silent(lambda s: send_due(s, wechat))),
        ("recheck_photos", _silent(lambda s: recheck_held(s, wechat, links))),
        ("forget_unattached_uploads", _silent(lambda s: forget_unattached(s, outside.storage))),
    ]


async def run_once(
    sessions: Sessions, templates: Templates | None = None, outside: Outside = Outside()
) -> dict[str, int]:
    """Every job once, then those reaching beyond the database."""
    done = {name: await job(sessions, templates or {}) for name, job in JOBS.items()}
    for name, job in _outside(outside):
        done[name] = await job(sessions, templates or {})
    return done


async def _round(sessions: Sessions, templates: Templates, outside: Outside) -> None:
    """Each job, and the sending, on its own: one failing does not hold up the others."""
    done: dict[str, int] = {}
    for name, job in [*JOBS.items(), *_outside(outside)]:
        try:
            done[name] = await job(sessions, templates)
        except Exception:
            log.exception("periodic job %s failed; retrying next round", name)
    if any(done.values()):
        log.info("periodic jobs", extra={"done": done})


@contextlib.asynccontextmanager
async def periodic(
    sessions: Sessions, interval: float, templates: Templates | None = None, outside: Outside = Outside()
) -> AsyncIterator[None]:
    """The jobs every `interval` seconds; `templates` only where WeChat is configured (without it
    every message stays in the app, and no consent is spent on it)."""
    async with repeating(lambda: _round(sessions, templates or {}, outside), interval, name="qilijia-jobs"):
        yield
