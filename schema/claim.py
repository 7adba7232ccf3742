"""Residents' claims to a home as GraphQL (住户自助登记): claimed in the mini-program, confirmed or
rejected by the staff who keep the register."""

from __future__ import annotations

import datetime
import uuid
from typing import Annotated

import strawberry
from strawberry.types import Info

from models.claim import ClaimStatus as ClaimStatusEnum
from models.enums import HomeRelation as HomeRelationEnum
from models.errors import ForbiddenError
from resolvers import claim as claim_resolvers
from resolvers import homes as home_resolvers
from resolvers import place as place_resolvers
from resolvers.claim import ClaimView
from resolvers.context import Context
from resolvers.ids import decode, encode
from schema import docs
from schema.person import HomeRelation, Person
from schema.place import AFTER, FIRST, Household
from schema.register import HomeRecord, seen_person
from schema.relay import Connection, Node, Nodes, node

HomeClaimStatus = docs.enum(
    ClaimStatusEnum,
    "住户登记申请的状态：待确认 → 已确认 | 已驳回 | 已撤回。",
    {
        "PENDING": "待确认：还没有产生任何住户登记或权限。",
        "CONFIRMED": "已确认：申请人的住户登记已生效。",
        "REJECTED": "已驳回（附理由）。",
        "WITHDRAWN": "申请人已撤回。",
    },
    name="HomeClaimStatus",
)
_FIRST = Annotated[int | None, strawberry.argument(description=FIRST)]
_AFTER = Annotated[str | None, strawberry.argument(description=AFTER)]
_ID = strawberry.argument(description="申请的全局编号。")


@strawberry.type(
    description="一条住户登记申请：居民在小程序中申请登记为某户的业主或租户，由网格员、社区“两委”或本小区物业确认；确认前不产生任何权限。"
)
class HomeClaim(Node):
    _view: strawberry.Private[ClaimView]
    status: HomeClaimStatus = strawberry.field(description="待确认、已确认、已驳回或已撤回。")
    relation: HomeRelation = strawberry.field(description="申请登记为业主还是租户。")
    name: str = strawberry.field(description="申请人填写的姓名。")
    phone: str | None = strawberry.field(
        description="申请人绑定的手机号：申请人本人可见；审核人员在待确认时可见，处理后只见 138****1234。"
    )
    compound_name: str = strawberry.field(description="小区名称。")
    household_number: str = strawberry.field(description="户号，例如 6-1-302。")
    claimed_at: datetime.datetime = strawberry.field(description="申请时间。")
    decided_at: datetime.datetime | None = strawberry.field(description="确认、驳回或撤回的时间。")
    reason: str | None = strawberry.field(description="驳回理由。")

    @classmethod
    def from_view(cls, view: ClaimView) -> HomeClaim:
        return cls(
            _view=view,
            id=strawberry.ID(encode("HomeClaim", view.id)),
            status=view.status,
            relation=HomeRelationEnum(view.relation),
            name=view.name,
            phone=view.phone,
            compound_name=view.compound_name,
            household_number=view.household_number,
            claimed_at=view.created_at,
            decided_at=view.decided_at,
            reason=view.reason,
        )

    @strawberry.field(description="这一户；申请人在确认前无权查看，为空。")
    async def household(self, info: Info[Context, None]) -> Household | None:
        row = await place_resolvers.household_loader(info.context).load(self._view.household_id)
        return Household.from_row(row) if row else None

    @strawberry.field(description="申请人（按您的权限显示；尚无住房的申请人只有本人看得到）。")
    async def person(self, info: Info[Context, None]) -> Person | None:
        return await seen_person(info, self._view.person_id)

    @strawberry.field(description="确认后产生的住户登记（审核人员可见）。")
    async def home(self, info: Info[Context, None]) -> HomeRecord | None:
        if self._view.home_id is None:
            return None
        try:
            return HomeRecord.from_row(await home_resolvers.record(info.context, home_id=self._view.home_id))
        except ForbiddenError:  # the claimant does not read the register's records
            return None


@strawberry.input(description="申请登记为某户的业主或租户（扫描小区的住户登记二维码得到小区编号）。")
class ClaimHomeInput:
    compound_id: strawberry.ID = strawberry.field(description="小区的全局编号。")
    number: str = strawberry.field(description="户号：楼栋-单元-房号，例如 6-1-302。")
    relation: HomeRelation = strawberry.field(description="业主（共有人也选业主）或租户。")
    name: str = strawberry.field(description="您的真实姓名，供社区核实。")


@strawberry.type
class Query:
    @strawberry.field(
        description="一个小区的住户登记申请（默认只列待确认的），最早的在前：网格员、社区“两委”、本小区物业。"
    )
    async def home_claims(
        self,
        info: Info[Context, None],
        compound_id: Annotated[strawberry.ID, strawberry.argument(description="小区的全局编号。")],
        status: Annotated[
            HomeClaimStatus | None, strawberry.argument(description="只列这种状态的申请；为空时列全部。")
        ] = ClaimStatusEnum.PENDING,
        first: _FIRST = 20,
        after: _AFTER = None,
    ) -> Connection[HomeClaim]:
        page = await claim_resolvers.queue(
            info.context,
            compound_id=decode(compound_id, "Compound", field="compoundId")[1],
            status=ClaimStatusEnum(status) if status is not None else None,
            first=first,
            after=after,
        )
        return Connection.from_page(page, HomeClaim.from_view)


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description="申请登记为某户的业主或租户（需已绑定手机号）；由社区确认后生效，确认前不产生任何权限。"
    )
    async def claim_home(
        self,
        info: Info[Context, None],
        input: Annotated[ClaimHomeInput, strawberry.argument(description="申请的内容。")],
    ) -> HomeClaim:
        view = await claim_resolvers.claim_home(
            info.context,
            compound_id=decode(input.compound_id, "Compound", field="compoundId")[1],
            number=input.number,
            relation=HomeRelationEnum(input.relation),
            name=input.name,
        )
        return HomeClaim.from_view(view)

    @strawberry.mutation(description="申请人撤回尚未处理的住户登记申请。")
    async def withdraw_home_claim(
        self, info: Info[Context, None], id: Annotated[strawberry.ID, _ID]
    ) -> HomeClaim:
        return HomeClaim.from_view(await claim_resolvers.withdraw(info.context, claim_id=_claim_id(id)))

    @strawberry.mutation(
        description="确认住户登记申请：申请人的住户登记从开始日期起生效（网格员、社区“两委”、本小区物业）。"
    )
    async def confirm_home_claim(
        self,
        info: Info[Context, None],
        id: Annotated[strawberry.ID, _ID],
        starts_on: Annotated[
            datetime.date | None, strawberry.argument(description="住户登记的开始日期；不填为今天。")
        ] = None,
    ) -> HomeClaim:
        view = await claim_resolvers.confirm(info.context, claim_id=_claim_id(id), starts_on=starts_on)
        return HomeClaim.from_view(view)

    @strawberry.mutation(description="驳回住户登记申请，并告诉申请人理由。")
    async def reject_home_claim(
        self,
        info: Info[Context, None],
        id: Annotated[strawberry.ID, _ID],
        reason: Annotated[str, strawberry.argument(description="驳回理由（申请人可见，最多 200 字）。")],
    ) -> HomeClaim:
        view = await claim_resolvers.reject(info.context, claim_id=_claim_id(id), reason=reason)
        return HomeClaim.from_view(view)


def _claim_id(value: str) -> uuid.UUID:
    return decode(value, "HomeClaim")[1]


NODES: Nodes = {"HomeClaim": node(HomeClaim.from_view, lambda ctx, i: claim_resolvers.view(ctx, i))}
