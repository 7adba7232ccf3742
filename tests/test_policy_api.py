"""DESIGN §5 over the API, on the demo world: every persona × object × sensitive field, both ways.

Personas are the demo world's well-known people (README lists them). Each case states who is
allowed; everyone else in `PERSONAS` is asserted denied, so adding a persona tests it everywhere.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
import pytest_asyncio

from resolvers.ids import encode
from tests.conftest import Api, fetch, fetchval, running_api, token_for, unpriced

pytestmark = pytest.mark.asyncio(loop_scope="module")

PERSONAS = {
    "admin": "13800000000",
    "chief_convener": "13800000001",  # party member, owner in 2栋
    "building6_convener": "13800000002",  # party member, owner of 6-2-501
    "grid_worker": "13800000003",
    "community_committee": "13800000004",
    "property_staff": "13800000005",
    "owners_committee": "13800000006",  # owner in 3栋
    "resident": "13800000007",  # owner of 6-1-302
    "tenant": "13800000008",  # tenant in 1栋
    "deputy_convener": "13800000009",  # property manager
    "committee_member": "13800000010",  # party member, owner in 4栋
    "other_compound_resident": "13800000011",  # 东方新天地
    "co_owner": "13800000012",  # co-owner of 6-1-302
    "other_grid_worker": "13800000013",
    "other_community_committee": "13800000014",
    "other_property_staff": "13800000015",
    "multi_unit_owner": "13800000018",  # owns 6-1-702 and 6-2-201
}
CALLERS = [*PERSONAS, "api_client", "anonymous"]


@dataclass
class World:
    api: Api
    url: str
    tokens: dict[str, str]
    api_key: str
    ids: dict[str, str]

    async def ask(self, caller: str, query: str, variables: dict | None = None) -> dict:
        if caller == "api_client":
            return await self.api.gql(query, variables, api_key=self.api_key)
        if caller == "anonymous":
            return await self.api.gql(query, variables)
        return await self.api.gql(query, variables, token=self.tokens[caller])


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(pg_url: str, demo_template_db: str) -> AsyncIterator[World]:
    from tests.conftest import _clone

    clone = _clone(pg_url, demo_template_db)
    url = next(clone)
    try:
        from auth import apikeys

        key = apikeys.generate()
        conn_rows = await fetch(
            url,
            "INSERT INTO api_client (name, key_prefix, key_hash) VALUES ('dashboard', $1, $2) RETURNING id",
            key.prefix,
            key.key_hash,
        )
        assert len(conn_rows) == 1
        ids: dict[str, str] = {}
        for name, key_sql in {
            "qianshan": "SELECT id FROM compound WHERE key = 'qianshan-meilin'",
            "dongfang": "SELECT id FROM compound WHERE key = 'dongfang-xintiandi'",
        }.items():
            ids[name] = encode("Compound", await fetchval(url, key_sql))
        for name, number in {
            "h_6_1_302": "6-1-302",
            "h_6_2_501": "6-2-501",
            "h_1_2_1102": "1-2-1102",
        }.items():
            ids[name] = encode(
                "Household",
                await fetchval(
                    url,
                    "SELECT h.id FROM household h JOIN compound c ON c.id = h.compound_id "
                    "WHERE c.key = 'qianshan-meilin' AND h.number = $1",
                    number,
                ),
            )
        ids["h_dongfang"] = encode(
            "Household",
            await fetchval(
                url,
                "SELECT h.id FROM household h JOIN compound c ON c.id = h.compound_id "
                "WHERE c.key = 'dongfang-xintiandi' AND h.number = '2-1-602'",
            ),
        )
        ids["b6"] = encode(
            "Building",
            await fetchval(
                url,
                "SELECT b.id FROM building b JOIN compound c ON c.id = b.compound_id "
                "WHERE c.key = 'qianshan-meilin' AND b.name = '6栋'",
            ),
        )
        for persona in ("resident", "building6_convener"):
            pid = await fetchval(url, "SELECT id FROM person WHERE phone = $1", PERSONAS[persona])
            ids[f"person_{persona}"] = encode("Person", pid)
        tokens = {name: await token_for(url, phone) for name, phone in PERSONAS.items()}
        async with running_api(url) as api:
            yield World(api=api, url=url, tokens=tokens, api_key=key.key, ids=ids)
    finally:
        next(clone, None)


def expect(allowed: set[str]) -> list[tuple[str, bool]]:
    unknown = allowed - set(CALLERS)
    assert not unknown, unknown
    return [(caller, caller in allowed) for caller in CALLERS]


def _denied_code(caller: str) -> str:
    return "UNAUTHENTICATED" if caller == "anonymous" else "FORBIDDEN"


# --- compounds -----------------------------------------------------------------------------------

QIANSHAN_READERS = {
    "admin",
    "chief_convener",
    "building6_convener",
    "grid_worker",
    "community_committee",
    "property_staff",
    "owners_committee",
    "resident",
    "tenant",
    "deputy_convener",
    "committee_member",
    "co_owner",
    "multi_unit_owner",
    "api_client",
}


@pytest.mark.parametrize(("caller", "allowed"), expect(QIANSHAN_READERS))
async def test_compound_profile(world: World, caller: str, allowed: bool) -> None:
    body = await world.ask(
        caller, "query($id: ID!) { compound(id: $id) { name } }", {"id": world.ids["qianshan"]}
    )
    if allowed:
        assert body["data"]["compound"]["name"] == "千山美林"
    else:
        assert body["data"] is None or body["data"]["compound"] is None
        assert body["errors"][0]["extensions"]["code"] == _denied_code(caller)


VISIBLE_COMPOUNDS = {
    "admin": {"千山美林", "东方新天地", "君鼎疆上", "山予城"},
    "api_client": {"千山美林", "东方新天地", "君鼎疆上", "山予城"},
    "resident": {"千山美林"},
    "tenant": {"千山美林"},
    "grid_worker": {"千山美林"},
    "community_committee": {"千山美林", "山予城"},  # 九龙社区 holds both
    "other_community_committee": {"东方新天地", "君鼎疆上"},
    "other_compound_resident": {"东方新天地"},
    "property_staff": {"千山美林"},
    "other_property_staff": {"东方新天地"},
}


@pytest.mark.parametrize(("caller", "names"), sorted(VISIBLE_COMPOUNDS.items()))
async def test_compound_list_is_exactly_the_visible_ones(world: World, caller: str, names: set[str]) -> None:
    body = await world.ask(caller, "{ compounds(first: 100) { edges { node { name } } } }")
    assert {e["node"]["name"] for e in body["data"]["compounds"]["edges"]} == names


@pytest.mark.parametrize(("caller", "allowed"), expect(QIANSHAN_READERS - {"api_client"}))
async def test_team_of_compound(world: World, caller: str, allowed: bool) -> None:
    body = await world.ask(
        caller, "query($id: ID!) { compound(id: $id) { team { position } } }", {"id": world.ids["qianshan"]}
    )
    if allowed:
        positions = [m["position"] for m in body["data"]["compound"]["team"]]
        assert positions.count("CHIEF_CONVENER") == 1
        assert positions.count("BUILDING_CONVENER") == 8
    else:
        assert body["errors"][0]["extensions"]["code"] == _denied_code(caller)


@pytest.mark.parametrize(("caller", "allowed"), expect(QIANSHAN_READERS))
async def test_public_stats(world: World, caller: str, allowed: bool) -> None:
    body = await world.ask(
        caller,
        "query($id: ID!) { compound(id: $id) {"
        " stats { buildingCount partyMemberCount partyRegistrationRate } } }",
        {"id": world.ids["qianshan"]},
    )
    if allowed:
        stats = body["data"]["compound"]["stats"]
        assert stats["buildingCount"] == 8
        assert stats["partyRegistrationRate"] == "1.0000"  # public: the pilot's 100 % registration
        counts_readers = {
            "admin",
            "chief_convener",
            "building6_convener",
            "grid_worker",
            "community_committee",
            "deputy_convener",
            "committee_member",
        }
        assert stats["partyMemberCount"] == (146 if caller in counts_readers else None)
    else:
        assert body["errors"][0]["extensions"]["code"] == _denied_code(caller)


# --- households ----------------------------------------------------------------------------------

HOUSEHOLD_6_1_302_READERS = {
    "admin",
    "resident",
    "co_owner",
    "building6_convener",
    "grid_worker",
    "community_committee",
    "property_staff",
    "deputy_convener",  # also property staff of the compound
    "owners_committee",
}


@pytest.mark.parametrize(("caller", "allowed"), expect(HOUSEHOLD_6_1_302_READERS))
async def test_household_by_node(world: World, caller: str, allowed: bool) -> None:
    body = await world.ask(
        caller,
        "query($id: ID!) { node(id: $id) { ... on Household { number area } } }",
        {"id": world.ids["h_6_1_302"]},
    )
    if allowed:
        assert body["data"]["node"]["number"] == "6-1-302"
        assert re.fullmatch(r"\d+\.\d\d", body["data"]["node"]["area"])
    else:
        assert body["data"]["node"] is None
        assert body["errors"][0]["extensions"]["code"] == _denied_code(caller)


async def test_denial_does_not_reveal_existence(world: World) -> None:
    hidden = await world.ask(
        "resident", "query($id: ID!) { node(id: $id) { id } }", {"id": world.ids["h_dongfang"]}
    )
    missing = await world.ask(
        "resident", "query($id: ID!) { node(id: $id) { id } }", {"id": encode("Household", uuid.uuid4())}
    )
    for body in (hidden, missing):
        del body["errors"][0]["locations"]
    assert unpriced(hidden) == unpriced(missing)
    assert hidden["errors"][0]["extensions"]["code"] == "FORBIDDEN"


HOUSEHOLD_COUNTS_IN_QIANSHAN = {
    "resident": 1,
    "co_owner": 1,
    "tenant": 1,
    "multi_unit_owner": 2,
    "building6_convener": 28,  # all of 6栋 (their own home is there too)
    "chief_convener": 1,
    "committee_member": 1,
    "grid_worker": 494,
    "community_committee": 494,
    "property_staff": 494,
    "owners_committee": 494,
    "admin": 494,
    "api_client": 0,
    "other_compound_resident": 0,
}


@pytest.mark.parametrize(("caller", "count"), sorted(HOUSEHOLD_COUNTS_IN_QIANSHAN.items()))
async def test_nested_household_edges_are_filtered(world: World, caller: str, count: int) -> None:
    """IDOR through edges: compounds → buildings → households shows exactly what node(id) would."""
    query = """query($after: String) { compounds(first: 10) { edges { node { name
        buildings(first: 30) { edges { node { households(first: 100, after: $after) {
          edges { node { number } } pageInfo { hasNextPage } } } } } } } } }"""
    body = await world.ask(caller, query)
    seen = 0
    for compound in body["data"]["compounds"]["edges"]:
        if compound["node"]["name"] != "千山美林":
            continue
        for building in compound["node"]["buildings"]["edges"]:
            households = building["node"]["households"]
            assert households["pageInfo"]["hasNextPage"] is False  # no building has more than 100
            seen += len(households["edges"])
    assert seen == count


async def test_foreign_building_edges_show_nothing(world: World) -> None:
    body = await world.ask(
        "other_compound_resident",
        "query($id: ID!) { node(id: $id) { ... on Building { households { edges { node { number } } } } } }",
        {"id": world.ids["b6"]},
    )
    assert body["data"]["node"] is None
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"


# --- people: names, phones, Party data ------------------------------------------------------------

FULL_NAME = {"admin", "resident", "grid_worker", "community_committee", "property_staff", "deputy_convener"}
FULL_NAME |= {"owners_committee"}  # the person is an owner
FULL_PHONE = {"admin", "resident", "grid_worker", "community_committee", "property_staff", "deputy_convener"}
MASKED_PHONE = {"owners_committee"}


@pytest.mark.parametrize("caller", sorted(HOUSEHOLD_6_1_302_READERS))
async def test_owner_name_and_phone_masking(world: World, caller: str) -> None:
    body = await world.ask(
        caller,
        "query($id: ID!) { node(id: $id) { ... on Household { owners { id name phone } } } }",
        {"id": world.ids["h_6_1_302"]},
    )
    owners = {o["id"]: o for o in body["data"]["node"]["owners"]}
    resident = owners[world.ids["person_resident"]]
    real_name = await fetchval(world.url, "SELECT name FROM person WHERE phone = '13800000007'")
    if caller in FULL_NAME:
        assert resident["name"] == real_name
    else:
        assert resident["name"] == real_name[0] + "*" * (len(real_name) - 1)
    if caller in FULL_PHONE:
        assert resident["phone"] == "13800000007"
    elif caller in MASKED_PHONE:
        assert resident["phone"] == "138****0007"
    else:
        assert resident["phone"] is None


# A person is visible wherever the caller may see them shown, and `node(id:)` answers the same: the
# building-6 convener sits on the compound's team, which everyone of the compound reads, so everyone
# of 千山美林 sees them (masked as the policy says), and nobody from elsewhere does.
PERSON_6_2_501_VISIBLE = QIANSHAN_READERS - {"api_client"}
PARTY_FULL = {"building6_convener", "community_committee"}  # themself; the community committee
PARTY_STATUS = {"grid_worker", "admin"}  # registration status only


@pytest.mark.parametrize(("caller", "visible"), expect(PERSON_6_2_501_VISIBLE))
async def test_party_data_is_sensitive(world: World, caller: str, visible: bool) -> None:
    body = await world.ask(
        caller,
        "query($id: ID!) { node(id: $id) {"
        " ... on Person { name party { registered workUnit registeredOn } } } }",
        {"id": world.ids["person_building6_convener"]},
    )
    if not visible:
        assert body["data"]["node"] is None
        assert body["errors"][0]["extensions"]["code"] == _denied_code(caller)
        return
    party = body["data"]["node"]["party"]
    if caller in PARTY_FULL:
        assert party == {"registered": True, "workUnit": "綦江区中医院党委", "registeredOn": "2026-09-18"}
    elif caller in PARTY_STATUS:
        assert party == {"registered": True, "workUnit": None, "registeredOn": None}
    else:
        assert party is None


TEAM_QUERY = "query($id: ID!) { compound(id: $id) { team { position person { name phone } } } }"


async def test_party_members_see_fellow_members_names(world: World) -> None:
    """A Party member sees fellow members of the compound by full name (their Party group)."""
    real = await fetchval(world.url, "SELECT name FROM person WHERE phone = '13800000002'")
    body = await world.ask("chief_convener", TEAM_QUERY, {"id": world.ids["qianshan"]})
    conveners = [
        m["person"] for m in body["data"]["compound"]["team"] if m["position"] == "BUILDING_CONVENER"
    ]
    assert real in {p["name"] for p in conveners}
    assert all(p["phone"] is None for p in conveners)  # fellow members' phones stay hidden
    body = await world.ask("resident", TEAM_QUERY, {"id": world.ids["qianshan"]})
    members = body["data"]["compound"]["team"]
    assert real not in {m["person"]["name"] for m in members}
    assert real[0] + "*" * (len(real) - 1) in {m["person"]["name"] for m in members}
    assert all(m["person"]["phone"] is None for m in members)


# --- me, and what third parties may not do ----------------------------------------------------------


@pytest.mark.parametrize(("caller", "allowed"), expect(set(PERSONAS)))
async def test_me(world: World, caller: str, allowed: bool) -> None:
    body = await world.ask(caller, "{ me { person { phone } } }")
    if allowed:
        assert body["data"]["me"]["person"]["phone"] == PERSONAS[caller]
    else:
        expected = "UNAUTHENTICATED" if caller == "anonymous" else "FORBIDDEN"
        assert body["errors"][0]["extensions"]["code"] == expected


@pytest.mark.parametrize("caller", ["resident", "api_client"])
async def test_foreign_compound_by_id(world: World, caller: str) -> None:
    if caller == "api_client":  # third parties read every compound's public profile
        body = await world.ask(
            caller, "query($id: ID!) { compound(id: $id) { name } }", {"id": world.ids["dongfang"]}
        )
        assert body["data"]["compound"]["name"] == "东方新天地"
        return
    body = await world.ask(
        caller, "query($id: ID!) { compound(id: $id) { name } }", {"id": world.ids["dongfang"]}
    )
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
