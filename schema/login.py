"""Logging in: WeChat, phone binding, and the development shortcut."""

from __future__ import annotations

import datetime
from typing import Annotated

import strawberry
from strawberry.types import Info

from resolvers import login, sessions
from resolvers.context import Context
from resolvers.login import AuthResult
from schema.me import Me, me


@strawberry.type(
    description="登录结果：访问令牌（放在 Authorization: Bearer 头中，两小时内有效）、续期令牌和本人信息。"
)
class AuthPayload:
    _result: strawberry.Private[AuthResult]
    token: str = strawberry.field(description="访问令牌。")
    expires_at: datetime.datetime = strawberry.field(description="令牌的过期时间。")
    refresh_token: str = strawberry.field(
        description="续期令牌：访问令牌过期前后用 refreshToken 换取新的一对令牌；每个只能用一次。"
    )

    @classmethod
    def from_result(cls, result: AuthResult) -> AuthPayload:
        return cls(
            _result=result,
            token=result.token,
            expires_at=result.expires_at,
            refresh_token=result.refresh_token,
        )

    @strawberry.field(description="登录的人。")
    async def me(self, info: Info[Context, None]) -> Me:
        return await me(info.context)


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description="微信小程序登录：用 wx.login 得到的 code 换取访问令牌；首次登录会创建账号。"
    )
    async def wechat_login(
        self,
        info: Info[Context, None],
        code: Annotated[str, strawberry.argument(description="wx.login 得到的 code。")],
    ) -> AuthPayload:
        return AuthPayload.from_result(await login.wechat_login(info.context, code=code))

    @strawberry.mutation(
        description="绑定手机号：用 getPhoneNumber 得到的 code；若社区已登记该手机号，账号并入登记的人员。"
    )
    async def bind_phone(
        self,
        info: Info[Context, None],
        code: Annotated[str, strawberry.argument(description="getPhoneNumber 得到的 code。")],
    ) -> AuthPayload:
        return AuthPayload.from_result(await login.bind_phone(info.context, code=code))

    @strawberry.mutation(description="续期：用续期令牌换取新的访问令牌和新的续期令牌（旧的随即失效）。")
    async def refresh_token(
        self,
        info: Info[Context, None],
        refresh_token: Annotated[str, strawberry.argument(description="登录或上次续期得到的续期令牌。")],
    ) -> AuthPayload:
        return AuthPayload.from_result(await login.refresh(info.context, refresh_token=refresh_token))

    @strawberry.mutation(description="退出登录：本访问令牌及其续期令牌立即失效。")
    async def logout(self, info: Info[Context, None]) -> bool:
        return await sessions.logout(info.context)

    @strawberry.mutation(
        description="在所有设备上退出登录：本人此前签发的所有令牌立即失效，已打开的实时连接随即断开。"
    )
    async def logout_everywhere(self, info: Info[Context, None]) -> bool:
        return await sessions.logout_everywhere(info.context)

    @strawberry.mutation(description="开发环境专用：按手机号直接登录。")
    async def dev_login(
        self,
        info: Info[Context, None],
        phone: Annotated[str, strawberry.argument(description="已登记的手机号。")],
    ) -> AuthPayload:
        return AuthPayload.from_result(await login.dev_login(info.context, phone=phone))
