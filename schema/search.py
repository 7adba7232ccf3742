"""Search (`search(text:)`) as a GraphQL type: three connections, each filtered by the policy."""

from __future__ import annotations

from typing import Annotated, Any

import sqlalchemy as sa
import strawberry
from graphql import FieldNode
from strawberry.types import Info

from auth.policy import require_authenticated
from models.errors import BadUserInputError
from models.person import Person as PersonRow
from models.place import Household as HouseholdRow
from models.task import Task as TaskRow
from resolvers import search as search_resolvers
from resolvers.context import Context
from schema import compiler
from schema.person import Person
from schema.place import AFTER, FIRST, Household
from schema.relay import Connection
from schema.task import Task

_FIRST = Annotated[int | None, strawberry.argument(description=FIRST)]
_AFTER = Annotated[str | None, strawberry.argument(description=AFTER)]


@strawberry.type(description="搜索结果：您有权查看的人员、住户和事项，按各自的顺序分页。")
class SearchResults:
    _text: strawberry.Private[str]

    @strawberry.field(description="姓名或手机号含搜索内容的人员，按姓名排序；被脱敏的部分不参与匹配。")
    async def people(
        self, info: Info[Context, None], first: _FIRST = 20, after: _AFTER = None
    ) -> Connection[Person]:
        page = await search_resolvers.people(info.context, self._text, first=first, after=after)
        return Connection.from_page(page, Person.from_view)

    @strawberry.field(description="门牌号含搜索内容的住户（例如 6-1-302），按门牌号排序。")
    async def households(
        self, info: Info[Context, None], first: _FIRST = 20, after: _AFTER = None
    ) -> Connection[Household]:
        page = await search_resolvers.households(info.context, self._text, first=first, after=after)
        return Connection.from_page(page, Household.from_row)

    @strawberry.field(description="标题或描述含搜索内容的事项，最新的在前。")
    async def tasks(
        self, info: Info[Context, None], first: _FIRST = 20, after: _AFTER = None
    ) -> Connection[Task]:
        page = await search_resolvers.tasks(info.context, self._text, first=first, after=after)
        return Connection.from_page(page, Task.from_row)


@strawberry.type
class Query:
    @strawberry.field(
        description="按姓名、手机号、门牌号、事项标题或描述搜索（至少 2 个字，最多 50 个字；手机号和门牌号至少 3 位）。"
    )
    def search(
        self,
        info: Info[Context, None],
        text: Annotated[str, strawberry.argument(description="搜索内容，例如 张德明、0007、6-1-302、井盖。")],
    ) -> SearchResults:
        require_authenticated(info.context.principal)
        search_resolvers.pattern(text)  # refused before any list is asked
        return SearchResults(_text=text)


# --- the compiled read path (schema.compiler) ------------------------------------------------------


assert compiler.SHORT_TEXT == search_resolvers.TRIGRAM, "plans are made per way a text is searched"


def _pattern(value: Any) -> str:
    try:
        return search_resolvers.pattern(value if isinstance(value, str) else "")
    except BadUserInputError:
        raise compiler.Fallback("a search strawberry refuses") from None


def _cleaned(value: Any) -> str:
    try:
        return search_resolvers.cleaned(value if isinstance(value, str) else "")
    except BadUserInputError:
        raise compiler.Fallback("a search strawberry refuses") from None


def _search(c: compiler.Compiler, r: compiler.Row, n: list[FieldNode]) -> Any:
    if not c.who.is_authenticated:
        raise compiler.Fallback("anonymous")
    like = sa.cast(c.argument(n, "text", _pattern), sa.Text)
    text = sa.cast(c.argument(n, "text", _cleaned), sa.Text)
    given = next((a.value for a in n[0].arguments or () if a.name.value == "text"), None)
    brief = given is not None and search_resolvers.short(_cleaned(c.value(given)))
    lists = {
        "people": (
            "Person",
            PersonRow.__table__,
            search_resolvers.people_found,
            search_resolvers.PEOPLE,
        ),
        "households": (
            "Household",
            HouseholdRow.__table__,
            search_resolvers.households_found,
            search_resolvers.HOUSEHOLDS,
        ),
        "tasks": ("Task", TaskRow.__table__, search_resolvers.tasks_found, search_resolvers.TASKS),
    }
    pairs: list[Any] = []
    for key, nodes in c.collect("SearchResults", n).items():
        name = nodes[0].name.value
        if name == "__typename":
            value: Any = sa.literal("SearchResults")
        elif name in lists:
            type_name, table, found, order = lists[name]
            value = c.connection(
                type_name,
                table,
                nodes,
                lambda t, found=found: found(c.who, t, like, text, brief=brief),
                order,
            )
        else:
            raise compiler.Fallback(f"SearchResults.{name}")
        pairs += [sa.literal(key), value]
    return sa.func.json_build_object(*pairs, type_=compiler.JSON)


ROOTS = {"search": _search}
