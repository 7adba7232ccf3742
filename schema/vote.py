"""Owner votes as GraphQL types, inputs and enums (names from API.md)."""

from __future__ import annotations

import datetime
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.types import Info

from models import Vote as VoteRow
from models import VoteElector
from models.vote_rules import Choice as ChoiceEnum
from models.vote_rules import VoteMatter as VoteMatterEnum
from models.vote_rules import VoteResult as VoteResultEnum
from models.vote_rules import VoteRule as VoteRuleEnum
from resolvers import vote as vote_resolvers
from resolvers.context import Context
from resolvers.ids import decode_cursor, encode
from resolvers.vote import CastResult, ElectorView, ReceiptCheck, TallyView
from schema.relay import Connection, Node

if TYPE_CHECKING:
    from schema.task import Task

VoteMatter = strawberry.enum(
    VoteMatterEnum, description="表决事项：民法典第二百七十八条第一款第一至九项，或其他。"
)
VoteRule = strawberry.enum(
    VoteRuleEnum, description="通过规则：ORDINARY 过半数；SPECIAL 四分之三以上（均按面积和人数双重计算）。"
)
VoteResult = strawberry.enum(VoteResultEnum, description="表决结果：通过、未通过、参与不足三分之二而无效。")
Choice = strawberry.enum(ChoiceEnum, description="同意、反对、弃权。")


class _VoteStatus(StrEnum):
    OPEN = "OPEN"
    CLOSED = "CLOSED"


VoteStatus = strawberry.enum(_VoteStatus, name="VoteStatus", description="表决状态。")


def _area(value: Decimal) -> Decimal:
    return Decimal(value).quantize(Decimal("0.01"))


@strawberry.type(description="计票：按专有部分面积和业主人数分别统计；两项门槛都满足才算满足。")
class Tally:
    eligible_area: Decimal
    eligible_headcount: int
    participating_area: Decimal
    participating_headcount: int
    agree_area: Decimal
    agree_headcount: int
    disagree_area: Decimal
    disagree_headcount: int
    abstain_area: Decimal
    abstain_headcount: int
    participation_met: bool = strawberry.field(description="参与表决的面积和人数是否都达到三分之二。")
    approval_met: bool = strawberry.field(description="按本表决的规则，同意票是否已达到通过所需。")
    ballots_cast: int = strawberry.field(description="已收到的投票次数（含改票）。")

    @classmethod
    def from_view(cls, view: TallyView) -> Tally:
        t = view.tally
        return cls(
            eligible_area=_area(t.eligible_area),
            eligible_headcount=t.eligible_headcount,
            participating_area=_area(t.participating_area),
            participating_headcount=t.participating_headcount,
            agree_area=_area(t.agree_area),
            agree_headcount=t.agree_headcount,
            disagree_area=_area(t.disagree_area),
            disagree_headcount=t.disagree_headcount,
            abstain_area=_area(t.abstain_area),
            abstain_headcount=t.abstain_headcount,
            participation_met=t.participation_met,
            approval_met=t.approval_met(view.rule),
            ballots_cast=view.ballots_cast,
        )


@strawberry.type(description="我名下一户在本次表决中的状态。")
class MyHouseholdVote:
    number: str
    area: Decimal
    choice: Choice | None


@strawberry.type(description="表决范围内的一户（冻结于发起表决时）：门牌号、面积、人数分组，不含姓名。")
class Elector:
    number: str
    area: Decimal
    head_group: int = strawberry.field(
        description="人数分组编号（本次表决内）：业主完全相同的各户属于同一组，只算一人。"
    )

    @classmethod
    def from_row(cls, row: ElectorView) -> Elector:
        return cls(number=row.number, area=_area(row.area), head_group=row.group)


@strawberry.type(description="尚未投票的一户，供上门动员；从不显示任何一户的选择。")
class PendingHousehold:
    number: str
    area: Decimal

    @classmethod
    def from_row(cls, row: VoteElector) -> PendingHousehold:
        return cls(number=row.number, area=_area(row.area))


@strawberry.type(description="业主表决。")
class Vote(Node):
    _row: strawberry.Private[VoteRow]
    title: str
    description: str
    matter: VoteMatter
    rule: VoteRule
    status: VoteStatus
    closes_at: datetime.datetime
    created_at: datetime.datetime
    closed_at: datetime.datetime | None
    result: VoteResult | None
    digest: str | None = strawberry.field(description="结束时公布的默克尔根，凭回执可核验自己的票被计入。")

    @classmethod
    def from_row(cls, row: VoteRow) -> Vote:
        return cls(
            _row=row,
            id=strawberry.ID(encode("Vote", row.id)),
            title=row.title,
            description=row.description,
            matter=VoteMatterEnum(row.matter),
            rule=VoteRuleEnum(row.rule),
            status=_VoteStatus(row.status),
            closes_at=row.closes_at,
            created_at=row.created_at,
            closed_at=row.closed_at,
            result=VoteResultEnum(row.result) if row.result else None,
            digest=row.digest,
        )

    @strawberry.field(description="关联的事项（例如加装电梯项目）；无权查看时为空。")
    async def task(self, info: Info[Context, None]) -> Annotated[Task, strawberry.lazy("schema.task")] | None:
        from resolvers import task as task_resolvers
        from schema.task import Task

        if self._row.task_id is None:
            return None
        row = await info.context.loaders.task.load(self._row.task_id)
        return Task.from_row(row) if row and await task_resolvers.can_read(info.context, row) else None

    @strawberry.field(description="实时计票（结束后为最终计票）。")
    async def tally(self, info: Info[Context, None]) -> Tally:
        return Tally.from_view(await vote_resolvers.tally(info.context, self._row))

    @strawberry.field(description="我名下各户的当前选择；不是范围内业主时为空列表。")
    async def my_ballot(self, info: Info[Context, None]) -> list[MyHouseholdVote]:
        return [
            MyHouseholdVote(number=h.number, area=_area(h.area), choice=h.choice)
            for h in await vote_resolvers.my_ballot(info.context, self._row)
        ]

    @strawberry.field(description="尚未投票的住户（楼栋召集人只看到本楼栋）。")
    async def not_voted(
        self, info: Info[Context, None], first: int | None = 20, after: str | None = None
    ) -> Connection[PendingHousehold]:
        page = await vote_resolvers.turnout(info.context, self._row, first=first, offset=decode_cursor(after))
        return Connection.from_page(page, PendingHousehold.from_row)

    @strawberry.field(description="冻结的表决范围。")
    async def electorate(
        self, info: Info[Context, None], first: int | None = 20, after: str | None = None
    ) -> Connection[Elector]:
        page = await vote_resolvers.electorate(
            info.context, self._row, first=first, offset=decode_cursor(after)
        )
        return Connection.from_page(page, Elector.from_row)


@strawberry.type(description="投票回执：请保存回执码，可凭它核验自己的票被计入。")
class Ballot:
    id: strawberry.ID
    choice: Choice
    cast_at: datetime.datetime
    households: list[str] = strawberry.field(description="本票适用的住户门牌号。")
    receipt: str = strawberry.field(description="回执码，只显示这一次。")

    @classmethod
    def from_result(cls, result: CastResult) -> Ballot:
        return cls(
            id=strawberry.ID(encode("Ballot", result.ballot.id)),
            choice=ChoiceEnum(result.ballot.choice),
            cast_at=result.ballot.cast_at,
            households=result.numbers,
            receipt=result.receipt,
        )


@strawberry.type
class ProofStep:
    sibling: str
    sibling_on_left: bool


@strawberry.type(description="一户的默克尔证明：从叶子逐级哈希应得到表决公布的 digest。")
class HouseholdProof:
    number: str
    leaf: str
    steps: list[ProofStep]


@strawberry.type(description="回执核验结果。")
class ReceiptVerification:
    vote: Vote
    choice: Choice
    cast_at: datetime.datetime
    households: list[str]
    counted: bool = strawberry.field(description="这张票是否就是各户当前（或最终）计入的那一票。")
    proofs: list[HouseholdProof]

    @classmethod
    def from_check(cls, check: ReceiptCheck) -> ReceiptVerification:
        return cls(
            vote=Vote.from_row(check.vote),
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


@strawberry.input(description="发起表决。")
class OpenVoteInput:
    compound_id: strawberry.ID
    building_ids: list[strawberry.ID] | None = None
    title: str
    description: str
    matter: VoteMatter
    rule: VoteRule | None = None
    closes_at: datetime.datetime
    task_id: strawberry.ID | None = None
