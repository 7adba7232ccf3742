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

from auth.policy import NOT_VISIBLE, require, scope_clause
from models import Compound, DisputeOutcome, Participation, Task
from models.errors import ForbiddenError
from models.task_rules import TaskCategory, TaskStatus
from resolvers.context import Context
from resolvers.place import compound_place

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
                .where(Participation.kind == "VOLUNTEER")
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

        return DataLoader(load_fn=load)

    return ctx.loaders.cached(f"task_stats:{level}", build)


def _visible_loader(ctx: Context, level: Literal["grid", "community"]) -> DataLoader[uuid.UUID, bool]:
    """Per grid or community: may the caller read the task stats of at least one of its compounds?"""

    def build() -> DataLoader[uuid.UUID, bool]:
        column = Compound.grid_id if level == "grid" else Compound.community_id
        where = scope_clause(
            ctx.principal,
            "task.stats",
            "read",
            {"compound": Compound.id, "grid": Compound.grid_id, "community": Compound.community_id},
        )

        async def load(ids: Sequence[uuid.UUID]) -> list[bool]:
            if isinstance(where, sa.sql.elements.True_):  # admins, API clients: no need to ask
                return [True] * len(ids)
            if isinstance(where, sa.sql.elements.False_):
                return [False] * len(ids)
            statement = sa.select(column).where(column.in_(list(ids)), where).distinct()
            async with ctx.sessions() as session:
                seen = set((await session.execute(statement)).scalars())
            return [i in seen for i in ids]

        return DataLoader(load_fn=load)

    return ctx.loaders.cached(f"task_stats_visible:{level}", build)


async def compound_task_stats(ctx: Context, compound: Compound) -> TaskStatsView:
    require(ctx.principal, "task.stats", "read", compound_place(compound))
    return await _stats_loader(ctx, "compound").load(compound.id)


async def grid_task_stats(ctx: Context, grid_id: uuid.UUID) -> TaskStatsView:
    """A grid's stats: for whoever may read the stats of some compound of it."""
    if not await _visible_loader(ctx, "grid").load(grid_id):
        raise ForbiddenError(NOT_VISIBLE)
    return await _stats_loader(ctx, "grid").load(grid_id)


async def community_task_stats(ctx: Context, community_id: uuid.UUID) -> TaskStatsView:
    """A community's stats: for whoever may read the stats of some compound of it."""
    if not await _visible_loader(ctx, "community").load(community_id):
        raise ForbiddenError(NOT_VISIBLE)
    return await _stats_loader(ctx, "community").load(community_id)
