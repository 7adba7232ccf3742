"""A household marked vacant (`markVacant`): its tenants' homes end on the day, its owners keep
theirs (and their vote); shown as `vacantSince` on both read paths; undone by hand or by a tenant
moving in. Who may, both ways; refusals write nothing; two staff at once mark it once."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from models.terms import today
from resolvers.ids import encode
from schema.compiled import ANSWERS
from tests.conftest import TODAY, Api, fetch, fetchval, import_into, parse, token_for

# one database for the module: each test works on a household of its own
pytestmark = pytest.mark.asyncio(loop_scope="module")

ADMIN, CHIEF, GRID, COMMITTEE, STAFF, OWNERS_COMMITTEE = (
    "13800000000",
    "13800000001",
    "13800000003",
    "13800000004",
    "13800000005",
    "13800000006",
)
RESIDENT, TENANT, OUTSIDER, OTHER_COMMITTEE = "13800000007", "13800000008", "13800000011", "13800000014"
NOT_VISIBLE = "该内容不存在，或您没有查看权限。"

MARK = """mutation($input: MarkVacantInput!) { markVacant(input: $input) { number vacantSince } }"""
SHOWN = (
    """query($id: ID!) { node(id: $id) { ... on Household { number vacantSince occupants { relation } } } }"""
)
ADD_HOME = """mutation($input: AddHomeInput!) { addHome(input: $input) { relation } }"""
ME = """{ me { households { household { number } relation } } }"""


async def flat(url: str, number: str, *, tenant: str | None = None, owner: str | None = None) -> str:
    """A household of 千山美林 with the people given made to live there: its global id."""
    ident = await fetchval(
        url,
        "SELECT h.id FROM household h JOIN compound c ON c.id = h.compound_id"
        " WHERE c.key = 'qianshan-meilin' AND h.number = $1",
        number,
    )
    for phone, relation in ((tenant, "TENANT"), (owner, "OWNER")):
        if phone is not None:
            person = await fetchval(
                url, "INSERT INTO person (name, phone) VALUES ('住户', $1) RETURNING id", phone
            )
            await fetch(
                url,
                "INSERT INTO home (compound_id, household_id, person_id, relation)"
                " SELECT compound_id, id, $1, $3 FROM household WHERE id = $2",
                person,
                ident,
                relation,
            )
    return encode("Household", ident)


def error(body: dict) -> tuple[str, str | None, str]:
    (first,) = body["errors"]
    return first["extensions"]["code"], first["extensions"].get("field"), first["message"]


CALLERS = [
    (ADMIN, True),
    (GRID, True),
    (COMMITTEE, True),
    (STAFF, True),
    (OWNERS_COMMITTEE, False),
    (CHIEF, False),
    (RESIDENT, False),
    (TENANT, False),
    (OUTSIDER, False),
    (OTHER_COMMITTEE, False),
]
OPEN_HOMES_OF = f"""SELECT count(*) FROM home h JOIN person p ON p.id = h.person_id
  WHERE p.phone = $1 AND (h.ends_on IS NULL OR h.ends_on > {TODAY})"""


@pytest.mark.parametrize("case", range(len(CALLERS)))
async def test_who_may_mark_a_household_vacant(shared_api: Api, shared_demo_db_url: str, case: int) -> None:
    api, url = shared_api, shared_demo_db_url
    caller, allowed = CALLERS[case]
    number, tenant = f"5-1-{case + 1}01", f"139999410{case:02d}"
    target = await flat(url, number, tenant=tenant)
    body = await api.gql(
        MARK, {"input": {"householdId": target, "vacant": True}}, token=await token_for(url, caller)
    )
    stored = await fetchval(
        url,
        "SELECT vacant_since FROM household h JOIN compound c ON c.id = h.compound_id"
        " WHERE c.key = 'qianshan-meilin' AND h.number = $1",
        number,
    )
    if allowed:
        assert body.get("data") == {"markVacant": {"number": number, "vacantSince": today().isoformat()}}, (
            body
        )
        assert stored == today()
        assert await fetchval(url, OPEN_HOMES_OF, tenant) == 0  # the tenant moved out today
    else:
        code, _, said = error(body)
        assert code == "FORBIDDEN"
        assert stored is None
        assert await fetchval(url, OPEN_HOMES_OF, tenant) == 1
        if caller == OWNERS_COMMITTEE:  # reads the household, does not keep the register
            assert said != NOT_VISIBLE
        else:
            assert said == NOT_VISIBLE


async def test_tenants_move_out_owners_stay_and_both_read_paths_show_it(
    shared_api: Api, shared_demo_db_url: str
) -> None:
    api, url = shared_api, shared_demo_db_url
    target = await flat(url, "7-1-101", tenant="13999940101", owner="13999940102")
    grid = await token_for(url, GRID)
    tenant, owner = await token_for(url, "13999940101"), await token_for(url, "13999940102")
    assert len((await api.data(ME, token=tenant))["me"]["households"]) == 1
    done = await api.gql(MARK, {"input": {"householdId": target, "vacant": True}}, token=grid)
    assert "errors" not in done, done
    # the tenant no longer lives there; the owner still owns it
    assert (await api.data(ME, token=tenant))["me"]["households"] == []
    assert (await api.data(ME, token=owner))["me"]["households"] == [
        {"household": {"number": "7-1-101"}, "relation": "OWNER"}
    ]
    ended = await fetchval(
        url,
        "SELECT ends_on FROM home h JOIN person p ON p.id = h.person_id WHERE p.phone = '13999940101'",
    )
    assert ended == today()
    # asked again, the answer comes from the compiled statement, and both agree
    answers = [await api.data(SHOWN, {"id": target}, token=grid) for _ in range(2)]
    compiled = ANSWERS.labels("sql")._value.get()
    answers.append(await api.data(SHOWN, {"id": target}, token=grid))
    assert ANSWERS.labels("sql")._value.get() == compiled + 1
    assert answers[0] == answers[1] == answers[2]
    assert answers[0]["node"]["vacantSince"] == today().isoformat()
    assert {o["relation"] for o in answers[0]["node"]["occupants"]} == {"OWNER"}
    # marked again: a conflict, nothing moves
    again = await api.gql(MARK, {"input": {"householdId": target, "vacant": True}}, token=grid)
    assert error(again)[0] == "CONFLICT"
    # lived in again
    back = await api.gql(MARK, {"input": {"householdId": target, "vacant": False}}, token=grid)
    assert back["data"]["markVacant"]["vacantSince"] is None
    assert error(await api.gql(MARK, {"input": {"householdId": target, "vacant": False}}, token=grid))[0] == (
        "CONFLICT"
    )


async def test_a_tenant_moving_in_ends_the_vacancy(shared_api: Api, shared_demo_db_url: str) -> None:
    api, url = shared_api, shared_demo_db_url
    target = await flat(url, "7-1-201", owner="13999940201")
    staff = await token_for(url, STAFF)
    # from a day to come (a lease ending), which the register may say ahead of time
    from_day = (today() + timedelta(days=3)).isoformat()
    marked = await api.gql(
        MARK, {"input": {"householdId": target, "vacant": True, "since": from_day}}, token=staff
    )
    assert marked["data"]["markVacant"]["vacantSince"] == from_day
    # a new owner does not end it (an owner may own a flat nobody lives in) …
    added = await api.gql(
        ADD_HOME,
        {
            "input": {
                "householdId": target,
                "person": {"name": "二房东", "phone": "13999940202"},
                "relation": "OWNER",
            }
        },
        token=staff,
    )
    assert "errors" not in added, added
    assert (await api.data(SHOWN, {"id": target}, token=staff))["node"]["vacantSince"] == from_day
    # … a tenant does
    added = await api.gql(
        ADD_HOME,
        {
            "input": {
                "householdId": target,
                "person": {"name": "新租户", "phone": "13999940203"},
                "relation": "TENANT",
            }
        },
        token=staff,
    )
    assert "errors" not in added, added
    assert (await api.data(SHOWN, {"id": target}, token=staff))["node"]["vacantSince"] is None


@pytest.mark.parametrize(
    ("given", "field"),
    [
        ({"vacant": False, "since": today().isoformat()}, "since"),
        ({"vacant": True, "since": (today() + timedelta(days=400)).isoformat()}, "since"),
        ({"vacant": True, "since": "1980-01-01"}, "since"),
    ],
)
async def test_bad_days_are_refused_and_write_nothing(
    shared_api: Api, shared_demo_db_url: str, given: dict, field: str
) -> None:
    api, url = shared_api, shared_demo_db_url
    target = await flat(url, "7-2-101")
    body = await api.gql(MARK, {"input": {"householdId": target, **given}}, token=await token_for(url, GRID))
    assert error(body)[:2] == ("BAD_USER_INPUT", field), body
    assert (await api.data(SHOWN, {"id": target}, token=await token_for(url, GRID)))["node"][
        "vacantSince"
    ] is None


async def test_a_tenant_who_moved_in_after_the_day_is_a_conflict(
    shared_api: Api, shared_demo_db_url: str
) -> None:
    api, url = shared_api, shared_demo_db_url
    target = await flat(url, "7-2-201", tenant="13999940301")
    month_ago = (today() - timedelta(days=30)).isoformat()
    body = await api.gql(
        MARK,
        {"input": {"householdId": target, "vacant": True, "since": month_ago}},
        token=await token_for(url, GRID),
    )
    # the tenant's home began today, after the vacancy would: the office checks first
    assert error(body)[0] == "CONFLICT", body
    assert await fetchval(url, OPEN_HOMES_OF, "13999940301") == 1


async def test_two_staff_marking_one_household_at_once(shared_api: Api, shared_demo_db_url: str) -> None:
    api, url = shared_api, shared_demo_db_url
    target = await flat(url, "7-2-301", tenant="13999940401")
    grid, committee = await token_for(url, GRID), await token_for(url, COMMITTEE)
    answers = await asyncio.gather(
        api.gql(MARK, {"input": {"householdId": target, "vacant": True}}, token=grid),
        api.gql(MARK, {"input": {"householdId": target, "vacant": True}}, token=committee),
    )
    codes = sorted("ok" if "errors" not in a else error(a)[0] for a in answers)
    assert codes == ["CONFLICT", "ok"], answers
    marks = await fetchval(
        url,
        "SELECT count(*) FROM audit_record WHERE payload::jsonb->>'action' = 'MANAGE_HOMES'"
        " AND payload::jsonb->>'object_id' = (SELECT id::text FROM household WHERE number = '7-2-301'"
        " AND compound_id = (SELECT id FROM compound WHERE key = 'qianshan-meilin'))",
    )
    assert marks == 1


async def test_a_tenancy_that_has_ended_is_not_rewritten(shared_api: Api, shared_demo_db_url: str) -> None:
    """A vacancy from a day before a tenancy's recorded end would rewrite that history: refused."""
    api, url = shared_api, shared_demo_db_url
    target = await flat(url, "7-2-401", tenant="13999940501")
    await fetch(
        url,
        "UPDATE home SET starts_on = $2, ends_on = $3 FROM person p WHERE p.id = home.person_id AND p.phone = $1",
        "13999940501",
        today() - timedelta(days=30),
        today() - timedelta(days=1),
    )
    since = (today() - timedelta(days=10)).isoformat()
    body = await api.gql(
        MARK,
        {"input": {"householdId": target, "vacant": True, "since": since}},
        token=await token_for(url, GRID),
    )
    assert error(body)[0] == "CONFLICT", body
    ended = await fetchval(
        url, "SELECT h.ends_on FROM home h JOIN person p ON p.id = h.person_id WHERE p.phone = '13999940501'"
    )
    assert ended == today() - timedelta(days=1)


async def test_a_tenant_imported_into_a_vacant_household_ends_the_vacancy(
    shared_api: Api, shared_demo_db_url: str
) -> None:
    api, url = shared_api, shared_demo_db_url
    target = await flat(url, "7-2-402")
    grid = await token_for(url, GRID)
    assert "errors" not in await api.gql(MARK, {"input": {"householdId": target, "vacant": True}}, token=grid)
    world = {
        "version": 1,
        "people": [
            {
                "phone": "13999940601",
                "name": "文件租户",
                "homes": [{"compound": "qianshan-meilin", "household": "7-2-402", "relation": "TENANT"}],
            }
        ],
    }
    await import_into(url, parse(world))
    assert (await api.data(SHOWN, {"id": target}, token=grid))["node"]["vacantSince"] is None
