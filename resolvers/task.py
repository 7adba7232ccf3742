"""Tasks: report, triage, work, resolve, rate — every change an event on the append-only timeline.

Status changes lock the task row (`FOR UPDATE`) and ask the pure state machine
(`models.task_rules`) whether the change is legal from the state found under the lock, so of two
simultaneous changes exactly one wins and the other is told the state it ran into.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from auth.policy import NOT_VISIBLE, Place, Rel, can, require, require_person, scope_clause
from auth.principal import PersonPrincipal, Principal
from models import Building, Compound, Home, Person, RoleAssignment, Task, TaskEvent, TaskMember, TeamPosition
from models.enums import ROLE_SCOPE, Role
from models.errors import BadUserInputError, ConflictError, ForbiddenError
from models.task_rules import (
    AUTO_CLOSE_AFTER,
    FINISHED,
    Action,
    Actor,
    TaskCategory,
    TaskKind,
    TaskState,
    TaskStatus,
    TransitionError,
    transition,
)
from resolvers.context import Context
from resolvers.events import notify
from resolvers.ids import page_size
from resolvers.loaders import Page, PageKey
from resolvers.place import compound_place

TITLE_MAX = 60
TEXT_MAX = 2_000
PHOTOS_MAX = 9
ASSIGNABLE_ROLES = frozenset(
    {
        Role.PROPERTY_STAFF,
        Role.GRID_WORKER,
        Role.COMMUNITY_COMMITTEE,
        Role.OWNERS_COMMITTEE,
        Role.PARTY_MEMBER,
    }
)
WORKING_ROLES = ("ASSIGNEE", "LEAD", "MEMBER")
DISPUTE_ROLES = frozenset({Role.PROPERTY_STAFF, Role.GRID_WORKER, Role.COMMUNITY_COMMITTEE})


def topic(task_id: uuid.UUID) -> str:
    return f"task:{task_id}"


# --- who the caller is to a task ------------------------------------------------------------------


async def place_of(ctx: Context, task: Task) -> Place:
    compound = await ctx.loaders.compound.load(task.compound_id)
    assert compound is not None
    return Place(compound.community_id, compound.grid_id, compound.id, task.building_id)


async def facts(ctx: Context, task: Task) -> frozenset[Rel]:
    principal = ctx.principal
    if not isinstance(principal, PersonPrincipal):
        return frozenset()
    held: set[Rel] = set()
    if task.reporter_id == principal.person_id:
        held.add(Rel.REPORTER)
    for member in await ctx.loaders.task_members.load(task.id):
        if member.person_id != principal.person_id:
            continue
        if member.role in WORKING_ROLES:
            held.add(Rel.ASSIGNEE)
        elif member.role == "PARTY":
            held.add(Rel.DISPUTE_PARTY)
        elif member.role == "MEDIATOR":
            held.add(Rel.MEDIATOR)
    if task.assigned_role and _holds_role_at(principal, Role(task.assigned_role), await place_of(ctx, task)):
        held.add(Rel.ASSIGNEE)
    return frozenset(held)


def _holds_role_at(principal: PersonPrincipal, role: Role, place: Place) -> bool:
    """Whether the principal holds `role` at the place's level that the role is scoped to."""
    return getattr(place, f"{ROLE_SCOPE[role]}_id") in principal.role_places(role)


def read_action(task: Task) -> tuple[str, str]:
    if task.kind == TaskKind.DISPUTE:
        return ("dispute", "read")
    return ("task", "read_internal" if task.visibility == "INTERNAL" else "read_public")


async def can_read(ctx: Context, task: Task) -> bool:
    resource, action = read_action(task)
    return can(ctx.principal, resource, action, await place_of(ctx, task), facts=await facts(ctx, task))


async def get(ctx: Context, *, task_id: uuid.UUID) -> Task:
    row = await ctx.loaders.task.load(task_id)
    if row is None or not await can_read(ctx, row):
        raise ForbiddenError(NOT_VISIBLE)
    return row


async def actors(ctx: Context, task: Task) -> frozenset[Actor]:
    """The caller's standing for the state machine, as the policy table grants it."""
    place, held = await place_of(ctx, task), await facts(ctx, task)
    standing = set()
    if can(ctx.principal, "task", "triage", place, facts=held):
        standing.add(Actor.TEAM)
    if can(ctx.principal, "task", "work", place, facts=held):
        standing.add(Actor.WORKER)
    if Rel.REPORTER in held:
        standing.add(Actor.REPORTER)
    return frozenset(standing)


def actor_role(principal: Principal, standing: frozenset[Actor]) -> str:
    if Actor.TEAM in standing:
        return "TEAM"
    if Actor.WORKER in standing:
        return "ASSIGNEE"
    if Actor.REPORTER in standing:
        return "REPORTER"
    return "RESIDENT" if isinstance(principal, PersonPrincipal) else "SYSTEM"


# --- lists ----------------------------------------------------------------------------------------


def visible_clause(principal: Principal) -> Any:
    """Tasks the caller may read, as SQL: the same table as `can_read`, plus the caller's own
    reports, memberships and the role a task is assigned to."""
    columns = {"compound": Task.compound_id, "building": Task.building_id}
    public = scope_clause(principal, "task", "read_public", columns)
    internal = scope_clause(principal, "task", "read_internal", columns)
    dispute = scope_clause(principal, "dispute", "read", columns)
    clauses = [
        sa.and_(Task.kind != TaskKind.DISPUTE.value, Task.visibility == "PUBLIC", public),
        sa.and_(Task.kind != TaskKind.DISPUTE.value, Task.visibility == "INTERNAL", internal),
        sa.and_(Task.kind == TaskKind.DISPUTE.value, dispute),
    ]
    if isinstance(principal, PersonPrincipal):
        clauses.append(Task.reporter_id == principal.person_id)
        clauses.append(
            sa.exists().where(TaskMember.task_id == Task.id, TaskMember.person_id == principal.person_id)
        )
        for role in ASSIGNABLE_ROLES:
            places = principal.role_places(role)
            if not places:
                continue
            column = getattr(Compound, "id" if ROLE_SCOPE[role] == "compound" else f"{ROLE_SCOPE[role]}_id")
            in_scope = Task.compound_id.in_(sa.select(Compound.id).where(column.in_(sorted(places))))
            clauses.append(sa.and_(Task.assigned_role == role.value, in_scope))
    return sa.or_(*clauses)


async def tasks_of_compound(
    ctx: Context, compound: Compound, *, first: int | None, offset: int, status: TaskStatus | None = None
) -> Page[Task]:
    limit = page_size(first)
    statement = (
        sa.select(Task)
        .where(Task.compound_id == compound.id, visible_clause(ctx.principal))
        .order_by(Task.created_at.desc(), Task.id)
        .offset(offset)
        .limit(limit + 1)
    )
    if status is not None:
        statement = statement.where(Task.status == status.value)
    async with ctx.sessions() as session:
        rows = list((await session.execute(statement)).scalars())
    for row in rows:
        ctx.loaders.task.prime(row.id, row)
    return Page(rows[:limit], offset, len(rows) > limit)


async def timeline(ctx: Context, task: Task, *, first: int | None, offset: int) -> Page[TaskEvent]:
    """A page of the task's timeline (the task is already visible); batched across a list of tasks."""
    return await ctx.loaders.timeline_page.load(PageKey(task.id, page_size(first), offset))


async def events_after(ctx: Context, task: Task, seq: int) -> list[TaskEvent]:
    async with ctx.sessions() as session:
        return list(
            (
                await session.execute(
                    sa.select(TaskEvent)
                    .where(TaskEvent.task_id == task.id, TaskEvent.seq > seq)
                    .order_by(TaskEvent.seq)
                    .limit(100)
                )
            ).scalars()
        )


# --- writing --------------------------------------------------------------------------------------


def clean_text(
    value: str | None, *, field: str, label: str, maximum: int, required: bool = True
) -> str | None:
    cleaned = (value or "").strip()
    if not cleaned:
        if required:
            raise BadUserInputError(f"请填写{label}。", field=field)
        return None
    if len(cleaned) > maximum:
        raise BadUserInputError(f"{label}不能超过 {maximum} 个字。", field=field)
    return cleaned


def clean_urls(urls: list[str] | None, *, field: str, maximum: int) -> list[str]:
    urls = [u.strip() for u in urls or [] if u.strip()]
    if len(urls) > maximum:
        raise BadUserInputError(f"最多 {maximum} 个链接。", field=field)
    for url in urls:
        if not url.startswith("https://") or len(url) > 500 or any(c.isspace() for c in url):
            raise BadUserInputError("链接必须是以 https:// 开头的网址。", field=field)
    return urls


async def add_event(
    session: AsyncSession,
    task: Task,
    kind: str,
    *,
    actor_id: uuid.UUID | None,
    role: str,
    payload: dict[str, Any] | None = None,
) -> TaskEvent:
    event = TaskEvent(
        task_id=task.id,
        compound_id=task.compound_id,
        kind=kind,
        actor_id=actor_id,
        actor_role=role,
        payload=payload or {},
    )
    session.add(event)
    await session.flush()
    await notify(session, topic(task.id))
    return event


async def check_people_in_scope(
    session: AsyncSession, compound_id: uuid.UUID, people: Sequence[uuid.UUID], *, field: str, label: str
) -> None:
    """People attached to a task (assignees, attendees, mediators, parties) must belong to its
    compound: living there, or holding a role or position at it, its grid or its community.
    Otherwise a team elsewhere could pull anyone in and see them through the task."""
    wanted = set(people)
    if not wanted:
        return
    compound = (await session.execute(sa.select(Compound).where(Compound.id == compound_id))).scalar_one()
    belongs = sa.or_(
        sa.exists().where(Home.person_id == Person.id, Home.compound_id == compound.id),
        sa.exists().where(
            RoleAssignment.person_id == Person.id,
            sa.or_(
                RoleAssignment.compound_id == compound.id,
                RoleAssignment.grid_id == compound.grid_id,
                RoleAssignment.community_id == compound.community_id,
            ),
        ),
        sa.exists().where(TeamPosition.person_id == Person.id, TeamPosition.compound_id == compound.id),
    )
    found = set((await session.execute(sa.select(Person.id).where(Person.id.in_(wanted), belongs))).scalars())
    if found != wanted:
        raise BadUserInputError(f"{label}必须是本小区的居民或服务本小区的人员，请重新选择。", field=field)


@dataclass(frozen=True)
class NewTask:
    compound_id: uuid.UUID
    building_id: uuid.UUID | None
    kind: TaskKind
    category: TaskCategory
    title: str
    description: str
    photo_urls: list[str]
    internal: bool
    party_ids: list[uuid.UUID]


async def report(ctx: Context, new: NewTask) -> Task:
    principal = require_person(ctx.principal)
    compound = await ctx.loaders.compound.load(new.compound_id)
    if compound is None:
        raise ForbiddenError(NOT_VISIBLE)
    place = compound_place(compound)
    require(principal, "compound", "read", place)  # the same answer as a missing compound
    require(principal, "task", "report", place, message="只能在自己居住或负责的小区反映事项。")
    if new.kind == TaskKind.PROJECT or new.internal:
        require(principal, "task", "create_project", place, message="只有小区班子可以发起项目或内部事项。")
    title = clean_text(new.title, field="title", label="标题", maximum=TITLE_MAX)
    description = clean_text(new.description, field="description", label="描述", maximum=TEXT_MAX)
    photos = clean_urls(new.photo_urls, field="photoUrls", maximum=PHOTOS_MAX)
    checker = ctx.services.content_check
    held = None
    if checker is not None:
        held = await checker(principal, f"{title}\n{description}")
    async with ctx.sessions() as session, session.begin():
        if new.building_id is not None:
            found = (
                await session.execute(
                    sa.select(Building.id).where(
                        Building.id == new.building_id, Building.compound_id == compound.id
                    )
                )
            ).first()
            if found is None:
                raise BadUserInputError("所选楼栋不属于该小区。", field="buildingId")
        parties = sorted(set(new.party_ids) - {principal.person_id})
        if parties:
            if new.kind != TaskKind.DISPUTE:
                raise BadUserInputError("只有矛盾纠纷才需要填写当事人。", field="partyIds")
            await check_people_in_scope(session, compound.id, parties, field="partyIds", label="当事人")
        task = Task(
            compound_id=compound.id,
            building_id=new.building_id,
            kind=new.kind,
            category=new.category,
            title=title or "",
            description=description or "",
            photo_urls=photos,
            visibility="INTERNAL" if new.internal else "PUBLIC",
            reporter_id=principal.person_id,
            review_hold=held,
        )
        session.add(task)
        await session.flush()
        if new.kind == TaskKind.DISPUTE:
            for person_id in [principal.person_id, *parties]:
                session.add(
                    TaskMember(task_id=task.id, person_id=person_id, role="PARTY", compound_id=compound.id)
                )
        await add_event(
            session,
            task,
            "REPORTED",
            actor_id=principal.person_id,
            role="REPORTER",
            payload={"status": TaskStatus.SUBMITTED.value, **({"held_for_review": True} if held else {})},
        )
        await session.refresh(task)
    return task


async def _locked(session: AsyncSession, task_id: uuid.UUID) -> Task:
    row = (await session.execute(sa.select(Task).where(Task.id == task_id).with_for_update())).scalar()
    if row is None:
        raise ForbiddenError(NOT_VISIBLE)
    return row


async def change_status(
    ctx: Context,
    *,
    task_id: uuid.UUID,
    action: Action,
    text: str | None = None,
    stars: int | None = None,
) -> Task:
    principal = require_person(ctx.principal)
    visible = await get(ctx, task_id=task_id)
    standing = await actors(ctx, visible)
    if action in (Action.REJECT, Action.REOPEN):
        text = clean_text(text, field="reason", label="理由", maximum=TEXT_MAX)
    elif action == Action.RESOLVE:
        text = clean_text(text, field="resolution", label="办理结果", maximum=TEXT_MAX)
    elif action == Action.RATE:
        if stars is None or not 1 <= stars <= 5:
            raise BadUserInputError("评分必须是 1 到 5 颗星。", field="stars")
        text = clean_text(text, field="comment", label="评价", maximum=500, required=False)
    async with ctx.sessions() as session, session.begin():
        task = await _locked(session, task_id)
        state = TaskState(TaskStatus(task.status), task.reopen_count, task.resolved_at)
        try:
            target = transition(state, action, standing)
        except TransitionError as exc:
            if exc.kind == "forbidden":
                raise ForbiddenError(exc.message) from None
            raise ConflictError(exc.message) from None
        before = task.status
        now = datetime.now(UTC)
        task.status = target
        task.updated_at = now
        payload: dict[str, Any] = {"from": str(before), "to": target.value}
        if action == Action.REJECT:
            payload["reason"] = text
        elif action == Action.RESOLVE:
            task.resolution = text
            task.resolved_at = now
            payload["resolution"] = text
        elif action == Action.REOPEN:
            task.reopen_count += 1
            task.resolved_at = None
            payload["reason"] = text
        elif action == Action.RATE:
            task.rating_stars = stars
            task.rating_comment = text
            task.closed_at = now
            payload.update({"stars": stars, "comment": text})
        kind = {Action.RATE: "RATED", Action.REOPEN: "REOPENED"}.get(action, "STATUS_CHANGED")
        await add_event(
            session,
            task,
            kind,
            actor_id=principal.person_id,
            role=actor_role(principal, standing),
            payload=payload,
        )
    ctx.loaders.task.clear(task_id)
    return task


async def assign(
    ctx: Context,
    *,
    task_id: uuid.UUID,
    assignee_id: uuid.UUID | None,
    role: Role | None,
    member_ids: list[uuid.UUID] | None = None,
) -> Task:
    """Assign to a person and/or a role; `member_ids` form the working group the assignee leads."""
    principal = require_person(ctx.principal)
    visible = await get(ctx, task_id=task_id)
    if Actor.TEAM not in await actors(ctx, visible):
        raise ForbiddenError("只有小区班子、网格员或社区“两委”可以分派事项。")
    if assignee_id is None and role is None:
        raise BadUserInputError("请指定承办人或承办角色。", field="assigneeId")
    if role is not None and role not in ASSIGNABLE_ROLES:
        raise BadUserInputError("不能分派给该角色。", field="role")
    if role is not None and visible.kind == TaskKind.DISPUTE and role not in DISPUTE_ROLES:
        # a role assignment opens the task to everyone holding the role: disputes stay private
        raise BadUserInputError("矛盾纠纷只能分派给物业、网格员或社区“两委”。", field="role")
    members = sorted(set(member_ids or []) - ({assignee_id} if assignee_id else set()))
    if members and assignee_id is None:
        raise BadUserInputError("工作专班需要一名牵头人（承办人）。", field="memberIds")
    async with ctx.sessions() as session, session.begin():
        task = await _locked(session, task_id)
        if task.status in FINISHED:
            raise ConflictError("事项已结束，不能再分派。")
        wanted = [p for p in [assignee_id, *members] if p is not None]
        await check_people_in_scope(session, task.compound_id, wanted, field="assigneeId", label="承办人")
        await session.execute(
            sa.delete(TaskMember).where(TaskMember.task_id == task.id, TaskMember.role.in_(WORKING_ROLES))
        )
        if assignee_id is not None:
            session.add(
                TaskMember(
                    task_id=task.id,
                    person_id=assignee_id,
                    role="LEAD" if members else "ASSIGNEE",
                    compound_id=task.compound_id,
                )
            )
        for member in members:
            session.add(
                TaskMember(task_id=task.id, person_id=member, role="MEMBER", compound_id=task.compound_id)
            )
        task.assigned_role = role.value if role else None
        task.updated_at = datetime.now(UTC)
        await add_event(
            session,
            task,
            "ASSIGNED",
            actor_id=principal.person_id,
            role="TEAM",
            payload={
                "assignee": str(assignee_id) if assignee_id else None,
                "role": role.value if role else None,
                "members": [str(m) for m in members],
            },
        )
    ctx.loaders.task.clear(task_id)
    ctx.loaders.task_members.clear(task_id)
    return task


async def comment(ctx: Context, *, task_id: uuid.UUID, text: str) -> TaskEvent:
    principal = require_person(ctx.principal)
    visible = await get(ctx, task_id=task_id)
    body = clean_text(text, field="text", label="评论", maximum=TEXT_MAX)
    checker = ctx.services.content_check
    held = await checker(principal, body or "") if checker is not None else None
    standing = await actors(ctx, visible)
    async with ctx.sessions() as session, session.begin():
        task = await _locked(session, task_id)
        return await add_event(
            session,
            task,
            "COMMENTED",
            actor_id=principal.person_id,
            role=actor_role(principal, standing),
            payload={"text": body, **({"held_for_review": True} if held else {})},
        )


async def auto_close_resolved(sessions: async_sessionmaker[AsyncSession], *, limit: int = 200) -> int:
    """Close tasks resolved more than 7 days ago and never rated. Safe in many processes at once."""
    async with sessions() as session, session.begin():
        due = (
            (
                await session.execute(
                    sa.select(Task)
                    .where(
                        Task.status == TaskStatus.RESOLVED.value,
                        Task.resolved_at <= sa.func.now() - AUTO_CLOSE_AFTER,
                    )
                    .order_by(Task.resolved_at)
                    .limit(limit)
                    .with_for_update(skip_locked=True)
                )
            )
            .scalars()
            .all()
        )
        for task in due:
            transition(
                TaskState(TaskStatus(task.status), task.reopen_count, task.resolved_at),
                Action.AUTO_CLOSE,
                frozenset({Actor.SYSTEM}),
            )
            task.status = TaskStatus.CLOSED
            task.closed_at = datetime.now(UTC)
            task.updated_at = task.closed_at
            await add_event(
                session,
                task,
                "STATUS_CHANGED",
                actor_id=None,
                role="SYSTEM",
                payload={"from": TaskStatus.RESOLVED.value, "to": TaskStatus.CLOSED.value, "automatic": True},
            )
    return len(due)


async def event(ctx: Context, *, event_id: uuid.UUID) -> TaskEvent:
    """One timeline event: visible with its task, or not at all."""
    async with ctx.sessions() as session:
        row = (await session.execute(sa.select(TaskEvent).where(TaskEvent.id == event_id))).scalar()
    if row is None:
        raise ForbiddenError(NOT_VISIBLE)
    await get(ctx, task_id=row.task_id)
    return row


async def seq_of(ctx: Context, task: Task, event_id: uuid.UUID) -> int:
    """The position of one of this task's events, for resuming a subscription after it."""
    async with ctx.sessions() as session:
        seq = (
            await session.execute(
                sa.select(TaskEvent.seq).where(TaskEvent.id == event_id, TaskEvent.task_id == task.id)
            )
        ).scalar()
    if seq is None:
        raise BadUserInputError("afterEventId 不是这个事项的时间线记录。", field="afterEventId")
    return seq


def last_seq(event: TaskEvent | None) -> int:
    return event.seq or 0 if event is not None else 0
