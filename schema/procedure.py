"""Rules of procedure (议事规则) and paper ballots as GraphQL types, inputs and mutations; the
fields they add to `Compound` and `Vote` are declared on those types."""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.types import Info

from models.procedure_rules import DISPUTED
from models.procedure_rules import Channel as ChannelEnum
from models.procedure_rules import DoubleVote as DoubleVoteEnum
from models.vote import PaperBallotStatus as PaperBallotStatusEnum
from models.vote_rules import Choice as ChoiceEnum
from resolvers import paper_ballots as paper_resolvers
from resolvers import procedure as procedure_resolvers
from resolvers.context import Context
from resolvers.ids import decode, encode
from resolvers.paper_ballots import BallotRecord as BallotRecordView
from resolvers.paper_ballots import PaperBallotView
from resolvers.procedure import ProcedureView
from schema import docs
from schema.photos import PHOTOS_ARGUMENT, Photo, photos_of
from schema.register import seen_person

if TYPE_CHECKING:
    from schema.person import Person
    from schema.vote import Vote

DoubleVoteRule = docs.enum(
    DoubleVoteEnum,
    "同一户既有网上投票又有书面表决票时，以哪一张为准。",
    {
        "LATEST": "以最后一次为准（书面票按收票时间）。",
        "PAPER": "以书面表决票为准，无论先后。",
        "ONLINE": "以网上投票为准，无论先后。",
    },
    name="DoubleVoteRule",
)
BallotChannel = docs.enum(
    ChannelEnum,
    "投票方式。",
    {"ONLINE": "小程序网上投票。", "PAPER": "书面表决票（两人录入、核对一致后计入）。"},
    name="BallotChannel",
)
PaperBallotStatus = docs.enum(
    PaperBallotStatusEnum,
    "书面表决票的录入状态。",
    {
        "PENDING": "已录入一次，等待另一位工作人员对照原件再录入一次。",
        "COUNTED": "两次录入一致，已计入。",
        "NOT_COUNTED": "两次录入一致，但按议事规则该户另有优先的投票，未计入。",
        "MISMATCH": "两次录入不一致，未计入：请核对原件后重新录入。",
    },
    name="PaperBallotStatus",
)


@strawberry.type(
    description="小区的业主大会议事规则（与表决有关的部分），按版本登记、不可修改；第 0 版为未登记时适用的法定默认。"
)
class ProcedureRules:
    _view: strawberry.Private[ProcedureView]
    version: int = strawberry.field(description="版本号；0 表示本小区尚未登记议事规则，按法律默认。")
    paper_ballots: bool = strawberry.field(description="是否接受书面表决票。")
    proxies: bool = strawberry.field(description="是否接受书面委托代为投票。")
    double_vote: DoubleVoteRule = strawberry.field(description="同一户网上和书面都投了票时以哪一张为准。")
    unreturned_with_majority: bool = strawberry.field(
        description="已送达但未表决的业主是否计入已表决的多数意见。" + DISPUTED
    )
    objection_days: int = strawberry.field(description="表决结果公示期（天）：期间业主可以对结果提出异议。")
    roll_days: int = strawberry.field(
        description="业主名册公示期（天）：先发布的表决至少公示这么多天才开始。"
    )
    announcement_required: bool = strawberry.field(
        description="是否每次表决都须先发布、公示业主名册（至少 rollDays 天）后才开始。"
    )
    legally_disputed: bool = strawberry.field(
        description="是否含有存在法律争议的规定（目前即“未表决计入多数意见”）；是则结果说明中会写明。"
    )
    adopted_at: datetime.datetime | None = strawberry.field(description="登记时间；第 0 版为空。")
    note: str | None = strawberry.field(description="来源说明：通过的会议和日期，或修改原因。")

    @classmethod
    def from_view(cls, view: ProcedureView) -> ProcedureRules:
        p = view.procedure
        return cls(
            _view=view,
            version=p.version,
            paper_ballots=p.paper_ballots,
            proxies=p.proxies,
            double_vote=p.double_vote,
            unreturned_with_majority=p.unreturned_with_majority,
            objection_days=p.objection_days,
            roll_days=p.roll_days,
            announcement_required=p.announcement_required,
            legally_disputed=p.unreturned_with_majority,
            adopted_at=view.adopted_at,
            note=view.note,
        )

    @strawberry.field(description="通过这一版议事规则的业主表决（如有）；无权查看时为空。")
    async def basis_vote(
        self, info: Info[Context, None]
    ) -> Annotated[Vote, strawberry.lazy("schema.vote")] | None:
        from resolvers import vote as vote_resolvers
        from schema.vote import Vote

        if self._view.basis_vote_id is None:
            return None
        row = await vote_resolvers.vote_loader(info.context).load(self._view.basis_vote_id)
        return Vote.from_row(row) if row else None


@strawberry.type(description="一张书面表决票的录入记录（只给录入和复核的工作人员看）：从不显示选择。")
class PaperBallot:
    _view: strawberry.Private[PaperBallotView]
    id: strawberry.ID = strawberry.field(description="这张书面票的编号（复核时使用）。")
    household: str = strawberry.field(description="户号。")
    status: PaperBallotStatus = strawberry.field(description="录入状态。")
    signer_name: str | None = strawberry.field(
        description="该户没有登记业主时，选票上的签名；签署人是登记业主时为空（见 signer）。"
    )
    received_at: datetime.datetime = strawberry.field(description="收票时间。")
    entered_at: datetime.datetime = strawberry.field(description="第一次录入的时间。")
    confirmed_at: datetime.datetime | None = strawberry.field(description="复核时间；待复核时为空。")
    note: str | None = strawberry.field(
        description="未计入的原因（两次录入不一致，或议事规则另有优先的投票）。"
    )

    @classmethod
    def from_view(cls, view: PaperBallotView) -> PaperBallot:
        return cls(
            _view=view,
            id=strawberry.ID(encode("PaperBallot", view.id)),
            household=view.number,
            status=view.status,
            signer_name=view.signer_name,
            received_at=view.received_at,
            entered_at=view.entered_at,
            confirmed_at=view.confirmed_at,
            note=view.note,
        )

    @strawberry.field(description="签署选票的业主（按您的权限显示姓名）。")
    async def signer(
        self, info: Info[Context, None]
    ) -> Annotated[Person, strawberry.lazy("schema.person")] | None:
        return None if self._view.signer_id is None else await seen_person(info, self._view.signer_id)

    @strawberry.field(description="第一次录入的人。")
    async def entered_by(
        self, info: Info[Context, None]
    ) -> Annotated[Person, strawberry.lazy("schema.person")] | None:
        return await seen_person(info, self._view.entered_by)

    @strawberry.field(description="复核（第二次录入）的人；待复核时为空。")
    async def confirmed_by(
        self, info: Info[Context, None]
    ) -> Annotated[Person, strawberry.lazy("schema.person")] | None:
        return None if self._view.confirmed_by is None else await seen_person(info, self._view.confirmed_by)

    @strawberry.field(
        description="选票的照片或扫描件：只在待复核或录入不一致、需要对照时给出；计入或不计入后不再显示（选票上有选择）。"
    )
    async def photos(self, info: Info[Context, None]) -> list[Photo]:
        from models.photos import AttachedTo

        if self._view.status not in (PaperBallotStatusEnum.PENDING, PaperBallotStatusEnum.MISMATCH):
            return []
        return await photos_of(info, AttachedTo.PAPER_BALLOT, self._view.id)


@strawberry.type(description="一户在本次表决中的一次投票：方式、时间、是否为当前计入的那一票。")
class BallotRecord:
    channel: BallotChannel = strawberry.field(description="投票方式。")
    cast_at: datetime.datetime | None = strawberry.field(
        description="投票时间（书面票为收票时间）；工作人员看不到网上投票的时间（与实时计票对照即可推出选择）。"
    )
    counted: bool = strawberry.field(description="是否为该户当前（或最终）计入的那一票。")
    choice: ChoiceEnum | None = strawberry.field(description="选择：只有该户自己的业主能看到。")
    note: str | None = strawberry.field(description="未计入的原因。")
    by_proxy: bool = strawberry.field(description="是否由代理人凭业主的书面委托代为投票。")

    @classmethod
    def from_view(cls, view: BallotRecordView) -> BallotRecord:
        return cls(
            channel=view.channel,
            cast_at=view.cast_at,
            counted=view.counted,
            choice=view.choice,
            note=view.note,
            by_proxy=view.by_proxy,
        )


@strawberry.input(description="登记新一版议事规则（与表决有关的部分）。已发起的表决仍按发起时的版本。")
class AdoptProcedureRulesInput:
    compound_id: strawberry.ID = strawberry.field(description="小区的全局编号。")
    paper_ballots: bool = strawberry.field(default=True, description="是否接受书面表决票。")
    proxies: bool = strawberry.field(default=True, description="是否接受书面委托代为投票。")
    double_vote: DoubleVoteRule = strawberry.field(
        default=DoubleVoteEnum.LATEST, description="同一户网上和书面都投了票时以哪一张为准。"
    )
    unreturned_with_majority: bool = strawberry.field(
        default=False,
        description="已送达但未表决的业主是否计入多数意见（存在法律争议；选是时须在 note 写明通过的会议和日期）。",
    )
    objection_days: int = strawberry.field(default=7, description="表决结果公示期（天），1 到 60。")
    roll_days: int = strawberry.field(default=7, description="业主名册公示期（天），1 到 60。")
    announcement_required: bool = strawberry.field(
        default=False,
        description="是否每次表决都须先发布、公示业主名册至少 rollDays 天后才开始（否则也可立即开始）。",
    )
    basis_vote_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="通过这一版议事规则的业主表决（须是本小区已通过、尚未用于其他版本的议事规则表决）。"
        "本小区已登记过议事规则时必填；首次登记此前通过的规则时可不填，但须在 note 写明通过的会议和日期。",
    )
    note: str | None = strawberry.field(default=None, description="来源说明（最多 500 字）。")


@strawberry.input(description="录入一张书面表决票（第一次录入）。")
class EnterPaperBallotInput:
    vote_id: strawberry.ID = strawberry.field(description="表决的全局编号。")
    household_id: strawberry.ID = strawberry.field(description="选票所属住户的全局编号。")
    choice: ChoiceEnum = strawberry.field(description="选票上的选择。")
    signer_id: strawberry.ID | None = strawberry.field(
        default=None, description="签署选票的业主（须是该户在表决发起时登记的业主）。"
    )
    signer_name: str | None = strawberry.field(
        default=None, description="该户在表决发起时没有登记业主时，选票上的签名（最多 50 字）。"
    )
    received_at: datetime.datetime | None = strawberry.field(
        default=None, description="收票时间，须带时区；不填为现在。"
    )
    photos: list[str] = strawberry.field(description="选票的照片或扫描件（至少 1 张）。" + PHOTOS_ARGUMENT)


@strawberry.input(
    description="复核一张书面表决票：由另一位工作人员对照原件再录入一次（看不到第一次录入的选择）。"
)
class ConfirmPaperBallotInput:
    paper_ballot_id: strawberry.ID = strawberry.field(description="书面票的编号。")
    choice: ChoiceEnum = strawberry.field(description="选票上的选择。")
    signer_id: strawberry.ID | None = strawberry.field(default=None, description="签署选票的业主。")
    signer_name: str | None = strawberry.field(default=None, description="没有登记业主时，选票上的签名。")
    received_at: datetime.datetime | None = strawberry.field(
        default=None,
        description="收票时间：第一次录入写了的，须写同一时间（相差一分钟以内）；第一次没写的不写。",
    )


def _person(value: strawberry.ID | None, field: str) -> object:
    return None if value is None else decode(value, "Person", field=field)[1]


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description="登记本小区新一版议事规则（业委会成员、社区“两委”成员）：是否接受书面票和委托、网上与书面重复投票以哪张为准、未表决是否计入多数、"
        "表决是否须先公示名册。首次登记写明来源即可，此后每一版须以通过的议事规则表决为依据。"
    )
    async def adopt_procedure_rules(
        self,
        info: Info[Context, None],
        input: Annotated[AdoptProcedureRulesInput, strawberry.argument(description="新一版议事规则。")],
    ) -> ProcedureRules:
        view = await procedure_resolvers.adopt(
            info.context,
            compound_id=decode(input.compound_id, "Compound", field="compoundId")[1],
            paper_ballots=input.paper_ballots,
            proxies=input.proxies,
            double_vote=DoubleVoteEnum(input.double_vote),
            unreturned_with_majority=input.unreturned_with_majority,
            basis_vote_id=None
            if input.basis_vote_id is None
            else decode(input.basis_vote_id, "Vote", field="basisVoteId")[1],
            note=input.note,
            objection_days=input.objection_days,
            roll_days=input.roll_days,
            announcement_required=input.announcement_required,
        )
        return ProcedureRules.from_view(view)

    @strawberry.mutation(
        description="录入一张书面表决票（业委会成员、社区“两委”成员），附选票照片；须由另一位工作人员复核一致后才计入。"
    )
    async def enter_paper_ballot(
        self,
        info: Info[Context, None],
        input: Annotated[EnterPaperBallotInput, strawberry.argument(description="书面表决票。")],
    ) -> PaperBallot:
        view = await paper_resolvers.enter(
            info.context,
            vote_id=decode(input.vote_id, "Vote", field="voteId")[1],
            household_id=decode(input.household_id, "Household", field="householdId")[1],
            choice=ChoiceEnum(input.choice),
            signer_id=_person(input.signer_id, "signerId"),  # type: ignore[arg-type]
            signer_name=input.signer_name,
            received_at=input.received_at,
            photo_refs=input.photos,
        )
        return PaperBallot.from_view(view)

    @strawberry.mutation(
        description="复核一张书面表决票：另一位工作人员对照原件再录入一次；一致则计入（或按议事规则不计入），不一致则记为不一致、不计入。"
    )
    async def confirm_paper_ballot(
        self,
        info: Info[Context, None],
        input: Annotated[ConfirmPaperBallotInput, strawberry.argument(description="对照原件的第二次录入。")],
    ) -> PaperBallot:
        view = await paper_resolvers.confirm(
            info.context,
            paper_ballot_id=decode(input.paper_ballot_id, "PaperBallot", field="paperBallotId")[1],
            choice=ChoiceEnum(input.choice),
            signer_id=_person(input.signer_id, "signerId"),  # type: ignore[arg-type]
            signer_name=input.signer_name,
            received_at=input.received_at,
        )
        return PaperBallot.from_view(view)
