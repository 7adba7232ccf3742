"""Owner votes as GraphQL types, inputs and enums (names from API.md)."""

from __future__ import annotations

import datetime
from collections.abc import AsyncGenerator
from dataclasses import fields
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any

import sqlalchemy as sa
import strawberry
from graphql import FieldNode
from strawberry.types import Info

from auth.policy import Action, Resource, require_authenticated, where
from models.errors import UpstreamError
from models.task import Task as TaskRow
from models.vote import PaperBallotStatus as PaperBallotStatusEnum
from models.vote import Vote as VoteRow
from models.vote import VoteElector
from models.vote import VoteTally as VoteTallyRow
from models.vote_rules import APPROVAL, PARTICIPATION, TALLY_MEASURES, Threshold
from models.vote_rules import Choice as ChoiceEnum
from models.vote_rules import Tally as TallyRule
from models.vote_rules import VoteKind as VoteKindEnum
from models.vote_rules import VoteMatter as VoteMatterEnum
from models.vote_rules import VoteResult as VoteResultEnum
from models.vote_rules import VoteRule as VoteRuleEnum
from models.vote_rules import VoteStatus as VoteStatusEnum
from resolvers import objections as objection_resolvers
from resolvers import paper_ballots as paper_resolvers
from resolvers import procedure as procedure_resolvers
from resolvers import task as task_resolvers
from resolvers import vote as vote_resolvers
from resolvers.context import Context
from resolvers.ids import decode, encode
from resolvers.vote import CastResult, ElectorView, ReceiptCheck, TallyView
from schema import compiler, docs
from schema.relay import Connection, Node, Nodes, node

if TYPE_CHECKING:
    from schema.objections import RollEntry, VoteDecision, VoteKind, VoteObjection, WorksConsent
    from schema.procedure import BallotRecord, PaperBallot, PaperBallotStatus, ProcedureRules
    from schema.task import Task

_PROCEDURE = strawberry.lazy("schema.procedure")
_OBJECTIONS = strawberry.lazy("schema.objections")

VoteMatter = docs.enum(
    VoteMatterEnum,
    "表决事项：民法典第二百七十八条第一款第一至九项，或其他。",
    {
        "RULES_OF_PROCEDURE": "（一）制定和修改业主大会议事规则。",
        "MANAGEMENT_STATUTE": "（二）制定和修改管理规约。",
        "ELECT_OWNERS_COMMITTEE": "（三）选举业主委员会或者更换业主委员会成员。",
        "HIRE_OR_FIRE_PROPERTY_SERVICE": "（四）选聘和解聘物业服务企业或者其他管理人。",
        "USE_MAINTENANCE_FUND": "（五）使用建筑物及其附属设施的维修资金（过半数）。",
        "RAISE_MAINTENANCE_FUND": "（六）筹集建筑物及其附属设施的维修资金（四分之三）。",
        "RENOVATE_OR_REBUILD": "（七）改建、重建建筑物及其附属设施（四分之三）。",
        "CHANGE_USE_OF_COMMON_PARTS": "（八）改变共有部分的用途或者利用共有部分从事经营活动（四分之三）。",
        "OTHER_MAJOR_MATTER": "（九）有关共有和共同管理权利的其他重大事项。",
        "OTHER": "其他事项。",
    },
)
VoteRule = docs.enum(
    VoteRuleEnum,
    "通过规则（均按专有部分面积和业主人数双重计算）。",
    {"ORDINARY": "过半数同意（恰好一半不通过）。", "SPECIAL": "四分之三以上同意（恰好四分之三通过）。"},
)
VoteResult = docs.enum(
    VoteResultEnum,
    "表决结果。",
    {"PASSED": "通过。", "REJECTED": "未通过。", "INVALID": "参与表决的面积或人数不足三分之二，表决无效。"},
)
Choice = docs.enum(
    ChoiceEnum, "投票选择。", {"AGREE": "同意。", "DISAGREE": "反对。", "ABSTAIN": "弃权（计入参与）。"}
)
VoteStatus = docs.enum(
    VoteStatusEnum,
    "表决状态。",
    {
        "ANNOUNCED": "已发布、尚未开始：业主名册公示中，业主可核对自己的信息；名册异议都解决后于开始时间开始。",
        "OPEN": "进行中。",
        "CLOSED": "已结束，结果不可更改。",
        "CANCELLED": "已撤销：没有结果，已投的票保留。",
    },
    name="VoteStatus",
)


def _area(value: Decimal) -> Decimal:
    return Decimal(value).quantize(Decimal("0.01"))


def _tally_type() -> Any:
    """The GraphQL `Tally`: a field per measure of `models.vote_rules.Tally` (its one definition),
    with that field's description, and the thresholds as the law reads them."""
    annotations: dict[str, Any] = {}
    namespace: dict[str, Any] = {"__annotations__": annotations, "__module__": __name__}
    for measure in fields(TallyRule):
        annotations[measure.name] = TALLY_MEASURES[measure.name]
        namespace[measure.name] = strawberry.field(description=measure.metadata["description"])
    annotations |= {"participation_met": bool, "approval_met": bool, "ballots_cast": int}
    namespace["participation_met"] = strawberry.field(description="参与表决的面积和人数是否都达到三分之二。")
    namespace["approval_met"] = strawberry.field(description="按本表决的规则，同意票是否已达到通过所需。")
    namespace["ballots_cast"] = strawberry.field(description="已收到的投票次数（含改票）。")
    return strawberry.type(
        type("Tally", (), namespace),
        description="计票：按专有部分面积和业主人数分别统计；两项门槛都满足才算满足。面积为两位小数的字符串。",
    )


Tally = _tally_type()


def tally_of(view: TallyView) -> Any:
    t = view.tally
    measures = {
        name: _area(getattr(t, name)) if kind is Decimal else getattr(t, name)
        for name, kind in TALLY_MEASURES.items()
    }
    return Tally(
        **measures,
        participation_met=t.participation_met,
        approval_met=t.approval_met(view.rule),
        ballots_cast=view.ballots_cast,
    )


@strawberry.type(description="我名下一户在本次表决中的状态。")
class MyHouseholdVote:
    number: str = strawberry.field(description="户号。")
    area: Decimal = strawberry.field(description="面积（平方米）。")
    choice: Choice | None = strawberry.field(description="当前计入的选择；尚未投票时为空。")


@strawberry.type(description="表决范围内的一户（冻结于发起表决时）：门牌号、面积、人数分组，不含姓名。")
class Elector:
    number: str = strawberry.field(description="户号。")
    area: Decimal = strawberry.field(description="面积（平方米）。")
    head_group: int = strawberry.field(
        description="人数分组编号（本次表决内）：业主完全相同的各户属于同一组，只算一人。"
    )

    @classmethod
    def from_row(cls, row: ElectorView) -> Elector:
        return cls(number=row.number, area=_area(row.area), head_group=row.group)


@strawberry.type(description="尚未投票的一户，供上门动员；从不显示任何一户的选择。")
class PendingHousehold:
    number: str = strawberry.field(description="户号。")
    area: Decimal = strawberry.field(description="面积（平方米）。")

    @classmethod
    def from_row(cls, row: VoteElector) -> PendingHousehold:
        return cls(number=row.number, area=_area(row.area))


FIRST = "每页数量，最多 100。"
AFTER = "从这个游标之后开始（上一页的 `pageInfo.endCursor`）。"


@strawberry.type(description="业主表决（民法典第二百七十八条：面积和人数双重计算）。")
class Vote(Node):
    _row: strawberry.Private[VoteRow]
    title: str = strawberry.field(description="标题。")
    description: str = strawberry.field(description="说明。")
    matter: VoteMatter = strawberry.field(description="表决事项（决定法定的通过规则）。")
    rule: VoteRule = strawberry.field(description="通过规则：事项要求的，或发起人要求的更严格规则。")
    status: VoteStatus = strawberry.field(description="状态。")
    closes_at: datetime.datetime = strawberry.field(description="截止时间。")
    created_at: datetime.datetime = strawberry.field(description="发起时间。")
    closed_at: datetime.datetime | None = strawberry.field(description="结束时间。")
    result: VoteResult | None = strawberry.field(description="结果；进行中时为空。")
    digest: str | None = strawberry.field(description="结束时公布的默克尔根，凭回执可核验自己的票被计入。")
    whole_compound: bool = strawberry.field(description="是否为全小区表决（否则为所选楼栋）。")
    cancelled_at: datetime.datetime | None = strawberry.field(description="撤销时间；未撤销时为空。")
    cancel_reason: str | None = strawberry.field(description="公布的撤销理由（有业主投票后撤销必须填写）。")

    @classmethod
    def from_row(cls, row: VoteRow) -> Vote:
        return cls(
            _row=row,
            id=strawberry.ID(encode("Vote", row.id)),
            title=row.title,
            description=row.description,
            matter=VoteMatterEnum(row.matter),
            rule=VoteRuleEnum(row.rule),
            status=VoteStatusEnum(row.status),
            closes_at=row.closes_at,
            created_at=row.created_at,
            closed_at=row.closed_at,
            result=VoteResultEnum(row.result) if row.result else None,
            digest=row.digest,
            whole_compound=not row.building_ids,
            cancelled_at=row.cancelled_at,
            cancel_reason=row.cancel_reason,
        )

    @strawberry.field(description="关联的事项（例如加装电梯项目）；无权查看时为空。")
    async def task(self, info: Info[Context, None]) -> Annotated[Task, strawberry.lazy("schema.task")] | None:
        from schema.task import Task

        if self._row.task_id is None:
            return None
        row = await task_resolvers.task_loader(info.context).load(self._row.task_id)
        return Task.from_row(row) if row else None

    @strawberry.field(description="实时计票（结束后为最终计票）。")
    async def tally(self, info: Info[Context, None]) -> Tally:
        return tally_of(await vote_resolvers.tally(info.context, self._row))

    @strawberry.field(
        description="结果说明（公示用）：参与表决和同意的面积、人数各占多少，是否达到民法典第二百七十八条规定的比例，以及结论；撤销的表决说明撤销理由；进行中为空。"
    )
    async def result_explanation(self, info: Info[Context, None]) -> str | None:
        return await vote_resolvers.result_text(info.context, self._row)

    @strawberry.field(
        description="表决记录 PDF 的下载路径（GET，带同样的 Authorization）：表决结束或撤销后，给业委会成员和社区“两委”成员；"
        "记录不显示任何一户的选择。其他人为空。"
    )
    async def record_path(self, info: Info[Context, None]) -> str | None:
        from resolvers import vote_record
        from resolvers.place import granted

        if self._row.status == VoteStatusEnum.OPEN:
            return None
        if not await granted(info.context, Resource.VOTE, Action.EXPORT, VoteRow).load(self._row.id):
            return None
        return vote_record.DOWNLOAD.format(id=encode("Vote", self._row.id))

    @strawberry.field(description="表决的种类：业主共同决定事项，或单元、楼栋内的工程。")
    def kind(self) -> Annotated[VoteKind, _OBJECTIONS]:
        return VoteKindEnum(self._row.kind)  # type: ignore[return-value]

    @strawberry.field(description="工程表决：直接受影响、须逐户明确同意的住户（户号）；其他表决为空列表。")
    async def affected_households(self, info: Info[Context, None]) -> list[str]:
        return await vote_resolvers.affected_numbers(info.context, self._row)

    @strawberry.field(description="发布后公示业主名册、尚未开始的表决的开始时间；立即开始的表决为空。")
    def opens_at(self) -> datetime.datetime | None:
        return self._row.opens_at

    @strawberry.field(
        description="业主名册（公示用，姓名隐去部分）：开始前为登记簿中的当前信息（更正后立即反映），开始后为冻结的名册。"
        "本小区的住户和工作人员可以查看。"
    )
    async def roll(
        self,
        info: Info[Context, None],
        first: Annotated[int | None, strawberry.argument(description=FIRST)] = 20,
        after: Annotated[str | None, strawberry.argument(description=AFTER)] = None,
    ) -> Connection[Annotated[RollEntry, _OBJECTIONS]]:
        from resolvers import roll as roll_resolvers
        from schema.objections import RollEntry

        page = await roll_resolvers.roll(info.context, self._row, first=first, after=after)
        return Connection.from_page(page, RollEntry.from_view)

    @strawberry.field(description="工程表决：直接受影响住户现行的同意书（公开签署）；其他表决为空列表。")
    async def works_consents(self, info: Info[Context, None]) -> list[Annotated[WorksConsent, _OBJECTIONS]]:
        from resolvers import works
        from schema.objections import WorksConsent

        return [WorksConsent.from_view(v) for v in await works.consents(info.context, self._row)]

    @strawberry.field(description="结果公示期的结束时间：此前业主可以对结果提出异议；表决结束前为空。")
    def objection_until(self) -> datetime.datetime | None:
        return self._row.objection_until

    @strawberry.field(description="表决结束后决定的状态；表决进行中或已撤销时为空。")
    async def decision(self, info: Info[Context, None]) -> Annotated[VoteDecision, _OBJECTIONS] | None:
        return (await objection_resolvers.standing(info.context, self._row)).decision  # type: ignore[return-value]

    @strawberry.field(description="尚未解决的异议条数。")
    async def unresolved_objections(self, info: Info[Context, None]) -> int:
        return (await objection_resolvers.standing(info.context, self._row)).unresolved

    @strawberry.field(
        description="对结果的异议，最早的在前：业委会和社区“两委”看到全部，业主只看到自己提出的。"
    )
    async def objections(
        self,
        info: Info[Context, None],
        first: Annotated[int | None, strawberry.argument(description=FIRST)] = 20,
        after: Annotated[str | None, strawberry.argument(description=AFTER)] = None,
    ) -> Connection[Annotated[VoteObjection, _OBJECTIONS]]:
        from schema.objections import VoteObjection

        page = await objection_resolvers.of_vote(info.context, self._row, first=first, after=after)
        return Connection.from_page(page, VoteObjection.from_row)

    @strawberry.field(description="本表决依据的议事规则版本（发起时本小区有效的版本）。")
    async def procedure_rules(self, info: Info[Context, None]) -> Annotated[ProcedureRules, _PROCEDURE]:
        from schema.procedure import ProcedureRules

        return ProcedureRules.from_view(await procedure_resolvers.of_vote(info.context, self._row))

    @strawberry.field(
        description="本表决录入的书面表决票，最近录入的在前（业委会成员、社区“两委”成员）：从不显示选择。"
    )
    async def paper_ballots(
        self,
        info: Info[Context, None],
        status: Annotated[
            Annotated[PaperBallotStatus, _PROCEDURE] | None,
            strawberry.argument(description="只看某一状态（例如待复核）。"),
        ] = None,
        first: Annotated[int | None, strawberry.argument(description=FIRST)] = 20,
        after: Annotated[str | None, strawberry.argument(description=AFTER)] = None,
    ) -> Connection[Annotated[PaperBallot, _PROCEDURE]]:
        from schema.procedure import PaperBallot

        page = await paper_resolvers.of_vote(
            info.context,
            self._row,
            status=PaperBallotStatusEnum(status) if status else None,
            first=first,
            after=after,
        )
        return Connection.from_page(page, PaperBallot.from_view)

    @strawberry.field(
        description="一户在本次表决中的全部投票（网上和书面）及哪一张计入：该户业主可看到选择；录入书面票的工作人员只看到方式和时间。"
    )
    async def ballot_history(
        self,
        info: Info[Context, None],
        household_id: Annotated[strawberry.ID, strawberry.argument(description="住户的全局编号。")],
    ) -> list[Annotated[BallotRecord, _PROCEDURE]]:
        from schema.procedure import BallotRecord

        household = decode(household_id, "Household", field="householdId")[1]
        records = await paper_resolvers.history(info.context, self._row, household)
        return [BallotRecord.from_view(r) for r in records]

    @strawberry.field(description="我名下各户的当前选择；不是范围内业主时为空列表。")
    async def my_ballot(self, info: Info[Context, None]) -> list[MyHouseholdVote]:
        return [
            MyHouseholdVote(number=h.number, area=_area(h.area), choice=h.choice)
            for h in await vote_resolvers.my_ballot(info.context, self._row)
        ]

    @strawberry.field(description="尚未投票的住户（楼栋召集人只看到本楼栋）。")
    async def not_voted(
        self,
        info: Info[Context, None],
        first: Annotated[int | None, strawberry.argument(description=FIRST)] = 20,
        after: Annotated[str | None, strawberry.argument(description=AFTER)] = None,
    ) -> Connection[PendingHousehold]:
        page = await vote_resolvers.turnout(info.context, self._row, first=first, after=after)
        return Connection.from_page(page, PendingHousehold.from_row)

    @strawberry.field(description="冻结的表决范围。")
    async def electorate(
        self,
        info: Info[Context, None],
        first: Annotated[int | None, strawberry.argument(description=FIRST)] = 20,
        after: Annotated[str | None, strawberry.argument(description=AFTER)] = None,
    ) -> Connection[Elector]:
        page = await vote_resolvers.electorate(info.context, self._row, first=first, after=after)
        return Connection.from_page(page, Elector.from_row)


@strawberry.type(description="投票回执：请保存回执码，可凭它核验自己的票被计入。")
class Ballot:
    id: strawberry.ID = strawberry.field(description="这张票的编号。")
    choice: Choice = strawberry.field(description="选择。")
    cast_at: datetime.datetime = strawberry.field(description="计入时间。")
    households: list[str] = strawberry.field(description="本票适用的住户门牌号。")
    receipt: str = strawberry.field(description="回执码，只显示这一次。")

    @classmethod
    def from_result(cls, result: CastResult) -> Ballot:
        return cls(
            id=strawberry.ID(encode("Ballot", result.ballot_id)),
            choice=result.choice,
            cast_at=result.cast_at,
            households=result.numbers,
            receipt=result.receipt,
        )


async def cast_ballot(
    context: Context, *, vote_id: strawberry.ID, choice: Choice, on_behalf_of: strawberry.ID | None = None
) -> Ballot:
    """`castBallot`'s work, for strawberry and for the lean path (`schema.lean`) alike."""
    _, ident = decode(vote_id, "Vote")
    owner = None if on_behalf_of is None else decode(on_behalf_of, "Person", field="onBehalfOf")[1]
    return Ballot.from_result(
        await vote_resolvers.cast_ballot(context, vote_id=ident, choice=choice, on_behalf_of=owner)
    )


@strawberry.type(description="默克尔证明的一步。")
class ProofStep:
    sibling: str = strawberry.field(description="兄弟节点的哈希（十六进制）。")
    sibling_on_left: bool = strawberry.field(description="兄弟节点是否在左边。")


@strawberry.type(description="一户的默克尔证明：从叶子逐级哈希应得到表决公布的 digest。")
class HouseholdProof:
    number: str = strawberry.field(description="户号。")
    leaf: str = strawberry.field(description="这一户的叶子哈希。")
    steps: list[ProofStep] = strawberry.field(description="从叶子到根的各步。")


@strawberry.type(description="回执核验结果。")
class ReceiptVerification:
    _vote_id: strawberry.Private[object]
    choice: Choice = strawberry.field(description="这张票的选择。")
    cast_at: datetime.datetime = strawberry.field(description="计入时间。")
    households: list[str] = strawberry.field(description="这张票适用的住户门牌号。")
    counted: bool = strawberry.field(description="这张票是否就是各户当前（或最终）计入的那一票。")
    proofs: list[HouseholdProof] = strawberry.field(description="表决结束后各户的默克尔证明；进行中时为空。")

    @classmethod
    def from_check(cls, check: ReceiptCheck) -> ReceiptVerification:
        return cls(
            _vote_id=check.vote_id,
            choice=check.choice,
            cast_at=check.cast_at,
            households=check.numbers,
            counted=check.counted,
            proofs=[
                HouseholdProof(
                    number=n, leaf=lf, steps=[ProofStep(sibling=s, sibling_on_left=left) for s, left in st]
                )
                for n, lf, st in check.proofs
            ],
        )

    @strawberry.field(description="这张票所属的表决；无权查看时为空。")
    async def vote(self, info: Info[Context, None]) -> Vote | None:
        row = await vote_resolvers.vote_loader(info.context).load(self._vote_id)  # type: ignore[arg-type]
        return Vote.from_row(row) if row else None


@strawberry.input(description="发起表决。")
class OpenVoteInput:
    compound_id: strawberry.ID = strawberry.field(description="小区的全局编号。")
    building_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="表决范围的楼栋（至少一栋）；全小区表决不填，并写明 wholeCompound。"
    )
    whole_compound: bool | None = strawberry.field(
        default=None, description="全小区表决时为 true；表决范围必须写明，不能留空。"
    )
    title: str = strawberry.field(description="标题（最多 100 字）。")
    description: str = strawberry.field(description="说明（最多 5000 字）。")
    matter: VoteMatter = strawberry.field(description="表决事项。")
    rule: VoteRule | None = strawberry.field(
        default=None, description="通过规则；不填则按事项的法定规则，只能更严格。"
    )
    closes_at: datetime.datetime = strawberry.field(description="截止时间，须带时区，一年以内。")
    task_id: strawberry.ID | None = strawberry.field(default=None, description="关联的事项（可选）。")
    kind: Annotated[VoteKind, _OBJECTIONS] = strawberry.field(
        default=VoteKindEnum.ASSEMBLY, description="表决的种类；单元或楼栋内的工程选 WORKS。"
    )
    opens_at: datetime.datetime | None = strawberry.field(
        default=None,
        description="开始时间（须带时区）：填写时先发布表决并公示业主名册，至少公示议事规则规定的天数（rollDays），"
        "名册异议都解决后于此时开始；不填则立即开始。",
    )
    affected_household_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="工程表决：直接受影响、须逐户明确同意的住户（须在表决范围内）。"
    )


_VOTE_ID = Annotated[strawberry.ID, strawberry.argument(description="表决的全局编号。")]


@strawberry.type
class Query:
    @strawberry.field(description="一个表决；无权查看与不存在的回答相同。")
    async def vote(self, info: Info[Context, None], id: _VOTE_ID) -> Vote | None:
        require_authenticated(info.context.principal)
        _, ident = decode(id, "Vote")
        return Vote.from_row(await vote_resolvers.vote(info.context, vote_id=ident))

    @strawberry.field(description="凭投票回执码核验：这张票是否被计入；表决结束后附默克尔证明。")
    async def verify_receipt(
        self, info: Info[Context, None], code: Annotated[str, strawberry.argument(description="回执码。")]
    ) -> ReceiptVerification:
        return ReceiptVerification.from_check(await vote_resolvers.verify_receipt(info.context, code=code))


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description="发起业主表决（业委会成员、社区“两委”成员）。发起时冻结表决范围内的住户、面积和业主。"
    )
    async def open_vote(
        self,
        info: Info[Context, None],
        input: Annotated[OpenVoteInput, strawberry.argument(description="表决。")],
    ) -> Vote:
        _, compound_id = decode(input.compound_id, "Compound")
        building_ids = (
            None if input.building_ids is None else [decode(b, "Building")[1] for b in input.building_ids]
        )
        row = await vote_resolvers.open_vote(
            info.context,
            compound_id=compound_id,
            building_ids=building_ids,
            whole_compound=bool(input.whole_compound),
            title=input.title,
            description=input.description,
            matter=input.matter,
            rule=input.rule,
            closes_at=input.closes_at,
            task_id=decode(input.task_id, "Task")[1] if input.task_id else None,
            kind=VoteKindEnum(input.kind),
            opens_at=input.opens_at,
            affected_household_ids=[
                decode(h, "Household", field="affectedHouseholdIds")[1]
                for h in input.affected_household_ids or ()
            ],
        )
        return Vote.from_row(row)

    @strawberry.mutation(
        description="投票：适用于您在表决范围内的每一户；截止前可以改票，以最后一次为准。"
        "受业主书面委托（已核实）代为投票时，指明委托的业主（onBehalfOf），票适用于该业主的各户。"
    )
    async def cast_ballot(
        self,
        info: Info[Context, None],
        vote_id: _VOTE_ID,
        choice: Annotated[Choice, strawberry.argument(description="同意、反对或弃权。")],
        on_behalf_of: Annotated[
            strawberry.ID | None,
            strawberry.argument(description="代为投票时，委托您的业主的全局编号；本人投票不填。"),
        ] = None,
    ) -> Ballot:
        return await cast_ballot(info.context, vote_id=vote_id, choice=choice, on_behalf_of=on_behalf_of)

    @strawberry.mutation(description="结束表决并公布结果（业委会成员、社区“两委”成员）；结果不可更改。")
    async def close_vote(self, info: Info[Context, None], id: _VOTE_ID) -> Vote:
        _, ident = decode(id, "Vote")
        return Vote.from_row(await vote_resolvers.close_vote(info.context, vote_id=ident))

    @strawberry.mutation(
        description="撤销进行中的表决（业委会成员、社区“两委”成员）：没有结果，已投的票和表决范围保留；"
        "已有业主投票时须写明理由，理由随表决公布。"
    )
    async def cancel_vote(
        self,
        info: Info[Context, None],
        id: _VOTE_ID,
        reason: Annotated[
            str | None, strawberry.argument(description="撤销理由（最多 500 字）；已有投票时必填。")
        ] = None,
    ) -> Vote:
        _, ident = decode(id, "Vote")
        return Vote.from_row(await vote_resolvers.cancel_vote(info.context, vote_id=ident, reason=reason))

    @strawberry.mutation(
        description="延长进行中表决的截止时间（业委会成员、社区“两委”成员）；只能延后，不能提前。"
    )
    async def extend_vote(
        self,
        info: Info[Context, None],
        id: _VOTE_ID,
        closes_at: Annotated[
            datetime.datetime, strawberry.argument(description="新的截止时间，须带时区，自发起起一年以内。")
        ],
    ) -> Vote:
        _, ident = decode(id, "Vote")
        return Vote.from_row(
            await vote_resolvers.extend_vote(info.context, vote_id=ident, closes_at=closes_at)
        )


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="表决的实时计票：先推送当前计票，此后每收到一票推送一次，结束时推送最终计票。"
    )
    async def vote_tally(self, info: Info[Context, None], vote_id: _VOTE_ID) -> AsyncGenerator[Tally, None]:
        ctx = info.context
        require_authenticated(ctx.principal)
        _, ident = decode(vote_id, "Vote")
        row = await vote_resolvers.vote(ctx, vote_id=ident)
        broker = ctx.services.broker
        if broker is None:
            raise UpstreamError("实时推送暂时不可用，请稍后再试。")
        async with broker.subscribe(vote_resolvers.topic(ident)) as events:
            last = tally_of(await vote_resolvers.tally(ctx, row))
            yield last
            while row.status == VoteStatusEnum.OPEN:
                await events.get()
                ctx.loaders.forget("vote", ident)
                row = await vote_resolvers.vote(ctx, vote_id=ident)  # still allowed to see it?
                current = tally_of(await vote_resolvers.tally(ctx, row))
                # a notice that changed nothing (one sent before this subscriber listened, and
                # delivered after) is not pushed again; the last one, at the close, always is
                if current != last or row.status != VoteStatusEnum.OPEN:
                    last = current
                    yield current


NODES: Nodes = {"Vote": node(Vote.from_row, lambda ctx, i: vote_resolvers.vote(ctx, vote_id=i))}
#: answered without GraphQL execution when the selection allows (`schema.lean`)
LEAN = {"castBallot": cast_ballot}


# --- the compiled read path (schema.compiler) ------------------------------------------------------

_VOTES, _TALLIES, _ELECTORS = VoteRow.__table__, VoteTallyRow.__table__, VoteElector.__table__


def threshold_sql(threshold: Threshold, tally: Any) -> Any:
    """`Threshold.met` in SQL, from the same terms: the law is written once (`models.vote_rules`)."""
    compared = [
        (threshold.denominator * tally.c[part] > threshold.numerator * tally.c[whole])
        if threshold.strict
        else (threshold.denominator * tally.c[part] >= threshold.numerator * tally.c[whole])
        for part, whole in threshold.terms()
    ]
    return sa.and_(tally.c[f"{threshold.whole}_headcount"] > 0, *compared)


def _tally(c: compiler.Compiler, r: compiler.Row, n: list[FieldNode]) -> Any:
    tl = _TALLIES.alias()
    row = compiler.Row(t=tl, vote=r.t)
    return compiler.required(
        sa.select(c.object("Tally", row, n)).where(tl.c.vote_id == r.t.c.id).scalar_subquery()
    )


def _approval(r: compiler.Row) -> Any:
    return sa.case(
        *(
            (r.vote.c.rule == rule.value, threshold_sql(threshold, r.t))
            for rule, threshold in APPROVAL.items()
        ),
        else_=False,
    )


def _measure(name: str, kind: type) -> compiler.FieldSQL:
    return compiler.column(lambda r: compiler.text_of(r.t.c[name]) if kind is Decimal else r.t.c[name])


def _my_ballot(c: compiler.Compiler, r: compiler.Row, n: list[FieldNode]) -> Any:
    e = _ELECTORS.alias()
    return c.many(
        "MyHouseholdVote",
        e,
        compiler.Row(t=e),
        n,
        [e.c.vote_id == r.t.c.id, where(c.who, Resource.ELECTOR, Action.READ_CHOICE, e)],
        [e.c.number],
    )


def _not_voted(c: compiler.Compiler, r: compiler.Row, n: list[FieldNode]) -> Any:
    pending = c.connection(
        "PendingHousehold",
        _ELECTORS,
        n,
        lambda e: [
            e.c.vote_id == r.t.c.id,
            e.c.choice.is_(None),
            where(c.who, Resource.ELECTOR, Action.READ_TURNOUT, e),
        ],
        vote_resolvers.ELECTORS,
    )
    return sa.case((where(c.who, Resource.VOTE, Action.READ_TURNOUT, r.t), pending), else_=compiler.marker())


def _root_vote(c: compiler.Compiler, r: compiler.Row, n: list[FieldNode]) -> Any:
    if not c.who.is_authenticated:
        raise compiler.Fallback("anonymous")
    type_name, ident = c.node_type(n)
    if type_name != "Vote":
        raise compiler.Fallback("not a vote id")
    return c.one(
        "Vote",
        _VOTES,
        n,
        lambda t: t.c.id == ident,
        allowed=lambda t: where(c.who, Resource.VOTE, Action.READ, t),
        nullable=False,
    )


SQL = {
    "Vote": compiler.TypeSQL(
        {
            "id": compiler.column(lambda r: compiler.global_id("Vote", r.t.c.id)),
            "title": compiler.column(lambda r: r.t.c.title),
            "description": compiler.column(lambda r: r.t.c.description),
            "matter": compiler.column(lambda r: r.t.c.matter),
            "rule": compiler.column(lambda r: r.t.c.rule),
            "status": compiler.column(lambda r: r.t.c.status),
            "closesAt": compiler.column(lambda r: compiler.iso(r.t.c.closes_at)),
            "createdAt": compiler.column(lambda r: compiler.iso(r.t.c.created_at)),
            "closedAt": compiler.column(lambda r: compiler.iso(r.t.c.closed_at)),
            "result": compiler.column(lambda r: r.t.c.result),
            "digest": compiler.column(lambda r: r.t.c.digest),
            "wholeCompound": compiler.column(lambda r: sa.func.cardinality(r.t.c.building_ids) == 0),
            "cancelledAt": compiler.column(lambda r: compiler.iso(r.t.c.cancelled_at)),
            "cancelReason": compiler.column(lambda r: r.t.c.cancel_reason),
            "task": lambda c, r, n: c.one(
                "Task",
                TaskRow.__table__,
                n,
                lambda t: t.c.id == r.t.c.task_id,
                allowed=lambda t: where(c.who, Resource.TASK, Action.READ, t),
            ),
            "tally": _tally,
            "myBallot": _my_ballot,
            "notVoted": _not_voted,
        }
    ),
    "Tally": compiler.TypeSQL(
        {
            **{compiler.camel(name): _measure(name, kind) for name, kind in TALLY_MEASURES.items()},
            "participationMet": compiler.column(lambda r: threshold_sql(PARTICIPATION, r.t)),
            "approvalMet": compiler.column(_approval),
            "ballotsCast": compiler.column(lambda r: r.t.c.ballots_cast),
        }
    ),
    "MyHouseholdVote": compiler.TypeSQL(
        {
            "number": compiler.column(lambda r: r.t.c.number),
            "area": compiler.column(lambda r: compiler.text_of(r.t.c.area)),
            "choice": compiler.column(lambda r: r.t.c.choice),
        }
    ),
    "PendingHousehold": compiler.TypeSQL(
        {
            "number": compiler.column(lambda r: r.t.c.number),
            "area": compiler.column(lambda r: compiler.text_of(r.t.c.area)),
        }
    ),
}
ROOTS = {"vote": _root_vote}
SQL_NODES = {"Vote": (_VOTES, lambda c, t: where(c.who, Resource.VOTE, Action.READ, t))}
