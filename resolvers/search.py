"""Search (`search(text:)`): people, households and tasks the caller may see, by a piece of their text.

A person is found by their name or phone only where the caller sees it, and only by the part the
caller sees: the text must be in the stored value (which the trigram indexes of migration 0014
serve) and in the value as the policy shows it to this caller (`auth.policy.shown_sql`), so a
masked name (`张*`) or phone (`138****0007`) is never found by what the mask hides. Every list is
the policy's own filter, as everywhere. The conditions are written once, for both read paths.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from auth.policy import Action, Field, Resource, params, shown_sql, where
from auth.principal import Principal
from models.errors import BadUserInputError
from models.person import Person
from models.place import Household
from models.task import Task
from resolvers.context import Context
from resolvers.ids import page_size
from resolvers.loaders import Page
from resolvers.person import PersonView, people_statement, view_of
from resolvers.task import task_loader

SEARCH_MIN = 2
SEARCH_MAX = 50


def pattern(text: str) -> str:
    """The ILIKE pattern of what a person typed: its wildcards taken literally. Fewer than two
    characters would match most of a city and use no index: refused."""
    cleaned = " ".join(text.split())
    if len(cleaned) < SEARCH_MIN:
        raise BadUserInputError(f"请至少输入 {SEARCH_MIN} 个字再搜索。", field="text")
    if len(cleaned) > SEARCH_MAX:
        raise BadUserInputError(f"搜索内容不能超过 {SEARCH_MAX} 个字。", field="text")
    escaped = cleaned.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def people_found(who: Principal, p: Any, like: Any) -> list[Any]:
    """People (`p`: the person table or an alias) the caller may see whose name or phone, as the
    caller sees it, holds the pattern."""

    def seen(field: Field, column: Any) -> Any:
        return sa.and_(column.ilike(like), shown_sql(who, Resource.PERSON, field, p, column).ilike(like))

    return [
        where(who, Resource.PERSON, Action.READ, p),
        sa.or_(seen(Field.NAME, p.c.name), seen(Field.PHONE, p.c.phone)),
    ]


def households_found(who: Principal, h: Any, like: Any) -> list[Any]:
    return [where(who, Resource.HOUSEHOLD, Action.READ, h), h.c.number.ilike(like)]


def tasks_found(who: Principal, t: Any, like: Any) -> list[Any]:
    return [
        where(who, Resource.TASK, Action.READ, t),
        sa.or_(t.c.title.ilike(like), t.c.description.ilike(like)),
    ]


def people_order(t: Any) -> list[Any]:
    return [t.c.name, t.c.id]


def households_order(t: Any) -> list[Any]:
    return [t.c.number, t.c.id]


def tasks_order(t: Any) -> list[Any]:
    return [t.c.created_at.desc(), t.c.id]


async def _page(ctx: Context, statement: Any, first: int | None, offset: int) -> tuple[list[Any], Page[Any]]:
    limit = page_size(first)
    async with ctx.sessions() as session:
        rows = list(
            (await session.execute(statement.offset(offset).limit(limit + 1), params(ctx.principal))).all()
        )
    return rows[:limit], Page([], offset, len(rows) > limit)


async def people(ctx: Context, text: str, *, first: int | None, offset: int) -> Page[PersonView]:
    """The people found, as the caller sees them, by name."""
    p = Person.__table__
    statement = people_statement(ctx.principal).where(*people_found(ctx.principal, p, pattern(text)))
    rows, page = await _page(ctx, statement.order_by(*people_order(p)), first, offset)
    return Page([view_of(r) for r in rows], page.offset, page.has_next)


async def households(ctx: Context, text: str, *, first: int | None, offset: int) -> Page[Household]:
    """The households found, by number."""
    h = Household.__table__
    statement = sa.select(Household).where(*households_found(ctx.principal, h, pattern(text)))
    rows, page = await _page(ctx, statement.order_by(*households_order(h)), first, offset)
    return Page([r.Household for r in rows], page.offset, page.has_next)


async def tasks(ctx: Context, text: str, *, first: int | None, offset: int) -> Page[Task]:
    """The tasks found, newest first."""
    t = Task.__table__
    statement = sa.select(Task).where(*tasks_found(ctx.principal, t, pattern(text)))
    rows, page = await _page(ctx, statement.order_by(*tasks_order(t)), first, offset)
    for r in rows:
        task_loader(ctx).prime(r.Task.id, r.Task)
    return Page([r.Task for r in rows], page.offset, page.has_next)
