"""Moderation: text the content check held (a task's report or edit, a comment) waits for a person.

Until a moderator — whoever triages the task (`Action.MODERATE`): the team, the grid, the
community — approves it, only its author and the moderators read it (`auth.policy.READ_TASK`,
`auth.policy.shown_events`); removed, it stays so, with the reason. Each decision is a row of the
append-only `moderation_decision` and a record of the audit trail. The held item is locked while
it is decided, so of two moderators deciding at once the second is told it was decided.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from strawberry.dataloader import DataLoader

from auth.policy import Action, Resource, held_comment, params, where
from models.errors import BadUserInputError, ConflictError
from models.task import ModerationDecision, Task, TaskEvent
from models.task_rules import HELD, REMOVED, EventKind, Moderation
from resolvers import task as tasks
from resolvers.context import Context
from resolvers.loaders import Loader
from resolvers.pages import Key, Page, order, read, window
from resolvers.pipeline import Outcome, Target, Work, run
from resolvers.text import clean_text

REASON_MAX = 200
#: events are append-only (the service may not lock them): the comment's task is locked instead
EVENT = Target(Resource.TASK, TaskEvent, task_of="task_id", lock=False)
#: held comments, newest first
HELD_COMMENTS = order(Key("seq", int, descending=True))
DECIDED = "这条内容已经审核过了。"
CHANGED = "您查看之后，这个事项的内容又被修改了，请重新查看后再审核。"
#: a second person decides: nobody approves or removes what they wrote themselves
OWN = "不能审核自己发布的内容，请由小区班子的其他成员审核。"


def is_held_comment(row: TaskEvent) -> bool:
    """`auth.policy.held_comment` for a loaded event."""
    return row.kind == EventKind.COMMENTED and "held_for_review" in (row.payload or {})


@dataclass(frozen=True)
class Decided:
    decision: ModerationDecision
    task_id: uuid.UUID


def _clean(decision: Moderation, reason: str | None) -> str | None:
    required = decision == Moderation.REMOVED
    return clean_text(reason, field="reason", label="删除理由", maximum=REASON_MAX, required=required)


def _record(
    work: Work[Any], decision: Moderation, reason: str | None, event_id: uuid.UUID | None
) -> ModerationDecision:
    row = ModerationDecision(
        task_id=work.task_id,
        event_id=event_id,
        compound_id=work.compound_id,
        decision=decision,
        reason=reason,
        decided_by=work.who.person_id,
    )
    work.session.add(row)
    return row


async def decide_task(
    ctx: Context,
    *,
    task_id: uuid.UUID,
    decision: Moderation,
    reason: str | None,
    seen: datetime | None = None,
) -> Decided:
    """Approve a held task's text (everyone who may read the task reads it) or remove it. `seen`:
    the task's `updated_at` as the moderator read it; if the text changed since (an edit between
    their reading and their decision), nothing is decided and they are asked to read it again."""
    cleaned = _clean(decision, reason)

    async def apply(work: Work[Task]) -> Outcome[Decided]:
        if work.row.review_hold != HELD:
            raise ConflictError(DECIDED if work.row.review_hold == REMOVED else "这个事项的内容不需要审核。")
        if seen is not None and work.row.updated_at != seen:
            raise ConflictError(CHANGED)
        if work.row.reporter_id == work.who.person_id:
            raise ConflictError(OWN)
        work.row.review_hold = None if decision == Moderation.APPROVED else REMOVED
        row = _record(work, decision, cleaned, None)
        await work.session.flush()
        await work.session.refresh(row)
        return Outcome(Decided(row, work.row.id))

    done = await run(ctx, tasks.TASK, task_id, Action.MODERATE, apply)
    ctx.loaders.forget("task", task_id)
    return done


async def decide_comment(
    ctx: Context, *, event_id: uuid.UUID, decision: Moderation, reason: str | None
) -> Decided:
    """Approve a held comment or remove it; the comment itself is never changed."""
    cleaned = _clean(decision, reason)

    async def apply(work: Work[TaskEvent]) -> Outcome[Decided]:
        if not is_held_comment(work.row):
            raise ConflictError("这条记录的内容不需要审核。")
        if work.row.actor_id == work.who.person_id:
            raise ConflictError(OWN)
        # one decision at a time on the task's comments: the second moderator sees the first's
        await work.session.execute(
            sa.select(Task.id).where(Task.id == work.row.task_id).with_for_update(key_share=True)
        )
        earlier = await work.session.execute(
            sa.select(ModerationDecision.id).where(ModerationDecision.event_id == work.row.id).limit(1)
        )
        if earlier.first() is not None:
            raise ConflictError(DECIDED)
        row = _record(work, decision, cleaned, work.row.id)
        await work.session.flush()
        await work.session.refresh(row)
        return Outcome(Decided(row, work.row.task_id))

    return await run(ctx, EVENT, event_id, Action.MODERATE, apply)


# --- reading ----------------------------------------------------------------------------------------


def _moderated(ctx: Context, t: Any) -> Any:
    return where(ctx.principal, Resource.TASK, Action.MODERATE, t)


async def held_tasks(
    ctx: Context, compound_id: uuid.UUID, *, first: int | None, after: str | None
) -> Page[Task]:
    """The compound's tasks whose text waits for review, for those who may decide on them."""
    t = Task.__table__
    statement = sa.select(Task).where(
        t.c.compound_id == compound_id, t.c.review_hold == HELD, _moderated(ctx, t)
    )
    w = window(tasks.TASKS, first=first, after=after)
    return await read(ctx.sessions, statement, t, tasks.TASKS, w, params(ctx.principal))


async def held_comments(
    ctx: Context, compound_id: uuid.UUID, *, first: int | None, after: str | None
) -> Page[TaskEvent]:
    """The compound's comments that wait for review (no decision yet), newest first."""
    e, t, d = TaskEvent.__table__, Task.__table__.alias(), ModerationDecision.__table__
    statement = sa.select(TaskEvent).where(
        e.c.compound_id == compound_id,
        held_comment(e),
        ~sa.exists().where(d.c.event_id == e.c.id),
        e.c.task_id.in_(sa.select(t.c.id).where(_moderated(ctx, t))),
    )
    w = window(HELD_COMMENTS, first=first, after=after)
    return await read(ctx.sessions, statement, e, HELD_COMMENTS, w, params(ctx.principal))


def decisions(ctx: Context) -> DataLoader[uuid.UUID, tuple[Moderation, str | None] | None]:
    """Per held comment: the decision on it and its reason, once decided."""
    return _decided(ctx, "moderation_of_comments", ModerationDecision.event_id)


def task_decisions(ctx: Context) -> DataLoader[uuid.UUID, tuple[Moderation, str | None] | None]:
    """Per task: the last decision on its own text and its reason."""
    return _decided(ctx, "moderation_of_tasks", ModerationDecision.task_id, own_text=True)


def _decided(
    ctx: Context, name: str, column: Any, *, own_text: bool = False
) -> DataLoader[uuid.UUID, tuple[Moderation, str | None] | None]:
    def build() -> DataLoader[uuid.UUID, tuple[Moderation, str | None] | None]:
        async def load(ids: list[uuid.UUID]) -> list[tuple[Moderation, str | None] | None]:
            d = ModerationDecision.__table__
            statement = sa.select(column.label("key"), d.c.decision, d.c.reason).where(column.in_(ids))
            if own_text:
                statement = statement.where(d.c.event_id.is_(None))
            statement = statement.order_by(d.c.decided_at)
            async with ctx.sessions() as session:
                found = {
                    r.key: (Moderation(r.decision), r.reason)
                    for r in (await session.execute(statement)).all()
                }
            return [found.get(i) for i in ids]

        return Loader(load_fn=load)

    return ctx.loaders.cached(name, build)


def target(type_name: str) -> str:
    if type_name not in ("Task", "TaskEvent"):
        raise BadUserInputError("只能审核事项或时间线上的评论。", field="id")
    return type_name
