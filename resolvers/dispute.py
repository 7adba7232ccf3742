"""Disputes (矛盾纠纷): mediators, the outcome of mediation, and the private list of parties.

A dispute is private (DESIGN §5; who reads it is the policy's business). The grid worker or the
community committee names mediators; a mediator then reads the dispute and, like the grid and
community, records its outcome, once. Each step is an event on the task's timeline.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import sqlalchemy as sa
from strawberry.dataloader import DataLoader

from auth.policy import Action
from models.dispute import DisputeOutcome
from models.errors import BadUserInputError, ConflictError
from models.party import ParticipationKind
from models.task import Task, TaskMember
from models.task_rules import EventKind, MemberRole, TaskKind
from resolvers import ledger
from resolvers import task as tasks
from resolvers.context import Context
from resolvers.loaders import by_key
from resolvers.pipeline import Event, Outcome, Work, run
from resolvers.text import clean_text

AGREEMENT_MAX = 2_000


def _require_dispute(task: Task, message: str) -> None:
    if task.kind != TaskKind.DISPUTE:
        raise BadUserInputError(message, field="taskId")


# --- reading --------------------------------------------------------------------------------------


def _outcomes(ctx: Context) -> DataLoader[uuid.UUID, DisputeOutcome | None]:
    return ctx.loaders.cached(
        "dispute_outcome", lambda: by_key(ctx.sessions, DisputeOutcome, DisputeOutcome.task_id)
    )


async def members(ctx: Context, task: Task, role: MemberRole) -> list[uuid.UUID] | None:
    """A (visible) dispute's parties (the reporter first) or mediators, in the order they joined;
    `None` for tasks that are not disputes."""
    if task.kind != TaskKind.DISPUTE:
        return None
    return await tasks.members(ctx, task, frozenset({role}))


async def outcome(ctx: Context, task: Task) -> DisputeOutcome | None:
    if task.kind != TaskKind.DISPUTE:
        return None
    return await _outcomes(ctx).load(task.id)


# --- writing --------------------------------------------------------------------------------------


async def _no_outcome_yet(work: Work[Task], message: str) -> None:
    if await work.session.get(DisputeOutcome, work.row.id) is not None:
        raise ConflictError(message)


async def add_mediator(ctx: Context, *, task_id: uuid.UUID, person_id: uuid.UUID) -> Task:
    """The grid worker or community committee names a mediator, who then reads the dispute."""

    async def apply(work: Work[Task]) -> Outcome[Task]:
        task, session = work.row, work.session
        _require_dispute(task, "只有矛盾纠纷才能指定调解员。")
        await _no_outcome_yet(work, "该纠纷已记录调解结果，不能再指定调解员。")
        await tasks.check_attachable(session, work.facts, [person_id], field="personId", label="调解员")
        roles = set(
            (
                await session.execute(
                    sa.select(TaskMember.role).where(
                        TaskMember.task_id == task.id, TaskMember.person_id == person_id
                    )
                )
            ).scalars()
        )
        if MemberRole.PARTY in roles:
            raise BadUserInputError("纠纷当事人不能担任调解员。", field="personId")
        if MemberRole.MEDIATOR in roles:
            return Outcome(task)  # already a mediator: naming them again changes nothing
        session.add(
            TaskMember(
                task_id=task.id, person_id=person_id, role=MemberRole.MEDIATOR, compound_id=task.compound_id
            )
        )
        payload = {"text": "指定了一名调解员", "mediator": str(person_id)}
        return Outcome(task, Event(EventKind.MEDIATOR_ADDED, payload))

    row = await run(ctx, tasks.TASK, task_id, Action.ASSIGN_MEDIATOR, apply, open_task="再指定调解员")
    tasks.forget(ctx, task_id)
    return row


async def record_outcome(ctx: Context, *, task_id: uuid.UUID, agreed: bool, agreement: str | None) -> Task:
    """A mediator, the grid worker or the community committee records how mediation ended, once."""
    text = clean_text(
        agreement, field="agreement", label="调解协议内容", maximum=AGREEMENT_MAX, required=agreed
    )

    async def apply(work: Work[Task]) -> Outcome[Task]:
        task = work.row
        _require_dispute(task, "只有矛盾纠纷才能记录调解结果。")
        await _no_outcome_yet(work, "该纠纷已记录调解结果，不能重复记录。")
        work.session.add(
            DisputeOutcome(
                task_id=task.id,
                compound_id=task.compound_id,
                agreed=agreed,
                agreement=text,
                recorded_by=work.who.person_id,
            )
        )
        await work.session.flush()
        m = TaskMember.__table__
        mediators = await work.session.execute(
            sa.select(m.c.person_id).where(m.c.task_id == task.id, m.c.role == MemberRole.MEDIATOR.value)
        )
        # the mediation is on the record of the Party members who mediated it
        await ledger.settle(
            work.session,
            kind=ParticipationKind.DISPUTE,
            ref_id=task.id,
            compound_id=task.compound_id,
            listed=mediators.scalars(),
            occurred_at=datetime.now(UTC),
            reason="调解结果更正",
        )
        summary = (
            f"调解成功，达成协议：{text}" if agreed else "调解未能达成一致" + (f"：{text}" if text else "。")
        )
        return Outcome(task, Event(EventKind.DISPUTE_OUTCOME, {"text": summary, "agreed": agreed}))

    row = await run(ctx, tasks.TASK, task_id, Action.RECORD_OUTCOME, apply, open_task="再记录调解结果")
    ctx.loaders.forget("dispute_outcome", task_id)
    tasks.forget(ctx, task_id)
    return row
