"""The policy's two forms agree row for row: on generated worlds, for every caller, every
(resource, action) of the table and every masked field, the SQL filter keeps exactly the rows the
pure check allows, and the SQL mask shows exactly what the Python mask shows.

The facts the pure check is given come from the generated data (`tests.policy_worlds`), never from
the bindings, so a binding that reads the wrong column fails here too.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator
from dataclasses import fields as dataclass_fields
from dataclasses import replace as dataclass_replace
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine
from sqlalchemy.pool import NullPool

from app.database import async_url
from auth import bindings, policy
from auth.policy import FIELDS, POLICY, Field, Resource
from auth.principal import ANONYMOUS, ApiClientPrincipal, PersonPrincipal, Principal, Scope
from models.claim import HomeClaim
from models.evaluation import PartyEvaluation
from models.notice import Notice
from models.party import PartyGroup, PartyProfile, PartyRegistration
from models.person import Person
from models.place import Building, Community, Compound, District, Grid, Household, Street
from models.task import Task
from models.vote import Vote, VoteElector
from tests.policy_worlds import World, insert, sample_world, worlds

#: The rows of each resource: (table, the objects of a world with their facts, key columns).
Objects = Callable[[World], dict[Any, Any]]
ROWS: dict[Resource, tuple[Any, Objects, tuple[str, ...]]] = {
    Resource.DISTRICT: (District, lambda w: {w.district: w.region_facts()}, ("id",)),
    Resource.STREET: (Street, lambda w: {w.street: w.region_facts()}, ("id",)),
    Resource.COMMUNITY: (Community, lambda w: {c: w.area_facts(community=c) for c in w.communities}, ("id",)),
    Resource.GRID: (Grid, lambda w: {g: w.area_facts(grid=g) for g in w.grids}, ("id",)),
    Resource.COMPOUND: (Compound, lambda w: {c: w.compound_place(c) for c in w.compounds}, ("id",)),
    Resource.BUILDING: (Building, lambda w: {b: w.building_place(b) for b in w.buildings}, ("id",)),
    Resource.HOUSEHOLD: (Household, lambda w: {h: w.household_place(h) for h in w.households}, ("id",)),
    Resource.PERSON: (Person, lambda w: {p: w.person_facts(p) for p in w.people}, ("id",)),
    Resource.TASK: (Task, lambda w: {t: w.task_facts(t) for t in w.tasks}, ("id",)),
    Resource.VOTE: (Vote, lambda w: {v: w.vote_facts(v) for v in w.votes}, ("id",)),
    Resource.ELECTOR: (
        VoteElector,
        lambda w: {(v, h): w.elector_facts(v, h) for v in w.votes for h in w.electorate(v)},
        ("vote_id", "household_id"),
    ),
    Resource.HOME_CLAIM: (HomeClaim, lambda w: {c: w.claim_facts(c) for c in w.claims}, ("id",)),
    Resource.PARTY_REGISTRATION: (
        PartyRegistration,
        lambda w: {r: w.registration_facts(r) for r in w.registrations},
        ("id",),
    ),
    Resource.PARTY_GROUP: (PartyGroup, lambda w: {g: w.group_facts(g) for g in w.groups}, ("id",)),
    Resource.NOTICE: (Notice, lambda w: {n: w.notice_facts(n) for n in w.notices}, ("id",)),
    Resource.PARTY_EVALUATION: (
        PartyEvaluation,
        lambda w: {e: w.evaluation_facts(e) for e in w.evaluations},
        ("id",),
    ),
}


def callers(w: World) -> Iterator[tuple[str, Principal]]:
    for person in w.people:
        yield str(person), w.principal(person)
    yield "api", ApiClientPrincipal(client_id=uuid.uuid4(), name="dashboard")
    yield "anonymous", ANONYMOUS


async def disagreements(conn: AsyncConnection, w: World) -> list[str]:
    """Every (caller, rule, object) where the SQL form and the pure form differ. For each caller,
    one statement per resource answers every action at once."""
    found: list[str] = []
    for label, who in callers(w):
        values = policy.params(who)
        for resource, (model, objects, keys) in ROWS.items():
            table = model.__table__
            actions = [a for (r, a) in POLICY if r == resource]
            columns = [policy.where(who, resource, a, table).label(f"may_{a}") for a in actions]
            facts = objects(w)
            for row in await conn.execute(sa.select(*(table.c[k] for k in keys), *columns), values):
                key = row[0] if len(keys) == 1 else tuple(row[: len(keys)])
                for action in actions:
                    in_sql = bool(row._mapping[f"may_{action}"])
                    pure = policy.allows(who, resource, action, facts[key])
                    if in_sql != pure:
                        found.append(f"{label} {resource}:{action} {key}: SQL {in_sql}, pure {pure}")
        found += await _field_disagreements(conn, w, label, who)
        if isinstance(who, PersonPrincipal):
            found += await _locked_facts_disagreements(conn, w, label, who.person_id)
    return found


async def _locked_facts_disagreements(
    conn: AsyncConnection, w: World, label: str, me: uuid.UUID
) -> list[str]:
    """What a mutation reads with the row it locks (`auth.bindings.facts_columns`) is the object's
    facts as the caller sees them: its sets of people cut down to the caller."""
    found = []
    for resource in sorted(policy.CHECKED_ON_LOCKED_ROWS):
        model, objects, _ = ROWS[resource]
        table = model.__table__
        columns, build = bindings.facts_columns(
            policy.facts_type(resource), policy.binding(resource, table), person_id=me
        )
        expected = objects(w)
        for row in await conn.execute(sa.select(table.c.id, *columns)):
            world = expected[row.id]
            cut = {
                f.name: getattr(world, f.name) & {me}
                for f in dataclass_fields(world)
                if isinstance(getattr(world, f.name), frozenset)
            }
            want = dataclass_replace(world, **cut)
            got = build(row._mapping)
            if got != want:
                found.append(f"{label} locked {resource} {row.id}: read {got}, world {want}")
    return found


async def _field_disagreements(conn: AsyncConnection, w: World, label: str, who: Principal) -> list[str]:
    found = []
    values = policy.params(who)
    p, pp = Person.__table__, PartyProfile.__table__
    fields = {
        Field.NAME: p.c.name,
        Field.PHONE: p.c.phone,
        Field.PARTY_STATUS: pp.c.registered_on.is_not(None),
        Field.PARTY_DETAIL: pp.c.work_unit,
    }
    statement = sa.select(
        p.c.id,
        *(column.label(f"raw_{f}") for f, column in fields.items()),
        *(
            policy.shown_sql(who, Resource.PERSON, f, p, column).label(f"shown_{f}")
            for f, column in fields.items()
        ),
    ).select_from(p.outerjoin(pp, pp.c.person_id == p.c.id))
    for row in await conn.execute(statement, values):
        facts = w.person_facts(row.id)
        for field_ in fields:
            raw = row._mapping[f"raw_{field_}"]
            if field_ == Field.PARTY_STATUS and row.id not in w.party:
                raw = None  # no profile: the loader shows no Party data at all
            in_sql = row._mapping[f"shown_{field_}"]
            if field_ == Field.PARTY_STATUS and raw is None:
                in_sql = None
            pure = policy.shown(who, Resource.PERSON, field_, facts, raw)
            if in_sql != pure:
                found.append(f"{label} PERSON.{field_} {row.id}: SQL {in_sql!r}, pure {pure!r}")
    # the Party statistics of a place: every kind of place and field that has a rule for them
    for resource, field_ in sorted((r, f) for r, f in FIELDS if r != Resource.PERSON):
        model, objects, _ = ROWS[resource]
        t, facts_of = model.__table__, objects(w)
        shown = policy.shown_sql(who, resource, field_, t, sa.literal(7)).label("counts")
        for row in await conn.execute(sa.select(t.c.id, shown), values):
            pure = policy.shown(who, resource, field_, facts_of[row.id], 7)
            if row.counts != pure:
                found.append(f"{label} {resource}.{field_} {row.id}: SQL {row.counts!r}, pure {pure!r}")
    return found


async def check(url: str, w: World) -> list[str]:
    engine = create_async_engine(
        async_url(url), poolclass=NullPool, connect_args={"server_settings": {"jit": "off"}}
    )
    try:
        async with engine.connect() as conn:
            transaction = await conn.begin()
            try:
                await insert(conn, w)
                return await disagreements(conn, w)
            finally:
                await transaction.rollback()
    finally:
        await engine.dispose()


def test_the_sample_world_agrees(db_url: str) -> None:
    assert asyncio.run(check(db_url, sample_world())) == []


def test_every_rule_and_field_has_rows_to_compare() -> None:
    assert {r for r, _ in POLICY} - {Resource.SCHEMA} == set(ROWS)
    # PERSON's fields and every place's Party statistics are compared (`_field_disagreements`)
    assert {f for r, f in FIELDS if r != Resource.PERSON} <= {Field.PARTY_COUNTS, Field.PARTY_ACTIVITY}


# 20 random worlds a run (each run draws new ones): about half a second each
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(w=worlds())
def test_sql_and_pure_forms_agree(db_url: str, w: World) -> None:
    assert asyncio.run(check(db_url, w)) == []


def test_a_broken_binding_is_caught(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Reading the wrong column in SQL (a task's building where its compound belongs) is found."""
    w = sample_world()
    original = bindings.task_row

    def broken(t: Any) -> bindings.Binding:
        bound = original(t)
        bound.attrs["compound_id"] = bindings.Col(t.c.building_id)
        return bound

    monkeypatch.setitem(bindings.BINDINGS, "task", (bindings.BINDINGS["task"][0], broken))
    monkeypatch.setattr(policy, "_COMPILED", {})  # rules compiled before the break are forgotten
    assert any(" TASK:" in line for line in asyncio.run(check(db_url, w)))


def test_a_broken_pure_rule_is_caught(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A pure check that forgets a grant (the grid worker's, on the place tree) is found."""
    w = sample_world()
    monkeypatch.setattr(policy.In, "holds", _forgetting_grids(policy.In.holds))
    monkeypatch.setattr(policy, "_COMPILED", {})
    assert any(":READ" in line for line in asyncio.run(check(db_url, w)))


def _forgetting_grids(holds: Callable[..., bool]) -> Callable[..., bool]:
    def broken(self: policy.In, who: Principal, facts: Any) -> bool:
        return False if self.scope == Scope.GRIDS else holds(self, who, facts)

    return broken
