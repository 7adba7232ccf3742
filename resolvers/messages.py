"""Messages to people: written with the change they tell of, read in the inbox, sent through WeChat
by the job processes (see `models.message` for the delivery rules)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from auth.policy import require_person
from auth.wechat import WeChatClient
from models.enums import HomeRelation
from models.errors import BadUserInputError, QilijiaError
from models.message import (
    ATTEMPTS_MAX,
    CONSENTS_MAX,
    PERMANENT,
    SENDING_LEASE,
    ConsentChoice,
    Delivery,
    MessageConsent,
    MessageKind,
    Notification,
    Template,
    backoff,
    template_data,
)
from models.person import Home, Person
from models.place import Compound, Household
from models.reminder_rules import vote_announced_key, vote_opened_key, vote_result_key
from models.schedule_rules import CHINA
from models.terms import in_force
from models.vote import VoteOwner
from models.vote_rules import VoteResult
from resolvers.context import Context
from resolvers.pages import Key, Page, order, read, window

log = logging.getLogger("qilijia.messages")
NEWEST = order(Key("created_at", datetime, descending=True), Key("id"))
#: the most template results one consent call may carry (the mini-program asks for 3 at a time)
RESULTS_MAX = 20
#: how many messages one sender claims per round
BATCH = 50
#: WeChat's answers about its quota, not the message, and how long to wait after each: -1 busy,
#: 45011 the minute's quota, 45009 the day's
THROTTLED = {-1: timedelta(seconds=30), 45011: timedelta(minutes=1), 45009: timedelta(hours=1)}
SENT_ONE, THROTTLED_NOW = 1, -1


@dataclass(frozen=True)
class Said:
    """One message to write: who, what it tells of, and the values its template may use."""

    person_id: uuid.UUID
    title: str
    body: str
    values: Mapping[str, str]
    #: once-only for its person (`models.reminder_rules`): a second message of the same key is
    #: refused by the database, and the transaction writing it rolls back, consent included
    once_key: str | None = None


async def tell(
    session: AsyncSession,
    templates: Mapping[MessageKind, Template],
    *,
    kind: MessageKind,
    ref_type: str,
    ref_id: uuid.UUID,
    said: Iterable[Said],
) -> None:
    """Write messages in the caller's transaction. Each goes to WeChat when its person has a WeChat
    account and a consent left for the kind's template (one is taken now), else it is in-app only."""
    said = list(said)
    if not said:
        return
    template = templates.get(kind)
    people = {m.person_id for m in said}
    openids: dict[uuid.UUID, str] = {}
    consented: set[uuid.UUID] = set()
    if template is not None:
        p = Person.__table__
        # the ids as one array parameter: an audience of any size is one parameter, not one each
        found = await session.execute(
            sa.select(p.c.id, p.c.wechat_openid).where(
                p.c.id == sa.any_(_ids(people)), p.c.wechat_openid.is_not(None)
            )
        )
        openids = {r.id: r.wechat_openid for r in found}
        if openids:
            c = MessageConsent.__table__
            # one consent taken per message, atomically: two messages never share one
            taken = await session.execute(
                sa.update(c)
                .where(
                    c.c.person_id == sa.any_(_ids(openids)), c.c.template_id == template.id, c.c.remaining > 0
                )
                .values(remaining=c.c.remaining - 1, updated_at=sa.func.now())
                .returning(c.c.person_id)
            )
            consented = set(taken.scalars())
    now = datetime.now(UTC)
    rows = []
    for m in said:
        sent = template is not None and m.person_id in consented
        consented.discard(m.person_id)  # one consent, one message
        rows.append(
            {
                "person_id": m.person_id,
                "kind": kind.value,
                "title": m.title,
                "body": m.body,
                "ref_type": ref_type,
                "ref_id": ref_id,
                "once_key": m.once_key,
                "delivery": (Delivery.PENDING if sent else Delivery.IN_APP).value,
                "template_id": template.id if sent and template else None,
                "data": template_data(template.fields, dict(m.values)) if sent and template else None,
                "page": template.page if sent and template else None,
                "next_attempt_at": now if sent else None,
            }
        )
    await session.execute(sa.insert(Notification.__table__), rows)


def _ids(ids: Iterable[uuid.UUID]) -> Any:
    return sa.bindparam(None, sorted(ids), type_=ARRAY(sa.Uuid))


# --- consent and the inbox ---------------------------------------------------------------------


async def move_consents(session: AsyncSession, *, from_person: uuid.UUID, to_person: uuid.UUID) -> None:
    """A WeChat account moved to another person (its phone bound to an imported owner): WeChat
    counts consents by account, so they move with it."""
    c = MessageConsent.__table__
    moved = insert(c).from_select(
        ["person_id", "template_id", "remaining"],
        sa.select(sa.literal(to_person, sa.Uuid), c.c.template_id, c.c.remaining).where(
            c.c.person_id == from_person
        ),
    )
    await session.execute(
        moved.on_conflict_do_update(
            index_elements=["person_id", "template_id"],
            set_={"remaining": sa.func.least(c.c.remaining + moved.excluded.remaining, CONSENTS_MAX)},
        )
    )
    await session.execute(sa.delete(c).where(c.c.person_id == from_person))


async def record_consent(
    ctx: Context, *, results: list[tuple[str, ConsentChoice]], templates: Mapping[MessageKind, Template]
) -> dict[str, int]:
    """What `wx.requestSubscribeMessage` answered, per template id: an accept allows one more
    message, a reject or a ban takes back what was left. Returns what each template has left."""
    who = require_person(ctx.principal)
    known = {t.id for t in templates.values()}
    if len(results) > RESULTS_MAX:
        raise BadUserInputError(f"一次最多记录 {RESULTS_MAX} 个模板的订阅结果。", field="results")
    for template_id, _ in results:
        if template_id not in known:
            raise BadUserInputError("没有这个订阅消息模板，请检查模板编号。", field="results")
    c = MessageConsent.__table__
    async with ctx.sessions() as session, session.begin():
        for template_id, choice in results:
            if choice == ConsentChoice.ACCEPT:
                statement = insert(c).values(person_id=who.person_id, template_id=template_id, remaining=1)
                statement = statement.on_conflict_do_update(
                    index_elements=["person_id", "template_id"],
                    set_={
                        "remaining": sa.func.least(c.c.remaining + 1, CONSENTS_MAX),
                        "updated_at": sa.func.now(),
                    },
                )
                await session.execute(statement)
            elif choice in (ConsentChoice.REJECT, ConsentChoice.BAN):
                await session.execute(
                    sa.update(c)
                    .where(c.c.person_id == who.person_id, c.c.template_id == template_id)
                    .values(remaining=0, updated_at=sa.func.now())
                )
            # FILTER: WeChat hid the request (a template filtered out): nothing changes
        left = await session.execute(
            sa.select(c.c.template_id, c.c.remaining).where(c.c.person_id == who.person_id)
        )
        return {r.template_id: r.remaining for r in left}


async def inbox(
    ctx: Context, *, unread_only: bool, first: int | None, after: str | None
) -> Page[Notification]:
    who = require_person(ctx.principal)
    n = Notification.__table__
    conditions = [n.c.person_id == who.person_id]
    if unread_only:
        conditions.append(n.c.read_at.is_(None))
    w = window(NEWEST, first=first, after=after)
    page = await read(ctx.sessions, sa.select(n).where(*conditions), n, NEWEST, w, scalars=False)
    return page.map(lambda r: Notification(**r._mapping))


async def unread(ctx: Context) -> int:
    who = require_person(ctx.principal)
    n = Notification.__table__
    async with ctx.sessions() as session:
        counted = await session.execute(
            sa.select(sa.func.count()).where(n.c.person_id == who.person_id, n.c.read_at.is_(None))
        )
        return int(counted.scalar_one())


async def mark_read(ctx: Context, *, ids: list[uuid.UUID] | None) -> int:
    """Mark the caller's messages read (those given, or all); returns how many were unread."""
    who = require_person(ctx.principal)
    if ids is not None and len(ids) > 200:
        raise BadUserInputError("一次最多标记 200 条消息。", field="ids")
    n = Notification.__table__
    conditions = [n.c.person_id == who.person_id, n.c.read_at.is_(None)]
    if ids is not None:
        conditions.append(n.c.id.in_(ids))
    async with ctx.sessions() as session, session.begin():
        done = await session.execute(sa.update(n).where(*conditions).values(read_at=sa.func.now()))
        return done.rowcount or 0


# --- sending ------------------------------------------------------------------------------------


async def send_due(sessions: async_sessionmaker[AsyncSession], wechat: WeChatClient | None) -> int:
    """A sender's round: messages left SENDING past their lease become UNCONFIRMED (never resent);
    then due messages are claimed one at a time (FOR UPDATE SKIP LOCKED, marked SENDING and
    committed before WeChat is called) and sent. Returns how many WeChat accepted."""
    n = Notification.__table__
    async with sessions() as session, session.begin():
        await session.execute(
            sa.update(n)
            .where(
                n.c.delivery == Delivery.SENDING.value, n.c.next_attempt_at < sa.func.now() - SENDING_LEASE
            )
            .values(delivery=Delivery.UNCONFIRMED.value, error="发送中断，未能确认微信是否送达；不再重发。")
        )
    if wechat is None:
        return 0
    sent = 0
    for _ in range(BATCH):
        claimed = await _claim(sessions)
        if claimed is None:
            break
        outcome = await _send(sessions, wechat, claimed)
        if outcome == THROTTLED_NOW:
            break  # WeChat's quota is spent: the rest wait for the next round
        sent += outcome
    return sent


async def _claim(sessions: async_sessionmaker[AsyncSession]) -> Any:
    n, p = Notification.__table__, Person.__table__
    async with sessions() as session, session.begin():
        due = (
            sa.select(n.c.id)
            .where(n.c.delivery == Delivery.PENDING.value, n.c.next_attempt_at <= sa.func.now())
            .order_by(n.c.next_attempt_at)
            .limit(1)
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        claimed = await session.execute(
            sa.update(n)
            .where(n.c.id == due)
            .values(delivery=Delivery.SENDING.value, attempts=n.c.attempts + 1, next_attempt_at=sa.func.now())
            .returning(n.c.id, n.c.person_id, n.c.template_id, n.c.data, n.c.page, n.c.attempts)
        )
        row = claimed.first()
        if row is None:
            return None
        openid = (await session.execute(sa.select(p.c.wechat_openid).where(p.c.id == row.person_id))).scalar()
        return row, openid


async def _send(sessions: async_sessionmaker[AsyncSession], wechat: WeChatClient, claimed: Any) -> int:
    row, openid = claimed
    n = Notification.__table__
    values: dict[str, Any]
    throttled = False
    if not openid:
        values = {"delivery": Delivery.FAILED.value, "error": "这位用户已不再绑定微信。"}
    else:
        try:
            await wechat.send_subscription_message(openid, row.template_id, row.data or {}, page=row.page)
            values = {"delivery": Delivery.SENT.value, "sent_at": sa.func.now(), "error": None}
        except QilijiaError as refused:
            errcode = getattr(refused, "wechat_errcode", None)
            note = f"{errcode if errcode is not None else '无'}: {refused.message}"
            if errcode is None and getattr(refused, "wechat_reached", True):
                # sent, but WeChat's answer was lost (a timeout): it may have it; never twice
                values = {
                    "delivery": Delivery.UNCONFIRMED.value,
                    "error": f"{note}（未收到答复，可能已送达，不再重发）",
                }
            elif errcode in THROTTLED:
                # WeChat's quota, not this message: tried later without spending an attempt
                throttled = True
                values = {
                    "delivery": Delivery.PENDING.value,
                    "attempts": row.attempts - 1,
                    "next_attempt_at": datetime.now(UTC) + THROTTLED[errcode],
                    "error": note,
                }
            elif errcode in PERMANENT or row.attempts >= ATTEMPTS_MAX:
                values = {"delivery": Delivery.FAILED.value, "error": note}
            else:
                values = {
                    "delivery": Delivery.PENDING.value,
                    "next_attempt_at": datetime.now(UTC) + backoff(row.attempts),
                    "error": note,
                }
            log.warning("subscription message %s not sent (%s)", row.id, note)
    async with sessions() as session, session.begin():
        await session.execute(
            sa.update(n).where(n.c.id == row.id, n.c.delivery == Delivery.SENDING.value).values(**values)
        )
    if values["delivery"] == Delivery.SENT.value:
        return SENT_ONE
    return THROTTLED_NOW if throttled else 0


# --- what is said of each event -------------------------------------------------------------------

#: a report's status change, as its reporter reads it: (status word, title)
REPORT_WORDS = {
    "ACCEPT": ("已受理", "您反映的事项已受理"),
    "REJECT": ("不予受理", "您反映的事项未予受理"),
    "RESOLVE": ("已办结", "您反映的事项已办结"),
}


def _at(moment: datetime) -> str:
    return moment.astimezone(CHINA).strftime("%Y-%m-%d %H:%M")


async def report_status(
    session: AsyncSession,
    templates: Mapping[MessageKind, Template],
    *,
    task_id: uuid.UUID,
    reporter_id: uuid.UUID,
    title: str,
    compound_id: uuid.UUID,
    action: str,
    note: str | None,
) -> None:
    """Tell a reporter that their report was accepted, rejected or resolved."""
    status, heading = REPORT_WORDS[action]
    place = (await session.execute(sa.select(Compound.name).where(Compound.id == compound_id))).scalar_one()
    body = f"“{title}”{status}" + (f"：{note}" if note else "。")
    if action == "RESOLVE":
        body += " 请在小程序中评价办理结果。"
    values = {
        "title": title,
        "status": status,
        "at": _at(datetime.now(UTC)),
        "note": note or status,
        "place": place,
    }
    await tell(
        session,
        templates,
        kind=MessageKind.REPORT_STATUS,
        ref_type="Task",
        ref_id=task_id,
        said=[Said(reporter_id, heading, body, values)],
    )


#: what each working role is called in a message
ASSIGNED_AS = {"ASSIGNEE": "承办人", "LEAD": "牵头人", "MEMBER": "专班成员"}


async def task_assigned(
    session: AsyncSession,
    templates: Mapping[MessageKind, Template],
    *,
    task_id: uuid.UUID,
    title: str,
    compound_id: uuid.UUID,
    people: Mapping[uuid.UUID, str],
) -> None:
    """Tell the people newly given a task (person → their working role) that it is theirs."""
    if not people:
        return
    place = (await session.execute(sa.select(Compound.name).where(Compound.id == compound_id))).scalar_one()
    at = _at(datetime.now(UTC))
    said = []
    for person_id, role in sorted(people.items()):
        named = ASSIGNED_AS[role]
        body = f"{place}的事项“{title}”已分派给您，您是{named}。"
        values = {"title": title, "role": named, "at": at, "place": place, "note": f"您是{named}"}
        said.append(Said(person_id, "有新的事项请您办理", body, values))
    await tell(session, templates, kind=MessageKind.TASK_ASSIGNED, ref_type="Task", ref_id=task_id, said=said)


async def registration_approved(
    session: AsyncSession,
    templates: Mapping[MessageKind, Template],
    *,
    registration_id: uuid.UUID,
    person_id: uuid.UUID,
    compound_id: uuid.UUID,
) -> None:
    """Tell a Party member that their registration was approved."""
    p = Person.__table__
    name = (await session.execute(sa.select(p.c.name).where(p.c.id == person_id))).scalar_one()
    place = (await session.execute(sa.select(Compound.name).where(Compound.id == compound_id))).scalar_one()
    values = {"name": name, "place": place, "at": _at(datetime.now(UTC)), "note": "已编入所在楼栋党员小组"}
    await tell(
        session,
        templates,
        kind=MessageKind.REGISTRATION_APPROVED,
        ref_type="PartyRegistration",
        ref_id=registration_id,
        said=[
            Said(person_id, "党员报到已通过", f"您在{place}的报到已通过，已编入所在楼栋的党员小组。", values)
        ],
    )


async def _owners(session: AsyncSession, vote_id: uuid.UUID) -> list[uuid.UUID]:
    """The owners of a vote's frozen electorate, each once (an owner of two households too)."""
    o = VoteOwner.__table__
    found = await session.execute(
        sa.select(o.c.person_id).where(o.c.vote_id == vote_id).distinct().order_by(o.c.person_id)
    )
    return list(found.scalars())


async def vote_announced(
    session: AsyncSession,
    templates: Mapping[MessageKind, Template],
    *,
    vote_id: uuid.UUID,
    title: str,
    compound_id: uuid.UUID,
    building_ids: list[uuid.UUID],
    opens_at: datetime,
) -> None:
    """Tell the owners in an announced vote's scope, as the register stands, that its roll is
    published until it opens: the time to object to their own entry."""
    place = (await session.execute(sa.select(Compound.name).where(Compound.id == compound_id))).scalar_one()
    opens = _at(opens_at)
    body = f"{place}将于 {opens} 开始业主表决“{title}”，业主名册正在公示：请核对您家的面积和业主，有误请在开始前提出异议。"
    values = {"title": title, "place": place, "at": opens, "note": "请核对业主名册"}
    h, home = Household.__table__, Home.__table__
    statement = (
        sa.select(home.c.person_id)
        .join(h, h.c.id == home.c.household_id)
        .where(h.c.compound_id == compound_id, home.c.relation == HomeRelation.OWNER.value, in_force(home))
        .distinct()
        .order_by(home.c.person_id)
    )
    if building_ids:
        statement = statement.where(h.c.building_id.in_(building_ids))
    owners = list((await session.execute(statement)).scalars())
    await tell(
        session,
        templates,
        kind=MessageKind.VOTE_ANNOUNCED,
        ref_type="Vote",
        ref_id=vote_id,
        said=[
            Said(p, "业主表决名册公示", body, values, once_key=vote_announced_key(vote_id)) for p in owners
        ],
    )


async def vote_opened(
    session: AsyncSession,
    templates: Mapping[MessageKind, Template],
    *,
    vote_id: uuid.UUID,
    title: str,
    compound_id: uuid.UUID,
    closes_at: datetime,
) -> None:
    """Tell the owners of a vote's electorate (not its tenants: they have no vote) that it opened."""
    place = (await session.execute(sa.select(Compound.name).where(Compound.id == compound_id))).scalar_one()
    closes = _at(closes_at)
    body = f"{place}发起了业主表决“{title}”，请在 {closes} 前投票。"
    values = {"title": title, "place": place, "at": closes, "note": "请在截止前投票"}
    await tell(
        session,
        templates,
        kind=MessageKind.VOTE_OPENED,
        ref_type="Vote",
        ref_id=vote_id,
        said=[
            Said(p, "有新的业主表决", body, values, once_key=vote_opened_key(vote_id))
            for p in await _owners(session, vote_id)
        ],
    )


#: a vote's result as an owner reads it: (status word, sentence)
RESULT_WORDS = {
    VoteResult.PASSED: ("已通过", "表决通过。"),
    VoteResult.REJECTED: ("未通过", "同意的票数不够，表决未通过。"),
    VoteResult.INVALID: ("未通过", "参与表决的面积或人数不足三分之二，表决未通过。"),
}


async def vote_result(
    session: AsyncSession,
    templates: Mapping[MessageKind, Template],
    *,
    vote_id: uuid.UUID,
    title: str,
    compound_id: uuid.UUID,
    result: VoteResult,
) -> None:
    """Tell the owners of a vote's electorate, when it closes, whether it passed."""
    status, sentence = RESULT_WORDS[result]
    await _vote_ended(
        session,
        templates,
        vote_id=vote_id,
        title=title,
        compound_id=compound_id,
        status=status,
        sentence=sentence,
    )


async def vote_cancelled(
    session: AsyncSession,
    templates: Mapping[MessageKind, Template],
    *,
    vote_id: uuid.UUID,
    title: str,
    compound_id: uuid.UUID,
    reason: str | None,
) -> None:
    """Tell the owners who were told a vote opened that it was called off, and why."""
    sentence = f"表决已撤销：{reason}" if reason else "表决已撤销。"
    await _vote_ended(
        session,
        templates,
        vote_id=vote_id,
        title=title,
        compound_id=compound_id,
        status="已撤销",
        sentence=sentence,
    )


async def _vote_ended(
    session: AsyncSession,
    templates: Mapping[MessageKind, Template],
    *,
    vote_id: uuid.UUID,
    title: str,
    compound_id: uuid.UUID,
    status: str,
    sentence: str,
) -> None:
    place = (await session.execute(sa.select(Compound.name).where(Compound.id == compound_id))).scalar_one()
    body = f"{place}的业主表决“{title}”已结束：{sentence}"
    values = {
        "title": title,
        "status": status,
        "place": place,
        "at": _at(datetime.now(UTC)),
        "note": sentence,
    }
    await tell(
        session,
        templates,
        kind=MessageKind.VOTE_RESULT,
        ref_type="Vote",
        ref_id=vote_id,
        said=[
            Said(p, f"业主表决{status}", body, values, once_key=vote_result_key(vote_id))
            for p in await _owners(session, vote_id)
        ],
    )
