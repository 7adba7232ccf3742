"""Tasks: report, triage, work, resolve, rate — every change an event on the append-only timeline.

Every change goes through `resolvers.pipeline.run`: the task row is locked (`FOR UPDATE`) and the
pure state machine (`models.task_rules`) asked whether the change is legal from the state found
under the lock, so of two simultaneous changes exactly one wins and the other is told the state it
ran into.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from strawberry.dataloader import DataLoader

from auth.facts import PlaceFacts
from auth.policy import (
    ASSIGNABLE_ROLES,
    DISPUTE_ASSIGNABLE_ROLES,
    TASK_ACTIONS,
    Action,
    Mine,
    Resource,
    allows,
    attachable_sql,
    mine,
    not_visible,
    params,
    shown_events,
    standing,
    where,
)
from models.enums import Role
from models.errors import BadUserInputError, ConflictError
from models.party import ParticipationKind
from models.person import Person
from models.photos import PHOTOS_MAX, AttachedTo
from models.place import Building, Compound
from models.task import Task, TaskEvent, TaskMember
from models.task_rules import (
    AUTO_CLOSE_AFTER,
    REMOVED,
    WORKING_ROLES,
    EventKind,
    MemberRole,
    Standing,
    TaskAction,
    TaskCategory,
    TaskKind,
    TaskState,
    TaskStatus,
    TaskVisibility,
    TransitionError,
    edit_problem,
    transition,
)
from resolvers import ledger, messages
from resolvers import photos as _photos
from resolvers.context import Context
from resolvers.loaders import Loader, PageKey, grouped, paged, visible_by_id
from resolvers.pages import Key, Page, order, read, window
from resolvers.pipeline import Event, Outcome, Target, Work, append_event, run, task_topic
from resolvers.text import clean_text, clean_urls

TITLE_MAX = 60
TEXT_MAX = 2_000

TASK = Target(Resource.TASK, Task)
COMPOUND = Target(Resource.COMPOUND, Compound, lock=False)
#: comments only append to the timeline: the task needs no lock
TASK_READ_ONLY = Target(Resource.TASK, Task, lock=False)

topic = task_topic


# --- reading --------------------------------------------------------------------------------------


def task_loader(ctx: Context) -> DataLoader[uuid.UUID, Task | None]:
    return ctx.loaders.cached(
        "task", lambda: visible_by_id(ctx.sessions, ctx.principal, Resource.TASK, Task, cache=True)
    )


def readable(ctx: Context) -> Any:
    """The tasks the caller may read, as a condition on rows of `task`."""
    return where(ctx.principal, Resource.TASK, Action.READ, Task.__table__)


def visible_tasks(ctx: Context) -> Any:
    """The ids of the tasks the caller may read, as a sub-select (for a task's children)."""
    return sa.select(Task.id).where(readable(ctx))


async def get(ctx: Context, *, task_id: uuid.UUID) -> Task:
    row = await task_loader(ctx).load(task_id)
    if row is None:
        raise not_visible()
    return row


def forget(ctx: Context, task_id: uuid.UUID) -> None:
    """A write changed the task: the rest of the request reads it again."""
    for name in ("task", "task_members", "last_event"):
        ctx.loaders.forget(name, task_id)


def members_loader(ctx: Context) -> DataLoader[uuid.UUID, list[TaskMember]]:
    """Per task: the people attached to it, in the order they joined."""
    return ctx.loaders.cached(
        "task_members",
        lambda: grouped(
            ctx.sessions,
            lambda ids: (
                sa.select(TaskMember)
                .where(TaskMember.task_id.in_(ids))
                .order_by(TaskMember.created_at, TaskMember.person_id)
            ),
            key=lambda row: row.TaskMember.task_id,
            value=lambda row: row.TaskMember,
        ),
    )


async def members(ctx: Context, task: Task, roles: frozenset[MemberRole]) -> list[uuid.UUID]:
    """The people attached to a (visible) task in one of these roles: leads first, then by joining."""
    rows = [m for m in await members_loader(ctx).load(task.id) if m.role in roles]
    rows.sort(
        key=lambda m: (m.role not in (MemberRole.LEAD, MemberRole.ASSIGNEE), m.person_id != task.reporter_id)
    )
    return [m.person_id for m in rows]


@dataclass(frozen=True)
class TaskFilter:
    """What a task list is narrowed to; None is "any". `since`/`before` bound when it was reported."""

    status: TaskStatus | None = None
    category: TaskCategory | None = None
    kind: TaskKind | None = None
    building_id: uuid.UUID | None = None
    assignee_id: uuid.UUID | None = None
    since: datetime | None = None
    before: datetime | None = None

    def values(self) -> dict[str, Any]:
        return {
            "status": None if self.status is None else TaskStatus(self.status).value,
            "category": None if self.category is None else TaskCategory(self.category).value,
            "kind": None if self.kind is None else TaskKind(self.kind).value,
            "building": self.building_id,
            "assignee": self.assignee_id,
            "since": self.since,
            "before": self.before,
        }


#: the SQL type of each value `narrowed` takes
FILTER_TYPES: dict[str, Any] = {
    "status": sa.Text,
    "category": sa.Text,
    "kind": sa.Text,
    "building": sa.Uuid,
    "assignee": sa.Uuid,
    "since": sa.DateTime(timezone=True),
    "before": sa.DateTime(timezone=True),
}


def narrowed(t: Any, values: dict[str, Any]) -> list[Any]:
    """A task list's filter over `t` (the task table or an alias). Each value is a SQL expression —
    a parameter — and NULL means "any", so one statement (and one compiled plan) serves every
    filter; the strawberry path and the compiled one both use this."""
    v = {key: sa.cast(values[key], type_) for key, type_ in FILTER_TYPES.items()}
    worker = TaskMember.__table__.alias()
    assigned = sa.exists().where(
        worker.c.task_id == t.c.id,
        worker.c.person_id == v["assignee"],
        worker.c.role.in_([r.value for r in WORKING_ROLES]),
    )
    return [
        sa.or_(v["status"].is_(None), t.c.status == v["status"]),
        sa.or_(v["category"].is_(None), t.c.category == v["category"]),
        sa.or_(v["kind"].is_(None), t.c.kind == v["kind"]),
        sa.or_(v["building"].is_(None), t.c.building_id == v["building"]),
        sa.or_(v["assignee"].is_(None), assigned),
        sa.or_(v["since"].is_(None), t.c.created_at >= v["since"]),
        sa.or_(v["before"].is_(None), t.c.created_at < v["before"]),
    ]


def _filter_sql(f: TaskFilter) -> list[Any]:
    return narrowed(
        Task.__table__, {k: sa.literal(value, FILTER_TYPES[k]) for k, value in f.values().items()}
    )


#: task lists: newest first; a timeline: in the order its events were recorded (`seq`, a counter
#: over all tasks: a cursor says how many events the whole service recorded before it, no more)
TASKS = order(Key("created_at", datetime, descending=True), Key("id"))
TIMELINE = order(Key("seq", int))


async def _task_page(
    ctx: Context, conditions: list[Any], *, first: int | None, after: str | None
) -> Page[Task]:
    """A page of the tasks the caller may read among `conditions`, newest first."""
    statement = sa.select(Task).where(readable(ctx), *conditions)
    w = window(TASKS, first=first, after=after)
    page = await read(ctx.sessions, statement, Task.__table__, TASKS, w, params(ctx.principal))
    for row in page.rows:
        task_loader(ctx).prime(row.id, row)
    return page


async def tasks_of_compound(
    ctx: Context,
    compound: Compound,
    *,
    first: int | None,
    after: str | None,
    narrow: TaskFilter = TaskFilter(),
) -> Page[Task]:
    return await _task_page(
        ctx, [Task.compound_id == compound.id, *_filter_sql(narrow)], first=first, after=after
    )


async def my_tasks(
    ctx: Context, relation: Mine, *, first: int | None, after: str | None, narrow: TaskFilter = TaskFilter()
) -> Page[Task]:
    """The caller's own tasks in `relation` (reported by them, assigned to them or their role),
    among those they may read, newest first."""
    conditions = [mine(ctx.principal, relation, Task.__table__), *_filter_sql(narrow)]
    return await _task_page(ctx, conditions, first=first, after=after)


async def timeline(
    ctx: Context,
    task: Task,
    *,
    first: int | None,
    after: str | None,
    last: int | None = None,
    before: str | None = None,
) -> Page[TaskEvent]:
    """A page of a (visible) task's timeline, forward or backward; batched across a list of tasks."""
    loader = ctx.loaders.cached(
        "timeline_page",
        lambda: paged(
            ctx.sessions,
            TaskEvent,
            TaskEvent.task_id,
            TIMELINE,
            shown_events(ctx.principal, TaskEvent.__table__),
            params(ctx.principal),
        ),
    )
    w = window(TIMELINE, first=first, after=after, last=last, before=before)
    return await loader.load(PageKey(task.id, w))


def _last_events(ctx: Context) -> DataLoader[uuid.UUID, TaskEvent | None]:
    def build() -> DataLoader[uuid.UUID, TaskEvent | None]:
        async def load(ids: Sequence[uuid.UUID]) -> list[TaskEvent | None]:
            latest = (
                sa.select(TaskEvent)
                .where(TaskEvent.task_id.in_(ids), shown_events(ctx.principal, TaskEvent.__table__))
                .ext(distinct_on(TaskEvent.task_id))
                .order_by(TaskEvent.task_id, TaskEvent.seq.desc())
            )
            async with ctx.sessions() as session:
                rows = (await session.execute(latest, params(ctx.principal))).scalars()
                found = {row.task_id: row for row in rows}
            return [found.get(i) for i in ids]

        return Loader(load_fn=load)

    return ctx.loaders.cached("last_event", build)


async def last_event(ctx: Context, task: Task) -> TaskEvent | None:
    return await _last_events(ctx).load(task.id)


async def events_after(ctx: Context, task: Task, seq: int) -> list[TaskEvent]:
    async with ctx.sessions() as session:
        return list(
            (
                await session.execute(
                    sa.select(TaskEvent)
                    .where(
                        TaskEvent.task_id == task.id,
                        TaskEvent.seq > seq,
                        shown_events(ctx.principal, TaskEvent.__table__),
                    )
                    .order_by(TaskEvent.seq)
                    .limit(100),
                    params(ctx.principal),
                )
            ).scalars()
        )


async def event(ctx: Context, *, event_id: uuid.UUID) -> TaskEvent:
    """One timeline event: visible with its task, or not at all."""
    statement = sa.select(TaskEvent).where(
        TaskEvent.id == event_id,
        TaskEvent.task_id.in_(visible_tasks(ctx)),
        shown_events(ctx.principal, TaskEvent.__table__),
    )
    async with ctx.sessions() as session:
        row = (await session.execute(statement, params(ctx.principal))).scalar()
    if row is None:
        raise not_visible()
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


# --- writing --------------------------------------------------------------------------------------


async def check_attachable(
    session: AsyncSession, place: PlaceFacts, people: Sequence[uuid.UUID], *, field: str, label: str
) -> None:
    """People attached to a task must be ones the policy lets be attached (`auth.policy.attachable`)."""
    wanted = set(people)
    if not wanted:
        return
    person = Person.__table__
    statement = sa.select(person.c.id).where(person.c.id.in_(wanted), attachable_sql(place, person))
    if set((await session.execute(statement)).scalars()) != wanted:
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
    #: uploads (global ids) and WeChat cloud file ids, after the links
    photos: list[str] = field(default_factory=list)


async def report(ctx: Context, new: NewTask) -> Task:
    title = clean_text(new.title, field="title", label="标题", maximum=TITLE_MAX) or ""
    description = clean_text(new.description, field="description", label="描述", maximum=TEXT_MAX) or ""
    links = clean_urls(new.photo_urls, field="photoUrls", maximum=PHOTOS_MAX)
    attached = _photos.parse_refs(new.photos, besides=len(links))
    action = Action.CREATE_PROJECT if new.kind == TaskKind.PROJECT or new.internal else Action.REPORT_TASK
    held: list[str | None] = [None]

    async def check_content(work: Work[Compound]) -> None:
        if ctx.services.content_check is not None:
            held[0] = await ctx.services.content_check(work.who, f"{title}\n{description}")

    async def apply(work: Work[Compound]) -> Outcome[Task]:
        session, who = work.session, work.who
        if new.building_id is not None:
            found = (
                await session.execute(
                    sa.select(Building.id).where(
                        Building.id == new.building_id, Building.compound_id == work.row.id
                    )
                )
            ).first()
            if found is None:
                raise BadUserInputError("所选楼栋不属于该小区。", field="buildingId")
        parties = sorted(set(new.party_ids) - {who.person_id})
        if new.kind == TaskKind.DISPUTE and not parties:
            raise BadUserInputError("矛盾纠纷须至少填写一位其他当事人（partyIds）。", field="partyIds")
        if parties:
            if new.kind != TaskKind.DISPUTE:
                raise BadUserInputError("只有矛盾纠纷才需要填写当事人。", field="partyIds")
            await check_attachable(session, work.facts, parties, field="partyIds", label="当事人")
        task = Task(
            compound_id=work.row.id,
            building_id=new.building_id,
            kind=new.kind,
            category=new.category,
            title=title,
            description=description,
            photo_urls=links,
            visibility=TaskVisibility.INTERNAL if new.internal else TaskVisibility.PUBLIC,
            reporter_id=who.person_id,
            review_hold=held[0],
        )
        session.add(task)
        await session.flush()
        await _photos.attach(session, who, AttachedTo.TASK, task.id, attached)
        if new.kind == TaskKind.DISPUTE:
            for person_id in [who.person_id, *parties]:
                session.add(
                    TaskMember(
                        task_id=task.id,
                        person_id=person_id,
                        role=MemberRole.PARTY,
                        compound_id=task.compound_id,
                    )
                )
        payload = {"status": TaskStatus.SUBMITTED.value, **({"held_for_review": True} if held[0] else {})}
        await append_event(
            session,
            task.id,
            task.compound_id,
            Event(EventKind.REPORTED, payload),
            actor_id=who.person_id,
            role=Standing.REPORTER,
        )
        await session.refresh(task)
        return Outcome(task)

    return await run(ctx, COMPOUND, new.compound_id, action, apply, prepare=check_content)


async def change_status(
    ctx: Context,
    *,
    task_id: uuid.UUID,
    action: TaskAction,
    text: str | None = None,
    stars: int | None = None,
    photos: list[str] | None = None,
) -> Task:
    """Move a task on; a resolution may show photos of the work done (on its timeline record)."""
    attached = _photos.parse_refs(photos)
    if attached and action != TaskAction.RESOLVE:
        raise BadUserInputError("只有办结时可以附照片。", field="photos")
    if action in (TaskAction.REJECT, TaskAction.REOPEN):
        text = clean_text(text, field="reason", label="理由", maximum=TEXT_MAX)
    elif action == TaskAction.WITHDRAW:
        text = clean_text(text, field="reason", label="撤回理由", maximum=TEXT_MAX, required=False)
    elif action == TaskAction.RESOLVE:
        text = clean_text(text, field="resolution", label="办理结果", maximum=TEXT_MAX)
    elif action == TaskAction.RATE:
        if stars is None or not 1 <= stars <= 5:
            raise BadUserInputError("评分必须是 1 到 5 颗星。", field="stars")
        text = clean_text(text, field="comment", label="评价", maximum=500, required=False)

    async def apply(work: Work[Task]) -> Outcome[Task]:
        task = work.row
        try:
            target = transition(
                TaskState(TaskStatus(task.status), task.reopen_count, task.resolved_at), action
            )
        except TransitionError as exc:
            raise ConflictError(exc.message) from None
        before = task.status
        now = datetime.now(UTC)
        task.status = target
        task.updated_at = now
        payload: dict[str, Any] = {"from": str(before), "to": target.value}
        if action in (TaskAction.REJECT, TaskAction.WITHDRAW) and text:
            payload["reason"] = text
        elif action == TaskAction.RESOLVE:
            task.resolution = text
            task.resolved_at = now
            payload["resolution"] = text
        elif action == TaskAction.REOPEN:
            task.reopen_count += 1
            task.resolved_at = None
            payload["reason"] = text
        elif action == TaskAction.RATE:
            task.rating_stars = stars
            task.rating_comment = text
            task.closed_at = now
            payload.update({"stars": stars, "comment": text})
        if action in (TaskAction.RESOLVE, TaskAction.REOPEN):
            await _credit_handling(work, resolved=action == TaskAction.RESOLVE)
        if action.value in messages.REPORT_WORDS and task.reporter_id != work.who.person_id:
            await messages.report_status(
                work.session,
                ctx.services.templates,
                task_id=task.id,
                reporter_id=task.reporter_id,
                title=task.title,
                compound_id=task.compound_id,
                action=action.value,
                note=text,
            )
        kind = {TaskAction.RATE: EventKind.RATED, TaskAction.REOPEN: EventKind.REOPENED}.get(
            action, EventKind.STATUS_CHANGED
        )
        if not attached:
            return Outcome(task, Event(kind, payload))
        # the photos belong to the resolution's record on the timeline, written here to know its id
        written = await append_event(
            work.session,
            task.id,
            task.compound_id,
            Event(kind, payload),
            actor_id=work.who.person_id,
            role=standing(work.who, work.facts),
        )
        await _photos.attach(work.session, work.who, AttachedTo.TASK_EVENT, written.id, attached)
        return Outcome(task)

    row = await run(ctx, TASK, task_id, TASK_ACTIONS[action], apply)
    forget(ctx, task_id)
    return row


async def _credit_handling(work: Work[Task], *, resolved: bool) -> None:
    """A resolved task is on the participation record of the Party members who handled it (its
    assignees and working group, and whoever resolved it); a reopened one no longer is."""
    task, session = work.row, work.session
    handled: set[uuid.UUID] = set()
    if resolved:
        m = TaskMember.__table__
        workers = await session.execute(
            sa.select(m.c.person_id).where(m.c.task_id == task.id, m.c.role.in_(sorted(WORKING_ROLES)))
        )
        handled = {*workers.scalars(), work.who.person_id}
    await ledger.settle(
        session,
        kind=ParticipationKind.TASK,
        ref_id=task.id,
        compound_id=task.compound_id,
        listed=handled,
        occurred_at=datetime.now(UTC),
        reason="事项被重新打开",
    )


async def assign(
    ctx: Context,
    *,
    task_id: uuid.UUID,
    assignee_id: uuid.UUID | None,
    role: Role | None,
    member_ids: list[uuid.UUID] | None = None,
) -> Task:
    """Assign to a person and/or a role; `member_ids` form the working group the assignee leads."""
    if assignee_id is None and role is None:
        raise BadUserInputError("请指定承办人或承办角色。", field="assigneeId")
    if role is not None and role not in ASSIGNABLE_ROLES:
        raise BadUserInputError("不能分派给该角色。", field="role")
    members_ = sorted(set(member_ids or []) - ({assignee_id} if assignee_id else set()))
    if members_ and assignee_id is None:
        raise BadUserInputError("工作专班需要一名牵头人（承办人）。", field="memberIds")

    async def apply(work: Work[Task]) -> Outcome[Task]:
        task, session = work.row, work.session
        if role is not None and task.kind == TaskKind.DISPUTE and role not in DISPUTE_ASSIGNABLE_ROLES:
            raise BadUserInputError("矛盾纠纷只能分派给物业、网格员或社区“两委”。", field="role")
        wanted = [p for p in [assignee_id, *members_] if p is not None]
        await check_attachable(session, work.facts, wanted, field="assigneeId", label="承办人")
        working = await session.execute(
            sa.select(TaskMember.person_id).where(
                TaskMember.task_id == task.id, TaskMember.role.in_(sorted(WORKING_ROLES))
            )
        )
        already = set(working.scalars())
        await session.execute(
            sa.delete(TaskMember).where(
                TaskMember.task_id == task.id, TaskMember.role.in_(sorted(WORKING_ROLES))
            )
        )
        if assignee_id is not None:
            lead = MemberRole.LEAD if members_ else MemberRole.ASSIGNEE
            session.add(
                TaskMember(task_id=task.id, person_id=assignee_id, role=lead, compound_id=task.compound_id)
            )
        for member in members_:
            session.add(
                TaskMember(
                    task_id=task.id, person_id=member, role=MemberRole.MEMBER, compound_id=task.compound_id
                )
            )
        task.assigned_role = role.value if role else None
        task.updated_at = datetime.now(UTC)
        given = (
            {assignee_id: (MemberRole.LEAD if members_ else MemberRole.ASSIGNEE).value} if assignee_id else {}
        )
        given.update((m, MemberRole.MEMBER.value) for m in members_)
        # those newly given it hear of it; someone assigning themselves does not
        await messages.task_assigned(
            session,
            ctx.services.templates,
            task_id=task.id,
            title=task.title,
            compound_id=task.compound_id,
            people={p: r for p, r in given.items() if p not in already and p != work.who.person_id},
        )
        payload = {
            "assignee": str(assignee_id) if assignee_id else None,
            "role": role.value if role else None,
            "members": [str(m) for m in members_],
        }
        return Outcome(task, Event(EventKind.ASSIGNED, payload))

    row = await run(ctx, TASK, task_id, Action.ASSIGN, apply, open_task="再分派")
    forget(ctx, task_id)
    return row


async def edit(
    ctx: Context,
    *,
    task_id: uuid.UUID,
    title: str | None,
    description: str | None,
    category: TaskCategory | None,
) -> Task:
    """Correct a task's text or category. The old text stays on the timeline (`EDITED`), and new
    text goes through the content check like a report's."""
    new_title = clean_text(title, field="title", label="标题", maximum=TITLE_MAX, required=False)
    new_text = clean_text(description, field="description", label="描述", maximum=TEXT_MAX, required=False)
    if new_title is None and new_text is None and category is None:
        raise BadUserInputError("请至少修改标题、描述或分类中的一项。", field="title")
    held: list[str | None] = [None]

    async def check_content(work: Work[Task]) -> None:
        problem = edit_problem(TaskStatus(work.row.status), triages=_triages(work))
        if problem is not None:
            raise ConflictError(problem)
        if ctx.services.content_check is not None and (new_title or new_text):
            held[0] = await ctx.services.content_check(work.who, f"{new_title or ''}\n{new_text or ''}")

    async def apply(work: Work[Task]) -> Outcome[Task]:
        # the task was read without a lock (the content check ran in between): lock it now and
        # decide on the state it is in
        task = (
            await work.session.execute(sa.select(Task).where(Task.id == task_id).with_for_update())
        ).scalar_one()
        problem = edit_problem(TaskStatus(task.status), triages=_triages(work))
        if problem is not None:
            raise ConflictError(problem)
        before = {"title": task.title, "description": task.description, "category": task.category}
        after = {
            "title": new_title or task.title,
            "description": new_text or task.description,
            "category": (category or task.category),
        }
        if task.review_hold == REMOVED:
            raise ConflictError("这个事项的内容已经审核删除，不能再修改。")
        changed = {k: v for k, v in after.items() if str(v) != str(before[k])}
        if not changed:
            raise BadUserInputError("修改后的内容与原来相同。", field="title")
        task.title, task.description, task.category = after["title"], after["description"], after["category"]
        if held[0]:
            task.review_hold = held[0]
        task.updated_at = datetime.now(UTC)
        summary = "；".join(f"{_EDIT_LABELS[k]}原为「{before[k]}」" for k in changed)
        payload = {
            "text": f"修改了{'、'.join(_EDIT_LABELS[k] for k in changed)}：{summary}",
            "before": {k: str(before[k]) for k in changed},
            "after": {k: str(v) for k, v in changed.items()},
        }
        return Outcome(task, Event(EventKind.EDITED, payload, role=standing(work.who, work.facts)))

    row = await run(ctx, TASK_READ_ONLY, task_id, Action.EDIT, apply, prepare=check_content)
    forget(ctx, task_id)
    return row


_EDIT_LABELS = {"title": "标题", "description": "描述", "category": "分类"}


def _triages(work: Work[Task]) -> bool:
    return allows(work.who, Resource.TASK, Action.ACCEPT, work.facts)


async def comment(
    ctx: Context, *, task_id: uuid.UUID, text: str, photos: list[str] | None = None
) -> TaskEvent:
    body = clean_text(text, field="text", label="评论", maximum=TEXT_MAX)
    attached = _photos.parse_refs(photos)
    held: list[str | None] = [None]

    async def check_content(work: Work[Task]) -> None:
        if ctx.services.content_check is not None:
            held[0] = await ctx.services.content_check(work.who, body or "")

    async def apply(work: Work[Task]) -> Outcome[TaskEvent]:
        payload = {"text": body, **({"held_for_review": True} if held[0] else {})}
        event = Event(EventKind.COMMENTED, payload, role=standing(work.who, work.facts))
        written = await append_event(
            work.session,
            work.row.id,
            work.row.compound_id,
            event,
            actor_id=work.who.person_id,
            role=event.role,
        )
        await _photos.attach(work.session, work.who, AttachedTo.TASK_EVENT, written.id, attached)
        return Outcome(written)

    row = await run(ctx, TASK_READ_ONLY, task_id, Action.COMMENT, apply, prepare=check_content)
    forget(ctx, task_id)
    return row


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
            target = transition(
                TaskState(TaskStatus(task.status), task.reopen_count, task.resolved_at), TaskAction.AUTO_CLOSE
            )
            task.status = target
            task.closed_at = datetime.now(UTC)
            task.updated_at = task.closed_at
            payload = {"from": TaskStatus.RESOLVED.value, "to": target.value, "automatic": True}
            await append_event(
                session,
                task.id,
                task.compound_id,
                Event(EventKind.STATUS_CHANGED, payload),
                actor_id=None,
                role=Standing.SYSTEM,
            )
    return len(due)
