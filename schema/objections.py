"""Objections to a published result (公示) as GraphQL types and mutations; a vote's decision, kind
and objections are fields of `Vote`."""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.types import Info

from models.photos import AttachedTo
from models.vote import VoteObjection as ObjectionRow
from models.vote_rules import Decision as DecisionEnum
from models.vote_rules import ObjectionStage as ObjectionStageEnum
from models.vote_rules import RollIssue as RollIssueEnum
from models.vote_rules import VoteKind as VoteKindEnum
from resolvers import objections as objection_resolvers
from resolvers.context import Context
from resolvers.ids import decode, encode
from resolvers.roll import RollEntry as RollEntryView
from resolvers.works import ConsentView
from schema import docs
from schema.photos import PHOTOS_ARGUMENT, Photo, photos_of
from schema.register import seen_person

if TYPE_CHECKING:
    from schema.person import Person

VoteKind = docs.enum(
    VoteKindEnum,
    "表决的种类。",
    {
        "ASSEMBLY": "业主共同决定事项（民法典第二百七十八条）。",
        "WORKS": "单元或楼栋内的工程（加装电梯、充电桩等）：除表决通过外，直接受影响的住户须逐户明确同意，"
        "且结果公示期结束时没有未解决的异议，决定才生效。",
    },
    name="VoteKind",
)
VoteDecision = docs.enum(
    DecisionEnum,
    "表决结束后决定的状态。",
    {
        "OBJECTION_WINDOW": "结果公示中：业主可以提出异议。",
        "FINAL": "公示期已结束，决定成立（对业主共同决定的异议须答复，但不中止决定）。",
        "NOT_EFFECTIVE": "工程表决：公示期结束时仍有未解决的异议，决定未生效。",
    },
    name="VoteDecision",
)


ObjectionStage = docs.enum(
    ObjectionStageEnum,
    "异议针对的阶段。",
    {"ROLL": "表决开始前对业主名册中自己住户信息的异议。", "RESULT": "表决结束后对公布结果的异议。"},
    name="ObjectionStage",
)
RollIssue = docs.enum(
    RollIssueEnum,
    "名册中自己住户信息的问题。",
    {
        "WRONG_AREA": "面积有误。",
        "MISSING_CO_OWNER": "缺少共有人。",
        "SOLD": "房屋已出售，业主已变更。",
        "OTHER": "其他。",
    },
    name="RollIssue",
)


@strawberry.type(description="业主名册中的一户（公示用）：户号、面积、业主（姓名隐去部分）。")
class RollEntry:
    number: str = strawberry.field(description="户号。")
    area: Decimal = strawberry.field(description="面积（平方米）。")
    owners: list[str] = strawberry.field(description="业主姓名（隐去部分）；没有登记业主时为空列表。")

    @classmethod
    def from_view(cls, view: RollEntryView) -> RollEntry:
        return cls(number=view.number, area=Decimal(view.area).quantize(Decimal("0.01")), owners=view.owners)


@strawberry.type(description="业主的一条异议（对业主名册或对表决结果），及业委会或社区“两委”的答复。")
class VoteObjection:
    _row: strawberry.Private[ObjectionRow]
    id: strawberry.ID = strawberry.field(description="异议的编号（答复时使用）。")
    stage: ObjectionStage = strawberry.field(description="针对名册还是结果。")
    issue: RollIssue | None = strawberry.field(description="名册异议：问题的种类；结果异议为空。")
    text: str = strawberry.field(description="异议的内容。")
    raised_at: datetime.datetime = strawberry.field(description="提出时间。")
    answer: str | None = strawberry.field(description="答复；尚未答复时为空。")
    answered_at: datetime.datetime | None = strawberry.field(description="答复时间。")
    settled: bool = strawberry.field(description="是否已解决（撤回、协商一致，或说明理由后驳回）。")

    @classmethod
    def from_row(cls, row: ObjectionRow) -> VoteObjection:
        return cls(
            _row=row,
            id=strawberry.ID(encode("VoteObjection", row.id)),
            stage=ObjectionStageEnum(row.stage),
            issue=RollIssueEnum(row.issue) if row.issue else None,
            text=row.text,
            raised_at=row.raised_at,
            answer=row.answer,
            answered_at=row.answered_at,
            settled=row.settled_at is not None,
        )

    @strawberry.field(description="名册异议所针对的住户（户号）；结果异议为空。")
    async def household(self, info: Info[Context, None]) -> str | None:
        if self._row.household_id is None:
            return None
        return await objection_resolvers.household_number(info.context, self._row.household_id)

    @strawberry.field(description="证明材料的照片。")
    async def photos(self, info: Info[Context, None]) -> list[Photo]:
        return await photos_of(info, AttachedTo.VOTE_OBJECTION, self._row.id)

    @strawberry.field(description="提出异议的业主（按您的权限显示姓名）。")
    async def raised_by(
        self, info: Info[Context, None]
    ) -> Annotated[Person, strawberry.lazy("schema.person")] | None:
        return await seen_person(info, self._row.raised_by)


@strawberry.type(
    description="工程表决中一户直接受影响住户的同意书（公开签署，与表决票无关；以最后一次为准）。"
)
class WorksConsent:
    household: str = strawberry.field(description="户号。")
    agree: bool = strawberry.field(description="同意（true）或不同意（false）。")
    given_at: datetime.datetime = strawberry.field(description="登记时间。")

    @classmethod
    def from_view(cls, view: ConsentView) -> WorksConsent:
        return cls(household=view.number, agree=view.agree, given_at=view.given_at)


@strawberry.input(description="登记一户直接受影响住户对工程的同意（或不同意）。")
class WorksConsentInput:
    vote_id: strawberry.ID = strawberry.field(description="工程表决的全局编号。")
    household_id: strawberry.ID = strawberry.field(description="直接受影响的住户。")
    agree: bool = strawberry.field(description="同意（true）或不同意（false）。")
    photos: list[str] | None = strawberry.field(
        default=None, description="业主签字的同意书照片：业委会或社区“两委”代为登记时必填。" + PHOTOS_ARGUMENT
    )


@strawberry.input(description="对业主名册中自己住户的信息提出异议（名册公示期内）。")
class ObjectToRollInput:
    vote_id: strawberry.ID = strawberry.field(description="表决的全局编号。")
    household_id: strawberry.ID = strawberry.field(description="您名下、在表决范围内的住户。")
    issue: RollIssue = strawberry.field(description="问题的种类。")
    text: str = strawberry.field(description="说明（最多 1000 字）。")
    photos: list[str] | None = strawberry.field(
        default=None, description="证明材料（可选）。" + PHOTOS_ARGUMENT
    )


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description="工程表决：直接受影响的住户明确表示同意或不同意（该户业主本人，或业委会、社区“两委”凭签字同意书代为登记）；"
        "与表决票分开、公开登记，表决结束时以每户最后一次为准。"
    )
    async def record_works_consent(
        self,
        info: Info[Context, None],
        input: Annotated[WorksConsentInput, strawberry.argument(description="同意书。")],
    ) -> WorksConsent:
        from resolvers import works

        view = await works.record(
            info.context,
            vote_id=decode(input.vote_id, "Vote", field="voteId")[1],
            household_id=decode(input.household_id, "Household", field="householdId")[1],
            agree=input.agree,
            photo_refs=input.photos or [],
        )
        return WorksConsent.from_view(view)

    @strawberry.mutation(
        description="对业主名册中自己住户的信息提出异议（面积有误、缺少共有人、已出售等），附证明材料；"
        "业委会或社区“两委”更正登记后答复，所有名册异议解决后表决才开始。"
    )
    async def object_to_roll(
        self,
        info: Info[Context, None],
        input: Annotated[ObjectToRollInput, strawberry.argument(description="名册异议。")],
    ) -> VoteObjection:
        from resolvers import roll as roll_resolvers

        row = await roll_resolvers.object_to_entry(
            info.context,
            vote_id=decode(input.vote_id, "Vote", field="voteId")[1],
            household_id=decode(input.household_id, "Household", field="householdId")[1],
            issue=RollIssueEnum(input.issue),
            text=input.text,
            photo_refs=input.photos or [],
        )
        return VoteObjection.from_row(row)

    @strawberry.mutation(description="对已公布的表决结果提出异议（表决范围内住户的业主，在结果公示期内）。")
    async def object_to_result(
        self,
        info: Info[Context, None],
        vote_id: Annotated[strawberry.ID, strawberry.argument(description="表决的全局编号。")],
        text: Annotated[str, strawberry.argument(description="异议的内容（最多 1000 字）。")],
    ) -> VoteObjection:
        row = await objection_resolvers.raise_objection(
            info.context, vote_id=decode(vote_id, "Vote", field="voteId")[1], text=text
        )
        return VoteObjection.from_row(row)

    @strawberry.mutation(
        description="答复业主对表决结果的异议（业委会成员、社区“两委”成员），并说明是否已解决；未解决的可以再次答复。"
    )
    async def answer_objection(
        self,
        info: Info[Context, None],
        id: Annotated[strawberry.ID, strawberry.argument(description="异议的编号。")],
        answer: Annotated[
            str, strawberry.argument(description="答复（最多 1000 字），提出异议的业主会看到。")
        ],
        settled: Annotated[bool, strawberry.argument(description="异议是否已解决。")],
    ) -> VoteObjection:
        row = await objection_resolvers.answer(
            info.context, objection_id=decode(id, "VoteObjection")[1], text=answer, settled=settled
        )
        return VoteObjection.from_row(row)
