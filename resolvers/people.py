"""The register of people: a name corrected, a phone bound or changed, by the staff answerable for
the person's area (`Action.MANAGE_PERSON`).

A person's phone is who they are across the city (a world file names people by it, a WeChat login
binds to it), so a phone another person holds is refused, never taken over; of two staff giving
two people one new phone at once, the second is refused by the database's uniqueness. Every change
is on the audit trail, saying which fields changed and not their values.
"""

from __future__ import annotations

import re
import uuid

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from auth.budget import client_address
from auth.masking import mask_phone
from auth.policy import Action, Resource, not_visible, params, refusal, require_person, where
from models.errors import BadUserInputError, ConflictError
from models.person import NAME_MAX, PHONE_PATTERN, Home, Person
from models.place import Compound
from models.terms import in_force
from resolvers import audit
from resolvers.context import Context
from resolvers.text import clean_text


def _cleaned(name: str | None, phone: str | None) -> tuple[str | None, str | None]:
    if name is None and phone is None:
        raise BadUserInputError("请填写要更正的姓名或手机号。", field="name")
    if name is not None:
        name = clean_text(name, field="name", label="姓名", maximum=NAME_MAX)
    if phone is not None:
        phone = phone.strip()
        if not re.fullmatch(PHONE_PATTERN, phone):
            raise BadUserInputError("手机号格式不正确：应为以 1 开头的 11 位数字。", field="phone")
    return name, phone


async def update_person(
    ctx: Context, *, person_id: uuid.UUID, name: str | None, phone: str | None
) -> uuid.UUID:
    """Correct a person's name and/or phone. Returns the person's id (the caller reads them back as
    the policy shows them)."""
    who = require_person(ctx.principal)
    name, phone = _cleaned(name, phone)
    p = Person.__table__
    statement = (
        sa.select(
            p.c.id, p.c.name, p.c.phone, where(who, Resource.PERSON, Action.MANAGE_PERSON, p).label("may")
        )
        .where(p.c.id == person_id, where(who, Resource.PERSON, Action.READ, p))
        .with_for_update(of=p)
    )
    async with ctx.sessions() as session, session.begin():
        found = (await session.execute(statement, params(who))).first()
        if found is None:
            raise not_visible()
        if not found.may:
            raise refusal(Resource.PERSON, Action.MANAGE_PERSON)
        changes = {
            column: value
            for column, value, old in (("name", name, found.name), ("phone", phone, found.phone))
            if value is not None and value != old
        }
        if not changes:
            raise BadUserInputError("填写的内容与现有登记相同，没有需要更正的地方。", field="name")
        if "phone" in changes:
            taken = await session.execute(sa.select(p.c.id).where(p.c.phone == phone, p.c.id != person_id))
            if taken.first() is not None:
                raise _phone_taken(phone)
        try:
            await session.execute(sa.update(p).where(p.c.id == person_id).values(**changes))
        except IntegrityError:  # another person took the phone a moment ago
            raise _phone_taken(phone) from None
        await audit.append(
            session,
            action=Action.MANAGE_PERSON.value,
            actor=audit.person(who, audit.held(who) or "RESIDENT"),
            object_type=Resource.PERSON.value,
            object_id=person_id,
            community_id=await _community_of(session, person_id),
            address=client_address(ctx.request),
            detail={"changed": sorted(changes)},
        )
    return person_id


def _phone_taken(phone: str | None) -> ConflictError:
    return ConflictError(f"手机号 {mask_phone(phone or '')} 已登记在另一位人员名下，请核对后再更正。")


async def _community_of(session: AsyncSession, person_id: uuid.UUID) -> uuid.UUID | None:
    """The community whose committee reads this change on the audit trail: that of the person's
    home (the first, for someone with homes in several)."""
    h, c = Home.__table__, Compound.__table__
    statement = (
        sa.select(c.c.community_id)
        .select_from(h.join(c, c.c.id == h.c.compound_id))
        .where(h.c.person_id == person_id, in_force(h))
        .order_by(h.c.starts_on, h.c.id)
        .limit(1)
    )
    return (await session.execute(statement)).scalar_one_or_none()
