"""The register through the API, on the demo world: homes added, ended and transferred by the staff
of their area; team positions and roles appointed and ended by the community committee; each a
term whose history is kept and which the policy reads only while it is in force."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from models.terms import end_problem, holds, term_problem, today
from resolvers.ids import encode
from tests.conftest import TODAY, Api, fetch, fetchval, person_id, running_api, token_for
from tests.test_principal_cache import ask, warm
from tests.votes import CAST, open_building6_vote

ADMIN, CHIEF, GRID, COMMITTEE, STAFF, OWNERS_COMMITTEE = (
    "13800000000",
    "13800000001",
    "13800000003",
    "13800000004",
    "13800000005",
    "13800000006",
)
RESIDENT, TENANT, OUTSIDER, OTHER_COMMITTEE = "13800000007", "13800000008", "13800000011", "13800000014"
CO_OWNER = "13800000012"

ADD_HOME = """mutation($input: AddHomeInput!) { addHome(input: $input) {
  id relation startsOn endsOn inForce person { name phone } household { number } } }"""
END_HOME = """mutation($input: EndTermInput!) { endHome(input: $input) { id endsOn inForce } }"""
TRANSFER = """mutation($input: TransferOwnershipInput!) { transferOwnership(input: $input) {
  id relation startsOn person { name } } }"""
RECORDS = """query($id: ID!) { homeRecords(householdId: $id) { edges { node {
  id relation startsOn endsOn inForce person { name } } } } } """
OCCUPANTS = """query($id: ID!) { node(id: $id) { ... on Household { number occupants { relation person { name } } } } }"""
APPOINT = """mutation($input: AppointPositionInput!) { appointPosition(input: $input) {
  id position startsOn endsOn inForce person { name } compound { name } building { name } } }"""
END_POSITION = """mutation($input: EndTermInput!) { endPosition(input: $input) { id endsOn inForce } }"""
GRANT = """mutation($input: GrantRoleInput!) { grantRole(input: $input) {
  id role startsOn endsOn inForce compound { name } grid { name } community { name } } }"""
END_ROLE = """mutation($input: EndTermInput!) { endRole(input: $input) { id endsOn inForce } }"""
TEAM_RECORDS = """query($id: ID!) { teamRecords(compoundId: $id) { edges { node {
  id position endsOn inForce person { name } } } } }"""
ROLE_RECORDS = (
    """query($id: ID!) { roleRecords(placeId: $id) { edges { node { id role endsOn inForce } } } }"""
)
ME = """{ me { households { household { number } relation } roles { role } positions { position } } }"""


async def household(url: str, number: str, compound: str = "qianshan-meilin") -> str:
    ident = await fetchval(
        url,
        "SELECT h.id FROM household h JOIN compound c ON c.id = h.compound_id WHERE c.key = $1 AND h.number = $2",
        compound,
        number,
    )
    return encode("Household", ident)


async def place(url: str, table: str, key: str) -> str:
    type_name = {"compound": "Compound", "grid": "Grid", "community": "Community"}[table]
    return encode(type_name, await fetchval(url, f"SELECT id FROM {table} WHERE key = $1", key))


async def as_(api: Api, url: str, phone: str, query: str, variables: dict) -> dict:
    return await api.gql(query, variables, token=await token_for(url, phone))


def nodes(connection: dict) -> list[dict]:
    return [edge["node"] for edge in connection["edges"]]


def code(body: dict) -> tuple[str, str | None]:
    (first,) = body["errors"]
    return first["extensions"]["code"], first["extensions"].get("field")


def message(body: dict) -> str:
    return body["errors"][0]["message"]


async def rows(url: str, table: str) -> int:
    return await fetchval(url, f"SELECT count(*) FROM {table}")


# --- the pure rules -------------------------------------------------------------------------------


def test_a_term_holds_from_its_first_day_until_the_day_it_ends() -> None:
    day = today()
    assert holds(day, None, on=day)
    assert holds(day, day + timedelta(days=1), on=day)
    assert not holds(day + timedelta(days=1), None, on=day)
    assert not holds(day - timedelta(days=5), day, on=day)


def test_term_days_are_checked() -> None:
    now = today()
    assert term_problem(now, None, now=now) is None
    assert term_problem(now, now, now=now) == ("endsOn", "结束日期必须晚于开始日期。")
    assert term_problem(now + timedelta(days=400), None, now=now)[0] == "startsOn"
    assert term_problem(now - timedelta(days=366 * 31), None, now=now)[0] == "startsOn"
    assert term_problem(now, now + timedelta(days=400), now=now)[0] == "endsOn"
    # ending: earlier than an end already set is a correction; later, or before the start, is not
    start = now - timedelta(days=10)
    assert end_problem(start, None, now, now=now) is None
    assert end_problem(start, now, now - timedelta(days=1), now=now) is None
    assert "不能再延后" in end_problem(start, now, now, now=now)
    assert "不能早于开始日期" in end_problem(start, None, start - timedelta(days=1), now=now)
    assert end_problem(now, None, now, now=now) is None  # recorded by mistake: it never held


# --- homes -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("phone", "allowed"),
    [
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
    ],
)
async def test_who_may_register_a_home(api: Api, demo_db_url: str, phone: str, allowed: bool) -> None:
    before = await rows(demo_db_url, "home")
    people = await rows(demo_db_url, "person")
    body = await as_(
        api,
        demo_db_url,
        phone,
        ADD_HOME,
        {
            "input": {
                "householdId": await household(demo_db_url, "6-1-101"),
                "person": {"name": "新住户", "phone": "13999990001"},
                "relation": "TENANT",
            }
        },
    )
    if allowed:
        assert "errors" not in body, body
        made = body["data"]["addHome"]
        assert made["relation"] == "TENANT" and made["inForce"] and made["endsOn"] is None
        assert made["startsOn"] == today().isoformat()
        assert made["household"]["number"] == "6-1-101"
        assert made["person"]["name"] == "新住户"
        assert await rows(demo_db_url, "home") == before + 1
        assert await rows(demo_db_url, "person") == people + 1
    else:
        assert code(body)[0] == "FORBIDDEN"
        assert await rows(demo_db_url, "home") == before
        assert await rows(demo_db_url, "person") == people
        if phone in (OUTSIDER, OTHER_COMMITTEE, CHIEF, TENANT, RESIDENT):
            # a household they may not see: the one answer that does not reveal it exists
            assert message(body) == "该内容不存在，或您没有查看权限。"
        else:
            assert "网格员" in message(body)


async def test_a_new_home_grants_at_once_and_an_ended_one_stops_at_once(api: Api, demo_db_url: str) -> None:
    url = demo_db_url
    target = await household(url, "6-1-101")
    added = await as_(
        api,
        url,
        STAFF,
        ADD_HOME,
        {
            "input": {
                "householdId": target,
                "person": {"name": "新住户", "phone": "13999990002"},
                "relation": "OWNER",
            }
        },
    )
    home_id = added["data"]["addHome"]["id"]
    newcomer = await token_for(url, "13999990002")
    me = (await api.data(ME, token=newcomer))["me"]
    assert me["households"] == [{"household": {"number": "6-1-101"}, "relation": "OWNER"}]
    shown = await api.data(OCCUPANTS, {"id": target}, token=newcomer)
    assert {"relation": "OWNER", "person": {"name": "新住户"}} in shown["node"]["occupants"]

    ended = await as_(api, url, GRID, END_HOME, {"input": {"id": home_id}})
    assert ended["data"]["endHome"] == {"id": home_id, "endsOn": today().isoformat(), "inForce": False}
    # the same token, the same process: the principal it cached is stale now
    assert (await api.data(ME, token=newcomer))["me"]["households"] == []
    assert code(await api.gql(OCCUPANTS, {"id": target}, token=newcomer))[0] == "FORBIDDEN"
    # the history stays, for those who keep the register
    history = nodes((await as_(api, url, COMMITTEE, RECORDS, {"id": target}))["data"]["homeRecords"])
    mine = [h for h in history if h["id"] == home_id]
    assert (
        mine
        == [
            {
                "id": home_id,
                "relation": "OWNER",
                "startsOn": today().isoformat(),
                "endsOn": today().isoformat(),
                "inForce": False,
                "person": {"name": "新住户"},
            }
        ]
        or mine[0]["endsOn"] == today().isoformat()
    )
    assert await fetchval(
        url,
        "SELECT ended_by FROM home WHERE ends_on IS NOT NULL AND person_id = $1",
        await person_id(url, "13999990002"),
    ) == await person_id(url, GRID)


async def test_a_home_that_begins_tomorrow_grants_nothing_today(api: Api, demo_db_url: str) -> None:
    url = demo_db_url
    tomorrow = (today() + timedelta(days=1)).isoformat()
    body = await as_(
        api,
        url,
        STAFF,
        ADD_HOME,
        {
            "input": {
                "householdId": await household(url, "6-1-101"),
                "person": {"name": "将入住", "phone": "13999990003"},
                "relation": "TENANT",
                "startsOn": tomorrow,
            }
        },
    )
    assert body["data"]["addHome"]["inForce"] is False
    assert (await api.data(ME, token=await token_for(url, "13999990003")))["me"]["households"] == []


async def test_home_input_is_checked_and_nothing_is_written(api: Api, demo_db_url: str) -> None:
    url = demo_db_url
    target = await household(url, "6-1-101")
    before = (await rows(url, "home"), await rows(url, "person"))

    async def add(person: dict, **more: object) -> dict:
        return await as_(
            api,
            url,
            STAFF,
            ADD_HOME,
            {"input": {"householdId": target, "person": person, "relation": "TENANT", **more}},
        )

    assert code(await add({"name": "某人", "phone": "12345"})) == ("BAD_USER_INPUT", "person.phone")
    assert code(await add({"name": " ", "phone": "13999990004"})) == ("BAD_USER_INPUT", "person.name")
    far = (today() + timedelta(days=800)).isoformat()
    assert code(await add({"name": "某人", "phone": "13999990004"}, startsOn=far)) == (
        "BAD_USER_INPUT",
        "startsOn",
    )
    # a known phone under another name: the office is asked to check, nobody is overwritten
    clash = await add({"name": "冒名", "phone": RESIDENT})
    assert code(clash)[0] == "CONFLICT" and "138****0007" in message(clash)
    # someone already living there
    tenant_elsewhere = await add({"name": "吴晓东", "phone": TENANT})
    assert "errors" not in tenant_elsewhere
    again = await add({"name": "吴晓东", "phone": TENANT})
    assert code(again)[0] == "CONFLICT"
    assert (await rows(url, "home"), await rows(url, "person")) == (before[0] + 1, before[1])
    # a person the caller cannot see is named like one that does not exist
    hidden = encode("Person", await person_id(url, OUTSIDER))
    assert code(await add({"personId": hidden})) == ("BAD_USER_INPUT", "person.personId")


async def test_two_staff_ending_one_home_end_it_once(api: Api, demo_db_url: str) -> None:
    url = demo_db_url
    home = await fetchval(
        url,
        "SELECT hm.id FROM home hm JOIN person p ON p.id = hm.person_id WHERE p.phone = $1",
        TENANT,
    )
    home_id = encode("HomeRecord", home)
    grid, staff = await token_for(url, GRID), await token_for(url, STAFF)
    first, second = await asyncio.gather(
        api.gql(END_HOME, {"input": {"id": home_id}}, token=grid),
        api.gql(END_HOME, {"input": {"id": home_id}}, token=staff),
    )
    outcomes = sorted(
        ["ok" if "errors" not in b else b["errors"][0]["extensions"]["code"] for b in (first, second)]
    )
    assert outcomes == ["CONFLICT", "ok"]
    assert await fetchval(url, "SELECT count(*) FROM home WHERE id = $1 AND ends_on = $2", home, today()) == 1
    assert (
        await fetchval(
            url, "SELECT count(*) FROM audit_record WHERE payload::jsonb->>'action' = 'MANAGE_HOMES'"
        )
        == 1
    )


async def test_a_sale_during_a_vote_changes_the_next_vote_not_this_one(api: Api, demo_db_url: str) -> None:
    url = demo_db_url
    opened = await open_building6_vote(api, url, await token_for(url, OWNERS_COMMITTEE))
    vote_id = opened["data"]["openVote"]["id"]
    flat = await household(url, "6-1-302")  # owned by RESIDENT and CO_OWNER
    buyer = "13999990005"
    seller = await token_for(url, RESIDENT)
    # the sale and a ballot of the seller race; both succeed, and the ballot counts
    sale, ballot = await asyncio.gather(
        as_(
            api,
            url,
            COMMITTEE,
            TRANSFER,
            {
                "input": {
                    "householdId": flat,
                    "on": today().isoformat(),
                    "newOwners": [{"name": "买房人", "phone": buyer}],
                }
            },
        ),
        api.gql(CAST, {"id": vote_id, "choice": "AGREE"}, token=seller),
    )
    assert "errors" not in sale, sale
    assert "errors" not in ballot, ballot
    assert [h["person"]["name"] for h in sale["data"]["transferOwnership"]] == ["买房人"]
    # the frozen electorate still names the sellers: the co-owner may change the household's choice
    again = await api.gql(CAST, {"id": vote_id, "choice": "DISAGREE"}, token=await token_for(url, CO_OWNER))
    assert "errors" not in again, again
    refused = await api.gql(CAST, {"id": vote_id, "choice": "AGREE"}, token=await token_for(url, buyer))
    assert code(refused)[0] == "FORBIDDEN"
    # the register now: the sellers' homes ended today, the buyer's began
    register = await fetch(
        url,
        "SELECT p.phone, hm.ends_on FROM home hm JOIN person p ON p.id = hm.person_id "
        "JOIN household h ON h.id = hm.household_id JOIN compound c ON c.id = h.compound_id "
        "WHERE h.number = '6-1-302' AND c.key = 'qianshan-meilin' ORDER BY p.phone",
    )
    assert {(r["phone"], r["ends_on"]) for r in register} == {
        (RESIDENT, today()),
        (CO_OWNER, today()),
        (buyer, None),
    }
    # the next vote freezes the buyer
    cancelled = await as_(
        api,
        url,
        OWNERS_COMMITTEE,
        'mutation($id: ID!) { cancelVote(id: $id, reason: "测试") { status } }',
        {"id": vote_id},
    )
    assert cancelled["data"]["cancelVote"]["status"] == "CANCELLED", cancelled
    nxt = await open_building6_vote(api, url, await token_for(url, OWNERS_COMMITTEE), title="6栋外墙维修")
    assert "errors" not in nxt, nxt
    owners = await fetch(
        url,
        "SELECT p.phone FROM vote_owner o JOIN person p ON p.id = o.person_id "
        "JOIN vote_electorate e ON e.vote_id = o.vote_id AND e.household_id = o.household_id "
        "JOIN household h ON h.id = e.household_id JOIN vote v ON v.id = o.vote_id "
        "WHERE h.number = '6-1-302' AND h.compound_id = v.compound_id AND v.title = '6栋外墙维修'",
    )
    assert [r["phone"] for r in owners] == [buyer]


async def test_a_sale_keeps_an_owner_who_stays_and_ends_a_tenant_who_buys(api: Api, demo_db_url: str) -> None:
    url = demo_db_url
    flat = await household(url, "1-2-1102")  # rented by TENANT
    owners_before = await fetch(
        url,
        "SELECT p.phone FROM home hm JOIN person p ON p.id = hm.person_id JOIN household h ON h.id = hm.household_id "
        "JOIN compound c ON c.id = h.compound_id WHERE h.number = '1-2-1102' AND hm.relation = 'OWNER' "
        "AND c.key = 'qianshan-meilin'",
    )
    body = await as_(
        api,
        url,
        GRID,
        TRANSFER,
        {
            "input": {
                "householdId": flat,
                "on": today().isoformat(),
                "newOwners": [{"name": "吴晓东", "phone": TENANT}],
            }
        },
    )
    assert "errors" not in body, body
    register = await fetch(
        url,
        "SELECT p.phone, hm.relation, hm.ends_on FROM home hm JOIN person p ON p.id = hm.person_id "
        "JOIN household h ON h.id = hm.household_id JOIN compound c ON c.id = h.compound_id "
        "WHERE h.number = '1-2-1102' AND c.key = 'qianshan-meilin'",
    )
    assert (TENANT, "TENANT", today()) in {(r["phone"], r["relation"], r["ends_on"]) for r in register}
    assert (TENANT, "OWNER", None) in {(r["phone"], r["relation"], r["ends_on"]) for r in register}
    for r in owners_before:
        assert (r["phone"], "OWNER", today()) in {(x["phone"], x["relation"], x["ends_on"]) for x in register}
    me = (await api.data(ME, token=await token_for(url, TENANT)))["me"]["households"]
    assert me == [{"household": {"number": "1-2-1102"}, "relation": "OWNER"}]
    # refused whole: no new owner, a duplicate
    assert code(
        await as_(
            api,
            url,
            GRID,
            TRANSFER,
            {"input": {"householdId": flat, "on": today().isoformat(), "newOwners": []}},
        )
    ) == ("BAD_USER_INPUT", "newOwners")
    twice = [{"name": "吴晓东", "phone": TENANT}, {"name": "吴晓东", "phone": TENANT}]
    assert (
        code(
            await as_(
                api,
                url,
                GRID,
                TRANSFER,
                {"input": {"householdId": flat, "on": today().isoformat(), "newOwners": twice}},
            )
        )[0]
        == "BAD_USER_INPUT"
    )


# --- team positions and roles ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("phone", "allowed"),
    [
        (ADMIN, True),
        (COMMITTEE, True),
        (OTHER_COMMITTEE, False),
        (GRID, False),
        (STAFF, False),
        (OWNERS_COMMITTEE, False),
        (CHIEF, False),
        (RESIDENT, False),
    ],
)
async def test_who_may_appoint_a_building_convener(
    api: Api, demo_db_url: str, phone: str, allowed: bool
) -> None:
    url = demo_db_url
    before = await rows(url, "team_position")
    building = encode(
        "Building",
        await fetchval(
            url,
            "SELECT b.id FROM building b JOIN compound c ON c.id = b.compound_id "
            "WHERE c.key = 'qianshan-meilin' AND b.name = '6栋'",
        ),
    )
    body = await as_(
        api,
        url,
        phone,
        APPOINT,
        {
            "input": {
                "compoundId": await place(url, "compound", "qianshan-meilin"),
                "person": {"personId": encode("Person", await person_id(url, RESIDENT))}
                if phone in (ADMIN, COMMITTEE)
                else {"name": "张德明", "phone": RESIDENT},
                "position": "BUILDING_CONVENER",
                "buildingId": building,
            }
        },
    )
    if allowed:
        made = body["data"]["appointPosition"]
        assert made["position"] == "BUILDING_CONVENER" and made["inForce"]
        assert made["building"] == {"name": "6栋"} and made["compound"] == {"name": "千山美林"}
        assert await rows(url, "team_position") == before + 1
        positions = (await api.data(ME, token=await token_for(url, RESIDENT)))["me"]["positions"]
        assert {"position": "BUILDING_CONVENER"} in positions
    else:
        assert code(body)[0] == "FORBIDDEN"
        assert await rows(url, "team_position") == before


async def test_a_convener_replaced_loses_the_building_and_the_history_stays(
    api: Api, demo_db_url: str
) -> None:
    url = demo_db_url
    compound = await place(url, "compound", "qianshan-meilin")
    # the building-6 convener (13800000002) reads the building's turnout as convener; end the term
    seat = await fetchval(
        url,
        "SELECT tp.id FROM team_position tp JOIN person p ON p.id = tp.person_id "
        "WHERE p.phone = '13800000002' AND tp.position = 'BUILDING_CONVENER'",
    )
    convener = await token_for(url, "13800000002")
    assert {"position": "BUILDING_CONVENER"} in (await api.data(ME, token=convener))["me"]["positions"]
    ended = await as_(
        api, url, COMMITTEE, END_POSITION, {"input": {"id": encode("TeamPositionRecord", seat)}}
    )
    assert ended["data"]["endPosition"]["inForce"] is False
    assert (await api.data(ME, token=convener))["me"]["positions"] == []
    team = (
        await api.data(
            "query($id: ID!) { node(id: $id) { ... on Compound { team { position person { name } } } } }",
            {"id": compound},
            token=await token_for(url, CHIEF),
        )
    )["node"]["team"]
    assert all(m["person"]["name"] != "陈秀兰" for m in team)
    records = nodes((await as_(api, url, CHIEF, TEAM_RECORDS, {"id": compound}))["data"]["teamRecords"])
    assert any(
        r["id"] == encode("TeamPositionRecord", seat) and r["endsOn"] == today().isoformat() for r in records
    )
    # ending it again is a conflict; a later day is refused; nothing changes
    assert (
        code(
            await as_(
                api, url, COMMITTEE, END_POSITION, {"input": {"id": encode("TeamPositionRecord", seat)}}
            )
        )[0]
        == "CONFLICT"
    )


async def test_roles_are_granted_and_ended_at_their_kind_of_place(api: Api, demo_db_url: str) -> None:
    url = demo_db_url
    grid = await place(url, "grid", "jiulong-g3")
    newcomer = {"name": "新网格员", "phone": "13999990006"}
    granted = await as_(
        api, url, COMMITTEE, GRANT, {"input": {"placeId": grid, "person": newcomer, "role": "GRID_WORKER"}}
    )
    assert "errors" not in granted, granted
    made = granted["data"]["grantRole"]
    assert made["role"] == "GRID_WORKER" and made["grid"] == {
        "name": await fetchval(url, "SELECT name FROM grid WHERE key = 'jiulong-g3'")
    }
    worker = await token_for(url, "13999990006")
    assert (await api.data(ME, token=worker))["me"]["roles"] == [{"role": "GRID_WORKER"}]
    # the wrong kind of place, ADMIN, another community's grid
    compound = await place(url, "compound", "qianshan-meilin")
    assert code(
        await as_(
            api,
            url,
            COMMITTEE,
            GRANT,
            {"input": {"placeId": compound, "person": newcomer, "role": "GRID_WORKER"}},
        )
    ) == ("BAD_USER_INPUT", "placeId")
    assert (
        code(
            await as_(
                api, url, COMMITTEE, GRANT, {"input": {"placeId": grid, "person": newcomer, "role": "ADMIN"}}
            )
        )[0]
        == "FORBIDDEN"
    )
    assert (
        code(
            await as_(
                api,
                url,
                OTHER_COMMITTEE,
                GRANT,
                {"input": {"placeId": grid, "person": newcomer, "role": "GRID_WORKER"}},
            )
        )[0]
        == "FORBIDDEN"
    )
    assert (
        code(
            await as_(
                api,
                url,
                COMMITTEE,
                GRANT,
                {"input": {"placeId": grid, "person": newcomer, "role": "GRID_WORKER"}},
            )
        )[0]
        == "CONFLICT"
    )
    history = nodes((await as_(api, url, COMMITTEE, ROLE_RECORDS, {"id": grid}))["data"]["roleRecords"])
    assert made["id"] in {r["id"] for r in history}
    assert code(await as_(api, url, GRID, ROLE_RECORDS, {"id": grid}))[0] == "FORBIDDEN"
    # ended from tomorrow: in force today, gone tomorrow
    tomorrow = (today() + timedelta(days=1)).isoformat()
    ended = await as_(api, url, COMMITTEE, END_ROLE, {"input": {"id": made["id"], "endsOn": tomorrow}})
    assert ended["data"]["endRole"] == {"id": made["id"], "endsOn": tomorrow, "inForce": True}
    assert (await api.data(ME, token=worker))["me"]["roles"] == [{"role": "GRID_WORKER"}]
    # ended today (a correction to an earlier day): gone at once
    ended = await as_(api, url, COMMITTEE, END_ROLE, {"input": {"id": made["id"]}})
    assert ended["data"]["endRole"]["inForce"] is False
    assert (await api.data(ME, token=worker))["me"]["roles"] == []


async def test_a_term_that_ends_at_midnight_ends_for_a_cached_principal_too(demo_db_url: str) -> None:
    """Nobody writes a row when a term ends on its day: the day is part of the access epoch, so a
    principal cached yesterday is read again today. Here a role was ended from today on (written
    yesterday: the counter moved then, before the principal was cached), and the cached principal
    is the one read yesterday: the screen it warmed must not answer from it."""
    url = demo_db_url
    compound = await place(url, "compound", "qianshan-meilin")
    token = await token_for(url, COMMITTEE)
    async with running_api(url) as api:
        before = await warm(api, token, compound)
        assert before["data"]["compound"]["name"] == "千山美林"
        for statement in (
            "ALTER TABLE role_assignment DISABLE TRIGGER role_assignment_moves_access_epoch",
            "UPDATE role_assignment SET starts_on = starts_on - 30, ends_on = "
            f"{TODAY} WHERE person_id = "
            f"(SELECT id FROM person WHERE phone = '{COMMITTEE}')",
            "ALTER TABLE role_assignment ENABLE TRIGGER role_assignment_moves_access_epoch",
        ):
            await fetch(url, statement)
        # the same day: the counter did not move and the cached principal is current
        (cached,) = api.app.state.auth.principals._entries.values()
        # the night passed: the principal was read on the day before
        object.__setattr__(cached, "epoch", cached.epoch - 1)
        after = await ask(api, token, compound)
        assert after["data"]["compound"] is None


async def test_who_lives_in_a_household_is_read_through_an_index(demo_db_url: str) -> None:
    """Terms in force today (`ends_on IS NULL OR ends_on > today`) are not what the open-term index
    holds (`ends_on IS NULL`): without an index of its own, each household of a screen scanned every
    home. The occupants' lookup finds them through `ix_home_household_id`."""
    import asyncpg

    from tests.conftest import _asyncpg_dsn

    connection = await asyncpg.connect(**_asyncpg_dsn(demo_db_url))
    try:
        await connection.execute("SET enable_seqscan = off")
        plan = await connection.fetch(
            "EXPLAIN SELECT person_id FROM home WHERE household_id = (SELECT id FROM household LIMIT 1)"
            f" AND starts_on <= {TODAY} AND (ends_on IS NULL OR ends_on > {TODAY})"
        )
    finally:
        await connection.close()
    assert any("ix_home_household_id" in row[0] for row in plan), plan
