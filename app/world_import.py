"""Importing a world file: one transaction, upserts by natural keys, all or nothing.

Rows go in through `INSERT … SELECT FROM unnest(arrays) ON CONFLICT … DO UPDATE … WHERE changed`,
one statement per few thousand rows, which is what lets a 100,000-household city file load in
seconds. `RETURNING (xmax = 0)` tells created rows from updated ones; unchanged rows are not
touched at all, which is what makes a second import of the same file a no-op.

References may point at places and people already in the database (a file of people only, for an
imported compound), so they are resolved against the file and the database together.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.world_file import Problem, World, WorldFileError
from models import terms
from models.enums import ROLE_SCOPE
from models.party import GROUP_SUFFIX

BATCH = 5_000
#: serialises concurrent imports (an arbitrary, fixed advisory-lock key)
IMPORT_LOCK = 0x71696C696A6961

Progress = Callable[[str, int, int], None]  # (stage, rows done now, stage total)


@dataclass
class ImportSummary:
    created: Counter[str] = field(default_factory=Counter)
    updated: Counter[str] = field(default_factory=Counter)
    #: homes, roles and positions whose term the file ended (`ends_on`)
    ended: Counter[str] = field(default_factory=Counter)
    #: of those created, terms that had ended (through the API, or by an earlier file) and begin
    #: again because the file lists them without an end: an old file re-imported undoes changes
    reopened: Counter[str] = field(default_factory=Counter)

    @property
    def changed(self) -> bool:
        return bool(+self.created or +self.updated or +self.ended)


STAGES = (
    "区",
    "街道",
    "社区",
    "网格",
    "小区",
    "楼栋",
    "住户",
    "人员",
    "党员信息",
    "房屋关系",
    "角色",
    "团队职务",
    "党员报到",
)


#: the stages whose rows are terms a file may end
TERM_STAGES = ("房屋关系", "角色", "团队职务", "党员报到")


def _no_progress(stage: str, done: int, total: int) -> None:
    return None


async def _upsert(
    session: AsyncSession,
    *,
    table: str,
    columns: dict[str, str],
    rows: Sequence[tuple[Any, ...]],
    conflict: str,
    update: Sequence[str],
    stage: str,
    summary: ImportSummary,
    progress: Progress,
) -> None:
    """Upsert `rows` (tuples in `columns` order; `columns` maps name → PostgreSQL type)."""
    names = list(columns)
    select = ", ".join(f"CAST(:{n} AS {t}[])" for n, t in columns.items())
    if update:
        assignments = ", ".join(f"{c} = EXCLUDED.{c}" for c in update)
        changed = " OR ".join(f"{table}.{c} IS DISTINCT FROM EXCLUDED.{c}" for c in update)
        on_conflict = f"ON CONFLICT {conflict} DO UPDATE SET {assignments} WHERE {changed}"
    else:
        on_conflict = f"ON CONFLICT {conflict} DO NOTHING"
    statement = sa.text(
        f"INSERT INTO {table} ({', '.join(names)}) SELECT * FROM unnest({select}) "
        f"{on_conflict} RETURNING (xmax = 0) AS created"
    )
    for start in range(0, len(rows), BATCH):
        chunk = rows[start : start + BATCH]
        params = {name: [row[i] for row in chunk] for i, name in enumerate(names)}
        result = await session.execute(statement, params)
        for (created,) in result:
            (summary.created if created else summary.updated)[stage] += 1
        progress(stage, len(chunk), len(rows))
    if not rows:
        progress(stage, 0, 0)


async def _end_terms(
    session: AsyncSession,
    *,
    table: str,
    key: dict[str, str],
    rows: Sequence[tuple[tuple[Any, ...], Any, str]],
    stage: str,
    summary: ImportSummary,
) -> None:
    """End the term in force of each (key, ends_on, path): the home, role or position the file says
    ended on that day. One that has no term in force was ended already (or never held): nothing to
    do, so a second import of the same file changes nothing. A term that began after the day
    the file ends it is a mistake in the file, named by its path."""
    if not rows:
        return
    names = list(key)
    values = {name: [r[0][i] for r in rows] for i, name in enumerate(names)}
    values |= {"ends_on": [r[1] for r in rows], "ordinal": list(range(len(rows)))}
    casts = ", ".join(f"CAST(:{n} AS {t}[])" for n, t in {**key, "ends_on": "date", "ordinal": "int"}.items())
    match = " AND ".join(f"t.{n} IS NOT DISTINCT FROM e.{n}" for n in names)
    entries = f"unnest({casts}) AS e({', '.join(names)}, ends_on, ordinal)"
    wrong = await session.execute(
        sa.text(
            f"SELECT e.ordinal, t.starts_on FROM {table} t, {entries} "
            f"WHERE {match} AND t.ends_on IS NULL AND t.starts_on > e.ends_on ORDER BY e.ordinal"
        ),
        values,
    )
    problems = [
        Problem(f"{rows[ordinal][2]}.ends_on", f"该记录从 {starts:%Y-%m-%d} 开始，结束日期不能早于它")
        for ordinal, starts in wrong
    ]
    if problems:
        raise WorldFileError(problems[:50])
    ended = await session.execute(
        sa.text(
            f"UPDATE {table} t SET ends_on = e.ends_on FROM {entries} "
            f"WHERE {match} AND t.ends_on IS NULL RETURNING t.id"
        ),
        values,
    )
    summary.ended[stage] += len(ended.all())


async def _count_reopened(
    session: AsyncSession,
    *,
    table: str,
    key: dict[str, str],
    rows: Sequence[tuple[Any, ...]],
    stage: str,
    summary: ImportSummary,
) -> None:
    """Count the open terms the file lists (their key first in each row) that have no term in force
    or to come but an ended one: the upsert that follows begins them again."""
    if not rows:
        return
    names = list(key)
    values = {name: [r[i] for r in rows] for i, name in enumerate(names)}
    casts = ", ".join(f"CAST(:{n} AS {t}[])" for n, t in key.items())
    match = " AND ".join(f"t.{n} IS NOT DISTINCT FROM e.{n}" for n in names)
    found = await session.execute(
        sa.text(
            f"SELECT count(*) FROM unnest({casts}) AS e({', '.join(names)}) "
            f"WHERE EXISTS (SELECT 1 FROM {table} t WHERE {match} AND t.ends_on IS NOT NULL) "
            f"AND NOT EXISTS (SELECT 1 FROM {table} t WHERE {match} AND t.ends_on IS NULL)"
        ),
        values,
    )
    summary.reopened[stage] += found.scalar_one()


async def _ids(session: AsyncSession, sql: str, **params: Any) -> dict[Any, uuid.UUID]:
    """Map natural keys to ids with a query returning (key..., id)."""
    out: dict[Any, uuid.UUID] = {}
    for row in await session.execute(sa.text(sql), params):
        *key, ident = row
        out[key[0] if len(key) == 1 else tuple(key)] = ident
    return out


def _check_unique(items: Iterable[tuple[str, Any]], what: str, problems: list[Problem]) -> None:
    seen: set[Any] = set()
    for path, key in items:
        if key in seen:
            problems.append(Problem(path, f"{what} {key} 重复"))
        seen.add(key)


async def import_world(
    session: AsyncSession, world: World, progress: Progress = _no_progress
) -> ImportSummary:
    """Import `world` inside the caller's transaction; raise `WorldFileError` before writing anything
    when a reference or a duplicate makes the file inconsistent."""
    await session.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": IMPORT_LOCK})
    problems: list[Problem] = []
    _check_unique(
        ((f"communities[{i}].key", c.key) for i, c in enumerate(world.communities)), "社区", problems
    )
    _check_unique(((f"grids[{i}].key", g.key) for i, g in enumerate(world.grids)), "网格", problems)
    _check_unique(((f"compounds[{i}].key", c.key) for i, c in enumerate(world.compounds)), "小区", problems)
    _check_unique(((f"people[{i}].phone", p.phone) for i, p in enumerate(world.people)), "手机号", problems)
    for ci, compound in enumerate(world.compounds):
        _check_unique(
            ((f"compounds[{ci}].buildings[{bi}].name", b.name) for bi, b in enumerate(compound.buildings)),
            "楼栋",
            problems,
        )
        _check_unique(
            (
                (f"compounds[{ci}].buildings[{bi}].households[{hi}].number", h.number)
                for bi, b in enumerate(compound.buildings)
                for hi, h in enumerate(b.households)
            ),
            "门牌号",
            problems,
        )

    # Keys the file may refer to: its own, and those already imported.
    db_communities = await _ids(session, "SELECT key, id FROM community")
    db_grids = await _ids(session, "SELECT key, community_id FROM grid")
    community_keys = set(db_communities) | {c.key for c in world.communities}
    grid_community: dict[str, Any] = {g.key: g.community for g in world.grids}
    community_key_by_id = {v: k for k, v in db_communities.items()}
    for key, community_id in db_grids.items():
        grid_community.setdefault(key, community_key_by_id.get(community_id))
    for i, grid in enumerate(world.grids):
        if grid.community not in community_keys:
            problems.append(Problem(f"grids[{i}].community", f"社区 {grid.community} 不存在"))
    for i, compound in enumerate(world.compounds):
        if compound.community not in community_keys:
            problems.append(Problem(f"compounds[{i}].community", f"社区 {compound.community} 不存在"))
        if compound.grid not in grid_community:
            problems.append(Problem(f"compounds[{i}].grid", f"网格 {compound.grid} 不存在"))
        elif grid_community[compound.grid] != compound.community:
            problems.append(
                Problem(f"compounds[{i}].grid", f"网格 {compound.grid} 不属于社区 {compound.community}")
            )
    if problems:
        raise WorldFileError(problems[:50])

    summary = ImportSummary()
    up = dict(session=session, summary=summary, progress=progress)

    # districts by name, streets by district and name: the names every version-1 file gives
    await _upsert(
        table="district",
        columns={"name": "text"},
        rows=sorted({(c.district,) for c in world.communities}),
        conflict="(name)",
        update=(),
        stage="区",
        **up,
    )
    districts = await _ids(session, "SELECT name, id FROM district")
    await _upsert(
        table="street",
        columns={"district_id": "uuid", "name": "text"},
        rows=sorted({(districts[c.district], c.street) for c in world.communities}),
        conflict="(district_id, name)",
        update=(),
        stage="街道",
        **up,
    )
    streets = await _ids(session, "SELECT district_id, name, id FROM street")
    await _upsert(
        table="community",
        columns={"key": "text", "name": "text", "street_id": "uuid"},
        rows=[(c.key, c.name, streets[(districts[c.district], c.street)]) for c in world.communities],
        conflict="(key)",
        update=("name", "street_id"),
        stage="社区",
        **up,
    )
    communities = await _ids(session, "SELECT key, id FROM community")
    await _upsert(
        table="grid",
        columns={"key": "text", "name": "text", "community_id": "uuid"},
        rows=[(g.key, g.name, communities[g.community]) for g in world.grids],
        conflict="(key)",
        update=("name", "community_id"),
        stage="网格",
        **up,
    )
    grids = await _ids(session, "SELECT key, id FROM grid")
    await _upsert(
        table="compound",
        columns={
            "key": "text",
            "name": "text",
            "community_id": "uuid",
            "grid_id": "uuid",
            "property_company": "text",
        },
        rows=[
            (c.key, c.name, communities[c.community], grids[c.grid], c.property_company)
            for c in world.compounds
        ],
        conflict="(key)",
        update=("name", "community_id", "grid_id", "property_company"),
        stage="小区",
        **up,
    )
    compounds = await _ids(session, "SELECT key, id FROM compound")
    file_compound_ids = [compounds[c.key] for c in world.compounds]
    await _upsert(
        table="building",
        columns={"compound_id": "uuid", "name": "text"},
        rows=[(compounds[c.key], b.name) for c in world.compounds for b in c.buildings],
        conflict="(compound_id, name)",
        update=(),
        stage="楼栋",
        **up,
    )
    buildings = await _ids(
        session,
        "SELECT compound_id, name, id FROM building WHERE compound_id = ANY(CAST(:ids AS uuid[]))",
        ids=file_compound_ids,
    )
    await _upsert(
        table="household",
        columns={
            "compound_id": "uuid",
            "building_id": "uuid",
            "number": "text",
            "floor": "int",
            "area": "numeric",
        },
        rows=[
            (compounds[c.key], buildings[(compounds[c.key], b.name)], h.number, h.floor, h.area)
            for c in world.compounds
            for b in c.buildings
            for h in b.households
        ],
        conflict="(compound_id, number)",
        update=("building_id", "floor", "area"),
        stage="住户",
        **up,
    )

    # People and their links: resolve every reference first, so a bad one writes nothing more.
    referenced_compounds = (
        {h.compound for p in world.people for h in p.homes}
        | {r.compound for r in world.roles if r.compound}
        | {pos.compound for pos in world.positions}
    )
    unknown = referenced_compounds - set(compounds)
    referenced_ids = [compounds[k] for k in referenced_compounds if k in compounds]
    households = await _ids(
        session,
        "SELECT compound_id, number, id FROM household WHERE compound_id = ANY(CAST(:ids AS uuid[]))",
        ids=referenced_ids,
    )
    all_buildings = await _ids(
        session,
        "SELECT compound_id, name, id FROM building WHERE compound_id = ANY(CAST(:ids AS uuid[]))",
        ids=referenced_ids,
    )
    file_phones = {p.phone for p in world.people}
    other_phones = {r.phone for r in world.roles} | {p.phone for p in world.positions}
    db_people = await _ids(
        session,
        "SELECT phone, id FROM person WHERE phone = ANY(CAST(:phones AS text[]))",
        phones=sorted(other_phones - file_phones),
    )
    known_phones = file_phones | set(db_people)
    for i, person in enumerate(world.people):
        for j, home in enumerate(person.homes):
            if home.compound in unknown:
                problems.append(Problem(f"people[{i}].homes[{j}].compound", f"小区 {home.compound} 不存在"))
            elif (compounds[home.compound], home.household) not in households:
                problems.append(
                    Problem(
                        f"people[{i}].homes[{j}].household", f"小区 {home.compound} 没有 {home.household}"
                    )
                )
        _check_unique(
            (
                (f"people[{i}].homes[{j}].household", (h.compound, h.household))
                for j, h in enumerate(person.homes)
            ),
            "房屋",
            problems,
        )
    for i, role in enumerate(world.roles):
        if role.phone not in known_phones:
            problems.append(Problem(f"roles[{i}].phone", f"手机号 {role.phone} 不在 people 中"))
        kind = ROLE_SCOPE[role.role]
        key = getattr(role, kind) if kind else None
        if kind == "compound" and key in unknown:
            problems.append(Problem(f"roles[{i}].compound", f"小区 {key} 不存在"))
        elif kind == "grid" and key not in grids:
            problems.append(Problem(f"roles[{i}].grid", f"网格 {key} 不存在"))
        elif kind == "community" and key not in communities:
            problems.append(Problem(f"roles[{i}].community", f"社区 {key} 不存在"))
    for i, pos in enumerate(world.positions):
        if pos.phone not in known_phones:
            problems.append(Problem(f"positions[{i}].phone", f"手机号 {pos.phone} 不在 people 中"))
        if pos.compound in unknown:
            problems.append(Problem(f"positions[{i}].compound", f"小区 {pos.compound} 不存在"))
        elif pos.building is not None and (compounds[pos.compound], pos.building) not in all_buildings:
            problems.append(Problem(f"positions[{i}].building", f"小区 {pos.compound} 没有 {pos.building}"))
    if problems:
        raise WorldFileError(problems[:50])

    await _upsert(
        table="person",
        columns={"phone": "text", "name": "text"},
        rows=[(p.phone, p.name) for p in world.people],
        conflict="(phone)",
        update=("name",),
        stage="人员",
        **up,
    )
    people = await _ids(
        session,
        "SELECT phone, id FROM person WHERE phone = ANY(CAST(:phones AS text[]))",
        phones=sorted(known_phones),
    )
    await _upsert(
        table="party_profile",
        columns={"person_id": "uuid", "work_unit": "text", "registered_on": "date"},
        rows=[(people[p.phone], p.party.work_unit, p.party.registered_on) for p in world.people if p.party],
        conflict="(person_id)",
        update=("work_unit", "registered_on"),
        stage="党员信息",
        **up,
    )
    today = terms.today()
    homes = [
        (
            (households[(compounds[h.compound], h.household)], people[p.phone]),
            (compounds[h.compound], h.relation.value, h.starts_on or today),
            h.ends_on,
            f"people[{i}].homes[{j}]",
        )
        for i, p in enumerate(world.people)
        for j, h in enumerate(p.homes)
    ]
    await _count_reopened(
        session,
        table="home",
        key={"household_id": "uuid", "person_id": "uuid"},
        rows=[key for key, _, ends_on, _ in homes if ends_on is None],
        stage="房屋关系",
        summary=summary,
    )
    await _upsert(
        table="home",
        columns={
            "household_id": "uuid",
            "person_id": "uuid",
            "compound_id": "uuid",
            "relation": "text",
            "starts_on": "date",
        },
        rows=[(*key, *rest) for key, rest, ends_on, _ in homes if ends_on is None],
        conflict="(household_id, person_id) WHERE ends_on IS NULL",
        update=("compound_id", "relation"),
        stage="房屋关系",
        **up,
    )
    await _end_terms(
        session,
        table="home",
        key={"household_id": "uuid", "person_id": "uuid"},
        rows=[(key, ends_on, path) for key, _, ends_on, path in homes if ends_on is not None],
        stage="房屋关系",
        summary=summary,
    )
    # a tenant who moved in on or after a household was marked vacant ends the vacancy, as through
    # the API (`resolvers.homes.moved_in`)
    await session.execute(
        sa.text(
            "UPDATE household h SET vacant_since = NULL WHERE h.vacant_since IS NOT NULL AND EXISTS ("
            "SELECT 1 FROM home t WHERE t.household_id = h.id AND t.relation = 'TENANT'"
            " AND t.ends_on IS NULL AND t.starts_on >= h.vacant_since)"
        )
    )
    role_rows = []
    for i, role in enumerate(world.roles):
        kind = ROLE_SCOPE[role.role]
        place = {"compound": compounds, "grid": grids, "community": communities}
        pid = place[kind][getattr(role, kind)] if kind else None
        key = (
            people[role.phone],
            role.role.value,
            pid if kind == "community" else None,
            pid if kind == "grid" else None,
            pid if kind == "compound" else None,
        )
        role_rows.append((key, role.starts_on or today, role.ends_on, f"roles[{i}]"))
    role_key = {"person_id": "uuid", "role": "text", "community_id": "uuid", "grid_id": "uuid"}
    role_key["compound_id"] = "uuid"
    await _count_reopened(
        session,
        table="role_assignment",
        key=role_key,
        rows=[key for key, _, ends_on, _ in role_rows if ends_on is None],
        stage="角色",
        summary=summary,
    )
    await _upsert(
        table="role_assignment",
        columns={**role_key, "starts_on": "date"},
        rows=[(*key, starts) for key, starts, ends_on, _ in role_rows if ends_on is None],
        conflict="",
        update=(),
        stage="角色",
        **up,
    )
    await _end_terms(
        session,
        table="role_assignment",
        key=role_key,
        rows=[(key, ends_on, path) for key, _, ends_on, path in role_rows if ends_on is not None],
        stage="角色",
        summary=summary,
    )
    seats = [
        (
            (
                compounds[pos.compound],
                people[pos.phone],
                pos.position.value,
                all_buildings[(compounds[pos.compound], pos.building)] if pos.building else None,
            ),
            pos.starts_on or today,
            pos.ends_on,
            f"positions[{i}]",
        )
        for i, pos in enumerate(world.positions)
    ]
    seat_key = {"compound_id": "uuid", "person_id": "uuid", "position": "text", "building_id": "uuid"}
    await _count_reopened(
        session,
        table="team_position",
        key=seat_key,
        rows=[key for key, _, ends_on, _ in seats if ends_on is None],
        stage="团队职务",
        summary=summary,
    )
    await _upsert(
        table="team_position",
        columns={**seat_key, "starts_on": "date"},
        rows=[(*key, starts) for key, starts, ends_on, _ in seats if ends_on is None],
        conflict="",
        update=(),
        stage="团队职务",
        **up,
    )
    await _end_terms(
        session,
        table="team_position",
        key=seat_key,
        rows=[(key, ends_on, path) for key, _, ends_on, path in seats if ends_on is not None],
        stage="团队职务",
        summary=summary,
    )
    await _sync_registrations(
        session,
        [people[p.phone] for p in world.people if p.party and p.party.registered_on],
        [people[p.phone] for p in world.people],
        today,
        summary,
        progress,
    )
    if summary.changed:
        await refresh_statistics(session)
    if summary.changed:  # an import that changed nothing did nothing worth recording
        from resolvers import audit

        actor, address = audit.operator()
        await audit.append(
            session,
            action="IMPORT",
            actor=actor,
            address=address,
            detail={
                "created": dict(+summary.created),
                "updated": dict(+summary.updated),
                "ended": dict(+summary.ended),
                "reopened": dict(+summary.reopened),
            },
        )
    return summary


#: a registered member's registration as the file says it: at the compound where they hold the
#: Party member role (the latest, if several), from their home there, on the day of their profile
_WANTED_REGISTRATIONS = """
SELECT DISTINCT ON (r.person_id)
    r.person_id, r.compound_id, pp.work_unit, pp.registered_on, h.id AS household_id, h.building_id
FROM role_assignment r
JOIN party_profile pp ON pp.person_id = r.person_id AND pp.registered_on IS NOT NULL
LEFT JOIN LATERAL (
    SELECT hh.id, hh.building_id FROM home hm JOIN household hh ON hh.id = hm.household_id
    WHERE hm.person_id = r.person_id AND hh.compound_id = r.compound_id
      AND hm.starts_on <= :today AND (hm.ends_on IS NULL OR hm.ends_on > :today)
    ORDER BY hh.number, hh.id LIMIT 1
) h ON true
WHERE r.role = 'PARTY_MEMBER' AND r.person_id = ANY(CAST(:people AS uuid[]))
  AND r.starts_on <= :today AND (r.ends_on IS NULL OR r.ends_on > :today)
ORDER BY r.person_id, r.starts_on DESC, r.compound_id
"""


async def _sync_registrations(
    session: AsyncSession,
    person_ids: list[Any],
    everyone: list[Any],
    today: Any,
    summary: ImportSummary,
    progress: Progress,
) -> None:
    """Registered Party members of the file hold an approved registration (报到) where the file
    says, on the day it says; one held elsewhere (the member moved) is transferred; their
    buildings get their groups. A second import of the same file changes nothing."""
    stage = "党员报到"
    values = {"people": person_ids, "today": today}
    wanted = f"WITH wanted AS ({_WANTED_REGISTRATIONS})"
    moved = await session.execute(
        sa.text(
            f"""{wanted} UPDATE party_registration x
            SET status = 'TRANSFERRED', ended_on = greatest(x.approved_on, :today)
            FROM wanted w WHERE x.person_id = w.person_id AND x.status = 'APPROVED'
              AND x.compound_id <> w.compound_id RETURNING x.id"""
        ),
        values,
    )
    changed = await session.execute(
        sa.text(
            f"""{wanted} UPDATE party_registration x SET party_org = w.work_unit, approved_on = w.registered_on,
                building_id = coalesce(w.building_id, x.building_id),
                household_id = coalesce(w.household_id, x.household_id)
            FROM wanted w WHERE x.person_id = w.person_id AND x.status = 'APPROVED'
              AND x.compound_id = w.compound_id
              AND (x.party_org IS DISTINCT FROM w.work_unit OR x.approved_on IS DISTINCT FROM w.registered_on
                   OR x.household_id IS DISTINCT FROM coalesce(w.household_id, x.household_id))
            RETURNING x.id"""
        ),
        values,
    )
    made = await session.execute(
        sa.text(
            f"""{wanted} INSERT INTO party_registration
                (person_id, compound_id, building_id, household_id, party_org, status, decided_at, approved_on)
            SELECT w.person_id, w.compound_id, w.building_id, w.household_id, w.work_unit, 'APPROVED', now(),
                   w.registered_on
            FROM wanted w
            WHERE NOT EXISTS (SELECT 1 FROM party_registration x
                              WHERE x.person_id = w.person_id AND x.status = 'APPROVED')
            RETURNING id"""
        ),
        values,
    )
    # a member of the file who no longer holds the Party member role where they registered (the
    # file or the committee ended it) is registered there no more
    ended = await session.execute(
        sa.text(
            """UPDATE party_registration x SET status = 'ENDED', ended_on = greatest(x.approved_on, :today)
            WHERE x.status = 'APPROVED' AND x.person_id = ANY(CAST(:everyone AS uuid[]))
              AND NOT EXISTS (
                SELECT 1 FROM role_assignment r WHERE r.person_id = x.person_id AND r.role = 'PARTY_MEMBER'
                  AND r.compound_id = x.compound_id AND r.starts_on <= :today
                  AND (r.ends_on IS NULL OR r.ends_on > :today))
            RETURNING x.id"""
        ),
        {"everyone": everyone, "today": today},
    )
    summary.updated[stage] += len(moved.all()) + len(changed.all())
    summary.ended[stage] += len(ended.all())
    summary.created[stage] += len(made.all())
    await session.execute(
        sa.text(
            """WITH needed AS (
                SELECT DISTINCT b.id AS building_id, b.compound_id, b.name || :suffix AS name
                FROM party_registration x JOIN building b ON b.id = x.building_id
                WHERE x.status = 'APPROVED' AND x.person_id = ANY(CAST(:people AS uuid[]))
                  AND NOT EXISTS (SELECT 1 FROM party_group_building gb WHERE gb.building_id = b.id)
            ), made AS (
                INSERT INTO party_group (compound_id, name) SELECT compound_id, name FROM needed
                ON CONFLICT (compound_id, name) DO UPDATE SET name = EXCLUDED.name
                RETURNING id, compound_id, name
            )
            INSERT INTO party_group_building (building_id, group_id)
            SELECT n.building_id, m.id FROM needed n JOIN made m ON m.compound_id = n.compound_id AND m.name = n.name"""
        ),
        {"people": person_ids, "suffix": GROUP_SUFFIX},
    )
    from resolvers.party import leaders_still_members

    await leaders_still_members(session, None)
    progress(stage, len(person_ids), len(person_ids))


IMPORTED_TABLES = ("community", "grid", "compound", "building", "household", "person", "home")
IMPORTED_TABLES += ("party_profile", "role_assignment", "team_position", "party_registration")


async def refresh_statistics(session: AsyncSession) -> None:
    """ANALYZE what the import wrote, inside its transaction (which ANALYZE counts): the planner
    otherwise plans the first screens after an import on an empty table's statistics, and a
    policy check that should follow one person's homes walks every household of a compound."""
    await session.execute(sa.text("ANALYZE " + ", ".join(IMPORTED_TABLES)))
