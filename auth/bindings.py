"""Where the policy's attributes live in the database: one binding per kind of object.

A binding maps each attribute of an object's facts (`auth.facts`) to SQL over a row of its table:
a column, a column of the row's compound, a set of people, or a collection of other objects. The
policy's conditions compile against it (`auth.rules.Row`), and a mutation reads an object's facts
through it (`facts_columns`), so the filter of a list and the check of one object read the same
columns.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.sql import FromClause

from auth.facts import (
    AreaFacts,
    ClaimFacts,
    ElectorFacts,
    EvaluationFacts,
    NoticeFacts,
    PersonFacts,
    PlaceFacts,
    RegionFacts,
    TaskFacts,
    TieFacts,
    VoteFacts,
)
from auth.rules import FALSE, SqlBool, is_false, is_true
from models.meeting import Meeting, MeetingAttendee
from models.party import PartyGroup, PartyGroupBuilding, PartyRegistration, RegistrationStatus
from models.person import Home, PersonTie, TeamPosition
from models.place import Building, Community, Compound, Household, Street
from models.proxy import VoteProxy
from models.proxy import in_force as proxy_in_force
from models.task import ModerationDecision, Task, TaskEvent, TaskMember
from models.task_rules import WORKING_ROLES, EventKind, MemberRole, Moderation
from models.terms import in_force
from models.volunteer import SignupStatus, VolunteerCall, VolunteerSignup
from models.vote import Vote as VoteRow
from models.vote import VoteElector, VoteOwner


@functools.cache
def light(table: sa.Table) -> Any:
    """A table as a plain `TableClause`: the same name and typed columns, without the schema
    machinery (events, constraints) that makes every alias of a `Table` costly to build. Rules and
    compiled reads alias tables by the hundred."""
    return sa.table(table.name, *(sa.column(c.name, c.type) for c in table.c))


def alias(model: Any) -> Any:
    """A fresh, cheap alias of a model's table (or of a table)."""
    return light(getattr(model, "__table__", model)).alias()


COMPOUND = light(Compound.__table__)
COMMUNITY = light(Community.__table__)
STREET = light(Street.__table__)
BUILDING = light(Building.__table__)
HOUSEHOLD = light(Household.__table__)
HOME = light(Home.__table__)
TEAM_POSITION = light(TeamPosition.__table__)
PERSON_TIE = light(PersonTie.__table__)
TASK = light(Task.__table__)
TASK_MEMBER = light(TaskMember.__table__)
TASK_EVENT = light(TaskEvent.__table__)
MODERATION_DECISION = light(ModerationDecision.__table__)
MEETING = light(Meeting.__table__)
MEETING_ATTENDEE = light(MeetingAttendee.__table__)
VOLUNTEER_CALL = light(VolunteerCall.__table__)
VOLUNTEER_SIGNUP = light(VolunteerSignup.__table__)
VOTE = light(VoteRow.__table__)
VOTE_ELECTORATE = light(VoteElector.__table__)
VOTE_OWNER = light(VoteOwner.__table__)
VOTE_PROXY = light(VoteProxy.__table__)
PARTY_REGISTRATION = light(PartyRegistration.__table__)
PARTY_GROUP = light(PartyGroup.__table__)
PARTY_GROUP_BUILDING = light(PartyGroupBuilding.__table__)


# --- the kinds of attribute ---------------------------------------------------------------------


@dataclass(frozen=True)
class Col:
    """A column of the row (or an expression over it)."""

    expr: Any


@dataclass(frozen=True)
class OfCompound:
    """A column (`grid_id`, `community_id`) of the compound the row belongs to."""

    compound_id: Any
    column: str


@dataclass(frozen=True)
class Nothing:
    """An attribute this kind of row does not have (a compound's building): always NULL."""


@dataclass(frozen=True)
class People:
    """A set of person ids: `build()` gives (FROM, the person id column, the correlation)."""

    build: Callable[[], tuple[FromClause, Any, SqlBool]]


@dataclass(frozen=True)
class Many:
    """A collection of other objects: `build()` gives (their binding, FROM, the correlation).
    `known`: elements the statement already holds (`Binding.knowing`), asked before the collection
    is searched."""

    build: Callable[[], tuple[Binding, FromClause, SqlBool]]
    known: tuple[Binding, ...] = ()


Attr = Col | OfCompound | Nothing | People | Many


class Binding:
    """One row of a table, as `auth.rules.Row`."""

    def __init__(self, attrs: dict[str, Attr]) -> None:
        self.attrs = attrs

    def col(self, attr: str) -> Any:
        found = self.attrs[attr]
        if isinstance(found, Col):
            return found.expr
        if isinstance(found, OfCompound):
            compound = COMPOUND.alias()
            return (
                sa.select(compound.c[found.column])
                .where(compound.c.id == found.compound_id)
                .scalar_subquery()
            )
        if isinstance(found, Nothing):
            return sa.null()
        raise TypeError(f"{attr} is not a single value")

    def place_in(self, attr: str, ids: Any) -> SqlBool:
        """The attribute is one of `ids` (an array parameter: `= ANY($1)`, whatever its size)."""
        found = self.attrs[attr]
        if isinstance(found, Col):
            return found.expr == sa.any_(ids)
        if isinstance(found, OfCompound):
            compound = COMPOUND.alias()
            return found.compound_id.in_(
                sa.select(compound.c.id).where(compound.c[found.column] == sa.any_(ids))
            )
        if isinstance(found, Nothing):
            return FALSE
        raise TypeError(f"{attr} is not a place")

    def has(self, attr: str, person_id: Any) -> SqlBool:
        found = self.attrs[attr]
        if not isinstance(found, People):
            raise TypeError(f"{attr} is not a set of people")
        source, person, correlation = found.build()
        return sa.exists(sa.select(sa.literal(1)).select_from(source).where(correlation, person == person_id))

    def some(self, attr: str, where: Callable[[Binding], SqlBool]) -> SqlBool:
        found = self.attrs[attr]
        if not isinstance(found, Many):
            raise TypeError(f"{attr} is not a collection")
        element, source, correlation = found.build()
        condition = where(element)
        if is_false(condition):
            return FALSE
        shortcuts = [where(k) for k in found.known]
        if any(is_true(s) for s in shortcuts):
            return sa.true()
        conditions = [correlation] if is_true(condition) else [correlation, condition]
        searched = sa.exists(sa.select(sa.literal(1)).select_from(source).where(*conditions))
        # IS TRUE: a known element's NULL (a place it lacks) is "no", as the search would find it
        asked = [s.is_(True) for s in shortcuts if not is_false(s)]
        return sa.or_(*asked, searched) if asked else searched

    def knowing(self, attr: str, elements: Sequence[Binding]) -> Binding:
        """The same row, knowing that `elements` (bindings over columns the statement already
        reads) belong to its collection `attr`: a condition on some element of it asks them first,
        in the row's own statement, and searches the collection only when none of them holds. For
        a person reached through their home in force, that home is one of their ties
        (`home_tie`): whether a caller may see an owner on the owner's own household's page is then
        decided from the household, most often for the whole page at once, not per owner."""
        if not elements:
            return self
        found = self.attrs[attr]
        if not isinstance(found, Many):
            raise TypeError(f"{attr} is not a collection")
        return Binding({**self.attrs, attr: Many(found.build, (*found.known, *elements))})


# --- one binding per kind of object --------------------------------------------------------------


def _place(
    compound_id: Any, *, building_id: Any = None, household_id: Any = None, grid_id: Any = None
) -> dict[str, Attr]:
    return {
        "community_id": OfCompound(compound_id, "community_id"),
        "grid_id": Col(grid_id) if grid_id is not None else OfCompound(compound_id, "grid_id"),
        "compound_id": Col(compound_id),
        "building_id": Col(building_id) if building_id is not None else Nothing(),
        "household_id": Col(household_id) if household_id is not None else Nothing(),
    }


def compound_row(c: FromClause) -> Binding:
    return Binding(
        {
            "community_id": Col(c.c.community_id),
            "grid_id": Col(c.c.grid_id),
            "compound_id": Col(c.c.id),
            "building_id": Nothing(),
            "household_id": Nothing(),
        }
    )


def building_row(b: FromClause) -> Binding:
    return Binding(_place(b.c.compound_id, building_id=b.c.id))


def household_row(h: FromClause) -> Binding:
    return Binding(_place(h.c.compound_id, building_id=h.c.building_id, household_id=h.c.id))


def _compounds_where(column: str, key: Any) -> Many:
    def build() -> tuple[Binding, FromClause, SqlBool]:
        c = COMPOUND.alias()
        return compound_row(c), c, c.c[column] == key

    return Many(build)


def grid_row(g: FromClause) -> Binding:
    return Binding(
        {
            "community_id": Col(g.c.community_id),
            "grid_id": Col(g.c.id),
            "compound_id": Nothing(),
            "building_id": Nothing(),
            "household_id": Nothing(),
            "compounds": _compounds_where("grid_id", g.c.id),
        }
    )


def community_row(m: FromClause) -> Binding:
    return Binding(
        {
            "community_id": Col(m.c.id),
            "grid_id": Nothing(),
            "compound_id": Nothing(),
            "building_id": Nothing(),
            "household_id": Nothing(),
            "compounds": _compounds_where("community_id", m.c.id),
        }
    )


def _region(communities: Callable[[], tuple[FromClause, SqlBool]]) -> Binding:
    def build() -> tuple[Binding, FromClause, SqlBool]:
        source, correlation = communities()
        return community_row(source if not isinstance(source, sa.Join) else source.left), source, correlation

    return Binding(
        {
            "community_id": Nothing(),
            "grid_id": Nothing(),
            "compound_id": Nothing(),
            "building_id": Nothing(),
            "household_id": Nothing(),
            "communities": Many(build),
        }
    )


def street_row(s: FromClause) -> Binding:
    def communities() -> tuple[FromClause, SqlBool]:
        m = COMMUNITY.alias()
        return m, m.c.street_id == s.c.id

    return _region(communities)


def district_row(d: FromClause) -> Binding:
    def communities() -> tuple[FromClause, SqlBool]:
        m, st = COMMUNITY.alias(), STREET.alias()
        return m.join(st, st.c.id == m.c.street_id), st.c.district_id == d.c.id

    return _region(communities)


def _members(task_id: Any, roles: Sequence[MemberRole]) -> People:
    def build() -> tuple[FromClause, Any, SqlBool]:
        m = TASK_MEMBER.alias()
        return m, m.c.person_id, sa.and_(m.c.task_id == task_id, m.c.role.in_(sorted(roles)))

    return People(build)


def task_row(t: FromClause) -> Binding:
    return Binding(
        {
            **_place(t.c.compound_id, building_id=t.c.building_id),
            "kind": Col(t.c.kind),
            "visibility": Col(t.c.visibility),
            "status": Col(t.c.status),
            "reporter_id": Col(t.c.reporter_id),
            "assigned_role": Col(t.c.assigned_role),
            "workers": _members(t.c.id, sorted(WORKING_ROLES)),
            "parties": _members(t.c.id, [MemberRole.PARTY]),
            "mediators": _members(t.c.id, [MemberRole.MEDIATOR]),
            "review_hold": Col(t.c.review_hold),
        }
    )


def vote_row(v: FromClause) -> Binding:
    def owners() -> tuple[FromClause, Any, SqlBool]:
        o = VOTE_OWNER.alias()
        return o, o.c.person_id, o.c.vote_id == v.c.id

    def proxies() -> tuple[FromClause, Any, SqlBool]:
        p, o = VOTE_PROXY.alias(), VOTE_OWNER.alias()
        # correlated by name to the vote and the proxy: read as a fact (`facts_columns`) this sits in
        # a sub-select of the proxies, where SQLAlchemy's automatic correlation would not reach the
        # vote and would read it as "an owner of any vote"
        owner = sa.exists().where(o.c.vote_id == v.c.id, o.c.person_id == p.c.owner_id).correlate(v, p)
        return p, p.c.proxy_id, sa.and_(proxy_in_force(p, v), owner)

    return Binding(
        {
            **_place(v.c.compound_id),
            "status": Col(v.c.status),
            "owners": People(owners),
            "proxies": People(proxies),
        }
    )


def elector_row(e: FromClause) -> Binding:
    def owners() -> tuple[FromClause, Any, SqlBool]:
        o = VOTE_OWNER.alias()
        return o, o.c.person_id, sa.and_(o.c.vote_id == e.c.vote_id, o.c.household_id == e.c.household_id)

    return Binding(
        {
            **_place(e.c.compound_id, building_id=e.c.building_id, household_id=e.c.household_id),
            "owners": People(owners),
        }
    )


def claim_row(c: FromClause) -> Binding:
    return Binding(
        {
            **_place(c.c.compound_id, building_id=c.c.building_id, household_id=c.c.household_id),
            "person_id": Col(c.c.person_id),
        }
    )


def evaluation_row(e: FromClause) -> Binding:
    return Binding({**_place(e.c.compound_id), "person_id": Col(e.c.person_id), "status": Col(e.c.status)})


def notice_row(n: FromClause) -> Binding:
    def compounds() -> tuple[Binding, FromClause, SqlBool]:
        c = COMPOUND.alias()
        reached = sa.or_(
            c.c.id == n.c.compound_id,
            sa.and_(n.c.compound_id.is_(None), c.c.community_id == n.c.community_id),
        )
        return compound_row(c), c, reached

    def buildings() -> tuple[Binding, FromClause, SqlBool]:
        b = BUILDING.alias()
        return building_row(b), b, b.c.id == sa.any_(n.c.building_ids)

    return Binding(
        {
            "community_id": Col(n.c.community_id),
            "grid_id": OfCompound(n.c.compound_id, "grid_id"),
            "compound_id": Col(n.c.compound_id),
            "building_id": Nothing(),
            "household_id": Nothing(),
            "author_id": Col(n.c.author_id),
            "published": Col(n.c.publish_at <= sa.func.now()),
            "whole": Col(sa.func.cardinality(n.c.building_ids) == 0),
            "in_compound": Col(n.c.compound_id.is_not(None)),
            "withdrawn": Col(n.c.withdrawn_at.is_not(None)),
            "compounds": Many(compounds),
            "buildings": Many(buildings),
        }
    )


def group_row(g: FromClause) -> Binding:
    return Binding(_place(g.c.compound_id))


def _ties() -> FromClause:
    """Every tie in force of every person, at the level it is held: the rows of `person_tie`
    (kept by triggers, migration 0036) whose terms hold today. Its SQL is written once
    (`_ties_sql`): a screen's statement asks it for every person it shows."""
    return sa.text(_ties_sql()).columns(**_TIE_COLUMNS).subquery()


_TIE_COLUMNS = {
    "person_id": sa.Uuid,
    "kind": sa.Text,
    **dict.fromkeys(("community_id", "grid_id", "compound_id", "building_id", "household_id"), sa.Uuid),
}


@functools.cache
def _ties_sql() -> str:
    t = PERSON_TIE.alias()
    return _rendered(sa.select(*(t.c[name] for name in _TIE_COLUMNS)).where(in_force(t)))


def _rendered(statement: Any) -> str:
    """A statement as the SQL text the driver is sent (its constants written in; it must have no
    value computed in Python, which the text would keep for the life of the process)."""
    return str(
        statement.compile(dialect=postgresql.asyncpg.dialect(), compile_kwargs={"literal_binds": True})
    )


def _hidden_comment(e: FromClause) -> SqlBool:
    """A comment held for review and not approved: its author does not appear on the task by it
    (showing them would tell readers the hidden comment exists; `auth.policy.shown_events`)."""
    d = MODERATION_DECISION.alias()
    approved = sa.exists().where(d.c.event_id == e.c.id, d.c.decision == Moderation.APPROVED.value)
    held = sa.and_(e.c.kind == EventKind.COMMENTED.value, e.c.payload.has_key("held_for_review"))
    return sa.and_(held, ~approved)


def _appearances() -> FromClause:
    """(person, task) for every task a person appears on: as its reporter, attached to it, acting
    on its timeline, attending its meetings (a UNION ALL; each branch is found by an index on its
    person column once PostgreSQL pushes the person's id down into it). Written once, as `_ties`."""
    return sa.text(_appearances_sql()).columns(person_id=sa.Uuid, task_id=sa.Uuid).subquery()


@functools.cache
def _appearances_sql() -> str:
    t, m, e = TASK.alias(), TASK_MEMBER.alias(), TASK_EVENT.alias()
    mt, a = MEETING.alias(), MEETING_ATTENDEE.alias()
    union = sa.union_all(
        sa.select(t.c.reporter_id.label("person_id"), t.c.id.label("task_id")),
        sa.select(m.c.person_id, m.c.task_id),
        sa.select(e.c.actor_id, e.c.task_id).where(e.c.actor_id.is_not(None), ~_hidden_comment(e)),
        sa.select(a.c.person_id, mt.c.task_id).select_from(a.join(mt, mt.c.id == a.c.meeting_id)),
    )
    return _rendered(union)


def home_tie(home: FromClause, household: FromClause) -> Binding:
    """The tie a home gives its person (a row of `_ties`' first branch): `home` a row of the home
    table IN FORCE (the caller filters it with `models.terms.in_force`), `household` its household's
    row (its `id`, `compound_id` and `building_id`)."""
    return Binding({**household_row(household).attrs, "kind": Col(home.c.relation)})


def tie_row(x: FromClause) -> Binding:
    return Binding({name: Col(x.c[name]) for name in (*_PLACE_NAMES, "kind")})


_PLACE_NAMES = ("community_id", "grid_id", "compound_id", "building_id", "household_id")


def person_row(p: FromClause) -> Binding:
    me = p.c.id

    def ties() -> tuple[Binding, FromClause, SqlBool]:
        x = _ties()
        return tie_row(x), x, x.c.person_id == me

    def homes() -> tuple[Binding, FromClause, SqlBool]:
        hm, h = HOME.alias(), HOUSEHOLD.alias()
        return (
            household_row(h),
            h.join(hm, hm.c.household_id == h.c.id),
            sa.and_(hm.c.person_id == me, in_force(hm)),
        )

    def seats() -> tuple[Binding, FromClause, SqlBool]:
        tp, c = TEAM_POSITION.alias(), COMPOUND.alias()
        return (
            compound_row(c),
            c.join(tp, tp.c.compound_id == c.c.id),
            sa.and_(tp.c.person_id == me, in_force(tp)),
        )

    def tasks() -> tuple[Binding, FromClause, SqlBool]:
        t, shown = TASK.alias(), _appearances()
        return task_row(t), t.join(shown, shown.c.task_id == t.c.id), shown.c.person_id == me

    def volunteered() -> tuple[Binding, FromClause, SqlBool]:
        t, vc, s = TASK.alias(), VOLUNTEER_CALL.alias(), VOLUNTEER_SIGNUP.alias()
        source = t.join(vc, vc.c.task_id == t.c.id).join(s, s.c.call_id == vc.c.id)
        return task_row(t), source, sa.and_(s.c.person_id == me, s.c.status != SignupStatus.WITHDRAWN)

    def groups() -> tuple[Binding, FromClause, SqlBool]:
        g, gb, x = PARTY_GROUP.alias(), PARTY_GROUP_BUILDING.alias(), PARTY_REGISTRATION.alias()
        source = g.join(gb, gb.c.group_id == g.c.id).join(x, x.c.building_id == gb.c.building_id)
        return (
            group_row(g),
            source,
            sa.and_(x.c.person_id == me, x.c.status == RegistrationStatus.APPROVED.value),
        )

    return Binding(
        {
            "person_id": Col(me),
            "ties": Many(ties),
            "groups": Many(groups),
            "homes": Many(homes),
            "seats": Many(seats),
            "tasks": Many(tasks),
            "volunteered": Many(volunteered),
        }
    )


#: The facts dataclass and the binding of each table's rows.
BINDINGS: dict[str, tuple[type, Callable[[FromClause], Binding]]] = {
    "district": (RegionFacts, district_row),
    "street": (RegionFacts, street_row),
    "compound": (PlaceFacts, compound_row),
    "building": (PlaceFacts, building_row),
    "household": (PlaceFacts, household_row),
    "grid": (AreaFacts, grid_row),
    "community": (AreaFacts, community_row),
    "task": (TaskFacts, task_row),
    "vote": (VoteFacts, vote_row),
    "vote_electorate": (ElectorFacts, elector_row),
    "person": (PersonFacts, person_row),
    "home_claim": (ClaimFacts, claim_row),
    # a Party member's registration: where their home is, and whose it is (a claim's shape)
    "party_registration": (ClaimFacts, claim_row),
    "party_group": (PlaceFacts, group_row),
    "party_evaluation": (EvaluationFacts, evaluation_row),
    "notice": (NoticeFacts, notice_row),
}
TIES = (TieFacts, tie_row)


# --- reading one object's facts ---------------------------------------------------------------------


def facts_columns(
    facts_type: type, binding: Binding, *, person_id: Any
) -> tuple[list[Any], Callable[[Any], Any]]:
    """Columns that read an object's facts in the same statement that loads (and locks) it, and the
    function that makes the facts from a result row's values by label (a `Row`'s `_mapping`, an
    asyncpg record).

    The facts are the object as `person_id` sees it: a set of people holds at most that person
    (whether they are among the owners of a vote is all a rule can ask of it), so a vote of 5,000
    owners costs no more to check than a vote of one. Collections of objects are not read."""
    columns = []
    names = []
    for f in fields(facts_type):
        found = binding.attrs[f.name]
        if isinstance(found, Many):
            continue
        label = f"policy_{f.name}"
        if isinstance(found, People):
            source, person, correlation = found.build()
            mine = sa.select(person).select_from(source).where(correlation, person == person_id)
            expr = sa.func.array(mine.scalar_subquery())
        else:
            expr = binding.col(f.name)
        columns.append(expr.label(label))
        names.append((f.name, label, isinstance(found, People)))

    def build(mapping: Any) -> Any:
        values = {
            name: frozenset(mapping[label] or ()) if people else mapping[label]
            for name, label, people in names
        }
        return facts_type(**values)

    return columns, build


__all__ = ["BINDINGS", "TIES", "Binding", "alias", "facts_columns", "light"]
