"""Evaluations of Party members (评价鉴定) as GraphQL: drafted by the chief convener, confirmed by the
community committee, read by the member."""

from __future__ import annotations

import datetime
import uuid
from decimal import Decimal
from typing import Annotated

import strawberry
from strawberry.types import Info

from models.errors import ForbiddenError
from models.evaluation import EvaluationStatus as EvaluationStatusEnum
from models.evaluation import Grade as GradeEnum
from models.evaluation import PeriodKind as PeriodKindEnum
from resolvers import evaluation as evaluations
from resolvers.context import Context
from resolvers.evaluation import EvaluationView
from resolvers.ids import decode, encode
from schema import docs
from schema.person import Person
from schema.place import AFTER, FIRST
from schema.register import seen_person
from schema.relay import Connection, Node, Nodes, node

EvaluationGrade = docs.enum(
    GradeEnum,
    "评价等次。",
    {"EXCELLENT": "优秀", "QUALIFIED": "合格", "BASICALLY_QUALIFIED": "基本合格", "UNQUALIFIED": "不合格"},
    name="EvaluationGrade",
)
EvaluationStatus = docs.enum(
    EvaluationStatusEnum,
    "评价的状态：草稿 → 已确认；更正是新版本，确认后原版本为已取代。",
    {
        "DRAFT": "草稿：总召集人起草，可修改。",
        "CONFIRMED": "社区“两委”已确认，不再改变。",
        "SUPERSEDED": "已被确认的新版本取代（原版本保留）。",
    },
    name="EvaluationStatus",
)
EvaluationPeriod = docs.enum(
    PeriodKindEnum,
    "社区评价党员的周期。",
    {"QUARTER": "按季度（期间写作 2026Q4）。", "YEAR": "按年度（期间写作 2026）。"},
    name="EvaluationPeriod",
)
_FIRST = Annotated[int | None, strawberry.argument(description=FIRST)]
_AFTER = Annotated[str | None, strawberry.argument(description=AFTER)]
_ID = strawberry.argument(description="评价的全局编号。")


@strawberry.type(
    description="一位党员某一期间的评价鉴定（敏感信息）：党员本人和所在社区“两委”可见，总召集人可见自己起草中的草稿。"
)
class PartyEvaluation(Node):
    _view: strawberry.Private[EvaluationView]
    period: str = strawberry.field(description="期间，例如 2026Q4 或 2026。")
    starts_on: datetime.date = strawberry.field(description="期间的第一天。")
    ends_on: datetime.date = strawberry.field(description="期间结束后的第一天。")
    compound_name: str = strawberry.field(description="党员报到的小区。")
    version: int = strawberry.field(description="版本：更正一次加一。")
    status: EvaluationStatus = strawberry.field(description="草稿、已确认或已取代。")
    grade: EvaluationGrade = strawberry.field(description="等次。")
    comment: str = strawberry.field(description="评语。")
    hours: Decimal = strawberry.field(description="期间内志愿服务时长（小时），取自参与记录。")
    meetings: int = strawberry.field(description="期间内出席专题会议次数。")
    shifts: int = strawberry.field(description="期间内志愿服务次数。")
    tasks: int = strawberry.field(description="期间内办结事项数。")
    disputes: int = strawberry.field(description="期间内调解纠纷数。")
    positions: int = strawberry.field(description="期间内担任小区班子职务的期数（每季度或每年计一期）。")
    points: Decimal = strawberry.field(description="期间内积分。")
    drafted_at: datetime.datetime = strawberry.field(
        description="最后起草（修改）的时间；合计取自这一刻的参与记录。"
    )
    confirmed_at: datetime.datetime | None = strawberry.field(description="确认时间。")

    @classmethod
    def from_view(cls, view: EvaluationView) -> PartyEvaluation:
        return cls(
            _view=view,
            id=strawberry.ID(encode("PartyEvaluation", view.id)),
            period=view.period,
            starts_on=view.starts_on,
            ends_on=view.ends_on,
            compound_name=view.compound_name,
            version=view.version,
            status=view.status,
            grade=view.grade,
            comment=view.comment,
            hours=view.hours,
            meetings=view.meetings,
            shifts=view.shifts,
            tasks=view.tasks,
            disputes=view.disputes,
            positions=view.positions,
            points=view.points,
            drafted_at=view.drafted_at,
            confirmed_at=view.confirmed_at,
        )

    @strawberry.field(description="被评价的党员。")
    async def person(self, info: Info[Context, None]) -> Person | None:
        return await seen_person(info, self._view.person_id)

    @strawberry.field(description="这一版本更正的原版本（您无权查看时为空）。")
    async def supersedes(self, info: Info[Context, None]) -> PartyEvaluation | None:
        if self._view.supersedes_id is None:
            return None
        try:
            return PartyEvaluation.from_view(await evaluations.view(info.context, self._view.supersedes_id))
        except ForbiddenError:  # the chief convener reads drafts only
            return None


@strawberry.input(description="起草（或修改草稿）一位党员某一期间的评价。")
class DraftEvaluationInput:
    person_id: strawberry.ID = strawberry.field(description="党员的全局编号。")
    period: str = strawberry.field(description="期间：按季度评价的社区写 2026Q4，按年度的写 2026。")
    grade: EvaluationGrade = strawberry.field(description="等次。")
    comment: str = strawberry.field(description="评语（最多 500 字）。")


@strawberry.type
class Query:
    @strawberry.field(
        description="一个小区党员的评价（可按期间、状态筛选），按起草先后：总召集人（草稿）、社区“两委”。"
    )
    async def party_evaluations(
        self,
        info: Info[Context, None],
        compound_id: Annotated[strawberry.ID, strawberry.argument(description="小区的全局编号。")],
        period: Annotated[
            str | None, strawberry.argument(description="只列这一期间的，例如 2026Q4。")
        ] = None,
        status: Annotated[
            EvaluationStatus | None, strawberry.argument(description="只列这种状态的。")
        ] = None,
        first: _FIRST = 20,
        after: _AFTER = None,
    ) -> Connection[PartyEvaluation]:
        page = await evaluations.of_compound(
            info.context,
            compound_id=decode(compound_id, "Compound", field="compoundId")[1],
            period=period,
            status=EvaluationStatusEnum(status) if status is not None else None,
            first=first,
            after=after,
        )
        return Connection.from_page(page, PartyEvaluation.from_view)


@strawberry.type
class Mutation:
    @strawberry.mutation(description="设定本社区评价党员的周期：按季度或按年度（社区“两委”）。")
    async def set_evaluation_period(
        self,
        info: Info[Context, None],
        community_id: Annotated[strawberry.ID, strawberry.argument(description="社区的全局编号。")],
        period: Annotated[EvaluationPeriod, strawberry.argument(description="周期。")],
    ) -> EvaluationPeriod:
        return await evaluations.set_period(
            info.context,
            community_id=decode(community_id, "Community", field="communityId")[1],
            kind=PeriodKindEnum(period),
        )

    @strawberry.mutation(
        description="起草（或修改草稿）党员评价：合计取自参与记录；已确认的评价请用 reviseEvaluation（总召集人、社区“两委”）。"
    )
    async def draft_evaluation(
        self,
        info: Info[Context, None],
        input: Annotated[DraftEvaluationInput, strawberry.argument(description="评价的内容。")],
    ) -> PartyEvaluation:
        view = await evaluations.draft(
            info.context,
            person_id=decode(input.person_id, "Person", field="personId")[1],
            period=input.period,
            grade=GradeEnum(input.grade),
            comment=input.comment,
        )
        return PartyEvaluation.from_view(view)

    @strawberry.mutation(description="更正已确认的评价：起草一个新版本，确认后取代原版本，两者都保留。")
    async def revise_evaluation(
        self,
        info: Info[Context, None],
        id: Annotated[strawberry.ID, _ID],
        grade: Annotated[EvaluationGrade, strawberry.argument(description="等次。")],
        comment: Annotated[str, strawberry.argument(description="评语（最多 500 字）。")],
    ) -> PartyEvaluation:
        view = await evaluations.revise(
            info.context, evaluation_id=_evaluation_id(id), grade=GradeEnum(grade), comment=comment
        )
        return PartyEvaluation.from_view(view)

    @strawberry.mutation(description="确认评价：此后不再改变（社区“两委”）。")
    async def confirm_evaluation(
        self, info: Info[Context, None], id: Annotated[strawberry.ID, _ID]
    ) -> PartyEvaluation:
        return PartyEvaluation.from_view(
            await evaluations.confirm(info.context, evaluation_id=_evaluation_id(id))
        )


def _evaluation_id(value: str) -> uuid.UUID:
    return decode(value, "PartyEvaluation")[1]


NODES: Nodes = {"PartyEvaluation": node(PartyEvaluation.from_view, lambda ctx, i: evaluations.view(ctx, i))}
