"""Importing world files into PostgreSQL: counts, exact values, idempotence, all-or-nothing errors.

Every import runs inside one transaction the way production runs it (`async with session.begin()`),
so an error discovered half-way (after places were already upserted) must leave no trace.
"""

from __future__ import annotations

import asyncio
import copy
import json
import re
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.database import create_engine, sessionmaker
from app.world_file import Problem, World, WorldFileError, load, parse
from app.world_import import STAGES, ImportSummary, import_world
from models import terms
from tests.conftest import Clones, admin, fetch, fetchval, import_into, make_settings, with_database
from tests.worlds import WORLDGEN

#: import stage (the summary's key) → the table it fills
STAGE_TABLE = {
    "区": "district",
    "街道": "street",
    "社区": "community",
    "网格": "grid",
    "小区": "compound",
    "楼栋": "building",
    "住户": "household",
    "人员": "person",
    "党员信息": "party_profile",
    "房屋关系": "home",
    "角色": "role_assignment",
    "团队职务": "team_position",
    "党员报到": "party_registration",
}
#: tables an import fills not from the file's entries but from what they make (a building group
#: for each building with a registered member)
#: rows an import makes that are not the file's: the building groups of registered Party members,
#: and every person's ties, which the database keeps (`person_tie`, migration 0036)
DERIVED_TABLES = ("party_group", "party_group_building", "person_tie")
#: the ties the database keeps that it would not derive now, and those it lacks: none
TIES_DIFFERENCE = """
(SELECT * FROM person_tie EXCEPT ALL SELECT * FROM person_tie_source)
UNION ALL (SELECT * FROM person_tie_source EXCEPT ALL SELECT * FROM person_tie)"""
CJK = re.compile(r"[\u4e00-\u9fff]")
PLACE_TABLES = ("district", "street", "community", "grid", "compound", "building", "household")


# --------------------------------------------------------------------------------------------------
# helpers


def worldgen(out_dir: Path, *, compounds: int, seed: int) -> dict[str, Any]:
    out = out_dir / f"world-{compounds}-{seed}.json"
    subprocess.run(
        [
            sys.executable,
            str(WORLDGEN),
            "--compounds",
            str(compounds),
            "--seed",
            str(seed),
            "--out",
            str(out),
        ],
        check=True,
    )
    return json.loads(out.read_text(encoding="utf-8"))


async def run_import(url: str, world: World) -> ImportSummary:
    """`import_world` in one transaction, exactly as conftest's `import_into` and the CLI run it."""
    engine = create_engine(url, make_settings(url), pool_size=1, max_overflow=0)
    try:
        async with sessionmaker(engine)() as session, session.begin():
            return await import_world(session, world)
    finally:
        await engine.dispose()


async def tables(url: str) -> list[str]:
    """The tables that hold the world: not the migration revision, the access epoch nor the audit
    trail (an import that changes something is recorded there: `tests/test_audit.py`)."""
    rows = await fetch(
        url,
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' "
        "AND table_type = 'BASE TABLE' AND table_name NOT IN ('alembic_version', 'access_epoch', 'audit_record') "
        "ORDER BY table_name",
    )
    return [r["table_name"] for r in rows]


async def table_counts(url: str) -> dict[str, int]:
    return {t: await fetchval(url, f'SELECT count(*) FROM "{t}"') for t in await tables(url)}


async def snapshot(url: str) -> dict[str, list[tuple[tuple[str, Any], ...]]]:
    """Every row of every table (minus `created_at`), sorted."""
    out = {}
    for table in await tables(url):
        rows = await fetch(url, f'SELECT * FROM "{table}"')
        out[table] = sorted(
            (tuple(sorted((k, v) for k, v in dict(r).items() if k != "created_at")) for r in rows), key=repr
        )
    return out


def households(doc: dict[str, Any]) -> Iterator[tuple[dict[str, Any], dict[str, Any], dict[str, Any]]]:
    for c in doc.get("compounds", []):
        for b in c.get("buildings", []):
            for h in b.get("households", []):
                yield c, b, h


def file_counts(doc: dict[str, Any]) -> dict[str, int]:
    """What the file holds, per import stage."""
    people = doc.get("people", [])
    communities = doc.get("communities", [])
    return {
        "区": len({c["district"] for c in communities}),
        "街道": len({(c["district"], c["street"]) for c in communities}),
        "社区": len(communities),
        "网格": len(doc.get("grids", [])),
        "小区": len(doc.get("compounds", [])),
        "楼栋": sum(len(c.get("buildings", [])) for c in doc.get("compounds", [])),
        "住户": sum(1 for _ in households(doc)),
        "人员": len(people),
        "党员信息": sum(1 for p in people if p.get("party")),
        "房屋关系": sum(len(p.get("homes", [])) for p in people),
        "角色": len(doc.get("roles", [])),
        "团队职务": len(doc.get("positions", [])),
        "党员报到": len(registered_members(doc)),
    }


def registered_members(doc: dict[str, Any]) -> dict[str, tuple[str, str, str]]:
    """phone → (compound, Party organisation, registered on) of each registered Party member holding
    the Party member role at a compound: the registrations an import approves."""
    party = {
        p["phone"]: p["party"] for p in doc.get("people", []) if (p.get("party") or {}).get("registered_on")
    }
    return {
        r["phone"]: (r["compound"], party[r["phone"]]["work_unit"], str(party[r["phone"]]["registered_on"]))
        for r in doc.get("roles", [])
        if r["role"] == "PARTY_MEMBER" and r["phone"] in party and not r.get("ends_on")
    }


def per_stage(counter: Any) -> dict[str, int]:
    return {stage: counter[stage] for stage in STAGES}


ZERO = dict.fromkeys(STAGES, 0)


async def natural(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """The database's content in natural keys only (no UUIDs), to compare with a file."""
    queries = {
        "district": "SELECT name FROM district",
        "street": "SELECT s.name, d.name FROM street s JOIN district d ON d.id = s.district_id",
        "community": "SELECT c.key, c.name, s.name, d.name FROM community c JOIN street s ON s.id = c.street_id "
        "JOIN district d ON d.id = s.district_id",
        "grid": "SELECT g.key, g.name, c.key FROM grid g JOIN community c ON c.id = g.community_id",
        "compound": "SELECT k.key, k.name, c.key, g.key, k.property_company FROM compound k "
        "JOIN community c ON c.id = k.community_id JOIN grid g ON g.id = k.grid_id",
        "building": "SELECT k.key, b.name FROM building b JOIN compound k ON k.id = b.compound_id",
        "household": "SELECT k.key, b.name, h.number, h.floor, h.area::text FROM household h "
        "JOIN building b ON b.id = h.building_id JOIN compound k ON k.id = h.compound_id "
        "WHERE b.compound_id = h.compound_id",
        "person": "SELECT phone, name FROM person",
        "party_profile": "SELECT p.phone, pp.work_unit, pp.registered_on::text FROM party_profile pp "
        "JOIN person p ON p.id = pp.person_id",
        "home": "SELECT p.phone, k.key, h.number, m.relation FROM home m JOIN person p ON p.id = m.person_id "
        "JOIN household h ON h.id = m.household_id JOIN compound k ON k.id = m.compound_id "
        "WHERE h.compound_id = m.compound_id",
        "party_registration": "SELECT p.phone, k.key, x.party_org, x.approved_on::text, x.status "
        "FROM party_registration x JOIN person p ON p.id = x.person_id JOIN compound k ON k.id = x.compound_id",
        "role_assignment": "SELECT p.phone, r.role, k.key, g.key, c.key FROM role_assignment r "
        "JOIN person p ON p.id = r.person_id LEFT JOIN compound k ON k.id = r.compound_id "
        "LEFT JOIN grid g ON g.id = r.grid_id LEFT JOIN community c ON c.id = r.community_id",
        "team_position": "SELECT p.phone, k.key, t.position, b.name FROM team_position t "
        "JOIN person p ON p.id = t.person_id JOIN compound k ON k.id = t.compound_id "
        "LEFT JOIN building b ON b.id = t.building_id AND b.compound_id = t.compound_id",
    }
    return {
        name: sorted((tuple(r) for r in await fetch(url, sql)), key=repr) for name, sql in queries.items()
    }


def expected_natural(*docs: dict[str, Any]) -> dict[str, list[tuple[Any, ...]]]:
    """What `natural` must answer after importing `docs` into an empty database."""
    out: dict[str, set[tuple[Any, ...]]] = {name: set() for name in STAGE_TABLE.values()}
    for doc in docs:
        for c in doc.get("communities", []):
            out["district"].add((c["district"],))
            out["street"].add((c["street"], c["district"]))
            out["community"].add((c["key"], c["name"], c["street"], c["district"]))
        for g in doc.get("grids", []):
            out["grid"].add((g["key"], g["name"], g["community"]))
        for k in doc.get("compounds", []):
            out["compound"].add((k["key"], k["name"], k["community"], k["grid"], k.get("property_company")))
            for b in k.get("buildings", []):
                out["building"].add((k["key"], b["name"]))
        for k, b, h in households(doc):
            out["household"].add((k["key"], b["name"], h["number"], h["floor"], h["area"]))
        for p in doc.get("people", []):
            out["person"].add((p["phone"], p["name"]))
            if p.get("party"):
                out["party_profile"].add(
                    (p["phone"], p["party"]["work_unit"], p["party"].get("registered_on"))
                )
            for home in p.get("homes", []):
                out["home"].add((p["phone"], home["compound"], home["household"], home["relation"]))
        for r in doc.get("roles", []):
            out["role_assignment"].add(
                (r["phone"], r["role"], r.get("compound"), r.get("grid"), r.get("community"))
            )
        for pos in doc.get("positions", []):
            out["team_position"].add((pos["phone"], pos["compound"], pos["position"], pos.get("building")))
        for phone, (compound, org, on) in registered_members(doc).items():
            out["party_registration"].add((phone, compound, org, on, "APPROVED"))
    return {name: sorted(rows, key=repr) for name, rows in out.items()}


def phones(doc: dict[str, Any]) -> set[str]:
    return {p["phone"] for p in doc.get("people", [])}


def rekey(doc: dict[str, Any], prefix: str) -> dict[str, Any]:
    """A copy of a worldgen world whose community, grid and compound keys carry `prefix`."""
    doc = copy.deepcopy(doc)
    for c in doc["communities"]:
        c["key"] = prefix + c["key"]
    for g in doc["grids"]:
        g["key"], g["community"] = prefix + g["key"], prefix + g["community"]
    for k in doc["compounds"]:
        k["key"], k["community"], k["grid"] = prefix + k["key"], prefix + k["community"], prefix + k["grid"]
    for p in doc["people"]:
        for home in p["homes"]:
            home["compound"] = prefix + home["compound"]
    for r in doc["roles"]:
        for kind in ("compound", "grid", "community"):
            if kind in r:
                r[kind] = prefix + r[kind]
    for pos in doc["positions"]:
        pos["compound"] = prefix + pos["compound"]
    return doc


def _new_database(pg_url: str, template: str) -> str:
    name = f"qlj_ti_{uuid.uuid4().hex[:12]}"
    admin(pg_url, f"CREATE DATABASE {name} TEMPLATE {template}")
    return name


# --------------------------------------------------------------------------------------------------
# fixtures


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A worldgen world of 3 compounds (seed 7)."""
    return worldgen(tmp_path_factory.mktemp("worldgen"), compounds=3, seed=7)


@pytest.fixture(scope="module")
def world_template(pg_url: str, template_db: str, generated: dict[str, Any]) -> Iterator[str]:
    """A migrated database holding the generated world, the template of `world_db_url`."""
    name = _new_database(pg_url, template_db)
    try:
        asyncio.run(import_into(with_database(pg_url, name), parse(generated)))
        yield name
    finally:
        admin(pg_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def world_db_url(clones: Clones, world_template: str) -> Iterator[str]:
    """A database of this test's own that already holds the generated world."""
    url = clones.take(world_template)
    yield url
    clones.give_back(url)


@pytest.fixture
def second_db_url(clones: Clones, template_db: str) -> Iterator[str]:
    """Another empty, migrated database for this test."""
    url = clones.take(template_db)
    yield url
    clones.give_back(url)


# --------------------------------------------------------------------------------------------------
# a valid world


async def test_worldgen_world_creates_one_row_per_file_entry(db_url: str, generated: dict[str, Any]) -> None:
    expected = file_counts(generated)
    assert expected["小区"] == 3 and all(n > 0 for n in expected.values()), expected

    summary = await run_import(db_url, parse(generated))

    assert per_stage(summary.created) == expected
    assert per_stage(summary.updated) == ZERO
    assert summary.changed is True
    counts = await table_counts(db_url)
    assert {STAGE_TABLE[s]: counts[STAGE_TABLE[s]] for s in STAGES} == {
        STAGE_TABLE[s]: n for s, n in expected.items()
    }
    assert counts["api_client"] == 0
    assert await natural(db_url) == expected_natural(generated)


async def test_areas_are_stored_as_exact_decimals(db_url: str, generated: dict[str, Any]) -> None:
    await run_import(db_url, parse(generated))
    in_file = {(c["key"], h["number"]): h["area"] for c, _, h in households(generated)}
    # the file has areas whose trailing zero a float would lose
    assert {"89.50", "132.00"} <= set(in_file.values())

    rows = await fetch(
        db_url, "SELECT c.key, h.number, h.area FROM household h JOIN compound c ON c.id = h.compound_id"
    )
    stored = {(r["key"], r["number"]): r["area"] for r in rows}
    assert all(type(area) is Decimal for area in stored.values())
    assert {k: str(v) for k, v in stored.items()} == in_file
    assert stored == {k: Decimal(v) for k, v in in_file.items()}
    assert sum(stored.values()) == sum(Decimal(v) for v in in_file.values())


async def test_area_given_as_yaml_number_is_stored_with_two_places(db_url: str, tmp_path: Path) -> None:
    doc = base_world()
    path = tmp_path / "world.yaml"
    text = json.dumps(doc, ensure_ascii=False).replace('"area": "89.50"', '"area": 89.5')
    path.write_text(text, encoding="utf-8")
    await run_import(db_url, load(path))
    assert (await fetchval(db_url, "SELECT area::text FROM household WHERE number = '6-1-101'")) == "89.50"


# --------------------------------------------------------------------------------------------------
# idempotence and updates


async def test_second_import_of_the_same_world_changes_nothing(
    db_url: str, generated: dict[str, Any]
) -> None:
    world = parse(generated)
    first = await run_import(db_url, world)
    assert per_stage(first.created) == file_counts(generated)
    before = await snapshot(db_url)
    # every row is one of the file's, but what is derived from them
    assert sum(len(rows) for t, rows in before.items() if t not in DERIVED_TABLES) == sum(
        file_counts(generated).values()
    )
    assert len(before["person_tie"]) > 0 and await fetch(db_url, TIES_DIFFERENCE) == []
    assert (
        len(before["party_group"])
        == len(before["party_group_building"])
        == await fetchval(
            db_url, "SELECT count(DISTINCT building_id) FROM party_registration WHERE status = 'APPROVED'"
        )
    )

    second = await run_import(db_url, world)

    assert per_stage(second.created) == ZERO
    assert per_stage(second.updated) == ZERO
    assert second.changed is False
    assert await snapshot(db_url) == before


async def test_reimporting_the_demo_world_changes_nothing(demo_db_url: str, demo_world: World) -> None:
    before = await snapshot(demo_db_url)
    summary = await run_import(demo_db_url, demo_world)
    assert per_stage(summary.created) == ZERO
    assert per_stage(summary.updated) == ZERO
    assert await snapshot(demo_db_url) == before


async def test_changed_area_and_name_are_the_only_updates(db_url: str, generated: dict[str, Any]) -> None:
    await run_import(db_url, parse(generated))
    before = await snapshot(db_url)
    epoch = await fetchval(db_url, "SELECT epoch FROM access_epoch")

    doc = copy.deepcopy(generated)
    household = doc["compounds"][1]["buildings"][2]["households"][5]
    compound_key = doc["compounds"][1]["key"]
    assert household["area"] != "201.25"
    household["area"] = "201.25"
    person = doc["people"][10]
    assert person["name"] != "改名测试"
    person["name"] = "改名测试"

    summary = await run_import(db_url, parse(doc))

    assert per_stage(summary.created) == ZERO
    assert per_stage(summary.updated) == {**ZERO, "住户": 1, "人员": 1}
    assert (
        await fetchval(
            db_url,
            "SELECT h.area FROM household h JOIN compound c ON c.id = h.compound_id "
            "WHERE c.key = $1 AND h.number = $2",
            compound_key,
            household["number"],
        )
    ) == Decimal("201.25")
    assert await fetchval(db_url, "SELECT name FROM person WHERE phone = $1", person["phone"]) == "改名测试"

    after = await snapshot(db_url)
    assert {t: rows for t, rows in after.items() if t not in ("household", "person")} == {
        t: rows for t, rows in before.items() if t not in ("household", "person")
    }
    # a renamed person's cached principal carries the old name: the access epoch moves past it
    assert await fetchval(db_url, "SELECT epoch FROM access_epoch") > epoch
    for table in ("household", "person"):
        gone = [dict(r) for r in before[table] if r not in after[table]]
        came = [dict(r) for r in after[table] if r not in before[table]]
        assert len(gone) == len(came) == 1, table
        assert gone[0]["id"] == came[0]["id"]  # updated in place, not replaced
    assert await natural(db_url) == expected_natural(doc)


async def test_people_only_file_refers_to_compounds_imported_before(
    db_url: str, generated: dict[str, Any]
) -> None:
    await run_import(db_url, parse(generated))
    places_before = {t: rows for t, rows in (await snapshot(db_url)).items() if t in PLACE_TABLES}
    c1, c2 = generated["compounds"][0], generated["compounds"][1]
    h1 = c1["buildings"][0]["households"][0]["number"]
    h2 = c2["buildings"][1]["households"][3]["number"]
    admin_phone = next(r["phone"] for r in generated["roles"] if r["role"] == "ADMIN")
    grid_key = generated["grids"][0]["key"]
    new = {
        "version": 1,
        "people": [
            {
                "phone": "19900000001",
                "name": "新党员",
                "party": {"work_unit": "綦江区教委机关党支部", "registered_on": "2025-03-01"},
                "homes": [{"compound": c1["key"], "household": h1, "relation": "TENANT"}],
            },
            {
                "phone": "19900000002",
                "name": "新业主",
                "homes": [{"compound": c2["key"], "household": h2, "relation": "OWNER"}],
            },
        ],
        "roles": [
            {"phone": "19900000001", "role": "PARTY_MEMBER", "compound": c1["key"]},
            # a person imported earlier, not in this file
            {"phone": admin_phone, "role": "GRID_WORKER", "grid": grid_key},
        ],
        "positions": [
            {
                "phone": "19900000002",
                "compound": c2["key"],
                "position": "BUILDING_CONVENER",
                "building": "2栋",
            }
        ],
    }
    assert not phones(new) & phones(generated)

    summary = await run_import(db_url, parse(new))

    assert per_stage(summary.created) == {
        **ZERO,
        "人员": 2,
        "党员信息": 1,
        "房屋关系": 2,
        "角色": 2,
        "团队职务": 1,
        "党员报到": 1,
    }
    assert per_stage(summary.updated) == ZERO
    assert {t: rows for t, rows in (await snapshot(db_url)).items() if t in PLACE_TABLES} == places_before
    assert await natural(db_url) == expected_natural(generated, new)


# --------------------------------------------------------------------------------------------------
# invalid files: exact path, Chinese message, nothing written


def base_world() -> dict[str, Any]:
    """A small valid world (API.md's example) whose keys and phones differ from worldgen's."""
    return {
        "version": 1,
        "communities": [
            {"key": "jiulong", "name": "九龙社区", "street": "文龙街道", "district": "綦江区"},
            {"key": "tonghui", "name": "通惠社区", "street": "通惠街道", "district": "綦江区"},
        ],
        "grids": [
            {"key": "jiulong-g3", "name": "九龙社区第三网格", "community": "jiulong"},
            {"key": "tonghui-g2", "name": "通惠社区第二网格", "community": "tonghui"},
        ],
        "compounds": [
            {
                "key": "qianshan-meilin",
                "name": "千山美林",
                "community": "jiulong",
                "grid": "jiulong-g3",
                "property_company": "千山物业服务有限公司",
                "buildings": [
                    {
                        "name": "6栋",
                        "households": [
                            {"number": "6-1-101", "floor": 1, "area": "89.50"},
                            {"number": "6-1-102", "floor": 1, "area": "96.12"},
                        ],
                    },
                    {"name": "7栋", "households": [{"number": "7-1-101", "floor": 1, "area": "120.00"}]},
                ],
            }
        ],
        "people": [
            {
                "phone": "13800000001",
                "name": "邵锐",
                "party": {"work_unit": "綦江区科技局机关党支部", "registered_on": "2025-07-14"},
                "homes": [{"compound": "qianshan-meilin", "household": "6-1-101", "relation": "OWNER"}],
            },
            {"phone": "13800000002", "name": "王芳"},
            {"phone": "13800000003", "name": "李强"},
            {
                "phone": "13800000007",
                "name": "张德明",
                "homes": [
                    {"compound": "qianshan-meilin", "household": "6-1-102", "relation": "OWNER"},
                    {"compound": "qianshan-meilin", "household": "7-1-101", "relation": "TENANT"},
                ],
            },
            {"phone": "13800000006", "name": "赵敏"},
        ],
        "roles": [
            {"phone": "13800000001", "role": "PARTY_MEMBER", "compound": "qianshan-meilin"},
            {"phone": "13800000002", "role": "GRID_WORKER", "grid": "jiulong-g3"},
            {"phone": "13800000003", "role": "COMMUNITY_COMMITTEE", "community": "jiulong"},
            {"phone": "13800000006", "role": "ADMIN"},
        ],
        "positions": [
            {"phone": "13800000007", "compound": "qianshan-meilin", "position": "CHIEF_CONVENER"},
            {
                "phone": "13800000001",
                "compound": "qianshan-meilin",
                "position": "BUILDING_CONVENER",
                "building": "6栋",
            },
        ],
    }


def _household(doc: dict[str, Any], building: int = 0, index: int = 0) -> dict[str, Any]:
    return doc["compounds"][0]["buildings"][building]["households"][index]


AREA = "compounds[0].buildings[0].households[0].area"
FLOOR = "compounds[0].buildings[0].households[0].floor"

#: Where an invalid file is caught: by `parse` (validation), by `import_world` before it writes
#: (duplicates, place references), or by `import_world` after it upserted the places (references
#: from people, roles and positions), which only the transaction's rollback undoes.
PARSE, CHECK, LATE = "parse", "check", "late"

#: (id, change to base_world, the expected problems, where it is caught)
INVALID: list[tuple[str, Callable[[dict[str, Any]], Any], list[tuple[str, str]], str]] = [
    ("wrong-version", lambda d: d.update(version=2), [("version", "只支持 version: 1")], PARSE),
    ("unknown-top-level-field", lambda d: d.update(buildings=[]), [("buildings", "不认识的字段")], PARSE),
    (
        "missing-required-field",
        lambda d: d["compounds"][0].pop("grid"),
        [("compounds[0].grid", "缺少必填项")],
        PARSE,
    ),
    (
        "bad-phone",
        lambda d: d["people"][2].update(phone="1380000003"),
        [("people[2].phone", "手机号格式不正确：应为以 1 开头的 11 位数字")],
        PARSE,
    ),
    (
        "area-with-three-decimals",
        lambda d: _household(d).update(area="89.505"),
        [(AREA, "面积最多保留两位小数")],
        PARSE,
    ),
    (
        "negative-area",
        lambda d: _household(d).update(area="-89.50"),
        [(AREA, "面积必须是大于 0、小于 100000 的平方米数")],
        PARSE,
    ),
    (
        "zero-area",
        lambda d: _household(d).update(area="0.00"),
        [(AREA, "面积必须是大于 0、小于 100000 的平方米数")],
        PARSE,
    ),
    (
        "non-numeric-area",
        lambda d: _household(d).update(area="八十九"),
        [(AREA, "面积 '八十九' 不是数字")],
        PARSE,
    ),
    ("floor-not-an-integer", lambda d: _household(d).update(floor="一楼"), [(FLOOR, "应为整数")], PARSE),
    ("floor-a-fraction", lambda d: _household(d).update(floor=1.5), [(FLOOR, "应为整数")], PARSE),
    (
        "unknown-role",
        lambda d: d["roles"][1].update(role="MAYOR"),
        [
            (
                "roles[1].role",
                "取值不在允许范围内（可选：PARTY_MEMBER、COMMUNITY_COMMITTEE、GRID_WORKER、"
                "PROPERTY_STAFF、OWNERS_COMMITTEE、ADMIN）",
            )
        ],
        PARSE,
    ),
    (
        "grid-worker-with-compound",
        lambda d: d["roles"].__setitem__(
            1, {"phone": "13800000002", "role": "GRID_WORKER", "compound": "qianshan-meilin"}
        ),
        [("roles[1]", "GRID_WORKER 角色必须且只能指定 grid")],
        PARSE,
    ),
    (
        "admin-with-a-place",
        lambda d: d["roles"][3].update(community="jiulong"),
        [("roles[3]", "ADMIN 角色不属于任何地点，请删除 community")],
        PARSE,
    ),
    (
        "building-convener-without-building",
        lambda d: d["positions"][1].pop("building"),
        [("positions[1]", "楼栋召集人必须指定 building，其他职务不能指定 building")],
        PARSE,
    ),
    (
        "duplicate-community-key",
        lambda d: d["communities"].append(dict(d["communities"][0], name="另一个九龙社区")),
        [("communities[2].key", "社区 jiulong 重复")],
        CHECK,
    ),
    (
        "duplicate-phone",
        lambda d: d["people"].append({"phone": "13800000002", "name": "王芳二"}),
        [("people[5].phone", "手机号 13800000002 重复")],
        CHECK,
    ),
    (
        "duplicate-household-number-in-compound",
        lambda d: d["compounds"][0]["buildings"][1]["households"].append(
            {"number": "6-1-101", "floor": 2, "area": "70.00"}
        ),
        [("compounds[0].buildings[1].households[1].number", "门牌号 6-1-101 重复")],
        CHECK,
    ),
    (
        "grid-with-unknown-community",
        lambda d: d["grids"][1].update(community="nowhere"),
        [("grids[1].community", "社区 nowhere 不存在")],
        CHECK,
    ),
    (
        "compound-with-unknown-grid",
        lambda d: d["compounds"][0].update(grid="nowhere-g1"),
        [("compounds[0].grid", "网格 nowhere-g1 不存在")],
        CHECK,
    ),
    (
        "compound-whose-grid-is-in-another-community",
        lambda d: d["compounds"][0].update(grid="tonghui-g2"),
        [("compounds[0].grid", "网格 tonghui-g2 不属于社区 jiulong")],
        CHECK,
    ),
    (
        "home-with-unknown-household",
        lambda d: d["people"][3]["homes"][0].update(household="6-1-999"),
        [("people[3].homes[0].household", "小区 qianshan-meilin 没有 6-1-999")],
        LATE,
    ),
    (
        "home-with-unknown-compound",
        lambda d: d["people"][0]["homes"][0].update(compound="nowhere"),
        [("people[0].homes[0].compound", "小区 nowhere 不存在")],
        LATE,
    ),
    (
        "role-phone-not-in-people",
        lambda d: d["roles"][2].update(phone="13900000009"),
        [("roles[2].phone", "手机号 13900000009 不在 people 中")],
        LATE,
    ),
    (
        "position-with-unknown-building",
        lambda d: d["positions"][1].update(building="99栋"),
        [("positions[1].building", "小区 qianshan-meilin 没有 99栋")],
        LATE,
    ),
]


def test_the_invalid_cases_start_from_a_valid_world(generated: dict[str, Any]) -> None:
    base = base_world()
    assert isinstance(parse(base), World)
    assert not phones(base) & phones(generated)
    assert "13900000009" not in phones(generated)
    assert not {c["key"] for c in base["compounds"]} & {c["key"] for c in generated["compounds"]}


async def test_base_world_imports_into_a_database_holding_a_world(
    world_db_url: str, generated: dict[str, Any]
) -> None:
    summary = await run_import(world_db_url, parse(base_world()))
    # districts and streets are known by their names: those the world already has are shared
    base = base_world()["communities"]
    expected = file_counts(base_world()) | {
        "区": len({c["district"] for c in base} - {c["district"] for c in generated["communities"]}),
        "街道": len(
            {(c["district"], c["street"]) for c in base}
            - {(c["district"], c["street"]) for c in generated["communities"]}
        ),
    }
    assert per_stage(summary.created) == expected
    assert await natural(world_db_url) == expected_natural(generated, base_world())


@pytest.mark.parametrize("database", ["empty", "holding-a-world"])
@pytest.mark.parametrize(
    ("change", "problems", "stage"), [case[1:] for case in INVALID], ids=[case[0] for case in INVALID]
)
async def test_invalid_file_is_refused_with_path_and_writes_nothing(
    request: pytest.FixtureRequest,
    database: str,
    change: Callable[[dict[str, Any]], Any],
    problems: list[tuple[str, str]],
    stage: str,
) -> None:
    url = request.getfixturevalue("db_url" if database == "empty" else "world_db_url")
    doc = base_world()
    change(doc)
    before_counts = await table_counts(url)
    before = await snapshot(url)
    # row counts seen inside the import's transaction when the error surfaced (None: parse refused)
    during: dict[str, int] | None = None

    with pytest.raises(WorldFileError) as info:
        world = parse(doc)
        engine = create_engine(url, make_settings(url), pool_size=1, max_overflow=0)
        try:
            # as production runs it: one transaction, rolled back by the escaping exception
            async with sessionmaker(engine)() as session, session.begin():
                try:
                    await import_world(session, world)
                except WorldFileError:
                    during = await _counts_in(session, list(before_counts))
                    raise
        finally:
            await engine.dispose()

    assert [(p.path, p.message) for p in info.value.problems] == problems
    assert all(CJK.search(p.message) for p in info.value.problems)
    assert str(info.value) == "\n".join(f"{path}: {message}" for path, message in problems)

    if stage == PARSE:
        assert during is None
    elif stage == CHECK:
        assert during == before_counts  # refused before the first write
    else:
        # discovered mid-import: the file's places were already upserted inside the transaction …
        assert during is not None
        districts = {r["name"] for r in await fetch(url, "SELECT name FROM district")}
        streets = {
            (r["district"], r["street"])
            for r in await fetch(
                url,
                "SELECT d.name AS district, s.name AS street FROM street s JOIN district d ON d.id = s.district_id",
            )
        }
        named = doc["communities"]
        assert during == {
            **before_counts,
            "district": before_counts["district"] + len({c["district"] for c in named} - districts),
            "street": before_counts["street"] + len({(c["district"], c["street"]) for c in named} - streets),
            "community": before_counts["community"] + 2,
            "grid": before_counts["grid"] + 2,
            "compound": before_counts["compound"] + 1,
            "building": before_counts["building"] + 2,
            "household": before_counts["household"] + 3,
        }
    # … and nothing at all is left afterwards
    assert await table_counts(url) == before_counts
    assert await snapshot(url) == before


async def _counts_in(session: AsyncSession, names: list[str]) -> dict[str, int]:
    return {t: (await session.execute(sa.text(f'SELECT count(*) FROM "{t}"'))).scalar_one() for t in names}


def test_every_problem_of_a_file_is_reported_at_once() -> None:
    doc = base_world()
    _household(doc).update(area="1.234")
    doc["people"][1]["phone"] = "phone"
    doc["positions"][0]["position"] = "BOSS"
    with pytest.raises(WorldFileError) as info:
        parse(doc)
    assert [p.path for p in info.value.problems] == [AREA, "people[1].phone", "positions[0].position"]


# --------------------------------------------------------------------------------------------------
# load()


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("world.txt", "version: 1\n", "只支持 .yaml、.yml 或 .json 文件"),
        ("world.yaml", "version: 1\ncommunities:\n  - {key: a, name: [b\n", "文件格式错误 第 4 行"),
        ("world.yml", "version: 1\n  people: x\n", "文件格式错误 第 2 行"),
        ("world.json", '{"version": 1,\n "communities": [}\n', "文件格式错误 第 2 行"),
        ("world.json", "", "文件格式错误 第 1 行"),
    ],
    ids=["txt", "broken-yaml", "bad-yaml-indent", "invalid-json", "empty-json"],
)
def test_load_refuses_unreadable_files(tmp_path: Path, name: str, text: str, message: str) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(WorldFileError) as info:
        load(path)
    assert info.value.problems == [Problem(str(path), message)]
    assert CJK.search(info.value.problems[0].message)


def test_load_reports_a_missing_file_and_a_directory_in_chinese(tmp_path: Path) -> None:
    missing = tmp_path / "missing.yaml"
    with pytest.raises(WorldFileError) as info:
        load(missing)
    assert info.value.problems == [Problem(str(missing), "文件不存在")]
    folder = tmp_path / "folder.json"
    folder.mkdir()
    with pytest.raises(WorldFileError) as info:
        load(folder)
    assert info.value.problems == [Problem(str(folder), "这是一个目录，不是文件")]


def test_load_of_a_yaml_list_or_empty_yaml_names_the_whole_file(tmp_path: Path) -> None:
    for text in ("- version: 1\n", ""):
        path = tmp_path / "world.yaml"
        path.write_text(text, encoding="utf-8")
        with pytest.raises(WorldFileError) as info:
            load(path)
        assert info.value.problems == [Problem("(文件)", "应为对象（键值对）")]


def test_load_reports_paths_inside_a_yaml_file(tmp_path: Path) -> None:
    path = tmp_path / "world.yaml"
    path.write_text(
        "version: 1\ncompounds:\n  - key: k\n    name: 小区\n    community: c\n    grid: g\n"
        "    buildings:\n      - name: 1栋\n        households:\n"
        '          - {number: 1-1-101, floor: 1, area: "89.50"}\n'
        '          - {number: 1-1-102, floor: 1, area: "89.505"}\n',
        encoding="utf-8",
    )
    with pytest.raises(WorldFileError) as info:
        load(path)
    assert info.value.problems == [
        Problem("compounds[0].buildings[0].households[1].area", "面积最多保留两位小数")
    ]


# --------------------------------------------------------------------------------------------------
# concurrency


async def test_concurrent_imports_of_two_worlds_both_succeed_and_give_the_union(
    db_url: str, second_db_url: str, generated: dict[str, Any], tmp_path: Path
) -> None:
    first = generated
    second = rekey(worldgen(tmp_path, compounds=2, seed=11), "b-")
    assert not phones(first) & phones(second)

    summaries = await asyncio.gather(run_import(db_url, parse(first)), run_import(db_url, parse(second)))

    # each world's own places are created by its import; districts and streets, named alike in
    # both, by whichever import came first
    shared = ("区", "街道")
    created = [per_stage(s.created) for s in summaries]
    expected = [file_counts(first), file_counts(second)]
    assert [{k: v for k, v in c.items() if k not in shared} for c in created] == [
        {k: v for k, v in e.items() if k not in shared} for e in expected
    ]
    names = [c for world in (first, second) for c in world["communities"]]
    assert sum(c["区"] for c in created) == len({c["district"] for c in names})
    assert sum(c["街道"] for c in created) == len({(c["district"], c["street"]) for c in names})
    assert [per_stage(s.updated) for s in summaries] == [ZERO, ZERO]
    union = await natural(db_url)
    assert union == expected_natural(first, second)
    # the same content as importing them one after the other
    await run_import(second_db_url, parse(first))
    await run_import(second_db_url, parse(second))
    assert union == await natural(second_db_url)


async def test_a_file_ends_homes_roles_and_positions_and_says_so(
    db_url: str, generated: dict[str, Any]
) -> None:
    """An entry with `ends_on` ends the term in force on that day; the rows stay as history; a
    second import of the same file ends nothing more; a day before the term began is refused."""
    await run_import(db_url, parse(generated))
    person = next(p for p in generated["people"] if p.get("homes"))
    home = person["homes"][0]
    role = next(r for r in generated["roles"] if r["role"] == "GRID_WORKER")
    seat = generated["positions"][0]
    ends = terms.today().isoformat()
    doc = {
        "version": 1,
        "people": [{"phone": person["phone"], "name": person["name"], "homes": [{**home, "ends_on": ends}]}],
        "roles": [{**role, "ends_on": ends}],
        "positions": [{**seat, "ends_on": ends}],
    }
    counts = "SELECT (SELECT count(*) FROM home), (SELECT count(*) FROM role_assignment), (SELECT count(*) FROM team_position)"
    before = tuple(await fetch(db_url, counts))
    summary = await run_import(db_url, parse(doc))
    assert per_stage(summary.ended) == {**ZERO, "房屋关系": 1, "角色": 1, "团队职务": 1}
    assert per_stage(summary.created) == ZERO
    assert tuple(await fetch(db_url, counts)) == before  # ended, not deleted
    ended = await fetchval(
        db_url,
        "SELECT count(*) FROM home hm JOIN person p ON p.id = hm.person_id WHERE p.phone = $1 AND hm.ends_on = $2",
        person["phone"],
        terms.today(),
    )
    assert ended == 1
    again = await run_import(db_url, parse(doc))
    assert not again.changed and not +again.reopened
    # the first file again, which lists the three without an end: they begin again, and it says so
    old = await run_import(db_url, parse(generated))
    assert per_stage(old.reopened) == {**ZERO, "房屋关系": 1, "角色": 1, "团队职务": 1}
    assert per_stage(old.created) == {**ZERO, "房屋关系": 1, "角色": 1, "团队职务": 1}
    assert not +(await run_import(db_url, parse(generated))).reopened
    # a term that began after the day the file ends it: named by its path, nothing written
    await run_import(db_url, parse({"version": 1, "roles": [dict(role)]}))  # a new open term, from today
    late = {"version": 1, "roles": [{**role, "ends_on": "2020-01-01"}]}
    with pytest.raises(WorldFileError) as refused:
        await run_import(db_url, parse(late))
    assert refused.value.problems[0].path == "roles[0].ends_on"
