"""Notices (公告): posted, corrected, pinned and withdrawn by those who run a community or a compound;
read, and marked read, by the people they reach (`models.notice` holds the rules).

Who may post where, read what and manage which is the policy's (`auth.policy`, resource NOTICE);
its SQL form filters every list and decides every write on the row it locks, in one statement.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from strawberry.dataloader import DataLoader

from auth import policy
from auth.policy import Action, Resource, params, refusal, require_person, where
from auth.principal import PersonPrincipal
from models.errors import BadUserInputError, ConflictError
from models.message import MessageKind, Template
from models.notice import (
    BODY_MAX,
    BUILDINGS_MAX,
    REASON_MAX,
    TITLE_MAX,
    VERSIONS_MAX,
    Notice,
    NoticeKind,
    NoticeRead,
    NoticeStatus,
    NoticeVersion,
    schedule_problem,
    status,
    withdraw_problem,
)
from models.person import Home, Person
from models.photos import AttachedTo
from models.place import Building, Community, Compound, Household
from models.schedule_rules import CHINA
from models.terms import in_force
from resolvers import messages, photos
from resolvers.context import Context
from resolvers.loaders import Loader, grouped, visible_by_id
from resolvers.pages import Key, Page, order, read, window
from resolvers.pipeline import Outcome, Target, Work, run
from resolvers.place import granted, one
from resolvers.text import clean_text

COMMUNITY = Target(Resource.COMMUNITY, Community, lock=False)
COMPOUND = Target(Resource.COMPOUND, Compound, lock=False)
NOTICE = Target(Resource.NOTICE, Notice)
log = logging.getLogger("qilijia.notices")
#: the most urgent notices one round of the jobs tells
TELL_BATCH = 20
#: the most people an urgent notice is told to within the request that posts (or corrects) it;
#: a larger audience (a whole community) is told by the job moments later
TOLD_IN_REQUEST_MAX = 2_000
#: pinned first, then the newest
FEED = order(Key("pinned", bool, descending=True), Key("publish_at", datetime, descending=True), Key("id"))
#: the most people a list of readers (or of those yet to read) shows at once
PEOPLE_MAX = 100

#: in which capacity someone posts, the first that the policy grants them at the place
AS_WHOM: tuple[tuple[str, Any], ...] = (
    ("COMMUNITY_COMMITTEE", policy.COMMUNITY_COMMITTEE),
    ("OWNERS_COMMITTEE", policy.OWNERS_COMMITTEE),
    ("PROPERTY_STAFF", policy.PROPERTY_STAFF),
    ("TEAM", policy.TEAM_CORE),
    ("ADMIN", policy.ADMIN),
)


def _as_whom(who: PersonPrincipal, facts: Any) -> str:
    return next(name for name, cond in AS_WHOM if cond.holds(who, facts))


# --- posting ------------------------------------------------------------------------------------


async def publish(
    ctx: Context,
    *,
    community_id: uuid.UUID | None,
    compound_id: uuid.UUID | None,
    building_ids: Sequence[uuid.UUID],
    title: str,
    body: str,
    urgent: bool,
    pinned: bool,
    publish_at: datetime | None,
    expires_at: datetime | None,
    photo_refs: Sequence[str] = (),
    file_refs: Sequence[str] = (),
) -> Notice:
    """Post a notice to a community (its committee), or to a compound or some of its buildings,
    with photos (uploads of the publisher's, or WeChat cloud files). An urgent one is told to
    everyone it reaches when it comes out (now, or by the job)."""
    if (community_id is None) == (compound_id is None):
        raise BadUserInputError("请指定发布到一个社区或一个小区（二选一）。", field="communityId")
    if building_ids and compound_id is None:
        raise BadUserInputError("指定楼栋时，请同时指定楼栋所在的小区。", field="buildingIds")
    if len(building_ids) > BUILDINGS_MAX:
        raise BadUserInputError(f"一条公告最多指定 {BUILDINGS_MAX} 栋楼。", field="buildingIds")
    title = clean_text(title, field="title", label="公告标题", maximum=TITLE_MAX) or ""
    body = clean_text(body, field="body", label="公告正文", maximum=BODY_MAX) or ""
    now = datetime.now(UTC)
    starts = publish_at or now
    problem = schedule_problem(starts, expires_at, now)
    if problem is not None:
        raise BadUserInputError(problem[1], field=problem[0])
    buildings = sorted(set(building_ids))
    attached = _attachments(photo_refs, file_refs)

    async def apply(work: Work[Any]) -> Outcome[Notice]:
        session, place = work.session, work.row
        if buildings:
            found = await session.execute(
                sa.select(Building.id).where(Building.id.in_(buildings), Building.compound_id == place.id)
            )
            if set(found.scalars()) != set(buildings):
                raise BadUserInputError("所选楼栋不属于该小区。", field="buildingIds")
        row = Notice(
            community_id=place.community_id if compound_id is not None else place.id,
            compound_id=compound_id,
            building_ids=buildings,
            kind=NoticeKind.URGENT if urgent else NoticeKind.NORMAL,
            title=title,
            body=body,
            pinned=pinned,
            publish_at=starts,
            expires_at=expires_at,
            author_id=work.who.person_id,
            author_role=_as_whom(work.who, work.facts),
        )
        session.add(row)
        await session.flush()
        session.add(
            NoticeVersion(notice_id=row.id, version=1, title=title, body=body, written_by=row.author_id)
        )
        if attached:
            await photos.attach(session, work.who, AttachedTo.NOTICE, row.id, attached)
        if row.kind == NoticeKind.URGENT and starts <= now:
            await _tell(session, ctx.services.templates, row, at_most=TOLD_IN_REQUEST_MAX)
        await session.flush()
        return Outcome(row)

    if compound_id is not None:
        return await run(ctx, COMPOUND, compound_id, Action.PUBLISH_NOTICE, apply)
    assert community_id is not None
    return await run(ctx, COMMUNITY, community_id, Action.PUBLISH_NOTICE, apply)


def _attachments(photo_refs: Sequence[str], file_refs: Sequence[str]) -> list[photos.PhotoRef]:
    """A notice's photos, then its files: nine in all."""
    shown = photos.parse_refs(photo_refs)
    return shown + photos.parse_refs(file_refs, field="files", besides=len(shown), as_file=True)


# --- managing -----------------------------------------------------------------------------------


async def correct(
    ctx: Context,
    *,
    notice_id: uuid.UUID,
    title: str | None,
    body: str | None,
    note: str,
    photo_refs: Sequence[str] | None = None,
    file_refs: Sequence[str] | None = None,
) -> Notice:
    """A new version of the text, beside the old ones; photos given replace the notice's photos.
    An urgent notice its residents were told of is told again, as corrected."""
    note = clean_text(note, field="note", label="更正说明", maximum=REASON_MAX) or ""
    if title is None and body is None and photo_refs is None and file_refs is None:
        raise BadUserInputError("请填写更正后的标题、正文、照片或附件文件。", field="body")
    changes_attachments = photo_refs is not None or file_refs is not None
    new_title = (
        clean_text(title, field="title", label="公告标题", maximum=TITLE_MAX) if title is not None else None
    )
    new_body = (
        clean_text(body, field="body", label="公告正文", maximum=BODY_MAX) if body is not None else None
    )

    async def apply(work: Work[Notice]) -> Outcome[Notice]:
        row, session = work.row, work.session
        refused = withdraw_problem(row.withdrawn_at)
        if refused is not None:
            raise ConflictError(refused + "撤回的公告不能再更正，请重新发布。")
        title_, body_ = new_title or row.title, new_body or row.body
        text_changed = (title_, body_) != (row.title, row.body)
        now = datetime.now(UTC)
        if row.version >= VERSIONS_MAX:
            raise ConflictError(f"这条公告已更正 {VERSIONS_MAX - 1} 次，不能再更正；请撤回后重新发布。")
        if not text_changed and not changes_attachments:
            raise BadUserInputError("更正后的内容与现在的相同。", field="body")
        if changes_attachments:
            # what is not given stays: the photos when only the files change, and the other way
            kept = await photos.attached_refs(session, AttachedTo.NOTICE, row.id)
            attached = _attachments(
                kept.photos if photo_refs is None else photo_refs,
                kept.files if file_refs is None else file_refs,
            )
            await photos.attach(session, work.who, AttachedTo.NOTICE, row.id, attached, replace=True)
        row.version += 1
        row.title, row.body = title_, body_
        session.add(
            NoticeVersion(
                notice_id=row.id,
                version=row.version,
                title=title_,
                body=body_,
                note=note,
                written_by=work.who.person_id,
            )
        )
        # those told of it hear the new text while it is still out; a change of its photos or
        # files alone, or of a notice expired, is not told again
        if (
            row.told_at is not None
            and text_changed
            and status(row.publish_at, row.expires_at, None, now) == NoticeStatus.PUBLISHED
        ):
            await _tell(session, ctx.services.templates, row, corrected=True, at_most=TOLD_IN_REQUEST_MAX)
        await session.flush()
        return Outcome(row, detail={"did": "CORRECT", "version": row.version})

    return await _managing(ctx, notice_id, apply)


async def withdraw(ctx: Context, *, notice_id: uuid.UUID, reason: str) -> Notice:
    """Take a notice down, keeping it, its versions and its readers, with the reason."""
    reason = clean_text(reason, field="reason", label="撤回理由", maximum=REASON_MAX) or ""

    async def apply(work: Work[Notice]) -> Outcome[Notice]:
        row = work.row
        refused = withdraw_problem(row.withdrawn_at)
        if refused is not None:
            raise ConflictError(refused)
        row.withdrawn_at = datetime.now(UTC)
        row.withdrawn_by = work.who.person_id
        row.withdraw_reason = reason
        row.pinned = False
        await work.session.flush()
        return Outcome(row, detail={"did": "WITHDRAW", "reason": reason})

    return await _managing(ctx, notice_id, apply)


async def pin(ctx: Context, *, notice_id: uuid.UUID, pinned: bool) -> Notice:
    async def apply(work: Work[Notice]) -> Outcome[Notice]:
        row = work.row
        if pinned and row.withdrawn_at is not None:
            raise ConflictError("这条公告已经撤回，不能置顶。")
        row.pinned = pinned
        await work.session.flush()
        return Outcome(row, detail={"did": "PIN" if pinned else "UNPIN"})

    return await _managing(ctx, notice_id, apply)


async def _managing(ctx: Context, notice_id: uuid.UUID, apply: Any) -> Notice:
    row = await run(ctx, NOTICE, notice_id, Action.MANAGE_NOTICE, apply)
    ctx.loaders.forget("notice", notice_id)
    photos.forget(ctx, AttachedTo.NOTICE, notice_id)
    return row


# --- reading ------------------------------------------------------------------------------------


def notice_loader(ctx: Context) -> DataLoader[uuid.UUID, Notice | None]:
    return ctx.loaders.cached(
        "notice", lambda: visible_by_id(ctx.sessions, ctx.principal, Resource.NOTICE, Notice)
    )


async def notice(ctx: Context, *, notice_id: uuid.UUID) -> Notice:
    return await one(notice_loader(ctx), notice_id)


def live(n: Any) -> Any:
    """Out now: published, not expired, not withdrawn."""
    now = sa.func.now()
    return sa.and_(
        n.c.publish_at <= now,
        sa.or_(n.c.expires_at.is_(None), n.c.expires_at > now),
        n.c.withdrawn_at.is_(None),
    )


async def feed(
    ctx: Context,
    *,
    community_id: uuid.UUID | None,
    compound_id: uuid.UUID | None,
    include_ended: bool,
    first: int | None,
    after: str | None,
) -> Page[Notice]:
    """The notices of a compound (its own, its buildings' the caller may read, and its community's),
    or all those of a community; pinned first, then the newest. Only those out now, unless
    `include_ended` (those scheduled, expired or withdrawn too, as far as the caller may read them)."""
    if (community_id is None) == (compound_id is None):
        raise BadUserInputError("请指定一个社区或一个小区（二选一）。", field="communityId")
    n = Notice.__table__
    if compound_id is not None:
        community = sa.select(Compound.community_id).where(Compound.id == compound_id).scalar_subquery()
        scope = sa.or_(
            n.c.compound_id == compound_id, sa.and_(n.c.compound_id.is_(None), n.c.community_id == community)
        )
    else:
        scope = n.c.community_id == community_id
    conditions = [scope, where(ctx.principal, Resource.NOTICE, Action.READ, n)]
    if not include_ended:
        conditions.append(live(n))
    w = window(FEED, first=first, after=after)
    page = await read(ctx.sessions, sa.select(Notice).where(*conditions), n, FEED, w, params(ctx.principal))
    for row in page.rows:
        notice_loader(ctx).prime(row.id, row)
    return page


def versions_loader(ctx: Context) -> DataLoader[uuid.UUID, list[Any]]:
    """Per notice: its versions (rows of `notice_version`), the first first. Its editors read them
    all; its readers the version in force (a correction may have taken out what should not have
    been shown)."""
    v, n = NoticeVersion.__table__, Notice.__table__
    editor = where(ctx.principal, Resource.NOTICE, Action.MANAGE_NOTICE, n)
    return ctx.loaders.cached(
        "notice_versions",
        lambda: grouped(
            ctx.sessions,
            lambda ids: (
                sa.select(v)
                .join(n, n.c.id == v.c.notice_id)
                .where(v.c.notice_id.in_(ids), sa.or_(v.c.version == n.c.version, editor))
                .order_by(v.c.notice_id, v.c.version)
            ),
            key=lambda r: r.notice_id,
            value=lambda r: r,
            values=params(ctx.principal),
        ),
    )


def read_by_me_loader(ctx: Context) -> DataLoader[uuid.UUID, int | None]:
    """Per notice: the version the caller read last, or None."""
    me = getattr(ctx.principal, "person_id", None)

    async def load(ids: Sequence[uuid.UUID]) -> list[int | None]:
        if me is None:
            return [None] * len(ids)
        async with ctx.sessions() as session:
            found = await session.execute(
                sa.select(NoticeRead.notice_id, NoticeRead.version).where(
                    NoticeRead.notice_id.in_(ids), NoticeRead.person_id == me
                )
            )
            versions = {r.notice_id: r.version for r in found}
        return [versions.get(i) for i in ids]

    return ctx.loaders.cached("notice_read", lambda: Loader(load_fn=load))


async def mark_read(ctx: Context, *, notice_id: uuid.UUID) -> Notice:
    """The caller opened the notice (as it now reads): recorded once, its version kept current."""
    who = require_person(ctx.principal)
    row = await notice(ctx, notice_id=notice_id)
    if row.publish_at > datetime.now(UTC):
        raise ConflictError("这条公告还没有发布。")
    statement = insert(NoticeRead).values(notice_id=notice_id, person_id=who.person_id, version=row.version)
    async with ctx.sessions() as session, session.begin():
        await session.execute(
            statement.on_conflict_do_update(
                index_elements=["notice_id", "person_id"],
                set_={"version": statement.excluded.version, "read_at": sa.func.now()},
                where=NoticeRead.version < statement.excluded.version,
            )
        )
    ctx.loaders.forget("notice_read", notice_id)
    return row


# --- who it reaches, and who read it ----------------------------------------------------------------


def audience(row: Notice) -> sa.Select:
    """The people a notice reaches: everyone with a home in force where it is posted."""
    hm, h = Home.__table__, Household.__table__
    if row.compound_id is None:
        place = h.c.compound_id.in_(sa.select(Compound.id).where(Compound.community_id == row.community_id))
    elif row.building_ids:
        place = sa.and_(h.c.compound_id == row.compound_id, h.c.building_id.in_(row.building_ids))
    else:
        place = h.c.compound_id == row.compound_id
    return (
        sa.select(hm.c.person_id)
        .select_from(hm.join(h, h.c.id == hm.c.household_id))
        .where(place, in_force(hm))
        .distinct()
    )


@dataclass(frozen=True)
class Receipts:
    """How many of those a notice reaches have read it; and, of them, those the caller may see."""

    reached: int
    read: int
    readers: list[tuple[uuid.UUID, datetime, int]]
    not_yet: list[uuid.UUID]


async def receipts(ctx: Context, row: Notice, *, first: int) -> Receipts:
    """For its author and the committee. People are listed only where the policy lets the caller
    see them (`PERSON:READ`), newest readers first; the counts are of everyone it reaches."""
    who = ctx.principal
    p = Person.__table__
    if not await granted(ctx, Resource.NOTICE, Action.READ_RECEIPTS, Notice).load(row.id):
        raise refusal(Resource.NOTICE, Action.READ_RECEIPTS)
    if not 0 <= first <= PEOPLE_MAX:
        raise BadUserInputError(f"名单最多列出 {PEOPLE_MAX} 人，请填写 0 到 {PEOPLE_MAX}。", field="first")
    reached = audience(row).cte("reached")
    r = NoticeRead.__table__
    seen = where(who, Resource.PERSON, Action.READ, p)
    async with ctx.sessions() as session:
        counts = (
            await session.execute(
                sa.select(
                    sa.select(sa.func.count()).select_from(reached).scalar_subquery().label("reached"),
                    sa.select(sa.func.count())
                    .select_from(r.join(reached, reached.c.person_id == r.c.person_id))
                    .where(r.c.notice_id == row.id)
                    .scalar_subquery()
                    .label("read"),
                )
            )
        ).one()
        readers = (
            await session.execute(
                sa.select(r.c.person_id, r.c.read_at, r.c.version)
                .join(p, p.c.id == r.c.person_id)
                .where(r.c.notice_id == row.id, seen)
                .order_by(r.c.read_at.desc(), r.c.person_id)
                .limit(first),
                params(who),
            )
        ).all()
        not_yet = (
            (
                await session.execute(
                    sa.select(p.c.id)
                    .join(reached, reached.c.person_id == p.c.id)
                    .where(seen, ~sa.exists().where(r.c.notice_id == row.id, r.c.person_id == p.c.id))
                    .order_by(p.c.id)  # not by name: the caller may see some names masked only
                    .limit(first),
                    params(who),
                )
            )
            .scalars()
            .all()
        )
    return Receipts(counts.reached, counts.read, [tuple(x) for x in readers], list(not_yet))


# --- telling the people an urgent notice reaches -----------------------------------------------------


async def _tell(
    session: AsyncSession,
    templates: Mapping[MessageKind, Template],
    row: Notice,
    *,
    corrected: bool = False,
    at_most: int | None = None,
) -> bool:
    """An urgent notice, as a message to everyone it reaches (in the caller's transaction), once
    per person and version. With `at_most`, an audience larger than that is not told here but left
    to the job (a request's work stays bounded): False then, and `told_at` stays unset."""
    place = (
        await session.execute(
            sa.select(Compound.name).where(Compound.id == row.compound_id)
            if row.compound_id is not None
            else sa.select(Community.name).where(Community.id == row.community_id)
        )
    ).scalar_one()
    reached = audience(row)
    people = (
        (await session.execute(reached if at_most is None else reached.limit(at_most + 1))).scalars().all()
    )
    if at_most is not None and len(people) > at_most:
        row.told_at = None
        return False
    heading = ("【更正】" if corrected else "") + "紧急公告：" + row.title
    values = {
        "title": row.title,
        "place": place,
        "at": row.publish_at.astimezone(CHINA).strftime("%Y-%m-%d %H:%M"),
        "note": row.body,
    }
    await messages.tell(
        session,
        templates,
        kind=MessageKind.NOTICE_URGENT,
        ref_type="Notice",
        ref_id=row.id,
        said=[
            messages.Said(
                person, heading[:60], row.body[:500], values, once_key=f"NOTICE_URGENT:{row.id}:{row.version}"
            )
            for person in sorted(people)
        ],
    )
    row.told_at = datetime.now(UTC)
    return True


async def tell_due(
    sessions: async_sessionmaker[AsyncSession], templates: Mapping[MessageKind, Template]
) -> int:
    """Urgent notices scheduled for a time that has come: told once each, in the job process, one
    notice per transaction (SKIP LOCKED: several processes share them; one that fails does not hold
    up the others, which are told before it is tried again)."""
    n = Notice.__table__
    told = 0
    failed: list[uuid.UUID] = []
    for _ in range(TELL_BATCH):
        ident: uuid.UUID | None = None
        try:
            async with sessions() as session, session.begin():
                row = (
                    await session.execute(
                        sa.select(Notice)
                        .where(
                            n.c.kind == NoticeKind.URGENT.value,
                            n.c.told_at.is_(None),
                            n.c.publish_at <= sa.func.now(),
                            n.c.withdrawn_at.is_(None),
                            sa.or_(n.c.expires_at.is_(None), n.c.expires_at > sa.func.now()),
                            n.c.id.not_in(failed) if failed else sa.true(),
                        )
                        .order_by(n.c.publish_at)
                        .limit(1)
                        .with_for_update(skip_locked=True)
                    )
                ).scalar()
                if row is None:
                    break
                ident = row.id
                await _tell(session, templates, row, corrected=row.version > 1)
                await session.flush()
            told += 1
        except Exception:
            log.exception("urgent notice %s not told; trying again next round", ident)
            if ident is None:
                break
            failed.append(ident)
    return told
