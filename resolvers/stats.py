"""Task statistics of a compound, a grid or a community: public counts, never task contents.

The figures the pilot reports (problems solved, disputes mediated, how fast, volunteer hours) are
aggregates over ALL tasks of the place — internal tasks and private disputes included, since a count
reveals nothing about any one of them. Third-party clients may read them (`task.stats` in the
policy).

Every aggregate is one statement per level (compound, grid, community) and per request, however
many places are on screen: a batched loader cached on the request's `Loaders`.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal

import sqlalchemy as sa
from strawberry.dataloader import DataLoader

from auth.policy import Action, Field, Resource, params, refusal, shown_sql
from models.dispute import DisputeOutcome
from models.enums import Role
from models.party import Participation, ParticipationKind, PartyProfile
from models.person import RoleAssignment
from models.place import Building, Community, Compound, Grid, Household
from models.task import Task
from models.task_rules import TaskCategory, TaskStatus
from models.terms import in_force
from resolvers.context import Context
from resolvers.loaders import Loader
from resolvers.place import granted

Level = Literal["compound", "grid", "community"]

RESOLVED_STATUSES = (TaskStatus.RESOLVED.value, TaskStatus.CLOSED.value)
_HOUR_MICROSECONDS = Decimal(3_600_000_000)
_ONE_DECIMAL = Decimal("0.1")
_TWO_DECIMALS = Decimal("0.01")


@dataclass(frozen=True)
class TaskStatsView:
    """Counts of one place. `by_status` and `by_category` list only what occurs, in enum order."""

    by_status: list[tuple[TaskStatus, int]]
    by_category: list[tuple[TaskCategory, int]]
    resolved_count: int
    disputes_mediated: int
    median_hours_to_resolution: Decimal | None
    volunteer_hours: Decimal


def hours(span: timedelta) -> Decimal:
    """A duration in hours, rounded half up to one decimal, computed exactly (no floats)."""
    micro = (span.days * 86_400 + span.seconds) * 1_000_000 + span.microseconds
    return (Decimal(micro) / _HOUR_MICROSECONDS).quantize(_ONE_DECIMAL, rounding=ROUND_HALF_UP)


def _place_key(level: Level, compound_column: Any) -> tuple[Any, bool]:
    """The column that names the place of a row at `level`, and whether `compound` must be joined."""
    if level == "compound":
        return compound_column, False
    return (Compound.grid_id if level == "grid" else Compound.community_id), True


def _grouped(level: Level, model: Any, ids: Sequence[uuid.UUID], *columns: Any) -> Any:
    """SELECT place_id, *columns FROM model [JOIN compound] WHERE place_id IN ids (grouping left to
    the caller)."""
    key, join = _place_key(level, model.compound_id)
    statement = sa.select(key.label("place_id"), *columns).select_from(model)
    if join:
        statement = statement.join(Compound, Compound.id == model.compound_id)
    return statement.where(key.in_(list(ids)))


def _stats_loader(ctx: Context, level: Level) -> DataLoader[uuid.UUID, TaskStatsView]:
    def build() -> DataLoader[uuid.UUID, TaskStatsView]:
        async def load(ids: Sequence[uuid.UUID]) -> list[TaskStatsView]:
            key = _place_key(level, Task.compound_id)[0]
            counts_q = _grouped(level, Task, ids, Task.status, Task.category, sa.func.count().label("n"))
            counts_q = counts_q.group_by(key, Task.status, Task.category)
            resolved_q = _grouped(
                level,
                Task,
                ids,
                sa.func.count().label("n"),
                sa.func.percentile_cont(0.5).within_group(Task.resolved_at - Task.created_at).label("median"),
            )
            resolved_q = resolved_q.where(
                Task.status.in_(RESOLVED_STATUSES), Task.resolved_at.is_not(None)
            ).group_by(key)
            disputes_key = _place_key(level, DisputeOutcome.compound_id)[0]
            disputes_q = _grouped(level, DisputeOutcome, ids, sa.func.count().label("n")).group_by(
                disputes_key
            )
            volunteer_key = _place_key(level, Participation.compound_id)[0]
            volunteer_q = (
                _grouped(level, Participation, ids, sa.func.sum(Participation.hours).label("hours"))
                .where(Participation.kind == ParticipationKind.VOLUNTEER)
                .group_by(volunteer_key)
            )
            async with ctx.sessions() as session:
                counts = (await session.execute(counts_q)).all()
                resolved = {row.place_id: row for row in await session.execute(resolved_q)}
                disputes = {row.place_id: row.n for row in await session.execute(disputes_q)}
                volunteer = {row.place_id: row.hours for row in await session.execute(volunteer_q)}
            by_status: dict[uuid.UUID, Counter[str]] = {}
            by_category: dict[uuid.UUID, Counter[str]] = {}
            for row in counts:
                by_status.setdefault(row.place_id, Counter())[row.status] += row.n
                by_category.setdefault(row.place_id, Counter())[row.category] += row.n
            out = []
            for place_id in ids:
                statuses = by_status.get(place_id, Counter())
                categories = by_category.get(place_id, Counter())
                done = resolved.get(place_id)
                out.append(
                    TaskStatsView(
                        by_status=[(s, statuses[s.value]) for s in TaskStatus if statuses[s.value]],
                        by_category=[(c, categories[c.value]) for c in TaskCategory if categories[c.value]],
                        resolved_count=done.n if done else 0,
                        disputes_mediated=disputes.get(place_id, 0),
                        median_hours_to_resolution=hours(done.median) if done else None,
                        volunteer_hours=Decimal(volunteer.get(place_id) or 0).quantize(_TWO_DECIMALS),
                    )
                )
            return out

        return Loader(load_fn=load)

    return ctx.loaders.cached(f"task_stats:{level}", build)


_AREAS: dict[Level, tuple[Resource, Any]] = {
    "compound": (Resource.COMPOUND, Compound),
    "grid": (Resource.GRID, Grid),
    "community": (Resource.COMMUNITY, Community),
}


async def task_stats(ctx: Context, level: Level, place_id: uuid.UUID) -> TaskStatsView:
    """A place's task statistics, for whoever the policy lets read them."""
    resource, model = _AREAS[level]
    if not await granted(ctx, resource, Action.READ_TASK_STATS, model).load(place_id):
        raise refusal(resource, Action.READ_TASK_STATS)
    return await _stats_loader(ctx, level).load(place_id)


@dataclass(frozen=True)
class CompoundStats:
    building_count: int
    household_count: int
    total_area: Decimal
    #: None where the policy hides the head counts; the rate is public
    party_member_count: int | None
    party_registered_count: int | None
    party_registration_rate: Decimal | None


async def compound_stats(ctx: Context, compound: Compound) -> CompoundStats:
    """A (visible) compound's public profile figures; Party head counts masked by the policy."""
    if not await granted(ctx, Resource.COMPOUND, Action.READ_STATS, Compound).load(compound.id):
        raise refusal(Resource.COMPOUND, Action.READ_STATS)
    return await ctx.loaders.cached("compound_stats", lambda: _compound_stats(ctx)).load(compound.id)


def _compound_stats(ctx: Context) -> DataLoader[uuid.UUID, CompoundStats]:
    c = Compound.__table__

    def counts(column: Any) -> Any:
        return shown_sql(ctx.principal, Resource.COMPOUND, Field.PARTY_COUNTS, c, column)

    async def load(ids: Sequence[uuid.UUID]) -> list[CompoundStats]:
        buildings = (
            sa.select(Building.compound_id, sa.func.count().label("n"))
            .where(Building.compound_id.in_(ids))
            .group_by(Building.compound_id)
        )
        households = (
            sa.select(
                Household.compound_id,
                sa.func.count().label("n"),
                sa.func.coalesce(sa.func.sum(Household.area), 0).label("area"),
            )
            .where(Household.compound_id.in_(ids))
            .group_by(Household.compound_id)
        )
        members = sa.func.count(RoleAssignment.id)
        registered = sa.func.count(PartyProfile.registered_on)
        party = (
            sa.select(
                c.c.id,
                members.label("members"),
                registered.label("registered"),
                counts(members).label("members_shown"),
                counts(registered).label("registered_shown"),
            )
            .select_from(
                c.outerjoin(
                    RoleAssignment,
                    sa.and_(
                        RoleAssignment.compound_id == c.c.id,
                        RoleAssignment.role == Role.PARTY_MEMBER,
                        in_force(RoleAssignment.__table__),
                    ),
                ).outerjoin(PartyProfile, PartyProfile.person_id == RoleAssignment.person_id)
            )
            .where(c.c.id.in_(ids))
            .group_by(c.c.id)
        )
        async with ctx.sessions() as session:
            per_building = dict((await session.execute(buildings)).all())
            per_household = {r.compound_id: r for r in await session.execute(households)}
            per_party = {r.id: r for r in await session.execute(party, params(ctx.principal))}
        out = []
        for i in ids:
            h, p = per_household.get(i), per_party.get(i)
            rate = (
                (Decimal(p.registered) / Decimal(p.members)).quantize(Decimal("0.0001"))
                if p and p.members
                else None
            )
            out.append(
                CompoundStats(
                    building_count=per_building.get(i, 0),
                    household_count=h.n if h else 0,
                    total_area=Decimal(h.area if h else 0).quantize(_TWO_DECIMALS),
                    party_member_count=p.members_shown if p else None,
                    party_registered_count=p.registered_shown if p else None,
                    party_registration_rate=rate,
                )
            )
        return out

    return Loader(load_fn=load)
