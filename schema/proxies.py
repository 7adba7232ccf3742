"""Written proxies (书面委托) as GraphQL types, inputs and mutations; the lists are on `Me` and
`Compound`, and a proxy's ballot is `castBallot(onBehalfOf:)`."""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.types import Info

from models.photos import AttachedTo
from models.proxy import ProxyStatus as ProxyStatusEnum
from resolvers import proxies as proxy_resolvers
from resolvers.context import Context
from resolvers.ids import decode, encode
from resolvers.proxies import ProxyView
from schema import docs
from schema.photos import PHOTOS_ARGUMENT, Photo, photos_of
from schema.register import seen_person

if TYPE_CHECKING:
    from schema.person import Person
    from schema.vote import Vote

ProxyStatus = docs.enum(
    ProxyStatusEnum,
    "书面委托的核实状态。",
    {
        "PENDING": "等待业委会或社区“两委”核实委托书。",
        "VERIFIED": "已核实：代理人可以代业主投票（业主撤销前）。",
        "REJECTED": "不予认可（见理由）。",
    },
    name="ProxyStatus",
)
_PERSON = strawberry.lazy("schema.person")


@strawberry.type(
    description="业主的书面委托：委托代理人代为投票（某一次表决，或一段期间内本小区的全部表决）。"
    "代理人投的票是业主的票，不另算一人；撤销后不能再代投，已投的票仍然有效。"
)
class VoteProxy:
    _view: strawberry.Private[ProxyView]
    id: strawberry.ID = strawberry.field(description="委托的编号。")
    status: ProxyStatus = strawberry.field(description="核实状态。")
    valid_from: datetime.datetime | None = strawberry.field(
        description="委托期间的开始；委托某一次表决时为空。"
    )
    valid_until: datetime.datetime | None = strawberry.field(
        description="委托期间的结束；委托某一次表决时为空。"
    )
    reject_reason: str | None = strawberry.field(description="不予认可的理由。")
    decided_at: datetime.datetime | None = strawberry.field(description="核实时间。")
    revoked_at: datetime.datetime | None = strawberry.field(description="业主撤销的时间；未撤销时为空。")
    created_at: datetime.datetime = strawberry.field(description="委托时间。")

    @classmethod
    def from_view(cls, view: ProxyView) -> VoteProxy:
        return cls(
            _view=view,
            id=strawberry.ID(encode("VoteProxy", view.id)),
            status=view.status,
            valid_from=view.valid_from,
            valid_until=view.valid_until,
            reject_reason=view.reject_reason,
            decided_at=view.decided_at,
            revoked_at=view.revoked_at,
            created_at=view.created_at,
        )

    @strawberry.field(description="委托书上代理人的姓名（业主填写；核实时与代理人登记的姓名对照）。")
    def proxy_name(self) -> str | None:
        return self._view.proxy_name

    @strawberry.field(description="委托的业主（按您的权限显示姓名）。")
    async def owner(self, info: Info[Context, None]) -> Annotated[Person, _PERSON] | None:
        return await seen_person(info, self._view.owner_id)

    @strawberry.field(description="代理人（按您的权限显示姓名）。")
    async def proxy(self, info: Info[Context, None]) -> Annotated[Person, _PERSON] | None:
        return await seen_person(info, self._view.proxy_id)

    @strawberry.field(description="委托的那一次表决；委托一段期间时为空，无权查看时也为空。")
    async def vote(self, info: Info[Context, None]) -> Annotated[Vote, strawberry.lazy("schema.vote")] | None:
        from resolvers import vote as vote_resolvers
        from schema.vote import Vote

        if self._view.vote_id is None:
            return None
        row = await vote_resolvers.vote_loader(info.context).load(self._view.vote_id)
        return Vote.from_row(row) if row else None

    @strawberry.field(description="签字的授权委托书照片。")
    async def photos(self, info: Info[Context, None]) -> list[Photo]:
        return await photos_of(info, AttachedTo.PROXY, self._view.id)


@strawberry.input(description="委托他人代为投票（业主本人）。")
class AppointProxyInput:
    compound_id: strawberry.ID = strawberry.field(description="小区的全局编号。")
    proxy_name: str = strawberry.field(description="委托书上代理人的姓名（最多 50 字）。")
    proxy_phone: str = strawberry.field(
        description="委托书上代理人的手机号；代理人用这个手机号登录小程序后即可代为投票。"
    )
    vote_id: strawberry.ID | None = strawberry.field(
        default=None, description="委托某一次进行中的表决；委托一段期间时不填。"
    )
    valid_from: datetime.datetime | None = strawberry.field(
        default=None, description="委托期间的开始（在此期间发起的表决），须带时区。"
    )
    valid_until: datetime.datetime | None = strawberry.field(
        default=None, description="委托期间的结束，须带时区，最长三年。"
    )
    photos: list[str] = strawberry.field(description="签字的授权委托书照片（至少 1 张）。" + PHOTOS_ARGUMENT)


_PROXY_ID = Annotated[strawberry.ID, strawberry.argument(description="委托的编号。")]


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description="委托他人代为投票（业主本人），附签字的委托书；业委会或社区“两委”核实后代理人才能投票。"
    )
    async def appoint_proxy(
        self,
        info: Info[Context, None],
        input: Annotated[AppointProxyInput, strawberry.argument(description="委托。")],
    ) -> VoteProxy:
        view = await proxy_resolvers.appoint(
            info.context,
            compound_id=decode(input.compound_id, "Compound", field="compoundId")[1],
            proxy_name=input.proxy_name,
            proxy_phone=input.proxy_phone,
            vote_id=None if input.vote_id is None else decode(input.vote_id, "Vote", field="voteId")[1],
            valid_from=input.valid_from,
            valid_until=input.valid_until,
            photo_refs=input.photos,
        )
        return VoteProxy.from_view(view)

    @strawberry.mutation(
        description="核实业主的书面委托（业委会成员、社区“两委”成员）：认可，或写明理由不予认可。"
    )
    async def verify_proxy(
        self,
        info: Info[Context, None],
        id: _PROXY_ID,
        approve: Annotated[bool, strawberry.argument(description="是否认可。")],
        reason: Annotated[
            str | None, strawberry.argument(description="不予认可的理由（最多 200 字），业主会看到。")
        ] = None,
    ) -> VoteProxy:
        view = await proxy_resolvers.decide(
            info.context, proxy_id=decode(id, "VoteProxy")[1], approve=approve, reason=reason
        )
        return VoteProxy.from_view(view)

    @strawberry.mutation(description="撤销自己的委托（业主本人）：此后代理人不能再代投，已投的票仍然有效。")
    async def revoke_proxy(self, info: Info[Context, None], id: _PROXY_ID) -> VoteProxy:
        return VoteProxy.from_view(
            await proxy_resolvers.revoke(info.context, proxy_id=decode(id, "VoteProxy")[1])
        )
