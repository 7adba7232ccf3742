"""What the dashboards show of the Party-member cycle: registration and participation per building
group, compound, grid, community and street.

Rates are public aggregates (a third-party client reads them as it reads task statistics); the head
counts and hours behind them are shown only to those who work with the place's Party members
(`auth.policy.FIELDS`, PARTY_COUNTS); a third-party client reads the registration rate only
(PARTY_ACTIVITY). No figure names anyone. One statement for every place of a level and period
that a request asks for (a list of building groups, of compounds), each place a lateral row.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from strawberry.dataloader import DataLoader

from auth.facts import AreaFacts, PlaceFacts, RegionFacts
from auth.policy import Action, Field, Resource, refusal, visible
from models.errors import BadUserInputError
from models.evaluation import PeriodKind, period_days, period_name
from models.place import Community, Compound, Grid, Street
from models.terms import today
from resolvers.context import Context
from resolvers.ledger import moment
from resolvers.loaders import Loader
from resolvers.place import granted

Level = Literal["group", "compound", "grid", "community", "street"]
_RATE = Decimal("0.0001")
_HOURS = Decimal("0.01")


@dataclass(frozen=True)
class PartyStatsView:
    period: str
    starts_on: date
    ends_on: date
    #: the head counts and hours; None where the caller sees rates only
    members: int | None
    registered: int | None
    active: int | None
    hours: Decimal | None
    registration_rate: Decimal | None
    active_rate: Decimal | None
    hours_per_member: Decimal | None


def period_of(period: str | None) -> tuple[str, date, date]:
    """A period written `2026Q4` or `2026` (this quarter by default) and its days."""
    if period is None:
        period = period_name(today(), PeriodKind.QUARTER)
    period = period.strip().upper()
    for kind in PeriodKind:
        days = period_days(period, kind)
        if not isinstance(days, str):
            return period, *days
    raise BadUserInputError("期间请写成 2026Q4（季度）或 2026（年度）。", field="period")


#: The compounds of a place at each level, as SQL over `compound` (c) and `community` (m).
_SCOPES: dict[str, str] = {
    "compound": "c.id = :place",
    "grid": "c.grid_id = :place",
    "community": "c.community_id = :place",
    "street": "m.street_id = :place",
}

_STATEMENT = """
WITH places AS (
    SELECT c.id FROM compound c JOIN community m ON m.id = c.community_id WHERE {scope}
), buildings AS (
    SELECT building_id FROM party_group_building WHERE group_id = :place
), members AS (
    -- Party members today: the Party member role at a compound of the place (of a building of the
    -- group: living there)
    SELECT DISTINCT r.person_id FROM role_assignment r
    WHERE r.role = 'PARTY_MEMBER' AND r.starts_on <= :today AND (r.ends_on IS NULL OR r.ends_on > :today)
      AND {member_scope}
), registered AS (
    SELECT DISTINCT x.person_id FROM party_registration x
    WHERE x.status = 'APPROVED' AND {registered_scope}
), record AS (
    SELECT p.person_id, sum(p.count) AS net,
           sum(p.hours) FILTER (WHERE p.kind = 'VOLUNTEER') AS hours
    FROM participation p JOIN registered g ON g.person_id = p.person_id
    WHERE p.occurred_at >= :starts AND p.occurred_at < :ends
    GROUP BY p.person_id
)
SELECT (SELECT count(*) FROM members) AS members,
       (SELECT count(*) FROM registered) AS registered,
       (SELECT count(*) FROM record WHERE net > 0) AS active,
       (SELECT coalesce(sum(hours), 0) FROM record) AS hours
"""

_MEMBER_SCOPE = {
    "group": """r.compound_id = (SELECT compound_id FROM party_group WHERE id = :place)
      AND EXISTS (SELECT 1 FROM home hm JOIN household hh ON hh.id = hm.household_id
                  WHERE hm.person_id = r.person_id AND hh.building_id IN (SELECT building_id FROM buildings)
                    AND hm.starts_on <= :today AND (hm.ends_on IS NULL OR hm.ends_on > :today))""",
    "other": "r.compound_id IN (SELECT id FROM places)",
}
_REGISTERED_SCOPE = {
    "group": "x.building_id IN (SELECT building_id FROM buildings)",
    "other": "x.compound_id IN (SELECT id FROM places)",
}


def _statement(level: Level) -> Any:
    """The figures of many places of one level: the statement above for each, as a lateral row."""
    kind = "group" if level == "group" else "other"
    one = _STATEMENT.format(
        scope=_SCOPES.get(level, "false"),
        member_scope=_MEMBER_SCOPE[kind],
        registered_scope=_REGISTERED_SCOPE[kind],
    ).replace(":place", "pl.id")
    return sa.text(
        "SELECT pl.id AS place, s.members, s.registered, s.active, s.hours"
        f" FROM unnest(:places) AS pl(id), LATERAL ({one}) AS s"
    ).bindparams(sa.bindparam("places", type_=ARRAY(sa.Uuid)))


def _figures(ctx: Context) -> DataLoader[tuple[Level, str | None, uuid.UUID], Any]:
    """Each place's figures, for every place of a level and period asked in one request at once."""

    async def load(keys: Sequence[tuple[Level, str | None, uuid.UUID]]) -> list[Any]:
        shapes: dict[tuple[Level, str | None], list[uuid.UUID]] = defaultdict(list)
        for level, period, place_id in keys:
            shapes[(level, period)].append(place_id)
        found: dict[tuple[Level, str | None, uuid.UUID], Any] = {}
        async with ctx.sessions() as session:
            for (level, period), places in shapes.items():
                _, starts, ends = period_of(period)
                values = {"places": places, "today": today(), "starts": moment(starts), "ends": moment(ends)}
                for row in await session.execute(_statement(level), values):
                    found[(level, period, row.place)] = row
        return [found[k] for k in keys]

    return ctx.loaders.cached("party_stats", lambda: Loader(load_fn=load))


def _rate(part: int, whole: int) -> Decimal | None:
    return (Decimal(part) / Decimal(whole)).quantize(_RATE, rounding=ROUND_HALF_UP) if whole else None


#: who may read a place's statistics at each level: the rule its task statistics follow (a
#: street's: reading it); a building group's are its readers' (`group` checks them)
_GATES: dict[str, tuple[Resource, Action, Any]] = {
    "compound": (Resource.COMPOUND, Action.READ_STATS, Compound),
    "grid": (Resource.GRID, Action.READ_TASK_STATS, Grid),
    "community": (Resource.COMMUNITY, Action.READ_TASK_STATS, Community),
    "street": (Resource.STREET, Action.READ, Street),
}


async def party_stats(ctx: Context, level: Level, place: Any, period: str | None) -> PartyStatsView:
    """A place's Party statistics over a period (`place`: its row, already visible to the caller)."""
    name, starts, ends = period_of(period)
    if level != "group":
        resource, action, model = _GATES[level]
        if not await granted(ctx, resource, action, model).load(place.id):
            raise refusal(resource, action)
    row = await _figures(ctx).load((level, period, place.id))
    hours = Decimal(row.hours or 0).quantize(_HOURS)

    # a group's readers all work with its members; elsewhere the policy says who sees what
    def shown(field: Field) -> bool:
        return level == "group" or visible(ctx.principal, _GATES[level][0], field, _facts(level, place))

    counts, activity = shown(Field.PARTY_COUNTS), shown(Field.PARTY_ACTIVITY)
    return PartyStatsView(
        period=name,
        starts_on=starts,
        ends_on=ends,
        members=row.members if counts else None,
        registered=row.registered if counts else None,
        active=row.active if counts else None,
        hours=hours if counts else None,
        registration_rate=_rate(row.registered, row.members),
        active_rate=_rate(row.active, row.registered) if activity else None,
        hours_per_member=(hours / row.registered).quantize(_HOURS, rounding=ROUND_HALF_UP)
        if row.registered and activity
        else None,
    )


def _facts(level: Level, place: Any) -> Any:
    """The place as the policy's facts (its own ids and those it lies in)."""
    if level == "compound":
        return PlaceFacts(community_id=place.community_id, grid_id=place.grid_id, compound_id=place.id)
    if level == "grid":
        return AreaFacts(community_id=place.community_id, grid_id=place.id)
    if level == "community":
        return AreaFacts(community_id=place.id)
    return RegionFacts()


__all__ = ["PartyStatsView", "party_stats", "period_of"]
