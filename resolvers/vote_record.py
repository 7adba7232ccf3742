"""The whole record of a closed vote as a PDF to file with the street office (表决记录): what was
decided and under which rules of procedure, the electorate, how and when each household's counted
ballot came (online, on paper, by a proxy), the paper ballots' entries, the result with its
explanation and digest, and the objections with their answers.

It never shows a household's choice: those who may export it (the owners' committee and the
community committee) may not see one. The digest lets anyone holding a receipt check their own.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa

from auth.budget import client_address
from auth.policy import Action, Resource, refusal, require_person
from models.errors import ConflictError
from models.place import Building, Compound
from models.vote import Ballot, PaperBallot, Vote, VoteElector, VoteObjection
from models.vote_rules import VoteKind, VoteStatus
from resolvers import audit, export_files, objections, procedure
from resolvers import vote as votes
from resolvers.context import Context
from resolvers.place import granted

DOWNLOAD = "/exports/votes/{id}.pdf"
CHANNELS = {"ONLINE": "网上", "PAPER": "书面"}
STATUSES = {
    "PENDING": "待复核",
    "COUNTED": "已计入",
    "NOT_COUNTED": "未计入（议事规则）",
    "MISMATCH": "两次录入不一致",
}
RESULTS = {"PASSED": "通过", "REJECTED": "未通过", "INVALID": "表决不成立"}
DECISIONS = {
    "OBJECTION_WINDOW": "结果公示中",
    "FINAL": "公示期满，决定成立",
    "NOT_EFFECTIVE": "公示期满仍有未解决的异议，决定未生效",
}


@dataclass(frozen=True)
class Household:
    number: str
    area: Decimal
    group: int
    #: how the counted ballot came (None: did not vote), when, and whether a proxy cast it
    channel: str | None
    at: datetime | None
    by_proxy: bool


@dataclass(frozen=True)
class Record:
    compound: str
    title: str
    scope: str
    facts: list[tuple[str, str]]
    result: list[tuple[str, str]]
    households: list[Household]
    paper: list[tuple[str, str, datetime, datetime | None]]
    objections: list[tuple[datetime, str, str | None, bool]]
    digest: str


def _minute(moment: datetime | None) -> str:
    return "" if moment is None else export_files.minute(moment)


def pdf(record: Record) -> bytes:
    """The record: a first page of facts and the result, then the electorate household by
    household, the paper ballots' entries and the objections."""
    doc = export_files.document(f"{record.compound}{record.title}表决记录", record.compound)
    doc.code = record.digest[:16] if record.digest else "—"
    doc.add_page()
    doc.set_font_size(18)
    doc.cell(0, 14, "业主表决记录", align="C", new_x="LMARGIN", new_y="NEXT")
    doc.set_font_size(11)
    for label, value in [
        ("小区", record.compound),
        ("表决", record.title),
        ("范围", record.scope),
        *record.facts,
    ]:
        export_files.row(doc, label, value, width=34)
    doc.ln(3)
    for label, value in record.result:
        export_files.row(doc, label, value, width=34)
    export_files.note_replacements(doc)

    doc.add_page()
    doc.set_font_size(13)
    doc.cell(0, 10, "表决范围内的住户（不显示任何一户的选择）", new_x="LMARGIN", new_y="NEXT")
    doc.set_font_size(9)
    widths = (28, 24, 18, 22, 48, 30)
    for text, w in zip(
        ("户号", "面积（㎡）", "人数分组", "投票方式", "计入的投票时间", "备注"), widths, strict=True
    ):
        doc.cell(w, 7, text, border=1)
    doc.ln()
    for h in record.households:
        cells = (
            h.number,
            f"{h.area:.2f}",
            str(h.group),
            CHANNELS[h.channel] if h.channel else "未投票",
            _minute(h.at),
            "代理人代投" if h.by_proxy else "",
        )
        for text, w in zip(cells, widths, strict=True):
            doc.cell(w, 6, doc.printable(text), border=1)
        doc.ln()
    if record.paper:
        doc.ln(4)
        doc.set_font_size(13)
        doc.cell(0, 10, "书面表决票的录入（两人录入，不显示选择）", new_x="LMARGIN", new_y="NEXT")
        doc.set_font_size(9)
        for number, status, received, confirmed in record.paper:
            line = f"{number}　收票 {_minute(received)}　{status}" + (
                f"　复核 {_minute(confirmed)}" if confirmed else ""
            )
            doc.multi_cell(0, 6, doc.printable(line), new_x="LMARGIN", new_y="NEXT")
    if record.objections:
        doc.ln(4)
        doc.set_font_size(13)
        doc.cell(0, 10, "对结果的异议及答复", new_x="LMARGIN", new_y="NEXT")
        doc.set_font_size(10)
        for raised, text, answer, settled in record.objections:
            doc.multi_cell(
                0, 6, doc.printable(f"{_minute(raised)} 异议：{text}"), new_x="LMARGIN", new_y="NEXT"
            )
            answered = f"答复：{answer}（{'已解决' if settled else '未解决'}）" if answer else "尚未答复"
            doc.multi_cell(0, 6, doc.printable(answered), new_x="LMARGIN", new_y="NEXT")
    export_files.note_replacements(doc)
    return bytes(doc.output())


async def _record(ctx: Context, vote: Vote) -> Record:
    async with ctx.sessions() as session:
        compound = (
            await session.execute(sa.select(Compound.name).where(Compound.id == vote.compound_id))
        ).scalar_one()
        buildings = (
            await session.execute(
                sa.select(Building.name).where(Building.id.in_(vote.building_ids)).order_by(Building.name)
            )
        ).scalars()
        e, b = VoteElector.__table__, Ballot.__table__
        p = PaperBallot.__table__
        heads = sa.func.dense_rank().over(order_by=e.c.head)
        rows = await session.execute(
            sa.select(
                e.c.number,
                e.c.area,
                heads.label("group"),
                b.c.channel,
                sa.func.coalesce(p.c.received_at, b.c.cast_at).label("at"),
                b.c.proxy_id,
            )
            .select_from(e.outerjoin(b, b.c.id == e.c.ballot_id).outerjoin(p, p.c.ballot_id == b.c.id))
            .where(e.c.vote_id == vote.id)
            .order_by(e.c.number)
        )
        households = [
            Household(r.number, r.area, r.group, r.channel, r.at, r.proxy_id is not None) for r in rows
        ]
        paper = [
            (r.number, STATUSES[r.status], r.received_at, r.confirmed_at)
            for r in await session.execute(
                sa.select(e.c.number, p.c.status, p.c.received_at, p.c.confirmed_at)
                .select_from(
                    p.join(e, sa.and_(e.c.vote_id == p.c.vote_id, e.c.household_id == p.c.household_id))
                )
                .where(p.c.vote_id == vote.id)
                .order_by(p.c.entered_at)
            )
        ]
        raised = [
            (o.raised_at, o.text, o.answer, o.settled_at is not None)
            for o in (
                await session.execute(
                    sa.select(VoteObjection)
                    .where(VoteObjection.vote_id == vote.id)
                    .order_by(VoteObjection.raised_at)
                )
            ).scalars()
        ]
    rules = (await procedure.of_vote(ctx, vote)).procedure
    counted = (await votes.tally(ctx, vote)).tally
    standing = await objections.standing(ctx, vote)
    affected = await votes.affected_numbers(ctx, vote)
    facts = [
        ("事项", vote.matter),
        ("通过规则", "四分之三以上（特别多数）" if vote.rule == "SPECIAL" else "过半数"),
        (
            "议事规则",
            f"第 {rules.version} 版"
            + ("（含存在法律争议的“未表决计入多数”）" if rules.unreturned_with_majority else ""),
        ),
        ("发起时间", _minute(vote.created_at)),
        ("截止时间", _minute(vote.closes_at)),
    ]
    if vote.kind == VoteKind.WORKS:
        facts.append(("直接受影响的住户", "、".join(affected)))
    area = f"{counted.participating_area}/{counted.eligible_area} 平方米"
    heads = f"{counted.participating_headcount}/{counted.eligible_headcount} 人"
    result = [
        ("状态", {"CLOSED": "已结束", "CANCELLED": "已撤销"}[vote.status]),
        ("结束时间", _minute(vote.closed_at or vote.cancelled_at)),
        ("参与表决", f"面积 {area}，人数 {heads}"),
        ("结果", RESULTS.get(vote.result or "", "无")),
        ("结果说明", await votes.result_text(ctx, vote) or ""),
        ("默克尔根", vote.digest or "（无）"),
        ("结果公示至", _minute(vote.objection_until)),
        ("决定", DECISIONS.get(standing.decision or "", "")),
    ]
    return Record(
        compound=compound,
        title=vote.title,
        scope="全小区" if not vote.building_ids else "、".join(buildings),
        facts=facts,
        result=result,
        households=households,
        paper=paper,
        objections=raised,
        digest=vote.digest or "",
    )


async def download(ctx: Context, vote_id: uuid.UUID) -> tuple[bytes, str]:
    """(content, file name) of a closed or cancelled vote's record, for the owners' committee and
    the community committee; each download is on the audit trail."""
    who = require_person(ctx.principal)
    vote = await votes.vote(ctx, vote_id=vote_id)
    if not await granted(ctx, Resource.VOTE, Action.EXPORT, Vote).load(vote.id):
        raise refusal(Resource.VOTE, Action.EXPORT)
    if vote.status == VoteStatus.OPEN:
        raise ConflictError("表决结束后才能导出表决记录。")
    content = pdf(await _record(ctx, vote))
    async with ctx.sessions() as session, session.begin():
        community = (
            await session.execute(sa.select(Compound.community_id).where(Compound.id == vote.compound_id))
        ).scalar_one()
        await audit.append(
            session,
            action="DOWNLOAD_VOTE_RECORD",
            actor=audit.person(who),
            object_type=Resource.VOTE.value,
            object_id=vote.id,
            community_id=community,
            compound_id=vote.compound_id,
            address=client_address(ctx.request),
        )
    return content, f"{vote.title}表决记录.pdf"
