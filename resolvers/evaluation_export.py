"""Sending confirmed evaluations back to the members' employers (评价鉴定反馈至所在单位党组织).

The community committee exports a period: one export per employer's Party organisation, holding
the confirmed evaluation of each of its members registered in the community, as a workbook and a
PDF kept byte for byte. Each carries a verification code the organisation checks without an
account (`verify`), which answers what was exported, when and by whom, with the members' names
masked and never a phone. The committee records when the organisation acknowledged it.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from auth.budget import client_address
from auth.masking import mask_name
from auth.policy import Action, Resource, not_visible, refusal, require_person
from models.errors import BadUserInputError, ConflictError
from models.evaluation import EvaluationStatus, Grade, PartyEvaluation, PeriodKind, period_days
from models.evaluation_export import (
    NOTE_MAX,
    EvaluationExport,
    EvaluationExportItem,
    digest,
    file_stem,
    new_code,
    normalize_code,
)
from models.participation_rules import Entry, Summary, by_month, months_between
from models.party import Participation, ParticipationKind, PartyRegistration, RegistrationStatus
from models.person import Person
from models.place import Community, Compound
from resolvers import audit, export_files, ledger, place
from resolvers.context import Context
from resolvers.pages import Key, Page, order, read, window
from resolvers.pipeline import Outcome, Target, Work, run
from resolvers.text import clean_text

COMMUNITY = Target(Resource.COMMUNITY, Community)
LIST = order(Key("made_at", datetime, descending=True), Key("id"))
#: what the download route serves: (column, media type, file name suffix)
FILES = {
    "xlsx": ("workbook", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    "pdf": ("pdf", "application/pdf"),
}


@dataclass(frozen=True)
class ExportView:
    id: uuid.UUID
    community_id: uuid.UUID
    community_name: str
    period: str
    party_org: str
    members: int
    made_by_name: str
    made_at: datetime
    workbook_sha256: str
    pdf_sha256: str
    acknowledged_at: datetime | None
    acknowledgement: str | None
    #: given to those who made or may list it, never to the public check
    code: str


@dataclass(frozen=True)
class Checked:
    """What the public check answers for a code."""

    community_name: str
    period: str
    party_org: str
    made_at: datetime
    made_by_name: str
    workbook_sha256: str
    pdf_sha256: str
    acknowledged_at: datetime | None
    #: (masked name, grade, version), in the order of the files
    members: list[tuple[str, Grade, int]]


def _views() -> sa.Select:
    x, c = EvaluationExport.__table__, Community.__table__
    names = set(ExportView.__dataclass_fields__) - {"community_name"}
    return sa.select(*(x.c[n] for n in sorted(names)), c.c.name.label("community_name")).select_from(
        x.join(c, c.c.id == x.c.community_id)
    )


def _view(r: sa.Row) -> ExportView:
    return ExportView(**{n: r._mapping[n] for n in ExportView.__dataclass_fields__})


# --- making an export ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Evaluated:
    evaluation_id: uuid.UUID
    person_id: uuid.UUID
    name: str
    compound: str
    grade: Grade
    version: int
    comment: str
    confirmed_at: datetime
    employer: str | None
    party_org: str
    #: the totals the committee confirmed, as they were then
    totals: Summary


async def _evaluated(session: AsyncSession, community_id: uuid.UUID, period: str) -> list[_Evaluated]:
    """The community's confirmed evaluations of a period, each with the employer and Party
    organisation of the registration it was made under (the member's latest in that compound
    whose days meet the period's)."""
    e, k, p = PartyEvaluation.__table__, Compound.__table__, Person.__table__
    x = PartyRegistration.__table__
    registration = (
        sa.select(x.c.employer, x.c.party_org)
        .where(
            x.c.person_id == e.c.person_id,
            x.c.compound_id == e.c.compound_id,
            x.c.status.in_(
                [
                    RegistrationStatus.APPROVED.value,
                    RegistrationStatus.ENDED.value,
                    RegistrationStatus.TRANSFERRED.value,
                ]
            ),
            x.c.approved_on < e.c.ends_on,
            sa.or_(x.c.ended_on.is_(None), x.c.ended_on > e.c.starts_on),
        )
        .order_by(x.c.approved_on.desc(), x.c.created_at.desc())
        .limit(1)
        .lateral("registration")
    )
    rows = await session.execute(
        sa.select(
            e.c.id,
            e.c.person_id,
            p.c.name,
            k.c.name.label("compound"),
            e.c.grade,
            e.c.version,
            e.c.comment,
            e.c.confirmed_at,
            e.c.hours,
            e.c.meetings,
            e.c.shifts,
            e.c.tasks,
            e.c.disputes,
            e.c.points,
            e.c.positions,
            registration.c.employer,
            registration.c.party_org,
        )
        .select_from(
            e.join(k, k.c.id == e.c.compound_id)
            .join(p, p.c.id == e.c.person_id)
            .join(registration, sa.true())
        )
        .where(
            k.c.community_id == community_id,
            e.c.period == period,
            e.c.status == EvaluationStatus.CONFIRMED.value,
        )
        .order_by(p.c.name, e.c.person_id)
    )
    return [
        _Evaluated(
            evaluation_id=r.id,
            person_id=r.person_id,
            name=r.name,
            compound=r.compound,
            grade=Grade(r.grade),
            version=r.version,
            comment=r.comment,
            confirmed_at=r.confirmed_at,
            employer=r.employer,
            party_org=r.party_org.strip(),
            totals=Summary(r.hours, r.meetings, r.shifts, r.tasks, r.disputes, r.points, r.positions),
        )
        for r in rows
    ]


async def _monthly(
    session: AsyncSession, people: list[uuid.UUID], starts: date, ends: date
) -> dict[uuid.UUID, list[tuple[date, Entry]]]:
    """Each member's record over [starts, ends), entries dated by their Beijing day."""
    p = Participation.__table__
    rows = await session.execute(
        sa.select(
            p.c.person_id,
            sa.func.timezone("Asia/Shanghai", p.c.occurred_at).label("local"),
            p.c.kind,
            p.c.count,
            p.c.hours,
        ).where(
            p.c.person_id.in_(people),
            p.c.occurred_at >= ledger.moment(starts),
            p.c.occurred_at < ledger.moment(ends),
        )
    )
    found: dict[uuid.UUID, list[tuple[date, Entry]]] = defaultdict(list)
    for r in rows:
        found[r.person_id].append((r.local.date(), Entry(ParticipationKind(r.kind), r.count, r.hours)))
    return found


async def make(
    session: AsyncSession,
    *,
    community_id: uuid.UUID,
    period: str,
    made_by: uuid.UUID | None,
    made_by_name: str,
) -> list[uuid.UUID]:
    """Export a period of a community: one export per Party organisation, written in the caller's
    transaction (the command line's, or a mutation's). Refused when the period is not the
    community's kind of period or holds no confirmed evaluation."""
    community = await session.get(Community, community_id)
    assert community is not None, "the community is found before an export is made"
    period = period.strip().upper()
    kind = PeriodKind(community.evaluation_period)
    days = period_days(period, kind)
    if isinstance(days, str):
        # evaluations made before the community changed how often it evaluates stay exportable
        other = period_days(period, PeriodKind.YEAR if kind == PeriodKind.QUARTER else PeriodKind.QUARTER)
        if isinstance(other, str):
            raise BadUserInputError(days, field="period")
        days = other
    starts, ends = days
    evaluated = await _evaluated(session, community_id, period)
    if not evaluated:
        raise BadUserInputError(
            f"{community.name}{period} 还没有已确认的党员评价，无法导出；请先确认评价。", field="period"
        )
    entries = await _monthly(session, [m.person_id for m in evaluated], starts, ends)
    months = months_between(starts, ends)
    by_org: dict[str, list[_Evaluated]] = defaultdict(list)
    for m in evaluated:
        by_org[m.party_org].append(m)
    made_at = datetime.now(UTC)
    made: list[uuid.UUID] = []
    for party_org in sorted(by_org):
        members = by_org[party_org]
        sheet = export_files.Sheet(
            community=community.name,
            period=period,
            starts_on=starts,
            ends_on=ends,
            party_org=party_org,
            code=new_code(),
            made_at=made_at,
            made_by=made_by_name,
            members=[_member(m, entries.get(m.person_id, []), months) for m in members],
        )
        workbook, pdf = await asyncio.to_thread(_render, sheet)
        row = EvaluationExport(
            code=sheet.code,
            community_id=community_id,
            period=period,
            party_org=party_org,
            members=len(members),
            made_by=made_by,
            made_by_name=made_by_name,
            made_at=made_at,
            workbook=workbook,
            pdf=pdf,
            workbook_sha256=digest(workbook),
            pdf_sha256=digest(pdf),
        )
        session.add(row)
        await session.flush()
        session.add_all(
            EvaluationExportItem(
                export_id=row.id,
                ordinal=n,
                evaluation_id=m.evaluation_id,
                masked_name=mask_name(m.name) or "",
                grade=m.grade.value,
                version=m.version,
            )
            for n, m in enumerate(members, 1)
        )
        await session.flush()
        made.append(row.id)
    return made


def _render(sheet: export_files.Sheet) -> tuple[bytes, bytes]:
    return export_files.workbook(sheet), export_files.pdf(sheet)


def _member(m: _Evaluated, entries: list[tuple[date, Entry]], months: list[date]) -> export_files.Member:
    return export_files.Member(
        name=m.name,
        employer=m.employer,
        compound=m.compound,
        grade=m.grade,
        version=m.version,
        comment=m.comment,
        confirmed_at=m.confirmed_at,
        totals=m.totals,
        months=list(zip(months, by_month(entries, months), strict=True)),
    )


async def export(ctx: Context, *, community_id: uuid.UUID, period: str) -> list[ExportView]:
    """The mutation: a community committee member exports a period of their community."""

    async def apply(work: Work[Community]) -> Outcome[list[uuid.UUID]]:
        return Outcome(
            await make(
                work.session,
                community_id=work.row.id,
                period=period,
                made_by=work.who.person_id,
                made_by_name=work.who.name,
            )
        )

    made = await run(ctx, COMMUNITY, community_id, Action.EXPORT, apply)
    x = EvaluationExport.__table__
    async with ctx.sessions() as session:
        rows = await session.execute(_views().where(x.c.id.in_(made)).order_by(x.c.party_org))
    return [_view(r) for r in rows]


# --- reading, downloading, acknowledging ---------------------------------------------------------


async def _community_of(ctx: Context, export_id: uuid.UUID) -> uuid.UUID:
    """The community of an export the caller may handle (its committee), or the not-visible answer
    (an export is not to be learnt of by anyone else)."""
    x = EvaluationExport.__table__
    async with ctx.sessions() as session:
        community_id = (
            await session.execute(sa.select(x.c.community_id).where(x.c.id == export_id))
        ).scalar_one_or_none()
    if community_id is None or not await _exports(ctx, community_id):
        raise not_visible()
    return community_id


async def _exports(ctx: Context, community_id: uuid.UUID) -> bool:
    return bool(await place.granted(ctx, Resource.COMMUNITY, Action.EXPORT, Community).load(community_id))


async def view(ctx: Context, export_id: uuid.UUID) -> ExportView:
    await _community_of(ctx, export_id)
    x = EvaluationExport.__table__
    async with ctx.sessions() as session:
        return _view((await session.execute(_views().where(x.c.id == export_id))).one())


async def of_community(
    ctx: Context, *, community_id: uuid.UUID, period: str | None, first: int | None, after: str | None
) -> Page[ExportView]:
    """A community's exports, newest first: for its committee, who makes them."""
    require_person(ctx.principal)
    found = await place.community(ctx, community_id=community_id)
    if not await _exports(ctx, found.id):
        raise refusal(Resource.COMMUNITY, Action.EXPORT)
    x = EvaluationExport.__table__
    conditions = [x.c.community_id == found.id]
    if period is not None:
        conditions.append(x.c.period == period.strip().upper())
    w = window(LIST, first=first, after=after)
    page = await read(ctx.sessions, _views().where(*conditions), x, LIST, w, scalars=False)
    return page.map(_view)


async def download(ctx: Context, export_id: uuid.UUID, kind: str) -> tuple[bytes, str, str]:
    """(content, media type, file name) of one file of an export, as it was sent; each download
    is on the audit trail, for the files hold Party members' evaluations."""
    who = require_person(ctx.principal)
    column, media = FILES[kind]
    community_id = await _community_of(ctx, export_id)
    x = EvaluationExport.__table__
    async with ctx.sessions() as session, session.begin():
        found = (
            await session.execute(
                sa.select(x.c[column], x.c.period, x.c.party_org).where(x.c.id == export_id)
            )
        ).one()
        await audit.append(
            session,
            action="DOWNLOAD_EVALUATION_EXPORT",
            actor=audit.person(who),
            object_type="EVALUATION_EXPORT",
            object_id=export_id,
            community_id=community_id,
            address=client_address(ctx.request),
            detail={"file": kind},
        )
    return found[0], media, f"{file_stem(found.period, found.party_org)}.{kind}"


async def acknowledge(ctx: Context, *, export_id: uuid.UUID, note: str | None) -> ExportView:
    """Record that the organisation received an export (once: a second record is a conflict)."""
    require_person(ctx.principal)
    text = clean_text(note, field="note", label="说明", maximum=NOTE_MAX) if note is not None else None
    community_id = await _community_of(ctx, export_id)

    async def apply(work: Work[Community]) -> Outcome[None]:
        row = await work.session.get(EvaluationExport, export_id, with_for_update=True)
        assert row is not None and row.community_id == work.row.id
        if row.acknowledged_at is not None:
            raise ConflictError("这份导出已登记为对方党组织已收到，不能重复登记。")
        row.acknowledged_at = datetime.now(UTC)
        row.acknowledged_by = work.who.person_id
        row.acknowledgement = text or None
        await work.session.flush()
        return Outcome(None)

    await run(ctx, COMMUNITY, community_id, Action.EXPORT, apply)
    return await view(ctx, export_id)


async def verify(ctx: Context, *, code: str) -> Checked | None:
    """The public check of a code (no account needed): what it stands for, or None when no export
    has it. Names are masked; phones are never part of an export's record."""
    normal = normalize_code(code)
    if normal is None:
        raise BadUserInputError("校验码格式不正确：应为 QLJ- 开头、16 位字母和数字。", field="code")
    x, c, i = EvaluationExport.__table__, Community.__table__, EvaluationExportItem.__table__
    # not the files: a check reads what they hold, never the files themselves
    names = ("id", "period", "party_org", "made_at", "made_by_name", "acknowledged_at", "workbook_sha256")
    shown = [x.c[n] for n in (*names, "pdf_sha256")]
    async with ctx.sessions() as session:
        found = (
            await session.execute(
                sa.select(*shown, c.c.name.label("community_name"))
                .select_from(x.join(c, c.c.id == x.c.community_id))
                .where(x.c.code == normal)
            )
        ).first()
        if found is None:
            return None
        members = await session.execute(
            sa.select(i.c.masked_name, i.c.grade, i.c.version)
            .where(i.c.export_id == found.id)
            .order_by(i.c.ordinal)
        )
        return Checked(
            community_name=found.community_name,
            period=found.period,
            party_org=found.party_org,
            made_at=found.made_at,
            made_by_name=found.made_by_name,
            workbook_sha256=found.workbook_sha256,
            pdf_sha256=found.pdf_sha256,
            acknowledged_at=found.acknowledged_at,
            members=[(m.masked_name, Grade(m.grade), m.version) for m in members],
        )
