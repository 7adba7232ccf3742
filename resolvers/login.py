"""Logging in: WeChat (code → openid, then phone binding), the dev shortcut, token minting."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError

from auth import tokens
from auth.backend import REVOKED, load_person_principal
from auth.budget import check_wechat_code, client_address
from auth.policy import require_dev_environment, require_person
from auth.principal import PersonPrincipal
from models.errors import BadUserInputError, ConflictError, UnauthenticatedError, UpstreamError
from models.person import Home, Person, RoleAssignment, TeamPosition
from resolvers import audit, messages, sessions
from resolvers.context import Context

#: what a person created by a first WeChat login is called until they bind their phone
WECHAT_PLACEHOLDER_NAME = "微信用户"


@dataclass(frozen=True)
class AuthResult:
    token: str
    expires_at: datetime
    refresh_token: str
    principal: PersonPrincipal


async def _issue(ctx: Context, person_id: uuid.UUID) -> AuthResult:
    """A new login: an access token and a refresh token of a new family; the rest of the response
    is resolved as the person (`me` shows them)."""
    async with ctx.sessions() as session, session.begin():
        family = uuid.uuid4()
        refresh = await sessions.new_refresh_token(session, person_id, family)
        principal = await load_person_principal(session, person_id)
        role = audit.held(principal) if principal is not None else ""
        if role:  # a login of staff (someone holding a role or a position)
            await audit.append(
                session,
                action="LOGIN",
                actor=audit.person(principal, role),
                object_type="PERSON",
                object_id=person_id,
                address=client_address(ctx.request),
            )
    return await _tokens(ctx, person_id, family, refresh)


async def _tokens(ctx: Context, person_id: uuid.UUID, family: uuid.UUID, refresh: str) -> AuthResult:
    async with ctx.sessions() as session:
        principal = await load_person_principal(session, person_id)
    if principal is None:
        raise UnauthenticatedError("账号不存在或已被注销，请重新登录。")
    token, expires = tokens.mint(
        person_id, secret=ctx.services.secret, ttl_seconds=ctx.services.token_ttl_seconds, session=family
    )
    ctx.act_as(principal)
    return AuthResult(token, expires, refresh, principal)


async def refresh(ctx: Context, *, refresh_token: str) -> AuthResult:
    """A new access token and the next refresh token, for a refresh token not used before."""
    async with ctx.sessions() as session, session.begin():
        used = await sessions.use_refresh_token(session, refresh_token)
    if used is None:  # a copy of a used token: its family has ended, committed above
        raise UnauthenticatedError(REVOKED)
    person_id, family, following = used
    return await _tokens(ctx, person_id, family, following)


async def dev_login(ctx: Context, *, phone: str) -> AuthResult:
    require_dev_environment(ctx.services.is_dev)
    async with ctx.sessions() as session:
        person_id = (
            await session.execute(sa.select(Person.id).where(Person.phone == phone.strip()))
        ).scalar()
    if person_id is None:
        raise BadUserInputError("没有使用该手机号的人员，请先导入人员名单。", field="phone")
    return await _issue(ctx, person_id)


def _wechat(ctx: Context):
    if ctx.services.wechat is None:
        raise UpstreamError("本服务尚未配置微信登录，请联系管理员。")
    return ctx.services.wechat


async def _ask_wechat(ctx: Context, code: str, ask):
    """A well-formed code, from an address within WeChat's budget, asked once; a code WeChat
    refuses counts against the address (a client guessing codes is stopped before WeChat is)."""
    code = check_wechat_code(code)
    budget, address = ctx.services.budget, client_address(ctx.request)
    if budget is not None:
        await budget.wechat_call(address)
    try:
        return await ask(code)
    except BadUserInputError:
        if budget is not None:
            await budget.wechat_refused(address)
        raise


async def wechat_login(ctx: Context, *, code: str) -> AuthResult:
    """The person bound to this WeChat user; a new, phone-less person on the very first login."""
    session_info = await _ask_wechat(ctx, code, _wechat(ctx).code_to_session)
    statement = (
        insert(Person)
        .values(
            name=WECHAT_PLACEHOLDER_NAME,
            wechat_openid=session_info.openid,
            wechat_unionid=session_info.unionid,
        )
        .on_conflict_do_update(
            index_elements=[Person.wechat_openid],
            set_={
                "wechat_unionid": sa.func.coalesce(
                    insert(Person).excluded.wechat_unionid, Person.wechat_unionid
                )
            },
        )
        .returning(Person.id)
    )
    async with ctx.sessions() as session, session.begin():
        person_id = (await session.execute(statement)).scalar_one()
    return await _issue(ctx, person_id)


async def bind_phone(ctx: Context, *, code: str) -> AuthResult:
    """Bind the caller's WeChat identity to the person with the phone WeChat vouches for.

    When the operator already imported someone with that phone, the WeChat identity moves to them
    (and the placeholder made at first login goes away); otherwise the caller keeps the phone.
    """
    caller = require_person(ctx.principal)
    phone = await _ask_wechat(ctx, code, _wechat(ctx).phone_number)
    async with ctx.sessions() as session, session.begin():
        me = (
            await session.execute(sa.select(Person).where(Person.id == caller.person_id).with_for_update())
        ).scalar_one()
        if me.phone == phone:
            return await _after(ctx, me.id)
        owner = (
            await session.execute(sa.select(Person).where(Person.phone == phone).with_for_update())
        ).scalar()
        if owner is None:
            if me.phone is not None:
                raise ConflictError("您的账号已绑定其他手机号，如需更换请联系社区。")
            me.phone = phone
            try:
                await session.flush()
            except IntegrityError:
                raise ConflictError("该手机号刚刚被其他账号绑定，请联系社区核实。") from None
            target = me.id
        else:
            if owner.wechat_openid is not None and owner.wechat_openid != me.wechat_openid:
                raise ConflictError("该手机号已绑定其他微信账号，如有疑问请联系社区。")
            openid, unionid = me.wechat_openid, me.wechat_unionid
            me.wechat_openid = None
            me.wechat_unionid = None
            await session.flush()
            owner.wechat_openid = openid
            owner.wechat_unionid = unionid or owner.wechat_unionid
            await messages.move_consents(session, from_person=me.id, to_person=owner.id)
            if me.phone is None and not await _has_links(session, me.id):
                await session.delete(me)
            target = owner.id
    return await _after(ctx, target)


async def _has_links(session, person_id: uuid.UUID) -> bool:
    for model in (Home, RoleAssignment, TeamPosition):
        if (
            await session.execute(sa.select(sa.literal(1)).where(model.person_id == person_id).limit(1))
        ).first():
            return True
    return False


async def _after(ctx: Context, person_id: uuid.UUID) -> AuthResult:
    return await _issue(ctx, person_id)
