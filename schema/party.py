"""Party members' registrations (报到) and building groups (党员楼栋小组) as GraphQL: applied for
in the mini-program, decided by the community committee."""

from __future__ import annotations

import datetime
import uuid
from typing import Annotated

import strawberry
from strawberry.types import Info

from models.errors import ForbiddenError
from models.party import RegistrationStatus as RegistrationStatusEnum
from models.party import ServiceKind as ServiceKindEnum
from resolvers import party as party_resolvers
from resolvers import person as person_resolvers
from resolvers.context import Context
from resolvers.ids import decode, encode
from resolvers.loaders import PageKey
from resolvers.pages import Page, window
from resolvers.party import GroupView, RegistrationView
from resolvers.party_stats import party_stats
from schema import docs
from schema.person import Person
from schema.place import AFTER, FIRST
from schema.register import seen_person
from schema.relay import Connection, Node, Nodes, node
from schema.stats import PERIOD, PartyStats

PartyRegistrationStatus = docs.enum(
    RegistrationStatusEnum,
    "党员报到的状态：待审核 → 已通过 | 已驳回 | 已撤回；通过后可结束，或转移到新住址。",
    {
        "PENDING": "待审核：社区“两委”审核前不产生任何变化。",
        "APPROVED": "已通过：党员已向这个小区报到，编入所在楼栋的党员小组。",
        "REJECTED": "已驳回（附理由）。",
        "WITHDRAWN": "申请人在审核前撤回。",
        "ENDED": "党员结束了在这个小区的报到。",
        "TRANSFERRED": "党员搬家，报到已转移到新住址（新住址的报到通过之日结束）。",
    },
    name="PartyRegistrationStatus",
)
PartyService = docs.enum(
    ServiceKindEnum,
    "党员愿意为小区提供的服务。",
    {
        "MEDIATION": "矛盾调解",
        "PATROL": "巡逻",
        "ENVIRONMENT": "环境整治",
        "VOLUNTEERING": "志愿服务",
        "PUBLICITY": "政策宣传",
        "CARE": "关爱帮扶",
    },
    name="PartyService",
)
_FIRST = Annotated[int | None, strawberry.argument(description=FIRST)]
_AFTER = Annotated[str | None, strawberry.argument(description=AFTER)]
_REGISTRATION_ID = strawberry.argument(description="报到的全局编号。")
_GROUP_ID = strawberry.argument(description="党员楼栋小组的全局编号。")


@strawberry.type(
    description="党员向居住小区报到（敏感信息）：党员本人和本社区“两委”看得到；由社区“两委”审核。"
)
class PartyRegistration(Node):
    _view: strawberry.Private[RegistrationView]
    status: PartyRegistrationStatus = strawberry.field(
        description="待审核、已通过、已驳回、已撤回、已结束或已转移。"
    )
    compound_name: str = strawberry.field(description="报到的小区。")
    household_number: str | None = strawberry.field(description="报到所用的住房户号；导入的报到可能为空。")
    building_name: str | None = strawberry.field(description="住房所在楼栋。")
    employer: str | None = strawberry.field(description="工作单位。")
    party_organization: str = strawberry.field(description="所在单位党组织。")
    party_organization_contact: str | None = strawberry.field(description="党组织联系人及电话。")
    member_since: datetime.date | None = strawberry.field(description="入党时间。")
    skills: str | None = strawberry.field(description="特长。")
    services: list[PartyService] = strawberry.field(description="愿意提供的服务。")
    applied_at: datetime.datetime = strawberry.field(description="申请时间。")
    decided_at: datetime.datetime | None = strawberry.field(description="审核（或撤回）的时间。")
    approved_on: datetime.date | None = strawberry.field(description="报到生效的日期。")
    ended_on: datetime.date | None = strawberry.field(description="报到结束或转移的日期。")
    reason: str | None = strawberry.field(description="驳回理由，或党员结束报到时说明的原因。")

    @classmethod
    def from_view(cls, view: RegistrationView) -> PartyRegistration:
        return cls(
            _view=view,
            id=strawberry.ID(encode("PartyRegistration", view.id)),
            status=view.status,
            compound_name=view.compound_name,
            household_number=view.household_number,
            building_name=view.building_name,
            employer=view.employer,
            party_organization=view.party_org,
            party_organization_contact=view.party_org_contact,
            member_since=view.member_since,
            skills=view.skills,
            services=[ServiceKindEnum(s) for s in view.services],
            applied_at=view.created_at,
            decided_at=view.decided_at,
            approved_on=view.approved_on,
            ended_on=view.ended_on,
            reason=view.reason,
        )

    @strawberry.field(description="党员本人（按您的权限显示）。")
    async def person(self, info: Info[Context, None]) -> Person | None:
        return await seen_person(info, self._view.person_id)

    @strawberry.field(description="所在楼栋的党员小组（报到通过后）。")
    async def group(self, info: Info[Context, None]) -> PartyGroup | None:
        if self._view.group_id is None or self._view.status != RegistrationStatusEnum.APPROVED:
            return None
        try:
            return PartyGroup.from_view(await party_resolvers.group(info.context, self._view.group_id))
        except ForbiddenError:  # a member whose Party member role the committee has ended
            return None

    @strawberry.field(description="转移报到时，被这份报到取代的原报到。")
    async def transferred_from(self, info: Info[Context, None]) -> PartyRegistration | None:
        if self._view.transferred_from is None:
            return None
        try:
            return PartyRegistration.from_view(
                await party_resolvers.view(info.context, self._view.transferred_from)
            )
        except ForbiddenError:  # the old compound's committee is another community's
            return None


@strawberry.type(
    description="党员楼栋小组：在小组各楼栋报到的党员，组长由社区“两委”指定。本小区党员、网格员和社区“两委”可见。"
)
class PartyGroup(Node):
    _view: strawberry.Private[GroupView]
    name: str = strawberry.field(description="小组名称，例如 6栋党员楼栋小组。")
    compound_name: str = strawberry.field(description="所在小区。")
    buildings: list[str] = strawberry.field(description="小组包含的楼栋。")
    member_count: int = strawberry.field(description="已报到的组员人数。")

    @classmethod
    def from_view(cls, view: GroupView) -> PartyGroup:
        return cls(
            _view=view,
            id=strawberry.ID(encode("PartyGroup", view.id)),
            name=view.name,
            compound_name=view.compound_name,
            buildings=list(view.buildings),
            member_count=view.member_count,
        )

    @strawberry.field(description="组长；尚未指定时为空。")
    async def leader(self, info: Info[Context, None]) -> Person | None:
        if self._view.leader_id is None:
            return None
        return await seen_person(info, self._view.leader_id)

    @strawberry.field(description="本小组党员报到与参与统计。")
    async def stats(
        self,
        info: Info[Context, None],
        period: Annotated[str | None, strawberry.argument(description=PERIOD)] = None,
    ) -> PartyStats:
        return PartyStats.from_view(await party_stats(info.context, "group", self._view, period))

    @strawberry.field(description="已报到的组员，报到最早的在前。")
    async def members(
        self, info: Info[Context, None], first: _FIRST = 20, after: _AFTER = None
    ) -> Connection[Person]:
        key = PageKey(self._view.id, window(party_resolvers.MEMBERS, first=first, after=after))
        page = await party_resolvers.member_pages(info.context).load(key)
        seen = await person_resolvers.person_loader(info.context).load_many([r.person_id for r in page.rows])
        shown = [(Person.from_view(p), c) for p, c in zip(seen, page.cursors, strict=True) if p is not None]
        count = self._view.member_count

        async def total() -> int:
            return count

        people: Page[Person] = Page(
            [p for p, _ in shown], [c for _, c in shown], page.has_next, page.has_previous, total
        )
        return Connection.from_page(people, lambda p: p)


@strawberry.input(description="向居住的小区报到（在职党员“双报到”）。")
class ApplyPartyRegistrationInput:
    household_id: strawberry.ID = strawberry.field(
        description="您已登记的一处住房的全局编号：向它所在的小区报到。"
    )
    employer: str = strawberry.field(description="工作单位（最多 100 字）。")
    party_organization: str = strawberry.field(
        description="所在单位党组织，例如 綦江区应急管理局机关党支部。"
    )
    party_organization_contact: str = strawberry.field(
        description="党组织联系人及电话，供社区反馈评价时联系（最多 100 字）。"
    )
    member_since: datetime.date = strawberry.field(description="入党时间。")
    skills: str | None = strawberry.field(default=None, description="特长（可不填，最多 200 字）。")
    services: list[PartyService] = strawberry.field(
        default_factory=list, description="愿意为小区提供的服务（可多选）。"
    )


@strawberry.input(description="新建党员楼栋小组。")
class CreatePartyGroupInput:
    compound_id: strawberry.ID = strawberry.field(description="小区的全局编号。")
    name: str = strawberry.field(description="小组名称（最多 30 字）。")
    building_ids: list[strawberry.ID] = strawberry.field(
        description="小组包含的楼栋；已属于其他小组的楼栋会移到这个小组。"
    )


@strawberry.type
class Query:
    @strawberry.field(description="一个小区的党员报到（默认只列待审核的），最早的在前：本社区“两委”。")
    async def party_registrations(
        self,
        info: Info[Context, None],
        compound_id: Annotated[strawberry.ID, strawberry.argument(description="小区的全局编号。")],
        status: Annotated[
            PartyRegistrationStatus | None,
            strawberry.argument(description="只列这种状态的报到；为空时列全部。"),
        ] = RegistrationStatusEnum.PENDING,
        first: _FIRST = 20,
        after: _AFTER = None,
    ) -> Connection[PartyRegistration]:
        page = await party_resolvers.queue(
            info.context,
            compound_id=decode(compound_id, "Compound", field="compoundId")[1],
            status=RegistrationStatusEnum(status) if status is not None else None,
            first=first,
            after=after,
        )
        return Connection.from_page(page, PartyRegistration.from_view)

    @strawberry.field(description="一个小区的党员楼栋小组，按名称排列：本小区党员、网格员、社区“两委”。")
    async def party_groups(
        self,
        info: Info[Context, None],
        compound_id: Annotated[strawberry.ID, strawberry.argument(description="小区的全局编号。")],
        first: _FIRST = 20,
        after: _AFTER = None,
    ) -> Connection[PartyGroup]:
        page = await party_resolvers.groups(
            info.context,
            compound_id=decode(compound_id, "Compound", field="compoundId")[1],
            first=first,
            after=after,
        )
        return Connection.from_page(page, PartyGroup.from_view)


@strawberry.type
class Mutation:
    @strawberry.mutation(description="党员向自己居住的小区报到；社区“两委”审核通过后生效。")
    async def apply_party_registration(
        self,
        info: Info[Context, None],
        input: Annotated[ApplyPartyRegistrationInput, strawberry.argument(description="报到的内容。")],
    ) -> PartyRegistration:
        given = party_resolvers.details(
            employer=input.employer,
            party_org=input.party_organization,
            party_org_contact=input.party_organization_contact,
            member_since=input.member_since,
            skills=input.skills,
            services=[ServiceKindEnum(s) for s in input.services],
        )
        view = await party_resolvers.apply(
            info.context,
            household_id=decode(input.household_id, "Household", field="householdId")[1],
            given=given,
        )
        return PartyRegistration.from_view(view)

    @strawberry.mutation(
        description="审核通过党员报到：从今天起报到，成为本小区的在职党员，编入所在楼栋的党员小组（本社区“两委”）。"
    )
    async def approve_party_registration(
        self, info: Info[Context, None], id: Annotated[strawberry.ID, _REGISTRATION_ID]
    ) -> PartyRegistration:
        view = await party_resolvers.approve(info.context, registration_id=_registration_id(id))
        return PartyRegistration.from_view(view)

    @strawberry.mutation(description="驳回党员报到，并告诉申请人理由（本社区“两委”）。")
    async def reject_party_registration(
        self,
        info: Info[Context, None],
        id: Annotated[strawberry.ID, _REGISTRATION_ID],
        reason: Annotated[str, strawberry.argument(description="驳回理由（申请人可见，最多 200 字）。")],
    ) -> PartyRegistration:
        view = await party_resolvers.reject(info.context, registration_id=_registration_id(id), reason=reason)
        return PartyRegistration.from_view(view)

    @strawberry.mutation(
        description="党员撤回尚未审核的报到申请，或结束已通过的报到（记录保留；在职党员身份由社区“两委”处理）。"
    )
    async def withdraw_party_registration(
        self,
        info: Info[Context, None],
        id: Annotated[strawberry.ID, _REGISTRATION_ID],
        reason: Annotated[
            str | None, strawberry.argument(description="原因（可不填，最多 200 字）。")
        ] = None,
    ) -> PartyRegistration:
        view = await party_resolvers.withdraw(
            info.context, registration_id=_registration_id(id), reason=reason
        )
        return PartyRegistration.from_view(view)

    @strawberry.mutation(
        description="搬家后转移报到：向新住房所在的小区提出报到申请，内容沿用原报到；审核通过之日原报到结束。"
    )
    async def transfer_party_registration(
        self,
        info: Info[Context, None],
        id: Annotated[strawberry.ID, strawberry.argument(description="现在生效的报到的全局编号。")],
        household_id: Annotated[strawberry.ID, strawberry.argument(description="新住房的全局编号。")],
    ) -> PartyRegistration:
        view = await party_resolvers.transfer(
            info.context,
            registration_id=_registration_id(id),
            household_id=decode(household_id, "Household", field="householdId")[1],
        )
        return PartyRegistration.from_view(view)

    @strawberry.mutation(description="新建党员楼栋小组（本社区“两委”）。")
    async def create_party_group(
        self,
        info: Info[Context, None],
        input: Annotated[CreatePartyGroupInput, strawberry.argument(description="小组的内容。")],
    ) -> PartyGroup:
        view = await party_resolvers.create_group(
            info.context,
            compound_id=decode(input.compound_id, "Compound", field="compoundId")[1],
            name=input.name,
            building_ids=[decode(b, "Building", field="buildingIds")[1] for b in input.building_ids],
        )
        return PartyGroup.from_view(view)

    @strawberry.mutation(description="修改党员楼栋小组的名称或所含楼栋（本社区“两委”）。")
    async def update_party_group(
        self,
        info: Info[Context, None],
        id: Annotated[strawberry.ID, _GROUP_ID],
        name: Annotated[str | None, strawberry.argument(description="新名称；不改则不填。")] = None,
        building_ids: Annotated[
            list[strawberry.ID] | None,
            strawberry.argument(
                description="小组包含的全部楼栋；不改则不填。原有而未列出的楼栋不再属于任何小组。"
            ),
        ] = None,
    ) -> PartyGroup:
        view = await party_resolvers.update_group(
            info.context,
            group_id=_group_id(id),
            name=name,
            building_ids=None
            if building_ids is None
            else [decode(b, "Building", field="buildingIds")[1] for b in building_ids],
        )
        return PartyGroup.from_view(view)

    @strawberry.mutation(
        description="指定党员楼栋小组的组长：须是本小组已报到的党员；不填则取消组长（本社区“两委”）。"
    )
    async def appoint_party_group_leader(
        self,
        info: Info[Context, None],
        id: Annotated[strawberry.ID, _GROUP_ID],
        person_id: Annotated[
            strawberry.ID | None, strawberry.argument(description="组长的全局编号。")
        ] = None,
    ) -> PartyGroup:
        view = await party_resolvers.appoint_leader(
            info.context,
            group_id=_group_id(id),
            person_id=None if person_id is None else decode(person_id, "Person", field="personId")[1],
        )
        return PartyGroup.from_view(view)


def _registration_id(value: str) -> uuid.UUID:
    return decode(value, "PartyRegistration")[1]


def _group_id(value: str) -> uuid.UUID:
    return decode(value, "PartyGroup")[1]


NODES: Nodes = {
    "PartyRegistration": node(PartyRegistration.from_view, lambda ctx, i: party_resolvers.view(ctx, i)),
    "PartyGroup": node(PartyGroup.from_view, lambda ctx, i: party_resolvers.group(ctx, i)),
}
