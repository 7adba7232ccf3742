"""The root mutation (this scope: logging in)."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from resolvers import login
from resolvers.context import Context
from schema.me import AuthPayload


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
