"""Written proxies (书面委托): appointing, checking and revoking them, listing them, and what a
ballot cast under one needs (`models.proxy` says what they are)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import aggregate_order_by, insert
from sqlalchemy.ext.asyncio import AsyncSession

from auth.policy import Action, Resource, not_visible, refusal, require_person
from models.enums import HomeRelation
from models.errors import BadUserInputError, ConflictError, ForbiddenError
from models.person import NAME_MAX, Home, Person
from models.photos import AttachedTo
from models.place import Compound, Household
from models.proxy import REASON_MAX, ProxyStatus, VoteProxy, decision_problem, in_force, period_problem
from models.terms import in_force as home_in_force
from models.vote import Vote, VoteElector, VoteOwner
from models.vote_rules import VoteStatus
from resolvers import photos, procedure
from resolvers.context import Context
from resolvers.login import WECHAT_PLACEHOLDER_NAME
from resolvers.pages import Key, Page, order, read, window
from resolvers.pipeline import Outcome, Target, Work, run
from resolvers.place import granted
from resolvers.text import clean_text

#: the appointments a person's own list shows, newest first
MINE_MAX = 100
COMPOUND = Target(Resource.COMPOUND, Compound, lock=False)
PROXIES = order(Key("created_at", datetime, descending=True), Key("id"))


@dataclass(frozen=True)
class ProxyView:
    id: uuid.UUID
    compound_id: uuid.UUID
    owner_id: uuid.UUID
    proxy_id: uuid.UUID
    #: the proxy's name as written on the 委托书
    proxy_name: str | None
    vote_id: uuid.UUID | None
    valid_from: datetime | None
    valid_until: datetime | None
    status: ProxyStatus
    reject_reason: str | None
    decided_at: datetime | None
    revoked_at: datetime | None
    created_at: datetime


def view(row: VoteProxy) -> ProxyView:
    return ProxyView(
        row.id,
        row.compound_id,
        row.owner_id,
        row.proxy_id,
        row.proxy_name,
        row.vote_id,
        row.valid_from,
        row.valid_until,
        ProxyStatus(row.status),
        row.reject_reason,
        row.decided_at,
        row.revoked_at,
        row.created_at,
    )


async def _accepts_proxies(
    session: AsyncSession, compound_id: uuid.UUID, vote: Vote | None
) -> tuple[bool, int]:
    """Whether the rules of procedure a vote is held under (or, for a period, those in force) accept
    written proxies, and their version."""
    if vote is None:
        rules = (await procedure.current(session, compound_id))[1]
    else:
        rules = await procedure.held(session, vote.procedure_id)
    return rules.proxies, rules.version


async def appoint(
    ctx: Context,
    *,
    compound_id: uuid.UUID,
    proxy_name: str,
    proxy_phone: str,
    vote_id: uuid.UUID | None,
    valid_from: datetime | None,
    valid_until: datetime | None,
    photo_refs: list[str],
) -> ProxyView:
    """An owner appoints a proxy named on the signed 委托书 by name and phone: waits for the owners'
    committee or the community committee to check it. A phone nobody uses yet becomes a person,
    who votes once they log in with it; the answer is the same either way, so an appointment never
    tells whether a phone uses the system. That person is called by WeChat's placeholder, not by
    the name the owner wrote (kept with the appointment): an owner does not name somebody else."""
    name = clean_text(proxy_name, field="proxyName", label="代理人姓名", maximum=NAME_MAX) or ""
    phone = proxy_phone.strip()
    if not phone.isdigit() or len(phone) != 11:
        raise BadUserInputError("代理人手机号应为 11 位数字。", field="proxyPhone")
    refs = photos.parse_refs(photo_refs)
    if not refs:
        raise BadUserInputError("请附上签字的授权委托书照片。", field="photos")

    async def apply(work: Work[Compound]) -> Outcome[ProxyView]:
        session, compound, me = work.session, work.row, work.who.person_id
        vote = None
        if vote_id is not None:
            if valid_from is not None or valid_until is not None:
                raise BadUserInputError("委托某一次表决时不需要委托期间。", field="validFrom")
            vote = (
                await session.execute(
                    sa.select(Vote).where(Vote.id == vote_id, Vote.compound_id == compound.id)
                )
            ).scalar()
            if vote is None or vote.status != VoteStatus.OPEN:
                raise BadUserInputError("只能委托本小区正在进行的表决。", field="voteId")
            mine = await session.execute(
                sa.select(VoteOwner.household_id).where(
                    VoteOwner.vote_id == vote.id, VoteOwner.person_id == me
                )
            )
            if mine.first() is None:
                raise BadUserInputError(
                    "您不是这次表决范围内住户的业主，不能委托他人代为投票。", field="voteId"
                )
        else:
            now = (await session.execute(sa.select(sa.func.now()))).scalar_one()
            problem = period_problem(valid_from, valid_until, now)
            if problem is not None:
                raise BadUserInputError(problem, field="validUntil")
            owned = await session.execute(
                sa.select(Home.id)
                .join(Household, Household.id == Home.household_id)
                .where(
                    Home.person_id == me,
                    Home.relation == HomeRelation.OWNER,
                    Household.compound_id == compound.id,
                    home_in_force(Home.__table__),
                )
            )
            if owned.first() is None:
                raise BadUserInputError("只有本小区的业主可以委托他人代为投票。", field="compoundId")
        accepted, version = await _accepts_proxies(session, compound.id, vote)
        if not accepted:
            raise ConflictError(f"本小区议事规则（第{version}版）不接受书面委托，请本人投票。")
        proxy = await _person_with_phone(session, phone)
        if proxy == me:
            raise BadUserInputError("不能委托自己。", field="proxyPhone")
        row = VoteProxy(
            compound_id=compound.id,
            owner_id=me,
            proxy_id=proxy,
            proxy_name=name,
            vote_id=vote_id,
            valid_from=valid_from if vote_id is None else None,
            valid_until=valid_until if vote_id is None else None,
        )
        session.add(row)
        await session.flush()
        await photos.attach(session, work.who, AttachedTo.PROXY, row.id, refs)
        await session.refresh(row, ["created_at"])
        return Outcome(view(row))

    return await run(ctx, COMPOUND, compound_id, Action.APPOINT_PROXY, apply)


async def _person_with_phone(session: AsyncSession, phone: str) -> uuid.UUID:
    """The person with a phone, made if there is none (two appointments at once make one)."""
    made = await session.execute(
        insert(Person)
        .values(name=WECHAT_PLACEHOLDER_NAME, phone=phone)
        .on_conflict_do_nothing(index_elements=["phone"])
        .returning(Person.id)
    )
    found = made.scalar()
    if found is None:
        found = (await session.execute(sa.select(Person.id).where(Person.phone == phone))).scalar_one()
    return found


async def _compound_of(ctx: Context, proxy_id: uuid.UUID) -> uuid.UUID:
    async with ctx.sessions() as session:
        found = (
            await session.execute(sa.select(VoteProxy.compound_id).where(VoteProxy.id == proxy_id))
        ).scalar()
    if found is None:
        raise not_visible()
    return found


async def _locked(session: AsyncSession, proxy_id: uuid.UUID) -> VoteProxy:
    return (
        await session.execute(sa.select(VoteProxy).where(VoteProxy.id == proxy_id).with_for_update())
    ).scalar_one()


async def decide(ctx: Context, *, proxy_id: uuid.UUID, approve: bool, reason: str | None) -> ProxyView:
    """The owners' committee or the community committee, having checked the signed 委托书."""
    reason = clean_text(reason, field="reason", label="理由", maximum=REASON_MAX, required=False)
    problem = decision_problem(approve, reason)
    if problem is not None:
        raise BadUserInputError(problem, field="reason")
    compound_id = await _compound_of(ctx, proxy_id)

    async def apply(work: Work[Compound]) -> Outcome[ProxyView]:
        row = await _locked(work.session, proxy_id)
        if row.status != ProxyStatus.PENDING:
            raise ConflictError("这份委托已经核实过。")
        if row.revoked_at is not None:
            raise ConflictError("业主已撤销这份委托。")
        if work.who.person_id in (row.owner_id, row.proxy_id):
            raise ForbiddenError("委托人或代理人不能核实自己的委托，请由另一位工作人员核实。")
        row.status = ProxyStatus.VERIFIED if approve else ProxyStatus.REJECTED
        row.reject_reason = None if approve else reason
        row.decided_by = work.who.person_id
        row.decided_at = (await work.session.execute(sa.select(sa.func.now()))).scalar_one()
        await work.session.flush()
        return Outcome(view(row), detail={"proxy": str(row.id), "status": row.status})

    return await run(ctx, COMPOUND, compound_id, Action.VERIFY_PROXY, apply)


async def revoke(ctx: Context, *, proxy_id: uuid.UUID) -> ProxyView:
    """The owner takes their appointment back: no further ballot under it; one cast stays."""
    who = require_person(ctx.principal)
    compound_id = await _compound_of(ctx, proxy_id)

    async def apply(work: Work[Compound]) -> Outcome[ProxyView]:
        row = await _locked(work.session, proxy_id)
        if row.owner_id != who.person_id:
            raise not_visible()
        if row.revoked_at is not None:
            raise ConflictError("这份委托已经撤销。")
        row.revoked_at = (await work.session.execute(sa.select(sa.func.now()))).scalar_one()
        await work.session.flush()
        return Outcome(view(row))

    return await run(ctx, COMPOUND, compound_id, Action.APPOINT_PROXY, apply)


# --- reading ------------------------------------------------------------------------------------


async def mine(ctx: Context) -> list[ProxyView]:
    """The caller's appointments, as owner or as proxy, newest first."""
    who = require_person(ctx.principal)
    async with ctx.sessions() as session:
        rows = await session.execute(
            sa.select(VoteProxy)
            .where(sa.or_(VoteProxy.owner_id == who.person_id, VoteProxy.proxy_id == who.person_id))
            .order_by(VoteProxy.created_at.desc(), VoteProxy.id)
            .limit(MINE_MAX)
        )
        return [view(r) for r in rows.scalars()]


async def of_compound(
    ctx: Context, compound: Compound, *, status: ProxyStatus | None, first: int | None, after: str | None
) -> Page[VoteProxy]:
    """A compound's appointments, newest first, for those who check them."""
    if not await granted(ctx, Resource.COMPOUND, Action.VERIFY_PROXY, Compound).load(compound.id):
        raise refusal(Resource.COMPOUND, Action.VERIFY_PROXY)
    statement = sa.select(VoteProxy).where(VoteProxy.compound_id == compound.id)
    if status is not None:
        statement = statement.where(VoteProxy.status == status.value)
    w = window(PROXIES, first=first, after=after)
    return await read(ctx.sessions, statement, VoteProxy.__table__, PROXIES, w)


async def shown_to(ctx: Context, row: ProxyView) -> bool:
    """Whether the caller may see an appointment and its 委托书: its owner, its proxy, and those
    who check the compound's."""
    person = getattr(ctx.principal, "person_id", None)
    if person in (row.owner_id, row.proxy_id):
        return True
    return bool(await granted(ctx, Resource.COMPOUND, Action.VERIFY_PROXY, Compound).load(row.compound_id))


# --- a ballot under a proxy -----------------------------------------------------------------------


async def usable(
    session: AsyncSession, who: uuid.UUID, owner: uuid.UUID, vote: Vote
) -> tuple[uuid.UUID, list[str]] | None:
    """The appointment under which `who` may cast for `owner` in `vote`, and the owner's households
    it covers (their numbers), or None. Whether the vote's rules of procedure accept proxies at all
    is `accepts`."""
    p, v, e, o = VoteProxy.__table__, Vote.__table__, VoteElector.__table__, VoteOwner.__table__
    # held FOR SHARE to the ballot's commit: a revocation (FOR UPDATE) waits for it, or it for the
    # revocation, and then finds it revoked
    appointment = (
        await session.execute(
            sa.select(p.c.id)
            .where(v.c.id == vote.id, p.c.proxy_id == who, p.c.owner_id == owner, in_force(p, v))
            .order_by(p.c.created_at.desc())
            .limit(1)
            .with_for_update(read=True, of=p)
        )
    ).scalar()
    if appointment is None:
        return None
    numbers = (
        sa.select(sa.func.array_agg(aggregate_order_by(e.c.number, e.c.number)))
        .select_from(e.join(o, sa.and_(o.c.vote_id == e.c.vote_id, o.c.household_id == e.c.household_id)))
        .where(e.c.vote_id == vote.id, o.c.person_id == owner)
        .scalar_subquery()
    )
    found = (await session.execute(sa.select(numbers))).scalar()
    if not found:
        return None
    return appointment, list(found)


async def accepts(session: AsyncSession, vote: Vote) -> tuple[bool, int]:
    return await _accepts_proxies(session, vote.compound_id, vote)
