"""Per-request dataloaders: every list a screen shows costs one statement per level, however long.

Loaders that list children take the caller's policy filter from `auth.policy.scope_clause` when
built, so a nested edge can never show a row that a direct query would refuse. Each batch opens
its own session: sibling fields resolve concurrently and must not share one.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased
from strawberry.dataloader import DataLoader

from auth.policy import scope_clause
from auth.principal import PersonPrincipal, Principal
from models import (
    Building,
    Community,
    Compound,
    Grid,
    Home,
    Household,
    PartyProfile,
    Person,
    RoleAssignment,
    Task,
    TaskEvent,
    TaskMember,
    TeamPosition,
    VolunteerCall,
    VolunteerSignup,
    Vote,
    VoteElector,
    VoteOwner,
    VoteTally,
)
from models.enums import HomeRelation, Role

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True)
class PageKey:
    parent_id: uuid.UUID | None
    limit: int
    offset: int


@dataclass(frozen=True)
class Page(Generic[T]):
    rows: list[T]
    offset: int
    has_next: bool


@dataclass(frozen=True)
class Occupant:
    person: Person
    relation: HomeRelation
    household_id: uuid.UUID
    compound_id: uuid.UUID


@dataclass(frozen=True)
class TeamSeat:
    position: TeamPosition
    person: Person


@dataclass(frozen=True)
class CompoundStats:
    building_count: int
    household_count: int
    total_area: Any
    party_member_count: int
    party_registered_count: int


Sessions = async_sessionmaker[AsyncSession]


def by_key(sessions: Sessions, model: Any, column: Any = None, *, cache: bool = True) -> DataLoader[Any, Any]:
    """One row of `model` per key of `column` (its `id` by default), or None."""
    column = model.id if column is None else column

    async def load(keys: Sequence[Any]) -> list[Any]:
        async with sessions() as session:
            rows = (await session.execute(sa.select(model).where(column.in_(keys)))).scalars().all()
        found = {getattr(row, column.key): row for row in rows}
        return [found.get(k) for k in keys]

    return DataLoader(load_fn=load, cache=cache)


def grouped(
    sessions: Sessions,
    query: Callable[[Sequence[Any]], Any],
    key: Callable[[Any], Any],
    value: Callable[[Any], Any],
) -> DataLoader[Any, list[Any]]:
    async def load(keys: Sequence[Any]) -> list[list[Any]]:
        async with sessions() as session:
            rows = (await session.execute(query(keys))).all()
        groups: dict[Any, list[Any]] = defaultdict(list)
        for row in rows:
            groups[key(row)].append(value(row))
        return [groups.get(k, []) for k in keys]

    return DataLoader(load_fn=load)


def _paged(
    sessions: Sessions, model: Any, parent: Any, order: Sequence[Any], where: Any
) -> DataLoader[PageKey, Page[Any]]:
    """Pages of children for many parents at once: one window-function query per page shape."""

    async def load(keys: Sequence[PageKey]) -> list[Page[Any]]:
        shapes: dict[tuple[int, int], list[uuid.UUID]] = defaultdict(list)
        for k in keys:
            shapes[(k.limit, k.offset)].append(k.parent_id)  # type: ignore[arg-type]
        pages: dict[PageKey, Page[Any]] = {}
        async with sessions() as session:
            for (limit, offset), parents in shapes.items():
                rank = sa.func.row_number().over(partition_by=parent, order_by=order).label("rank")
                inner = sa.select(model, rank).where(parent.in_(parents), where).subquery()
                row_alias = aliased(model, inner)
                statement = (
                    sa.select(row_alias, inner.c.rank)
                    .where(inner.c.rank > offset, inner.c.rank <= offset + limit + 1)
                    .order_by(inner.c[parent.key], inner.c.rank)
                )
                grouped: dict[uuid.UUID, list[Any]] = defaultdict(list)
                for row, _rank in (await session.execute(statement)).all():
                    grouped[getattr(row, parent.key)].append(row)
                for parent_id in parents:
                    rows = grouped.get(parent_id, [])
                    pages[PageKey(parent_id, limit, offset)] = Page(rows[:limit], offset, len(rows) > limit)
        return [pages[k] for k in keys]

    return DataLoader(load_fn=load)


class Loaders:
    """All loaders of one request; built lazily so a request pays only for what it uses."""

    def __init__(self, sessions: Sessions, principal: Principal) -> None:
        self.sessions = sessions
        self.principal = principal
        self._cache: dict[str, DataLoader[Any, Any]] = {}

    def cached(self, name: str, build: Callable[[], DataLoader[Any, Any]]) -> DataLoader[Any, Any]:
        loader = self._cache.get(name)
        if loader is None:
            loader = self._cache[name] = build()
        return loader

    # single rows ------------------------------------------------------------------------------
    @property
    def community(self) -> DataLoader[uuid.UUID, Community | None]:
        return self.cached("community", lambda: by_key(self.sessions, Community))

    @property
    def grid(self) -> DataLoader[uuid.UUID, Grid | None]:
        return self.cached("grid", lambda: by_key(self.sessions, Grid))

    @property
    def compound(self) -> DataLoader[uuid.UUID, Compound | None]:
        return self.cached("compound", lambda: by_key(self.sessions, Compound))

    @property
    def building(self) -> DataLoader[uuid.UUID, Building | None]:
        return self.cached("building", lambda: by_key(self.sessions, Building))

    @property
    def household(self) -> DataLoader[uuid.UUID, Household | None]:
        return self.cached("household", lambda: by_key(self.sessions, Household))

    @property
    def person(self) -> DataLoader[uuid.UUID, Person | None]:
        return self.cached("person", lambda: by_key(self.sessions, Person))

    @property
    def party_profile(self) -> DataLoader[uuid.UUID, PartyProfile | None]:
        return self.cached(
            "party_profile", lambda: by_key(self.sessions, PartyProfile, PartyProfile.person_id)
        )

    @property
    def task(self) -> DataLoader[uuid.UUID, Task | None]:
        return self.cached("task", lambda: by_key(self.sessions, Task))

    @property
    def task_members(self) -> DataLoader[uuid.UUID, list[TaskMember]]:
        return self.cached(
            "task_members",
            lambda: grouped(
                self.sessions,
                lambda ids: (
                    sa.select(TaskMember).where(TaskMember.task_id.in_(ids)).order_by(TaskMember.created_at)
                ),
                key=lambda row: row.TaskMember.task_id,
                value=lambda row: row.TaskMember,
            ),
        )

    @property
    def timeline_page(self) -> DataLoader[PageKey, Page[TaskEvent]]:
        """Pages of task timelines; the caller has checked that each task is visible."""
        return self.cached(
            "timeline_page",
            lambda: _paged(self.sessions, TaskEvent, TaskEvent.task_id, (TaskEvent.seq,), sa.true()),
        )

    @property
    def last_event(self) -> DataLoader[uuid.UUID, TaskEvent | None]:
        def build() -> DataLoader[uuid.UUID, TaskEvent | None]:
            async def load(ids: Sequence[uuid.UUID]) -> list[TaskEvent | None]:
                latest = (
                    sa.select(TaskEvent)
                    .where(TaskEvent.task_id.in_(ids))
                    .ext(distinct_on(TaskEvent.task_id))
                    .order_by(TaskEvent.task_id, TaskEvent.seq.desc())
                )
                async with self.sessions() as session:
                    found = {row.task_id: row for row in (await session.execute(latest)).scalars()}
                return [found.get(i) for i in ids]

            return DataLoader(load_fn=load)

        return self.cached("last_event", build)

    @property
    def volunteer_call(self) -> DataLoader[uuid.UUID, VolunteerCall | None]:
        return self.cached("volunteer_call", lambda: by_key(self.sessions, VolunteerCall))

    @property
    def volunteer_calls(self) -> DataLoader[uuid.UUID, list[VolunteerCall]]:
        """Per task: its volunteer calls, newest first."""
        return self.cached(
            "volunteer_calls",
            lambda: grouped(
                self.sessions,
                lambda ids: (
                    sa.select(VolunteerCall)
                    .where(VolunteerCall.task_id.in_(ids))
                    .order_by(VolunteerCall.task_id, VolunteerCall.created_at.desc())
                ),
                key=lambda row: row.VolunteerCall.task_id,
                value=lambda row: row.VolunteerCall,
            ),
        )

    @property
    def waitlist_counts(self) -> DataLoader[uuid.UUID, int]:
        def build() -> DataLoader[uuid.UUID, int]:
            async def load(ids: Sequence[uuid.UUID]) -> list[int]:
                statement = (
                    sa.select(VolunteerSignup.call_id, sa.func.count())
                    .where(VolunteerSignup.call_id.in_(ids), VolunteerSignup.status == "WAITLIST")
                    .group_by(VolunteerSignup.call_id)
                )
                async with self.sessions() as session:
                    found = dict((await session.execute(statement)).all())
                return [found.get(i, 0) for i in ids]

            return DataLoader(load_fn=load)

        return self.cached("waitlist_counts", build)

    @property
    def my_signups(self) -> DataLoader[uuid.UUID, list[VolunteerSignup]]:
        """Per call: the caller's own sign-up (a list of at most one)."""
        person_id = self.principal.person_id if isinstance(self.principal, PersonPrincipal) else None
        return self.cached(
            "my_signups",
            lambda: grouped(
                self.sessions,
                lambda ids: sa.select(VolunteerSignup).where(
                    VolunteerSignup.call_id.in_(ids), VolunteerSignup.person_id == person_id
                ),
                key=lambda row: row.VolunteerSignup.call_id,
                value=lambda row: row.VolunteerSignup,
            ),
        )

    @property
    def vote(self) -> DataLoader[uuid.UUID, Vote | None]:
        return self.cached("vote", lambda: by_key(self.sessions, Vote))

    @property
    def vote_tally(self) -> DataLoader[uuid.UUID, VoteTally | None]:
        # not cached: a live subscription re-reads it after every ballot
        return self.cached(
            "vote_tally", lambda: by_key(self.sessions, VoteTally, VoteTally.vote_id, cache=False)
        )

    @property
    def vote_households_of_caller(self) -> DataLoader[uuid.UUID, list[VoteElector]]:
        """Per vote: the households of its frozen electorate that the caller owned at opening."""
        person_id = self.principal.person_id if isinstance(self.principal, PersonPrincipal) else None
        return self.cached(
            "vote_households_of_caller",
            lambda: grouped(
                self.sessions,
                lambda ids: (
                    sa.select(VoteElector)
                    .join(
                        VoteOwner,
                        sa.and_(
                            VoteOwner.vote_id == VoteElector.vote_id,
                            VoteOwner.household_id == VoteElector.household_id,
                        ),
                    )
                    .where(VoteElector.vote_id.in_(ids), VoteOwner.person_id == person_id)
                    .order_by(VoteElector.vote_id, VoteElector.number)
                ),
                key=lambda row: row.VoteElector.vote_id,
                value=lambda row: row.VoteElector,
            ),
        )

    # lists -------------------------------------------------------------------------------------
    @property
    def buildings_page(self) -> DataLoader[PageKey, Page[Building]]:
        where = scope_clause(self.principal, "building", "read", {"compound": Building.compound_id})
        return self.cached(
            "buildings_page",
            lambda: _paged(
                self.sessions, Building, Building.compound_id, (Building.name, Building.id), where
            ),
        )

    def _household_where(self) -> Any:
        return scope_clause(
            self.principal,
            "household",
            "read",
            {"compound": Household.compound_id, "building": Household.building_id, "household": Household.id},
        )

    @property
    def households_by_building(self) -> DataLoader[PageKey, Page[Household]]:
        return self.cached(
            "households_by_building",
            lambda: _paged(
                self.sessions,
                Household,
                Household.building_id,
                (Household.number, Household.id),
                self._household_where(),
            ),
        )

    @property
    def households_by_compound(self) -> DataLoader[PageKey, Page[Household]]:
        return self.cached(
            "households_by_compound",
            lambda: _paged(
                self.sessions,
                Household,
                Household.compound_id,
                (Household.number, Household.id),
                self._household_where(),
            ),
        )

    @property
    def occupants(self) -> DataLoader[uuid.UUID, list[Occupant]]:
        return self.cached(
            "occupants",
            lambda: grouped(
                self.sessions,
                lambda ids: (
                    sa.select(Home.household_id, Home.compound_id, Home.relation, Person)
                    .join(Person, Person.id == Home.person_id)
                    .where(Home.household_id.in_(ids))
                    .order_by(Home.household_id, Home.relation, Person.name, Person.id)
                ),
                key=lambda row: row.household_id,
                value=lambda row: Occupant(
                    row.Person, HomeRelation(row.relation), row.household_id, row.compound_id
                ),
            ),
        )

    @property
    def party_compounds(self) -> DataLoader[uuid.UUID, list[uuid.UUID]]:
        """The compounds where each person holds the PARTY_MEMBER role."""
        return self.cached(
            "party_compounds",
            lambda: grouped(
                self.sessions,
                lambda ids: sa.select(RoleAssignment.person_id, RoleAssignment.compound_id).where(
                    RoleAssignment.person_id.in_(ids), RoleAssignment.role == Role.PARTY_MEMBER.value
                ),
                key=lambda row: row.person_id,
                value=lambda row: row.compound_id,
            ),
        )

    @property
    def homes_of_person(self) -> DataLoader[uuid.UUID, list[Home]]:
        return self.cached(
            "homes_of_person",
            lambda: grouped(
                self.sessions,
                lambda ids: sa.select(Home).where(Home.person_id.in_(ids)).order_by(Home.created_at, Home.id),
                key=lambda row: row.Home.person_id,
                value=lambda row: row.Home,
            ),
        )

    @property
    def team(self) -> DataLoader[uuid.UUID, list[TeamSeat]]:
        return self.cached(
            "team",
            lambda: grouped(
                self.sessions,
                lambda ids: (
                    sa.select(TeamPosition, Person)
                    .join(Person, Person.id == TeamPosition.person_id)
                    .where(TeamPosition.compound_id.in_(ids))
                    .order_by(TeamPosition.compound_id, TeamPosition.position, Person.name, TeamPosition.id)
                ),
                key=lambda row: row.TeamPosition.compound_id,
                value=lambda row: TeamSeat(row.TeamPosition, row.Person),
            ),
        )

    @property
    def compound_stats(self) -> DataLoader[uuid.UUID, CompoundStats]:
        def build() -> DataLoader[uuid.UUID, CompoundStats]:
            async def load(ids: Sequence[uuid.UUID]) -> list[CompoundStats]:
                async with self.sessions() as session:
                    buildings = dict(
                        (
                            await session.execute(
                                sa.select(Building.compound_id, sa.func.count())
                                .where(Building.compound_id.in_(ids))
                                .group_by(Building.compound_id)
                            )
                        ).all()
                    )
                    households = {
                        row.compound_id: row
                        for row in await session.execute(
                            sa.select(
                                Household.compound_id,
                                sa.func.count().label("n"),
                                sa.func.coalesce(sa.func.sum(Household.area), 0).label("area"),
                            )
                            .where(Household.compound_id.in_(ids))
                            .group_by(Household.compound_id)
                        )
                    }
                    party = {
                        row.compound_id: row
                        for row in await session.execute(
                            sa.select(
                                RoleAssignment.compound_id,
                                sa.func.count().label("members"),
                                sa.func.count(PartyProfile.registered_on).label("registered"),
                            )
                            .outerjoin(PartyProfile, PartyProfile.person_id == RoleAssignment.person_id)
                            .where(
                                RoleAssignment.compound_id.in_(ids),
                                RoleAssignment.role == Role.PARTY_MEMBER.value,
                            )
                            .group_by(RoleAssignment.compound_id)
                        )
                    }
                out = []
                for i in ids:
                    h = households.get(i)
                    p = party.get(i)
                    out.append(
                        CompoundStats(
                            building_count=buildings.get(i, 0),
                            household_count=h.n if h else 0,
                            total_area=h.area if h else 0,
                            party_member_count=p.members if p else 0,
                            party_registered_count=p.registered if p else 0,
                        )
                    )
                return out

            return DataLoader(load_fn=load)

        return self.cached("compound_stats", build)


async def load_many(loader: DataLoader[K, T], keys: Sequence[K]) -> list[T]:
    return list(await loader.load_many(keys))
