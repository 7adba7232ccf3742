"""Volunteer calls (接龙): never more sign-ups than needed, a waitlist that moves up.

Every sign-up, withdrawal and check-in of a call locks the call's row first (`resolvers.pipeline`),
so the count of signed volunteers is decided one request at a time and can never pass `needed`.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal

import sqlalchemy as sa
from strawberry.dataloader import DataLoader

from auth.policy import Action, Resource, not_visible, params, refusal, require_person
from auth.principal import PersonPrincipal
from models.errors import BadUserInputError, ConflictError
from models.party import Participation, ParticipationKind
from models.schedule_rules import call_change_problem, call_times_problem, shown, shown_span
from models.task import Task
from models.task_rules import EventKind
from models.volunteer import SignupStatus, VolunteerCall, VolunteerSignup
from resolvers import task as tasks
from resolvers.context import Context
from resolvers.loaders import Loader, grouped
from resolvers.pages import Key, Page, order, read, window
from resolvers.pipeline import Event, Outcome, Target, Work, run
from resolvers.place import granted
from resolvers.text import clean_text

NEEDED_MAX = 1000
REASON_MAX = 200
CALL = Target(Resource.TASK, VolunteerCall, task_of="task_id")


# --- reading --------------------------------------------------------------------------------------


def _calls(ctx: Context) -> DataLoader[uuid.UUID, VolunteerCall | None]:
    def build() -> DataLoader[uuid.UUID, VolunteerCall | None]:
        async def load(ids: list[uuid.UUID]) -> list[VolunteerCall | None]:
            statement = sa.select(VolunteerCall).where(
                VolunteerCall.id.in_(ids), VolunteerCall.task_id.in_(tasks.visible_tasks(ctx))
            )
            async with ctx.sessions() as session:
                found = {
                    row.id: row for row in (await session.execute(statement, params(ctx.principal))).scalars()
                }
            return [found.get(i) for i in ids]

        return Loader(load_fn=load)

    return ctx.loaders.cached("volunteer_call", build)


async def call(ctx: Context, *, call_id: uuid.UUID) -> VolunteerCall:
    """A call: visible with its task, or not at all."""
    row = await _calls(ctx).load(call_id)
    if row is None:
        raise not_visible()
    return row


async def calls_of(ctx: Context, task: Task) -> list[VolunteerCall]:
    """A (visible) task's calls, newest first; batched across a list of tasks."""
    loader = ctx.loaders.cached(
        "volunteer_calls",
        lambda: grouped(
            ctx.sessions,
            lambda ids: (
                sa.select(VolunteerCall)
                .where(VolunteerCall.task_id.in_(ids))
                .order_by(VolunteerCall.task_id, VolunteerCall.created_at.desc())
            ),
            key=lambda row: row.VolunteerCall.task_id,
            value=lambda row: row.VolunteerCall,
        ),
    )
    return await loader.load(task.id)


#: my calls: the latest shift first
MY_CALLS = order(Key("starts_at", datetime, descending=True), Key("id"))


async def my_calls(ctx: Context, *, first: int | None, after: str | None) -> Page[VolunteerCall]:
    """The calls the caller is signed up or waitlisted for (cancelled ones too, so that they see
    it), among those they may read, the latest shift first."""
    who = require_person(ctx.principal)
    signup = VolunteerSignup.__table__
    mine = sa.exists().where(
        signup.c.call_id == VolunteerCall.id,
        signup.c.person_id == who.person_id,
        signup.c.status != SignupStatus.WITHDRAWN,
    )
    statement = sa.select(VolunteerCall).where(mine, VolunteerCall.task_id.in_(tasks.visible_tasks(ctx)))
    w = window(MY_CALLS, first=first, after=after)
    page = await read(ctx.sessions, statement, VolunteerCall.__table__, MY_CALLS, w, params(ctx.principal))
    for r in page.rows:
        _calls(ctx).prime(r.id, r)
    return page


async def waitlist_count(ctx: Context, row: VolunteerCall) -> int:
    def build() -> DataLoader[uuid.UUID, int]:
        async def load(ids: list[uuid.UUID]) -> list[int]:
            statement = (
                sa.select(VolunteerSignup.call_id, sa.func.count())
                .where(VolunteerSignup.call_id.in_(ids), VolunteerSignup.status == SignupStatus.WAITLIST)
                .group_by(VolunteerSignup.call_id)
            )
            async with ctx.sessions() as session:
                found = dict((await session.execute(statement)).all())
            return [found.get(i, 0) for i in ids]

        return Loader(load_fn=load)

    return await ctx.loaders.cached("waitlist_counts", build).load(row.id)


async def my_status(ctx: Context, row: VolunteerCall) -> SignupStatus | None:
    """The caller's own sign-up status on a call, if any."""
    who = ctx.principal
    if not isinstance(who, PersonPrincipal):
        return None
    loader = ctx.loaders.cached(
        "my_signups",
        lambda: grouped(
            ctx.sessions,
            lambda ids: sa.select(VolunteerSignup.call_id, VolunteerSignup.status).where(
                VolunteerSignup.call_id.in_(ids), VolunteerSignup.person_id == who.person_id
            ),
            key=lambda r: r.call_id,
            value=lambda r: SignupStatus(r.status),
        ),
    )
    return next(iter(await loader.load(row.id)), None)


async def signups(ctx: Context, row: VolunteerCall) -> list[VolunteerSignup]:
    """The roster, for organisers; others see only counts and their own sign-up."""
    if not await granted(ctx, Resource.TASK, Action.READ_ROSTER, Task).load(row.task_id):
        raise refusal(Resource.TASK, Action.READ_ROSTER)
    async with ctx.sessions() as session:
        return list(
            (
                await session.execute(
                    sa.select(VolunteerSignup)
                    .where(
                        VolunteerSignup.call_id == row.id, VolunteerSignup.status != SignupStatus.WITHDRAWN
                    )
                    .order_by(VolunteerSignup.position)
                )
            ).scalars()
        )


# --- writing --------------------------------------------------------------------------------------


async def open_call(
    ctx: Context, *, task_id: uuid.UUID, title: str, needed: int, starts_at: datetime, ends_at: datetime
) -> VolunteerCall:
    title_clean = clean_text(title, field="title", label="接龙标题", maximum=60) or ""
    if not 1 <= needed <= NEEDED_MAX:
        raise BadUserInputError(f"需要人数应在 1 到 {NEEDED_MAX} 之间。", field="needed")
    if starts_at.tzinfo is None or ends_at.tzinfo is None:
        raise BadUserInputError("时间必须带时区，例如 2026-12-05T09:00:00+08:00。", field="startsAt")
    if ends_at <= starts_at:
        raise BadUserInputError("结束时间必须晚于开始时间。", field="endsAt")
    if ends_at <= datetime.now(UTC):
        raise BadUserInputError("结束时间必须晚于现在。", field="endsAt")

    async def apply(work: Work[Task]) -> Outcome[VolunteerCall]:
        row = VolunteerCall(
            task_id=work.row.id,
            compound_id=work.row.compound_id,
            title=title_clean,
            needed=needed,
            starts_at=starts_at,
            ends_at=ends_at,
            created_by=work.who.person_id,
        )
        work.session.add(row)
        await work.session.flush()
        await work.session.refresh(row)
        payload = {"text": f"发起志愿者接龙「{row.title}」，需要 {needed} 人", "call": str(row.id)}
        return Outcome(row, Event(EventKind.VOLUNTEER_CALL, payload))

    return await run(ctx, tasks.TASK, task_id, Action.OPEN_VOLUNTEER_CALL, apply, open_task="再发起接龙")


def _refuse_cancelled(row: VolunteerCall, doing: str) -> None:
    if row.cancelled_at is not None:
        raise ConflictError(f"这次接龙已经取消，不能再{doing}。")


async def _checked_in(work: Work[VolunteerCall]) -> int:
    statement = sa.select(sa.func.count()).where(
        VolunteerSignup.call_id == work.row.id, VolunteerSignup.checked_in_at.is_not(None)
    )
    return (await work.session.execute(statement)).scalar_one()


async def cancel_call(ctx: Context, *, call_id: uuid.UUID, reason: str) -> VolunteerCall:
    """Call a call off before anyone served: its sign-ups stay as they were, so everyone signed up
    sees on their call that it is cancelled and why. Locks the call, so a sign-up or check-in
    racing the cancellation lands before it or is refused."""
    reason_clean = clean_text(reason, field="reason", label="取消原因", maximum=REASON_MAX) or ""

    async def apply(work: Work[VolunteerCall]) -> Outcome[VolunteerCall]:
        row = work.row
        problem = call_change_problem(
            cancelled=row.cancelled_at is not None, checked_in=await _checked_in(work), change="取消"
        )
        if problem is not None:
            raise ConflictError(problem)
        row.cancelled_at = datetime.now(UTC)
        row.cancelled_by = work.who.person_id
        row.cancel_reason = reason_clean
        await work.session.flush()
        payload = {
            "text": f"取消志愿者接龙「{row.title}」：{reason_clean}",
            "call": str(row.id),
            "signed": row.signed_count,
        }
        return Outcome(row, Event(EventKind.VOLUNTEER_CALL_CANCELLED, payload))

    row = await run(ctx, CALL, call_id, Action.OPEN_VOLUNTEER_CALL, apply)
    ctx.loaders.forget("volunteer_call", call_id)
    return row


async def reschedule_call(
    ctx: Context, *, call_id: uuid.UUID, starts_at: datetime, ends_at: datetime, reason: str | None
) -> VolunteerCall:
    """Move a call's shift; sign-ups and the waitlist stay, and the start it replaced is kept on the
    call and on the timeline so that the volunteers see what changed."""
    reason_clean = clean_text(reason, field="reason", label="改期原因", maximum=REASON_MAX, required=False)

    async def apply(work: Work[VolunteerCall]) -> Outcome[VolunteerCall]:
        row = work.row
        problem = call_change_problem(
            cancelled=row.cancelled_at is not None, checked_in=await _checked_in(work), change="改期"
        )
        if problem is not None:
            raise ConflictError(problem)
        moved = call_times_problem((row.starts_at, row.ends_at), (starts_at, ends_at), datetime.now(UTC))
        if moved is not None:
            raise BadUserInputError(moved[1], field=moved[0])
        previous = row.starts_at
        row.previous_starts_at, row.starts_at, row.ends_at = previous, starts_at, ends_at
        row.rescheduled_at = datetime.now(UTC)
        row.reschedule_reason = reason_clean
        await work.session.flush()
        text = f"志愿者接龙「{row.title}」改期：由 {shown(previous)} 改为 {shown_span(starts_at, ends_at)}"
        payload = {
            "text": text + (f"（{reason_clean}）" if reason_clean else ""),
            "call": str(row.id),
            "previous_starts_at": previous.isoformat(),
            "starts_at": starts_at.isoformat(),
            "ends_at": ends_at.isoformat(),
        }
        return Outcome(row, Event(EventKind.VOLUNTEER_CALL_RESCHEDULED, payload))

    row = await run(ctx, CALL, call_id, Action.OPEN_VOLUNTEER_CALL, apply, open_task="再调整接龙时间")
    ctx.loaders.forget("volunteer_call", call_id)
    return row


async def _mine(work: Work[VolunteerCall], person_id: uuid.UUID) -> VolunteerSignup | None:
    return (
        await work.session.execute(
            sa.select(VolunteerSignup).where(
                VolunteerSignup.call_id == work.row.id, VolunteerSignup.person_id == person_id
            )
        )
    ).scalar()


async def sign_up(ctx: Context, *, call_id: uuid.UUID) -> VolunteerCall:
    async def apply(work: Work[VolunteerCall]) -> Outcome[VolunteerCall]:
        row, session = work.row, work.session
        _refuse_cancelled(row, "报名")
        if row.ends_at <= datetime.now(UTC):
            raise ConflictError("这次接龙已经结束了。")
        mine = await _mine(work, work.who.person_id)
        if mine is not None and mine.status != SignupStatus.WITHDRAWN:
            return Outcome(row)  # already in: signing up twice changes nothing
        status = SignupStatus.SIGNED if row.signed_count < row.needed else SignupStatus.WAITLIST
        if status == SignupStatus.SIGNED:
            row.signed_count += 1
        if mine is None:
            await session.execute(
                sa.insert(VolunteerSignup).values(
                    call_id=row.id, person_id=work.who.person_id, compound_id=row.compound_id, status=status
                )
            )
        else:
            position = sa.func.nextval(sa.func.pg_get_serial_sequence("volunteer_signup", "position"))
            await session.execute(
                sa.update(VolunteerSignup)
                .where(VolunteerSignup.call_id == row.id, VolunteerSignup.person_id == work.who.person_id)
                .values(status=status, position=position, checked_in_at=None)
            )
        return Outcome(row)

    row = await run(ctx, CALL, call_id, Action.SIGN_UP, apply)
    ctx.loaders.forget("volunteer_call", call_id)
    return row


async def withdraw(ctx: Context, *, call_id: uuid.UUID) -> VolunteerCall:
    async def apply(work: Work[VolunteerCall]) -> Outcome[VolunteerCall]:
        row, session = work.row, work.session
        _refuse_cancelled(row, "取消报名")
        mine = await _mine(work, work.who.person_id)
        if mine is None or mine.status == SignupStatus.WITHDRAWN:
            raise BadUserInputError("您还没有报名这次接龙。", field="callId")
        if mine.checked_in_at is not None:
            raise ConflictError("您已签到，不能再取消报名。")
        was_signed = mine.status == SignupStatus.SIGNED
        mine.status = SignupStatus.WITHDRAWN
        if was_signed:
            row.signed_count -= 1
            first_waiting = (
                await session.execute(
                    sa.select(VolunteerSignup)
                    .where(VolunteerSignup.call_id == row.id, VolunteerSignup.status == SignupStatus.WAITLIST)
                    .order_by(VolunteerSignup.position)
                    .limit(1)
                )
            ).scalar()
            if first_waiting is not None:
                first_waiting.status = SignupStatus.SIGNED
                row.signed_count += 1
        return Outcome(row)

    row = await run(ctx, CALL, call_id, Action.WITHDRAW, apply)
    ctx.loaders.forget("volunteer_call", call_id)
    return row


async def check_in(
    ctx: Context, *, call_id: uuid.UUID, person_id: uuid.UUID, hours: Decimal | None
) -> VolunteerCall:
    """The organiser checks a volunteer in; the served shift becomes a participation record."""
    if hours is not None and not (Decimal(0) < hours <= Decimal(24)):
        raise BadUserInputError("服务时长应在 0 到 24 小时之间。", field="hours")

    async def apply(work: Work[VolunteerCall]) -> Outcome[VolunteerCall]:
        row = work.row
        _refuse_cancelled(row, "签到")
        signup = await _mine(work, person_id)
        if signup is None or signup.status != SignupStatus.SIGNED:
            raise BadUserInputError("这位居民不在已报名名单中。", field="personId")
        if signup.checked_in_at is not None:
            raise ConflictError("这位志愿者已经签到过了。")
        signup.checked_in_at = datetime.now(UTC)
        served = (
            hours
            if hours is not None
            else Decimal((row.ends_at - row.starts_at).total_seconds() / 3600).quantize(Decimal("0.01"))
        )
        work.session.add(
            Participation(
                person_id=person_id,
                compound_id=row.compound_id,
                kind=ParticipationKind.VOLUNTEER,
                ref_id=row.id,
                hours=served,
                occurred_at=row.starts_at,
            )
        )
        payload = {"call": str(row.id), "hours": str(served)}
        return Outcome(row, Event(EventKind.VOLUNTEER_CHECKED_IN, payload))

    row = await run(ctx, CALL, call_id, Action.CHECK_IN, apply)
    ctx.loaders.forget("volunteer_call", call_id)
    return row
