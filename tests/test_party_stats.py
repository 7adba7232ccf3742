"""What the dashboards show of the Party-member cycle: registration and participation rates per
building group, compound, grid, community and street — public — and the head counts behind them
only for those who work with the place's Party members; a third-party client sees rates only."""

from __future__ import annotations

from decimal import Decimal

import pytest

from auth import apikeys
from models.evaluation import PeriodKind, period_name
from models.terms import today
from resolvers.ids import encode
from tests.conftest import Api, fetch, fetchval, token_for
from tests.test_party import error

pytestmark = pytest.mark.asyncio(loop_scope="module")

ADMIN, CHIEF, GRID, COMMITTEE, RESIDENT = (
    "13800000000",
    "13800000001",
    "13800000003",
    "13800000004",
    "13800000007",
)
STATS = "partyStats(period: $p) { period startsOn endsOn members registered active hours registrationRate activeRate hoursPerMember }"
COMPOUND = f"query($id: ID!, $p: String) {{ node(id: $id) {{ ... on Compound {{ {STATS} }} }} }}"
PLACES = f"""query($g: ID!, $c: ID!, $s: ID!, $p: String) {{
  grid: node(id: $g) {{ ... on Grid {{ {STATS} }} }}
  community: node(id: $c) {{ ... on Community {{ {STATS} }} }}
  street: node(id: $s) {{ ... on Street {{ {STATS} }} }} }}"""
GROUP = """query($id: ID!, $p: String) { node(id: $id) { ... on PartyGroup { stats(period: $p) {
  members registered active hours registrationRate } } } }"""


async def place(url: str, table: str, where: str) -> str:
    kind = {"compound": "Compound", "grid": "Grid", "community": "Community", "street": "Street"}[table]
    return encode(kind, await fetchval(url, f"SELECT id FROM {table} WHERE {where}"))


async def truth(url: str) -> tuple[int, int]:
    """(Party members, registered) of 千山美林 today, counted directly."""
    members = await fetchval(
        url,
        "SELECT count(DISTINCT r.person_id) FROM role_assignment r JOIN compound c ON c.id = r.compound_id"
        " WHERE c.key = 'qianshan-meilin' AND r.role = 'PARTY_MEMBER' AND r.ends_on IS NULL",
    )
    registered = await fetchval(
        url,
        "SELECT count(DISTINCT x.person_id) FROM party_registration x JOIN compound c ON c.id = x.compound_id"
        " WHERE c.key = 'qianshan-meilin' AND x.status = 'APPROVED'",
    )
    return members, registered


async def test_a_compound_s_figures_and_who_sees_the_counts(shared_api: Api, shared_demo_db_url: str) -> None:
    api, url = shared_api, shared_demo_db_url
    compound = await place(url, "compound", "key = 'qianshan-meilin'")
    members, registered = await truth(url)
    seen = (await api.data(COMPOUND, {"id": compound}, token=await token_for(url, COMMITTEE)))["node"][
        "partyStats"
    ]
    assert seen["period"] == period_name(today(), PeriodKind.QUARTER)
    assert (seen["members"], seen["registered"]) == (members, registered)
    assert Decimal(seen["registrationRate"]) == (Decimal(registered) / members).quantize(Decimal("0.0001"))
    # a resident reads the public rates, not the head counts
    public = (await api.data(COMPOUND, {"id": compound}, token=await token_for(url, RESIDENT)))["node"][
        "partyStats"
    ]
    assert public["registrationRate"] == seen["registrationRate"]
    assert (public["members"], public["registered"], public["active"], public["hours"]) == (
        None,
        None,
        None,
        None,
    )
    # and so does a third-party client
    key = apikeys.generate()
    await fetch(
        url,
        "INSERT INTO api_client (name, key_prefix, key_hash) VALUES ('看板', $1, $2)",
        key.prefix,
        key.key_hash,
    )
    response = await api.client.post(
        "/graphql", json={"query": COMPOUND, "variables": {"id": compound}}, headers={"X-API-Key": key.key}
    )
    third = response.json()["data"]["node"]["partyStats"]
    assert third["registrationRate"] == seen["registrationRate"] and third["members"] is None
    assert (third["activeRate"], third["hoursPerMember"]) == (None, None)  # the registration rate only
    assert public["activeRate"] == seen["activeRate"]
    bad = await api.gql(COMPOUND, {"id": compound, "p": "2026-4"}, token=await token_for(url, COMMITTEE))
    assert error(bad)[:2] == ("BAD_USER_INPUT", "period")


async def test_participation_in_the_period(shared_api: Api, shared_demo_db_url: str) -> None:
    api, url = shared_api, shared_demo_db_url
    compound = await place(url, "compound", "key = 'qianshan-meilin'")
    committee = await token_for(url, COMMITTEE)
    had = await fetchval(
        url,
        "SELECT count(*) FROM participation p JOIN person q ON q.id = p.person_id WHERE q.phone = $1"
        " AND p.occurred_at >= date_trunc('quarter', now() AT TIME ZONE 'Asia/Shanghai')",
        CHIEF,
    )
    assert had == 0  # the module's world has no record this quarter yet
    before = (await api.data(COMPOUND, {"id": compound}, token=committee))["node"]["partyStats"]
    # a registered member serves a three-hour shift this quarter (written as check-in writes it)
    await fetchval(
        url,
        "INSERT INTO participation (person_id, compound_id, kind, ref_id, hours, occurred_at)"
        " SELECT p.id, c.id, 'VOLUNTEER', gen_random_uuid(), 3, now() FROM person p, compound c"
        " WHERE p.phone = $1 AND c.key = 'qianshan-meilin' RETURNING id",
        CHIEF,
    )
    after = (await api.data(COMPOUND, {"id": compound}, token=committee))["node"]["partyStats"]
    assert after["active"] == before["active"] + 1
    assert Decimal(after["hours"]) == Decimal(before["hours"]) + 3
    assert Decimal(after["activeRate"]) == (Decimal(after["active"]) / after["registered"]).quantize(
        Decimal("0.0001")
    )
    assert Decimal(after["hoursPerMember"]) == (Decimal(after["hours"]) / after["registered"]).quantize(
        Decimal("0.01")
    )
    # another period does not hold it
    year = str(today().year - 1)
    last = (await api.data(COMPOUND, {"id": compound, "p": year}, token=committee))["node"]["partyStats"]
    assert (last["period"], last["startsOn"], last["endsOn"]) == (
        year,
        f"{year}-01-01",
        f"{today().year}-01-01",
    )
    assert (last["active"], last["hours"]) == (0, "0.00")


async def test_grid_community_street_and_group(shared_api: Api, shared_demo_db_url: str) -> None:
    api, url = shared_api, shared_demo_db_url
    ids = {
        "g": await place(url, "grid", "id = (SELECT grid_id FROM compound WHERE key = 'qianshan-meilin')"),
        "c": await place(url, "community", "key = 'jiulong'"),
        "s": await place(url, "street", "id = (SELECT street_id FROM community WHERE key = 'jiulong')"),
    }
    members_of_community = await fetchval(
        url,
        "SELECT count(DISTINCT r.person_id) FROM role_assignment r JOIN compound c ON c.id = r.compound_id"
        " JOIN community m ON m.id = c.community_id WHERE m.key = 'jiulong' AND r.role = 'PARTY_MEMBER'"
        " AND r.ends_on IS NULL",
    )
    by_committee = await api.data(PLACES, ids, token=await token_for(url, COMMITTEE))
    assert by_committee["community"]["partyStats"]["members"] == members_of_community
    assert by_committee["grid"]["partyStats"]["members"] is not None
    assert by_committee["street"]["partyStats"]["members"] is None  # an admin's
    assert by_committee["street"]["partyStats"]["registrationRate"] is not None
    by_grid = await api.data(PLACES, ids, token=await token_for(url, GRID))
    assert by_grid["grid"]["partyStats"]["members"] is not None
    by_admin = await api.data(PLACES, ids, token=await token_for(url, ADMIN))
    assert by_admin["street"]["partyStats"]["members"] >= members_of_community
    # a building group, read by a fellow Party member
    group, buildings = (
        await fetch(
            url,
            "SELECT g.id, array_agg(gb.building_id) AS b FROM party_group g JOIN compound c ON c.id = g.compound_id"
            " JOIN party_group_building gb ON gb.group_id = g.id WHERE c.key = 'qianshan-meilin'"
            " GROUP BY g.id ORDER BY g.id LIMIT 1",
        )
    )[0]
    registered = await fetchval(
        url,
        "SELECT count(DISTINCT person_id) FROM party_registration WHERE status = 'APPROVED' AND building_id = ANY($1)",
        buildings,
    )
    stats = (await api.data(GROUP, {"id": encode("PartyGroup", group)}, token=await token_for(url, CHIEF)))[
        "node"
    ]["stats"]
    assert stats["registered"] == registered and stats["members"] >= registered
