"""People as GraphQL types: always built from a `PersonView` the policy has masked."""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING, Annotated, Any

import sqlalchemy as sa
import strawberry
from graphql import FieldNode
from strawberry.types import Info

from auth.bindings import alias
from auth.policy import Action, Field, Resource, shown_parts, shown_sql, where
from auth.rules import is_false, is_true
from models.enums import HomeRelation as HomeRelationEnum
from models.enums import Position as PositionEnum
from models.enums import Role as RoleEnum
from models.party import PartyProfile
from models.person import Person as PersonRow
from models.place import Building as BuildingRow
from resolvers import person as person_resolvers
from resolvers.context import Context
from resolvers.ids import encode
from resolvers.person import OccupantView, PersonView, TeamSeatView
from resolvers.place import building_loader
from schema import compiler, docs
from schema.relay import Node, Nodes, node

if TYPE_CHECKING:
    from schema.place import Building

Position = docs.enum(
    PositionEnum,
    "五员共治班子的职务。",
    {
        "CHIEF_CONVENER": "总召集人。",
        "DEPUTY_CONVENER": "副召集人。",
        "COMMITTEE_MEMBER": "委员。",
        "BUILDING_CONVENER": "楼栋召集人（负责一栋楼）。",
    },
)
Role = docs.enum(
    RoleEnum,
    "五员共治中的角色，以及平台管理员。",
    {
        "PARTY_MEMBER": "在职党员（一个小区）。",
        "COMMUNITY_COMMITTEE": "社区“两委”成员（一个社区的所有小区）。",
        "GRID_WORKER": "网格员（一个网格的小区）。",
        "PROPERTY_STAFF": "物业人员（所服务的小区）。",
        "OWNERS_COMMITTEE": "业委会成员（一个小区）。",
        "ADMIN": "平台管理员（区级运营）。",
    },
)


HomeRelation = docs.enum(
    HomeRelationEnum,
    "与住户的关系：业主或租户。",
    {"OWNER": "业主（产权人，含共有人）。", "TENANT": "租户。"},
)


@strawberry.type(description="党员信息（敏感）：只有本人和社区“两委”看得到全部，网格员只看到报到状态。")
class PartyInfo:
    registered: bool = strawberry.field(description="是否已向居住小区报到。")
    work_unit: str | None = strawberry.field(description="所在单位党组织；无权查看时为空。")
    registered_on: datetime.date | None = strawberry.field(description="报到日期；无权查看时为空。")


@strawberry.type(description="一个人。姓名和手机号按查看者的权限脱敏显示；在哪里看到都一样。")
class Person(Node):
    _view: strawberry.Private[PersonView]
    name: str = strawberry.field(description="姓名；无权查看全名时只显示姓，例如 李*。")
    phone: str | None = strawberry.field(description="手机号；无权查看时为空，部分角色只看到 138****1234。")

    @classmethod
    def from_view(cls, view: PersonView) -> Person:
        return cls(_view=view, id=strawberry.ID(encode("Person", view.id)), name=view.name, phone=view.phone)

    @strawberry.field(description="党员信息；不是党员或无权查看时为空。")
    def party(self) -> PartyInfo | None:
        found = self._view.party
        if found is None:
            return None
        return PartyInfo(
            registered=found.registered, work_unit=found.work_unit, registered_on=found.registered_on
        )


@strawberry.type(description="住在某户的人及其关系。")
class Occupant:
    person: Person = strawberry.field(description="这个人。")
    relation: HomeRelation = strawberry.field(description="业主或租户。")

    @classmethod
    def from_view(cls, view: OccupantView) -> Occupant:
        return cls(person=Person.from_view(view.person), relation=view.relation)


@strawberry.type(description="小区班子中的一个职务。")
class TeamMember:
    _seat: strawberry.Private[TeamSeatView]
    position: Position = strawberry.field(description="职务。")
    person: Person = strawberry.field(description="担任职务的人。")

    @classmethod
    def from_view(cls, seat: TeamSeatView) -> TeamMember:
        return cls(_seat=seat, position=seat.position, person=Person.from_view(seat.person))

    @strawberry.field(description="楼栋召集人负责的楼栋；其他职务为空。")
    async def building(
        self, info: Info[Context, None]
    ) -> Annotated[Building, strawberry.lazy("schema.place")] | None:
        from schema.place import Building

        if self._seat.building_id is None:
            return None
        row = await building_loader(info.context).load(self._seat.building_id)
        return Building.from_row(row) if row else None


NODES: Nodes = {"Person": node(Person.from_view, lambda ctx, i: person_resolvers.person(ctx, person_id=i))}


# --- the compiled read path (schema.compiler) ------------------------------------------------------


def person_sql(c: compiler.Compiler, row: compiler.Row, nodes: list[FieldNode]) -> Any:
    """A person as the caller sees them: the masks are the policy's (`auth.policy.FIELDS`)."""
    return c.object("Person", row, nodes)


def _party(c: compiler.Compiler, row: compiler.Row, nodes: list[FieldNode]) -> Any:
    p = row.t
    pp = alias(PartyProfile)
    status = shown_sql(c.who, Resource.PERSON, Field.PARTY_STATUS, p, sa.true())
    fields = {
        "registered": lambda: pp.c.registered_on.is_not(None),
        "workUnit": lambda: shown_sql(c.who, Resource.PERSON, Field.PARTY_DETAIL, p, pp.c.work_unit),
        "registeredOn": lambda: shown_sql(
            c.who, Resource.PERSON, Field.PARTY_DETAIL, p, sa.func.to_char(pp.c.registered_on, "YYYY-MM-DD")
        ),
        "__typename": lambda: sa.literal("PartyInfo"),
    }
    pairs: list[Any] = []
    for key, field_nodes in c.collect("PartyInfo", nodes).items():
        pairs += [sa.literal(key), fields[field_nodes[0].name.value]()]
    shown = sa.case(
        (status.is_(True), sa.func.json_build_object(*pairs, type_=compiler.JSON)), else_=sa.null()
    )
    return sa.select(shown).where(pp.c.person_id == p.c.id).scalar_subquery()


def people_sql(c: compiler.Compiler, nodes: list[FieldNode], person_id: Any, *, nullable: bool = True) -> Any:
    """The person with this id, shown through an edge.

    An edge vouches for the people it shows: a person is visible wherever the caller may see them
    shown (`auth.policy`, PERSON:READ), and every edge to people is such a place — a household's
    occupants, a team the caller may read, a readable task's reporter, assignees, parties and
    actors, its meetings' attendees, a roster its organisers read. So the compiled edges do not
    ask the policy's person filter again (only `node(id:)` does); the edge-vs-node test proves it."""
    return c.one("Person", PersonRow.__table__, nodes, lambda t: t.c.id == person_id, nullable=nullable)


def known_ties(row: compiler.Row) -> dict[str, Any]:
    """The ties of the row's person the statement already holds (`Row(t=person, ties=(…))`: the
    edge that reached them knows them, e.g. a household's owners their home there,
    `auth.bindings.home_tie`), for the policy to ask before it searches all of the person's ties."""
    return {"ties": getattr(row, "ties", ())}


_PERSON_FIELDS: dict[str, compiler.FieldSQL] = {
    "id": compiler.column(lambda r: compiler.global_id("Person", r.t.c.id)),
    "name": lambda c, r, n: shown_sql(c.who, Resource.PERSON, Field.NAME, r.t, r.t.c.name, known_ties(r)),
    "phone": lambda c, r, n: shown_sql(c.who, Resource.PERSON, Field.PHONE, r.t, r.t.c.phone, known_ties(r)),
    "party": _party,
}


def _person_object(c: compiler.Compiler, row: compiler.Row, nodes: list[FieldNode]) -> Any:
    """A person whose name and phone the caller sees in full under one and the same condition (staff
    reading their area's residents, a resident reading themself) is written as two objects and
    that condition asked once per person, not once per field: for a page of two hundred owners it
    is most of the statement's work. Otherwise field by field."""
    asked = {n.name.value for nodes_ in c.collect("Person", nodes).values() for n in nodes_}
    p = row.t
    known = known_ties(row)
    name_full, name_else = shown_parts(c.who, Resource.PERSON, Field.NAME, p, p.c.name, known)
    phone_full, phone_else = shown_parts(c.who, Resource.PERSON, Field.PHONE, p, p.c.phone, known)
    if (
        not {"name", "phone"} <= asked
        or is_true(name_full)
        or is_false(name_full)
        or not name_full.compare(phone_full)
    ):
        return c.object("Person", row, nodes, fields={})
    seen = {
        "name": compiler.column(lambda r: r.t.c.name),
        "phone": compiler.column(lambda r: r.t.c.phone),
    }
    unseen: dict[str, compiler.FieldSQL] = {
        "name": lambda c, r, n: name_else,
        "phone": lambda c, r, n: phone_else,
    }
    return sa.case(
        (name_full, c.object("Person", row, nodes, fields=seen)),
        else_=c.object("Person", row, nodes, fields=unseen),
    )


SQL = {
    "Person": compiler.TypeSQL(_PERSON_FIELDS, whole=_person_object),
    "Occupant": compiler.TypeSQL(
        {
            "person": lambda c, r, n: c.object(
                "Person", compiler.Row(t=r.person, ties=getattr(r, "ties", ())), n
            ),
            "relation": compiler.column(lambda r: r.home.c.relation),
        }
    ),
    "TeamMember": compiler.TypeSQL(
        {
            "position": compiler.column(lambda r: r.seat.c.position),
            "person": lambda c, r, n: c.object("Person", compiler.Row(t=r.person), n),
            "building": lambda c, r, n: c.one(
                "Building",
                BuildingRow.__table__,
                n,
                lambda t: t.c.id == r.seat.c.building_id,
                allowed=lambda t: where(c.who, Resource.BUILDING, Action.READ, t),
            ),
        }
    ),
}
SQL_NODES = {"Person": (PersonRow.__table__, lambda c, t: where(c.who, Resource.PERSON, Action.READ, t))}
