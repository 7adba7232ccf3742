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
from resolvers import place, task
from resolvers.context import Context
from resolvers.pages import Key, Page, order, read, window
from resolvers.person import PersonView, people_statement, view_of

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


#: people by id (a stable order that shows nothing: a cursor holding a name would tell a reader
#: who sees it masked the name in full), households by number, tasks newest first
PEOPLE = order(Key("id"))
HOUSEHOLDS = place.HOUSEHOLDS
TASKS = task.TASKS


async def people(ctx: Context, text: str, *, first: int | None, after: str | None) -> Page[PersonView]:
    """The people found, as the caller sees them."""
    p = Person.__table__
    statement = people_statement(ctx.principal).where(*people_found(ctx.principal, p, pattern(text)))
    w = window(PEOPLE, first=first, after=after)
    page = await read(ctx.sessions, statement, p, PEOPLE, w, params(ctx.principal), scalars=False)
    return page.map(view_of)


async def households(ctx: Context, text: str, *, first: int | None, after: str | None) -> Page[Household]:
    """The households found, by number."""
    h = Household.__table__
    statement = sa.select(Household).where(*households_found(ctx.principal, h, pattern(text)))
    w = window(HOUSEHOLDS, first=first, after=after)
    return await read(ctx.sessions, statement, h, HOUSEHOLDS, w, params(ctx.principal))


async def tasks(ctx: Context, text: str, *, first: int | None, after: str | None) -> Page[Task]:
    """The tasks found, newest first."""
    t = Task.__table__
    statement = sa.select(Task).where(*tasks_found(ctx.principal, t, pattern(text)))
    page = await read(
        ctx.sessions, statement, t, TASKS, window(TASKS, first=first, after=after), params(ctx.principal)
    )
    for r in page.rows:
        task.task_loader(ctx).prime(r.id, r)
    return page
