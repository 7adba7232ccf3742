"""Volunteer calls (接龙): never more sign-ups than needed, a waitlist that moves up.

Every sign-up, withdrawal and check-in of a call takes the call's row lock first, so the count of
signed volunteers is decided one request at a time and can never pass `needed`.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from auth.policy import NOT_VISIBLE, require, require_person
from models import Participation, Person, VolunteerCall, VolunteerSignup
from models.errors import BadUserInputError, ConflictError, ForbiddenError
from models.task_rules import FINISHED, Actor
from resolvers import task as tasks
from resolvers.context import Context

NEEDED_MAX = 1000


async def call(ctx: Context, *, call_id: uuid.UUID) -> VolunteerCall:
    row = await ctx.loaders.volunteer_call.load(call_id)
    if row is None:
        raise ForbiddenError(NOT_VISIBLE)
    await tasks.get(ctx, task_id=row.task_id)  # visible with its task, or not at all
    return row


async def open_call(
    ctx: Context, *, task_id: uuid.UUID, title: str, needed: int, starts_at: datetime, ends_at: datetime
) -> VolunteerCall:
    principal = require_person(ctx.principal)
    task = await tasks.get(ctx, task_id=task_id)
    if Actor.TEAM not in await tasks.actors(ctx, task):
        raise ForbiddenError("只有小区班子、网格员或社区“两委”可以发起志愿者接龙。")
    title_clean = tasks.clean_text(title, field="title", label="接龙标题", maximum=60)
    if not 1 <= needed <= NEEDED_MAX:
        raise BadUserInputError(f"需要人数应在 1 到 {NEEDED_MAX} 之间。", field="needed")
    if starts_at.tzinfo is None or ends_at.tzinfo is None:
        raise BadUserInputError("时间必须带时区，例如 2026-12-05T09:00:00+08:00。", field="startsAt")
    if ends_at <= starts_at:
        raise BadUserInputError("结束时间必须晚于开始时间。", field="endsAt")
    if ends_at <= datetime.now(UTC):
        raise BadUserInputError("结束时间必须晚于现在。", field="endsAt")
    async with ctx.sessions() as session, session.begin():
        locked = await tasks._locked(session, task_id)
        if locked.status in FINISHED:
            raise ConflictError("事项已结束，不能再发起接龙。")
        row = VolunteerCall(
            task_id=task.id,
            compound_id=task.compound_id,
            title=title_clean or "",
            needed=needed,
            starts_at=starts_at,
            ends_at=ends_at,
            created_by=principal.person_id,
        )
        session.add(row)
        await session.flush()
        await tasks.add_event(
            session,
            locked,
            "VOLUNTEER_CALL",
            actor_id=principal.person_id,
            role="TEAM",
            payload={"text": f"发起志愿者接龙「{row.title}」，需要 {needed} 人", "call": str(row.id)},
        )
        await session.refresh(row)
    return row


async def _lock_call(session: AsyncSession, call_id: uuid.UUID) -> VolunteerCall:
    return (
        await session.execute(sa.select(VolunteerCall).where(VolunteerCall.id == call_id).with_for_update())
    ).scalar_one()


async def sign_up(ctx: Context, *, call_id: uuid.UUID) -> VolunteerCall:
    principal = require_person(ctx.principal)
    visible = await call(ctx, call_id=call_id)
    task = await tasks.get(ctx, task_id=visible.task_id)
    require(
        principal,
        "volunteer_call",
        "sign_up",
        await tasks.place_of(ctx, task),
        message="只有本小区的居民可以报名。",
    )
    async with ctx.sessions() as session, session.begin():
        row = await _lock_call(session, call_id)
        if row.ends_at <= datetime.now(UTC):
            raise ConflictError("这次接龙已经结束了。")
        mine = (
            await session.execute(
                sa.select(VolunteerSignup).where(
                    VolunteerSignup.call_id == call_id, VolunteerSignup.person_id == principal.person_id
                )
            )
        ).scalar()
        if mine is not None and mine.status != "WITHDRAWN":
            return row  # already in: signing up twice changes nothing
        status = "SIGNED" if row.signed_count < row.needed else "WAITLIST"
        if status == "SIGNED":
            row.signed_count += 1
        position = sa.func.nextval(sa.func.pg_get_serial_sequence("volunteer_signup", "position"))
        if mine is None:
            await session.execute(
                sa.insert(VolunteerSignup).values(
                    call_id=call_id, person_id=principal.person_id, compound_id=row.compound_id, status=status
                )
            )
        else:
            await session.execute(
                sa.update(VolunteerSignup)
                .where(VolunteerSignup.call_id == call_id, VolunteerSignup.person_id == principal.person_id)
                .values(status=status, position=position, checked_in_at=None)
            )
    ctx.loaders.volunteer_call.clear(call_id)
    return row


async def withdraw(ctx: Context, *, call_id: uuid.UUID) -> VolunteerCall:
    principal = require_person(ctx.principal)
    await call(ctx, call_id=call_id)
    async with ctx.sessions() as session, session.begin():
        row = await _lock_call(session, call_id)
        mine = (
            await session.execute(
                sa.select(VolunteerSignup).where(
                    VolunteerSignup.call_id == call_id, VolunteerSignup.person_id == principal.person_id
                )
            )
        ).scalar()
        if mine is None or mine.status == "WITHDRAWN":
            raise BadUserInputError("您还没有报名这次接龙。", field="callId")
        if mine.checked_in_at is not None:
            raise ConflictError("您已签到，不能再取消报名。")
        was_signed = mine.status == "SIGNED"
        mine.status = "WITHDRAWN"
        if was_signed:
            row.signed_count -= 1
            first_waiting = (
                await session.execute(
                    sa.select(VolunteerSignup)
                    .where(VolunteerSignup.call_id == call_id, VolunteerSignup.status == "WAITLIST")
                    .order_by(VolunteerSignup.position)
                    .limit(1)
                )
            ).scalar()
            if first_waiting is not None:
                first_waiting.status = "SIGNED"
                row.signed_count += 1
    ctx.loaders.volunteer_call.clear(call_id)
    return row


async def check_in(
    ctx: Context, *, call_id: uuid.UUID, person_id: uuid.UUID, hours: Decimal | None
) -> VolunteerCall:
    """The organiser checks a volunteer in; the served shift becomes a participation record."""
    principal = require_person(ctx.principal)
    visible = await call(ctx, call_id=call_id)
    task = await tasks.get(ctx, task_id=visible.task_id)
    if Actor.TEAM not in await tasks.actors(ctx, task):
        raise ForbiddenError("只有接龙的组织者可以签到。")
    if hours is not None and not (Decimal(0) < hours <= Decimal(24)):
        raise BadUserInputError("服务时长应在 0 到 24 小时之间。", field="hours")
    async with ctx.sessions() as session, session.begin():
        row = await _lock_call(session, call_id)
        signup = (
            await session.execute(
                sa.select(VolunteerSignup).where(
                    VolunteerSignup.call_id == call_id, VolunteerSignup.person_id == person_id
                )
            )
        ).scalar()
        if signup is None or signup.status != "SIGNED":
            raise BadUserInputError("这位居民不在已报名名单中。", field="personId")
        if signup.checked_in_at is not None:
            raise ConflictError("这位志愿者已经签到过了。")
        signup.checked_in_at = datetime.now(UTC)
        served = (
            hours
            if hours is not None
            else Decimal((row.ends_at - row.starts_at).total_seconds() / 3600).quantize(Decimal("0.01"))
        )
        session.add(
            Participation(
                person_id=person_id,
                compound_id=row.compound_id,
                kind="VOLUNTEER",
                ref_id=row.id,
                hours=served,
                occurred_at=row.starts_at,
            )
        )
        locked = await tasks._locked(session, row.task_id)
        await tasks.add_event(
            session,
            locked,
            "VOLUNTEER_CHECKED_IN",
            actor_id=principal.person_id,
            role="TEAM",
            payload={"call": str(row.id), "hours": str(served)},
        )
    ctx.loaders.volunteer_call.clear(call_id)
    return row


async def signups(ctx: Context, row: VolunteerCall) -> list[tuple[VolunteerSignup, Person]]:
    """The roster, for organisers (the team); others see only counts and their own sign-up."""
    task = await tasks.get(ctx, task_id=row.task_id)
    if Actor.TEAM not in await tasks.actors(ctx, task):
        raise ForbiddenError("只有接龙的组织者可以查看报名名单。")
    async with ctx.sessions() as session:
        result = await session.execute(
            sa.select(VolunteerSignup, Person)
            .join(Person, Person.id == VolunteerSignup.person_id)
            .where(VolunteerSignup.call_id == row.id, VolunteerSignup.status != "WITHDRAWN")
            .order_by(VolunteerSignup.position)
        )
        return [(s, p) for s, p in result.all()]


async def my_signup(ctx: Context, row: VolunteerCall) -> VolunteerSignup | None:
    principal = ctx.principal
    if not hasattr(principal, "person_id"):
        return None
    return next(
        (s for s in await ctx.loaders.my_signups.load(row.id)),
        None,
    )
