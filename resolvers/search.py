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
from sqlalchemy.dialects.postgresql import ARRAY

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


def cleaned(text: str) -> str:
    """What a person typed, its spaces tidied. Fewer than two characters would match most of a city
    and use no index: refused."""
    tidy = " ".join(text.split())
    if len(tidy) < SEARCH_MIN:
        raise BadUserInputError(f"请至少输入 {SEARCH_MIN} 个字再搜索。", field="text")
    if len(tidy) > SEARCH_MAX:
        raise BadUserInputError(f"搜索内容不能超过 {SEARCH_MAX} 个字。", field="text")
    return tidy


def pattern(text: str) -> str:
    """The ILIKE pattern of what a person typed: its wildcards taken literally."""
    escaped = cleaned(text).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


#: a text shorter than this has no trigram to look up: a name is then found through the index of
#: its characters (migration 0019), and a phone not at all (two digits are in almost every phone);
#: the index of characters serves longer names too, with the trigrams
TRIGRAM = 3


def _characters(value: Any) -> Any:
    return sa.func.string_to_array(sa.func.lower(value), None, type_=ARRAY(sa.Text))


def short(text: str) -> bool:
    """Whether a (cleaned) text is too short for a trigram: then it is searched another way, and
    a compiled plan is made for each way (`schema.compiler.Plans`)."""
    return len(text) < TRIGRAM


def people_found(who: Principal, p: Any, like: Any, text: Any, *, brief: bool = False) -> list[Any]:
    """People (`p`: the person table or an alias) the caller may see whose name or phone, as the
    caller sees it, holds the pattern. `text` is what was typed (`cleaned`), a value or a parameter;
    `brief`: it is shorter than a trigram (`short`), so the name is found through the index of its
    characters alone (a trigram index asked for two characters would return every row) and no
    phone is searched."""
    typed = sa.cast(text, sa.Text) if isinstance(text, sa.sql.ClauseElement) else sa.literal(text, sa.Text)
    has_characters = _characters(p.c.name).contains(_characters(typed))

    def seen(field: Field, column: Any) -> Any:
        shown = shown_sql(who, Resource.PERSON, field, p, column)
        if brief:  # written so that no trigram index matches it
            column, shown = sa.func.concat(column, ""), sa.func.concat(shown, "")
        return sa.and_(column.ilike(like), shown.ilike(like))

    readable = where(who, Resource.PERSON, Action.READ, p)
    if brief:
        return [readable, has_characters, seen(Field.NAME, p.c.name)]
    return [
        readable,
        sa.or_(sa.and_(has_characters, seen(Field.NAME, p.c.name)), seen(Field.PHONE, p.c.phone)),
    ]


def households_found(
    who: Principal, h: Any, like: Any, text: Any = None, *, brief: bool = False
) -> list[Any]:
    """Households by number; a text too short for a trigram finds none (two characters of a number
    are in most numbers of a compound)."""
    if brief:
        return [sa.false()]
    return [where(who, Resource.HOUSEHOLD, Action.READ, h), h.c.number.ilike(like)]


def tasks_found(who: Principal, t: Any, like: Any, text: Any = None, *, brief: bool = False) -> list[Any]:
    """Tasks by title or description. A two-character text (漏水) is common here and has no trigram:
    it is written so that the trigram indexes are not asked (they would return every row), and the
    tasks the caller may read are scanned."""
    title, description = t.c.title, t.c.description
    if brief:
        title, description = sa.func.concat(title, ""), sa.func.concat(description, "")
    return [where(who, Resource.TASK, Action.READ, t), sa.or_(title.ilike(like), description.ilike(like))]


#: people by id (a stable order that shows nothing: a cursor holding a name would tell a reader
#: who sees it masked the name in full), households by number, tasks newest first
PEOPLE = order(Key("id"))
HOUSEHOLDS = place.HOUSEHOLDS
TASKS = task.TASKS


async def people(ctx: Context, text: str, *, first: int | None, after: str | None) -> Page[PersonView]:
    """The people found, as the caller sees them."""
    p = Person.__table__
    typed = cleaned(text)
    found = people_found(ctx.principal, p, pattern(text), typed, brief=short(typed))
    statement = people_statement(ctx.principal).where(*found)
    w = window(PEOPLE, first=first, after=after)
    page = await read(ctx.sessions, statement, p, PEOPLE, w, params(ctx.principal), scalars=False)
    return page.map(view_of)


async def households(ctx: Context, text: str, *, first: int | None, after: str | None) -> Page[Household]:
    """The households found, by number."""
    h = Household.__table__
    typed = cleaned(text)
    found = households_found(ctx.principal, h, pattern(text), typed, brief=short(typed))
    statement = sa.select(Household).where(*found)
    w = window(HOUSEHOLDS, first=first, after=after)
    return await read(ctx.sessions, statement, h, HOUSEHOLDS, w, params(ctx.principal))


async def tasks(ctx: Context, text: str, *, first: int | None, after: str | None) -> Page[Task]:
    """The tasks found, newest first."""
    t = Task.__table__
    typed = cleaned(text)
    statement = sa.select(Task).where(
        *tasks_found(ctx.principal, t, pattern(text), typed, brief=short(typed))
    )
    page = await read(
        ctx.sessions, statement, t, TASKS, window(TASKS, first=first, after=after), params(ctx.principal)
    )
    for r in page.rows:
        task.task_loader(ctx).prime(r.id, r)
    return page
