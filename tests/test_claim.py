"""Residents' claims to a home (`claimHome`): a newcomer asks, the staff who keep the register
confirm or reject, the claimant may withdraw while it waits. A waiting claim grants nothing; who
may decide is asserted both ways; refusals write nothing; two staff deciding at once decide once."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from resolvers.ids import decode, encode
from tests.conftest import Api, fetch, fetchval, token_for

# one database for the module: each test's claimant is a newcomer of its own
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
PLACEHOLDER = "微信用户"

FIELDS = """id status relation name phone compoundName householdNumber claimedAt decidedAt reason
  household { number } person { name } home { relation startsOn }"""
CLAIM = f"""mutation($input: ClaimHomeInput!) {{ claimHome(input: $input) {{ {FIELDS} }} }}"""
CONFIRM = f"""mutation($id: ID!) {{ confirmHomeClaim(id: $id) {{ {FIELDS} }} }}"""
REJECT = (
    f"""mutation($id: ID!, $reason: String!) {{ rejectHomeClaim(id: $id, reason: $reason) {{ {FIELDS} }} }}"""
)
WITHDRAW = """mutation($id: ID!) { withdrawHomeClaim(id: $id) { id status decidedAt } }"""
QUEUE = """query($c: ID!, $status: HomeClaimStatus) { homeClaims(compoundId: $c, status: $status, first: 100) {
  totalCount edges { node { id status name phone householdNumber household { number } } } } }"""
MINE = """{ me { person { name } households { household { number } relation }
  homeClaims { edges { node { id status reason householdNumber } } } } }"""
NODE = """query($id: ID!) { node(id: $id) { ... on HomeClaim { id status name } } }"""


async def compound_id(url: str, key: str = "qianshan-meilin") -> str:
    return encode("Compound", await fetchval(url, "SELECT id FROM compound WHERE key = $1", key))


async def newcomer(url: str, phone: str | None, name: str = PLACEHOLDER) -> str:
    """Someone who logged in through WeChat (and bound `phone`) but lives nowhere yet: a token."""
    made = await fetchval(url, "INSERT INTO person (name, phone) VALUES ($1, $2) RETURNING id", name, phone)
    from auth import tokens
    from tests.conftest import SECRET

    return tokens.mint(made, secret=SECRET, ttl_seconds=3600)[0]


async def claimed(api: Api, url: str, token: str, number: str, relation: str = "TENANT") -> dict:
    body = await api.gql(
        CLAIM,
        {
            "input": {
                "compoundId": await compound_id(url),
                "number": number,
                "relation": relation,
                "name": "周新",
            }
        },
        token=token,
    )
    assert "errors" not in body, body
    return body["data"]["claimHome"]


def error(body: dict) -> tuple[str, str | None, str]:
    (first,) = body["errors"]
    return first["extensions"]["code"], first["extensions"].get("field"), first["message"]


async def homes_of(url: str, phone: str) -> int:
    return await fetchval(
        url, "SELECT count(*) FROM home h JOIN person p ON p.id = h.person_id WHERE p.phone = $1", phone
    )


async def test_a_claim_waits_and_grants_nothing(shared_api: Api, shared_demo_db_url: str) -> None:
    api, url = shared_api, shared_demo_db_url
    token = await newcomer(url, "13999930001")
    made = await claimed(api, url, token, "3-1-101")
    assert made["status"] == "PENDING" and made["decidedAt"] is None and made["reason"] is None
    assert (made["compoundName"], made["householdNumber"], made["relation"]) == (
        "千山美林",
        "3-1-101",
        "TENANT",
    )
    assert (made["name"], made["phone"]) == ("周新", "13999930001")
    assert made["household"] is None  # not theirs to read until confirmed
    assert made["person"] == {"name": PLACEHOLDER}
    assert made["home"] is None
    me = (await api.data(MINE, token=token))["me"]
    assert me["households"] == []
    assert me["homeClaims"]["edges"] == [
        {"node": {"id": made["id"], "status": "PENDING", "reason": None, "householdNumber": "3-1-101"}}
    ]
    # nothing of the compound opens: not the compound, its households, its tasks
    assert (await api.data("{ compounds { edges { node { name } } } }", token=token))["compounds"][
        "edges"
    ] == []
    report = await api.gql(
        "mutation($i: ReportTaskInput!) { reportTask(input: $i) { id } }",
        {
            "i": {
                "compoundId": await compound_id(url),
                "category": "OTHER",
                "title": "路灯",
                "description": "不亮",
            }
        },
        token=token,
    )
    assert error(report)[0] == "FORBIDDEN"
    assert await homes_of(url, "13999930001") == 0


DECIDERS = [
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
    ("claimant", False),
]


@pytest.mark.parametrize("case", range(len(DECIDERS)))
async def test_who_may_confirm_a_claim(shared_api: Api, shared_demo_db_url: str, case: int) -> None:
    api, url = shared_api, shared_demo_db_url
    caller, allowed = DECIDERS[case]
    phone = f"139999310{case:02d}"
    token = await newcomer(url, phone)
    made = await claimed(api, url, token, f"4-1-{case + 1}01", relation="OWNER")
    deciding = token if caller == "claimant" else await token_for(url, caller)
    body = await api.gql(CONFIRM, {"id": made["id"]}, token=deciding)
    status = await fetchval(url, "SELECT status FROM home_claim WHERE id = $1", decode(made["id"])[1])
    if allowed:
        assert "errors" not in body, body
        done = body["data"]["confirmHomeClaim"]
        assert done["status"] == "CONFIRMED" and done["decidedAt"] is not None
        assert done["household"] == {"number": f"4-1-{case + 1}01"}
        assert done["home"]["relation"] == "OWNER"
        assert await homes_of(url, phone) == 1
        # the home grants at once; the placeholder name became the claimed one
        me = (await api.data(MINE, token=token))["me"]
        assert me["households"] == [{"household": {"number": f"4-1-{case + 1}01"}, "relation": "OWNER"}]
        assert me["person"]["name"] == "周新"
    else:
        code, _, said = error(body)
        assert code == "FORBIDDEN"
        assert status == "PENDING"
        assert await homes_of(url, phone) == 0
        if caller == "claimant":  # reads their claim, may not decide it
            assert said != NOT_VISIBLE
        else:  # a claim is its claimant's and its deciders' only: not told it exists
            assert said == NOT_VISIBLE


@pytest.mark.parametrize("case", range(len(DECIDERS)))
async def test_who_reads_the_queue_and_a_claim(shared_api: Api, shared_demo_db_url: str, case: int) -> None:
    api, url = shared_api, shared_demo_db_url
    caller, keeps = DECIDERS[case]
    token = await newcomer(url, f"139999320{case:02d}")
    made = await claimed(api, url, token, f"8-1-{case + 1}01")
    reader = token if caller == "claimant" else await token_for(url, caller)
    queue = await api.gql(QUEUE, {"c": await compound_id(url)}, token=reader)
    node = await api.gql(NODE, {"id": made["id"]}, token=reader)
    if keeps:
        waiting = {e["node"]["id"]: e["node"] for e in queue["data"]["homeClaims"]["edges"]}
        assert waiting[made["id"]]["household"] == {"number": f"8-1-{case + 1}01"}
        assert waiting[made["id"]]["phone"] == f"139999320{case:02d}"
        assert node["data"]["node"] == {"id": made["id"], "status": "PENDING", "name": "周新"}
    else:
        assert error(queue)[0] == "FORBIDDEN"
        if caller == "claimant":
            assert node["data"]["node"]["id"] == made["id"]
        else:
            assert error(node) == ("FORBIDDEN", None, NOT_VISIBLE)


async def test_a_claim_nobody_made_is_refused_as_one_not_visible(
    shared_api: Api, shared_demo_db_url: str
) -> None:
    api, url = shared_api, shared_demo_db_url
    token = await newcomer(url, "13999930002")
    someone_elses = await claimed(api, url, await newcomer(url, "13999930003"), "3-1-102")
    missing = encode("HomeClaim", uuid.uuid4())
    for ident in (someone_elses["id"], missing):
        assert error(await api.gql(NODE, {"id": ident}, token=token)) == ("FORBIDDEN", None, NOT_VISIBLE)
        assert error(await api.gql(WITHDRAW, {"id": ident}, token=token)) == ("FORBIDDEN", None, NOT_VISIBLE)
        assert (
            error(await api.gql(CONFIRM, {"id": ident}, token=await token_for(url, OUTSIDER)))[2]
            == NOT_VISIBLE
        )


async def test_rejected_with_a_reason_the_claimant_reads(shared_api: Api, shared_demo_db_url: str) -> None:
    api, url = shared_api, shared_demo_db_url
    token = await newcomer(url, "13999930004")
    made = await claimed(api, url, token, "3-1-201")
    grid = await token_for(url, GRID)
    blank = await api.gql(REJECT, {"id": made["id"], "reason": "  "}, token=grid)
    assert error(blank)[:2] == ("BAD_USER_INPUT", "reason")
    body = await api.gql(REJECT, {"id": made["id"], "reason": "房东说没有出租给您"}, token=grid)
    assert body["data"]["rejectHomeClaim"]["status"] == "REJECTED"
    mine = (await api.data(MINE, token=token))["me"]["homeClaims"]["edges"]
    assert mine[0]["node"]["reason"] == "房东说没有出租给您"
    # decided: neither confirmed nor withdrawn afterwards
    assert error(await api.gql(CONFIRM, {"id": made["id"]}, token=grid))[0] == "CONFLICT"
    assert error(await api.gql(WITHDRAW, {"id": made["id"]}, token=token))[0] == "CONFLICT"
    assert await homes_of(url, "13999930004") == 0
    # and the claimant may ask again
    again = await claimed(api, url, token, "3-1-201")
    assert again["id"] != made["id"] and again["status"] == "PENDING"


async def test_the_claimant_withdraws_and_staff_may_not(shared_api: Api, shared_demo_db_url: str) -> None:
    api, url = shared_api, shared_demo_db_url
    token = await newcomer(url, "13999930005")
    made = await claimed(api, url, token, "3-1-202")
    by_staff = await api.gql(WITHDRAW, {"id": made["id"]}, token=await token_for(url, GRID))
    code, _, said = error(by_staff)
    assert code == "FORBIDDEN" and "申请人本人" in said
    done = await api.gql(WITHDRAW, {"id": made["id"]}, token=token)
    assert done["data"]["withdrawHomeClaim"]["status"] == "WITHDRAWN"
    waiting = await api.data(QUEUE, {"c": await compound_id(url)}, token=await token_for(url, GRID))
    assert made["id"] not in {e["node"]["id"] for e in waiting["homeClaims"]["edges"]}
    every = await api.data(
        QUEUE, {"c": await compound_id(url), "status": None}, token=await token_for(url, GRID)
    )
    assert made["id"] in {e["node"]["id"] for e in every["homeClaims"]["edges"]}


BAD = [
    ({"number": "99-9-999"}, "BAD_USER_INPUT", "number"),
    ({"number": "  "}, "BAD_USER_INPUT", "number"),
    ({"name": ""}, "BAD_USER_INPUT", "name"),
    ({"name": "名" * 51}, "BAD_USER_INPUT", "name"),
    ({"compoundId": encode("Compound", uuid.uuid4())}, "BAD_USER_INPUT", "compoundId"),
]


@pytest.mark.parametrize("case", range(len(BAD)))
async def test_bad_claims_name_their_field_and_write_nothing(
    shared_api: Api, shared_demo_db_url: str, case: int
) -> None:
    api, url = shared_api, shared_demo_db_url
    change, code, field = BAD[case]
    token = await newcomer(url, f"139999330{case:02d}")
    given = {"compoundId": await compound_id(url), "number": "3-1-301", "relation": "OWNER", "name": "周新"}
    body = await api.gql(CLAIM, {"input": {**given, **change}}, token=token)
    assert error(body)[:2] == (code, field), body
    assert (
        await fetchval(
            url,
            "SELECT count(*) FROM home_claim c JOIN person p ON p.id = c.person_id WHERE p.phone = $1",
            f"139999330{case:02d}",
        )
        == 0
    )


async def test_what_a_claim_needs_first(shared_api: Api, shared_demo_db_url: str) -> None:
    api, url = shared_api, shared_demo_db_url
    given = {"compoundId": await compound_id(url), "number": "3-1-302", "relation": "OWNER", "name": "周新"}
    # a phone, so that the office can call them
    phoneless = await newcomer(url, None)
    code, _, said = error(await api.gql(CLAIM, {"input": given}, token=phoneless))
    assert code == "CONFLICT" and "绑定手机号" in said
    # the same claim twice is one claim
    token = await newcomer(url, "13999930006")
    await claimed(api, url, token, "3-1-302")
    assert error(await api.gql(CLAIM, {"input": given}, token=token))[0] == "CONFLICT"
    # at most three waiting
    await claimed(api, url, token, "3-1-401")
    await claimed(api, url, token, "3-1-402")
    code, _, said = error(await api.gql(CLAIM, {"input": {**given, "number": "3-1-501"}}, token=token))
    assert code == "CONFLICT" and "3 条" in said
    # someone who already lives there needs no claim
    resident = await token_for(url, RESIDENT)
    code, _, _ = error(await api.gql(CLAIM, {"input": {**given, "number": "6-1-302"}}, token=resident))
    assert code == "CONFLICT"
    assert (
        await fetchval(
            url,
            "SELECT count(*) FROM home_claim WHERE person_id = (SELECT id FROM person WHERE phone = $1)",
            RESIDENT,
        )
        == 0
    )


async def test_a_claimant_who_already_holds_the_home_is_not_given_a_second(
    shared_api: Api, shared_demo_db_url: str
) -> None:
    api, url = shared_api, shared_demo_db_url
    token = await newcomer(url, "13999930007", name="陈已登")
    made = await claimed(api, url, token, "3-1-601")
    person = await fetchval(url, "SELECT id FROM person WHERE phone = '13999930007'")
    await fetch(
        url,
        "INSERT INTO home (compound_id, household_id, person_id, relation)"
        " SELECT compound_id, household_id, person_id, 'TENANT' FROM home_claim WHERE person_id = $1",
        person,
    )
    body = await api.gql(CONFIRM, {"id": made["id"]}, token=await token_for(url, GRID))
    assert error(body)[0] == "CONFLICT"
    assert await homes_of(url, "13999930007") == 1
    # a real name is not replaced by the claimed one
    assert await fetchval(url, "SELECT name FROM person WHERE id = $1", person) == "陈已登"


async def test_two_staff_confirming_one_claim_at_once(shared_api: Api, shared_demo_db_url: str) -> None:
    api, url = shared_api, shared_demo_db_url
    token = await newcomer(url, "13999930008")
    made = await claimed(api, url, token, "3-1-602", relation="OWNER")
    grid, committee = await token_for(url, GRID), await token_for(url, COMMITTEE)
    answers = await asyncio.gather(
        api.gql(CONFIRM, {"id": made["id"]}, token=grid),
        api.gql(CONFIRM, {"id": made["id"]}, token=committee),
    )
    codes = sorted("ok" if "errors" not in a else error(a)[0] for a in answers)
    assert codes == ["CONFLICT", "ok"], answers
    assert await homes_of(url, "13999930008") == 1
    decisions = await fetchval(
        url,
        "SELECT count(*) FROM audit_record WHERE payload::jsonb->>'object_type' = 'HOME_CLAIM'"
        " AND payload::jsonb->>'object_id' = $1",
        str(decode(made["id"])[1]),
    )
    assert decisions == 1


async def test_a_withdrawal_racing_a_confirmation(shared_api: Api, shared_demo_db_url: str) -> None:
    api, url = shared_api, shared_demo_db_url
    token = await newcomer(url, "13999930009")
    made = await claimed(api, url, token, "3-1-701")
    confirm, withdraw = await asyncio.gather(
        api.gql(CONFIRM, {"id": made["id"]}, token=await token_for(url, STAFF)),
        api.gql(WITHDRAW, {"id": made["id"]}, token=token),
    )
    won = [a for a in (confirm, withdraw) if "errors" not in a]
    lost = [a for a in (confirm, withdraw) if "errors" in a]
    assert len(won) == 1 and error(lost[0])[0] == "CONFLICT"
    status = await fetchval(url, "SELECT status FROM home_claim WHERE id = $1", decode(made["id"])[1])
    assert await homes_of(url, "13999930009") == (1 if status == "CONFIRMED" else 0)


async def test_deciders_see_a_claimants_phone_while_it_waits_and_their_reading_is_recorded(
    shared_api: Api, shared_demo_db_url: str
) -> None:
    api, url = shared_api, shared_demo_db_url
    token = await newcomer(url, "13999930010")
    made = await claimed(api, url, token, "3-1-702")
    staff = await token_for(url, STAFF)
    await api.app.state.services.reveals.flush()
    before = await fetchval(
        url, "SELECT count(*) FROM audit_record WHERE payload::jsonb->>'action' = 'REVEAL'"
    )
    shown = await api.data(NODE.replace("name }", "name phone }"), {"id": made["id"]}, token=staff)
    assert shown["node"]["phone"] == "13999930010"
    await api.app.state.services.reveals.flush()
    recorded = await fetch(
        url,
        "SELECT payload::jsonb->'detail' AS detail FROM audit_record WHERE payload::jsonb->>'action' = 'REVEAL'"
        " ORDER BY seq DESC LIMIT 1",
    )
    assert (
        await fetchval(url, "SELECT count(*) FROM audit_record WHERE payload::jsonb->>'action' = 'REVEAL'")
        == before + 1
    )
    assert "PERSON.PHONE" in str(recorded[0]["detail"])
    # decided: the staff see it masked from then on; the claimant still sees their own
    rejected = await api.gql(REJECT, {"id": made["id"], "reason": "请到居委会当面核实"}, token=staff)
    assert rejected["data"]["rejectHomeClaim"]["phone"] == "139****0010"
    later = await api.data(NODE.replace("name }", "name phone }"), {"id": made["id"]}, token=staff)
    assert later["node"]["phone"] == "139****0010"
    own = await api.data(NODE.replace("name }", "name phone }"), {"id": made["id"]}, token=token)
    assert own["node"]["phone"] == "13999930010"
