"""Evaluations sent back to the members' employers (评价鉴定反馈) as GraphQL: exported, listed and
acknowledged by the community committee, checked by the employer's Party organisation with the
code printed on the files, without an account."""

from __future__ import annotations

import datetime
from typing import Annotated

import strawberry
from strawberry.types import Info

from resolvers import evaluation_export as exports
from resolvers.context import Context
from resolvers.evaluation_export import Checked, ExportView
from resolvers.ids import decode, encode
from schema.evaluation import EvaluationGrade
from schema.place import AFTER, FIRST
from schema.relay import Connection, Node, Nodes, node

_ID = strawberry.argument(description="导出记录的全局编号。")
_FIRST = Annotated[int | None, strawberry.argument(description=FIRST)]
_AFTER = Annotated[str | None, strawberry.argument(description=AFTER)]
#: where the files are downloaded, with the same `Authorization` header as the API
DOWNLOAD = "/exports/evaluations/{id}.{kind}"


@strawberry.type(
    description="一次评价导出：某社区某期间、某一单位党组织的党员评价（Excel 工作簿和 PDF），社区“两委”可见。"
)
class EvaluationExport(Node):
    period: str = strawberry.field(description="期间，例如 2026Q4。")
    community_name: str = strawberry.field(description="社区。")
    party_organisation: str = strawberry.field(description="党员所在单位党组织。")
    members: int = strawberry.field(description="导出的党员人数。")
    code: str = strawberry.field(description="印在文件上的校验码，对方凭它用 verifyEvaluationExport 查验。")
    made_at: datetime.datetime = strawberry.field(description="导出时间。")
    made_by: str = strawberry.field(description="导出人。")
    workbook_sha256: str = strawberry.field(description="Excel 文件的 SHA-256（十六进制）。")
    pdf_sha256: str = strawberry.field(description="PDF 文件的 SHA-256（十六进制）。")
    workbook_url: str = strawberry.field(
        description="下载 Excel 文件的路径（GET，带与接口相同的 Authorization 头；每次下载都记入审计）。"
    )
    pdf_url: str = strawberry.field(description="下载 PDF 文件的路径（同上）。")
    acknowledged_at: datetime.datetime | None = strawberry.field(description="登记对方党组织收到的时间。")
    acknowledgement: str | None = strawberry.field(description="收到的说明，例如“已电话确认”。")

    @classmethod
    def from_view(cls, view: ExportView) -> EvaluationExport:
        ident = encode("EvaluationExport", view.id)
        return cls(
            id=strawberry.ID(ident),
            period=view.period,
            community_name=view.community_name,
            party_organisation=view.party_org,
            members=view.members,
            code=view.code,
            made_at=view.made_at,
            made_by=view.made_by_name,
            workbook_sha256=view.workbook_sha256,
            pdf_sha256=view.pdf_sha256,
            workbook_url=DOWNLOAD.format(id=ident, kind="xlsx"),
            pdf_url=DOWNLOAD.format(id=ident, kind="pdf"),
            acknowledged_at=view.acknowledged_at,
            acknowledgement=view.acknowledgement,
        )


@strawberry.type(description="导出名单中的一位党员（姓名已遮蔽）。")
class ExportedMember:
    name: str = strawberry.field(description="姓名（遮蔽，例如 张*明）。")
    grade: EvaluationGrade = strawberry.field(description="等次。")
    version: int = strawberry.field(description="评价的版本。")


@strawberry.type(description="评价导出的查验结果：导出了什么、何时、由谁导出；不含任何电话号码。")
class EvaluationExportCheck:
    community_name: str = strawberry.field(description="社区。")
    period: str = strawberry.field(description="期间。")
    party_organisation: str = strawberry.field(description="党员所在单位党组织。")
    made_at: datetime.datetime = strawberry.field(description="导出时间。")
    made_by: str = strawberry.field(description="导出人。")
    members: list[ExportedMember] = strawberry.field(description="名单与等次。")
    workbook_sha256: str = strawberry.field(description="Excel 文件的 SHA-256：与收到的文件比对。")
    pdf_sha256: str = strawberry.field(description="PDF 文件的 SHA-256：与收到的文件比对。")
    acknowledged_at: datetime.datetime | None = strawberry.field(description="社区登记对方收到的时间。")

    @classmethod
    def from_check(cls, c: Checked) -> EvaluationExportCheck:
        return cls(
            community_name=c.community_name,
            period=c.period,
            party_organisation=c.party_org,
            made_at=c.made_at,
            made_by=c.made_by_name,
            members=[ExportedMember(name=n, grade=g, version=v) for n, g, v in c.members],
            workbook_sha256=c.workbook_sha256,
            pdf_sha256=c.pdf_sha256,
            acknowledged_at=c.acknowledged_at,
        )


@strawberry.type
class Query:
    @strawberry.field(description="一个社区的评价导出记录，最新的在前（社区“两委”）。")
    async def evaluation_exports(
        self,
        info: Info[Context, None],
        community_id: Annotated[strawberry.ID, strawberry.argument(description="社区的全局编号。")],
        period: Annotated[str | None, strawberry.argument(description="只列这一期间的。")] = None,
        first: _FIRST = 20,
        after: _AFTER = None,
    ) -> Connection[EvaluationExport]:
        page = await exports.of_community(
            info.context,
            community_id=decode(community_id, "Community", field="communityId")[1],
            period=period,
            first=first,
            after=after,
        )
        return Connection.from_page(page, EvaluationExport.from_view)

    @strawberry.field(description="凭文件上的校验码查验一次评价导出（无需登录）：没有这个校验码时为空。")
    async def verify_evaluation_export(
        self,
        info: Info[Context, None],
        code: Annotated[str, strawberry.argument(description="校验码，例如 QLJ-7K2M-9XQ4-ABCD-EFGH。")],
    ) -> EvaluationExportCheck | None:
        found = await exports.verify(info.context, code=code)
        return EvaluationExportCheck.from_check(found) if found is not None else None


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description="导出一个期间已确认的党员评价，按党员所在单位党组织各出一份 Excel 和 PDF（社区“两委”）。"
    )
    async def export_evaluations(
        self,
        info: Info[Context, None],
        community_id: Annotated[strawberry.ID, strawberry.argument(description="社区的全局编号。")],
        period: Annotated[str, strawberry.argument(description="期间，例如 2026Q4 或 2026。")],
    ) -> list[EvaluationExport]:
        made = await exports.export(
            info.context,
            community_id=decode(community_id, "Community", field="communityId")[1],
            period=period,
        )
        return [EvaluationExport.from_view(v) for v in made]

    @strawberry.mutation(description="登记对方党组织已收到这份导出（只能登记一次，社区“两委”）。")
    async def acknowledge_evaluation_export(
        self,
        info: Info[Context, None],
        id: Annotated[strawberry.ID, _ID],
        note: Annotated[
            str | None, strawberry.argument(description="说明，例如“已电话确认收到”（最多 200 字）。")
        ] = None,
    ) -> EvaluationExport:
        view = await exports.acknowledge(info.context, export_id=decode(id, "EvaluationExport")[1], note=note)
        return EvaluationExport.from_view(view)


NODES: Nodes = {"EvaluationExport": node(EvaluationExport.from_view, lambda ctx, i: exports.view(ctx, i))}
