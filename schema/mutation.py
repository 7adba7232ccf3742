"""The root mutation."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from resolvers import login
from resolvers import vote as vote_resolvers
from resolvers.context import Context
from resolvers.ids import decode
from schema.me import AuthPayload
from schema.vote import Ballot, Choice, OpenVoteInput, Vote


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description="微信小程序登录：用 wx.login 得到的 code 换取访问令牌；首次登录会创建账号。"
    )
    async def wechat_login(self, info: Info[Context, None], code: str) -> AuthPayload:
        return AuthPayload.from_result(await login.wechat_login(info.context, code=code))

    @strawberry.mutation(
        description="绑定手机号：用 getPhoneNumber 得到的 code；若社区已登记该手机号，账号并入登记的人员。"
    )
    async def bind_phone(self, info: Info[Context, None], code: str) -> AuthPayload:
        return AuthPayload.from_result(await login.bind_phone(info.context, code=code))

    @strawberry.mutation(description="开发环境专用：按手机号直接登录。")
    async def dev_login(self, info: Info[Context, None], phone: str) -> AuthPayload:
        return AuthPayload.from_result(await login.dev_login(info.context, phone=phone))

    @strawberry.mutation(
        description="发起业主表决（业委会成员、社区“两委”成员）。发起时冻结表决范围内的住户、面积和业主。"
    )
    async def open_vote(self, info: Info[Context, None], input: OpenVoteInput) -> Vote:
        _, compound_id = decode(input.compound_id, "Compound")
        building_ids = [decode(b, "Building")[1] for b in input.building_ids or []]
        row = await vote_resolvers.open_vote(
            info.context,
            compound_id=compound_id,
            building_ids=building_ids,
            title=input.title,
            description=input.description,
            matter=input.matter,
            rule=input.rule,
            closes_at=input.closes_at,
            task_ref=input.task_id,
        )
        return Vote.from_row(row)

    @strawberry.mutation(description="投票：适用于您在表决范围内的每一户；截止前可以改票，以最后一次为准。")
    async def cast_ballot(self, info: Info[Context, None], vote_id: strawberry.ID, choice: Choice) -> Ballot:
        _, ident = decode(vote_id, "Vote")
        return Ballot.from_result(
            await vote_resolvers.cast_ballot(info.context, vote_id=ident, choice=choice)
        )

    @strawberry.mutation(description="结束表决并公布结果（业委会成员、社区“两委”成员）；结果不可更改。")
    async def close_vote(self, info: Info[Context, None], id: strawberry.ID) -> Vote:
        _, ident = decode(id, "Vote")
        return Vote.from_row(await vote_resolvers.close_vote(info.context, vote_id=ident))
