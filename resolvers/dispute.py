"""Disputes (矛盾纠纷): mediators, the outcome of mediation, and the private list of parties.

A dispute is private (DESIGN §5): its parties, its mediators, the grid worker and the community
committee read it, and whoever it is assigned to. The grid worker or the community committee
names mediators; a mediator then reads the dispute and, like the grid and community, records its
outcome, once. Each step is an event on the task's timeline.
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from strawberry.dataloader import DataLoader

from auth.policy import Rel, can, require_person
from models import DisputeOutcome, Task, TaskMember
from models.errors import BadUserInputError, ConflictError, ForbiddenError
from models.task_rules import FINISHED, TaskKind
from resolvers import task as tasks
from resolvers.context import Context
from resolvers.loaders import by_key
from resolvers.meeting import forget, view_people
from resolvers.person import PersonView

AGREEMENT_MAX = 2_000


def _require_dispute(task: Task, message: str) -> None:
    if task.kind != TaskKind.DISPUTE:
        raise BadUserInputError(message, field="taskId")


# --- reading --------------------------------------------------------------------------------------


def _outcomes(ctx: Context) -> DataLoader[uuid.UUID, DisputeOutcome | None]:
    return ctx.loaders.cached(
        "dispute_outcome", lambda: by_key(ctx.sessions, DisputeOutcome, DisputeOutcome.task_id)
    )


async def members(ctx: Context, task: Task, role: str) -> list[PersonView] | None:
    """A dispute's parties (`PARTY`, the reporter first) or mediators (`MEDIATOR`), in the order they
    joined, masked as the policy says; `None` for tasks that are not disputes."""
    if task.kind != TaskKind.DISPUTE:
        return None
    await tasks.get(ctx, task_id=task.id)  # only for those who may read the dispute
    rows = [m for m in await ctx.loaders.task_members.load(task.id) if m.role == role]
    rows.sort(key=lambda m: (m.person_id != task.reporter_id, m.created_at, m.person_id))
    return await view_people(ctx, task, [m.person_id for m in rows])


async def outcome(ctx: Context, task: Task) -> DisputeOutcome | None:
    if task.kind != TaskKind.DISPUTE:
        return None
    await tasks.get(ctx, task_id=task.id)
    return await _outcomes(ctx).load(task.id)


# --- writing --------------------------------------------------------------------------------------


async def add_mediator(ctx: Context, *, task_id: uuid.UUID, person_id: uuid.UUID) -> Task:
    """The grid worker or community committee names a mediator, who then reads the dispute."""
    principal = require_person(ctx.principal)
    visible = await tasks.get(ctx, task_id=task_id)
    place, held = await tasks.place_of(ctx, visible), await tasks.facts(ctx, visible)
    if not can(principal, "dispute", "assign_mediator", place, facts=held):
        raise ForbiddenError("只有网格员或社区“两委”可以指定调解员。")
    _require_dispute(visible, "只有矛盾纠纷才能指定调解员。")
    async with ctx.sessions() as session, session.begin():
        task = await tasks._locked(session, task_id)
        if task.status in FINISHED:
            raise ConflictError("纠纷已结束，不能再指定调解员。")
        if await session.get(DisputeOutcome, task.id) is not None:
            raise ConflictError("该纠纷已记录调解结果，不能再指定调解员。")
        await tasks.check_people_in_scope(
            session, task.compound_id, [person_id], field="personId", label="调解员"
        )
        roles = set(
            (
                await session.execute(
                    sa.select(TaskMember.role).where(
                        TaskMember.task_id == task.id, TaskMember.person_id == person_id
                    )
                )
            ).scalars()
        )
        if "PARTY" in roles:
            raise BadUserInputError("纠纷当事人不能担任调解员。", field="personId")
        if "MEDIATOR" in roles:
            return task  # already a mediator: naming them again changes nothing
        session.add(
            TaskMember(task_id=task.id, person_id=person_id, role="MEDIATOR", compound_id=task.compound_id)
        )
        await tasks.add_event(
            session,
            task,
            "MEDIATOR_ADDED",
            actor_id=principal.person_id,
            role="TEAM",
            payload={"text": "指定了一名调解员", "mediator": str(person_id)},
        )
    forget(ctx.loaders.task_members, task_id)
    forget(ctx.loaders.task, task_id)
    return task


async def record_outcome(ctx: Context, *, task_id: uuid.UUID, agreed: bool, agreement: str | None) -> Task:
    """A mediator, the grid worker or the community committee records how mediation ended, once."""
    principal = require_person(ctx.principal)
    visible = await tasks.get(ctx, task_id=task_id)
    _require_dispute(visible, "只有矛盾纠纷才能记录调解结果。")
    place, held = await tasks.place_of(ctx, visible), await tasks.facts(ctx, visible)
    if not can(principal, "dispute", "record_outcome", place, facts=held):
        raise ForbiddenError("只有调解员、网格员或社区“两委”可以记录调解结果。")
    text = tasks.clean_text(
        agreement, field="agreement", label="调解协议内容", maximum=AGREEMENT_MAX, required=agreed
    )
    role = (
        "MEDIATOR" if Rel.MEDIATOR in held else tasks.actor_role(principal, await tasks.actors(ctx, visible))
    )
    async with ctx.sessions() as session, session.begin():
        task = await tasks._locked(session, task_id)
        if task.status in FINISHED:
            raise ConflictError("纠纷已结束，不能再记录调解结果。")
        if await session.get(DisputeOutcome, task.id) is not None:
            raise ConflictError("该纠纷已记录调解结果，不能重复记录。")
        session.add(
            DisputeOutcome(
                task_id=task.id,
                compound_id=task.compound_id,
                agreed=agreed,
                agreement=text,
                recorded_by=principal.person_id,
            )
        )
        await session.flush()
        summary = (
            f"调解成功，达成协议：{text}" if agreed else "调解未能达成一致" + (f"：{text}" if text else "。")
        )
        await tasks.add_event(
            session,
            task,
            "DISPUTE_OUTCOME",
            actor_id=principal.person_id,
            role=role,
            payload={"text": summary, "agreed": agreed},
        )
    forget(_outcomes(ctx), task_id)
    forget(ctx.loaders.task, task_id)
    return task
