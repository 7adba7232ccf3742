"""Party members' registrations (报到) and building groups, through the API as the people who do
each step: a member applies from their home, the community committee approves or rejects, the
member withdraws, ends or transfers; approval makes the role, the profile and the group. Who may
read and decide is asserted both ways; refusals write nothing; two committee members deciding at
once decide once."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date

import pytest

from app.world_file import parse
from models.terms import today
from resolvers.ids import encode
from tests.conftest import Api, fetch, fetchval, import_into, token_for

pytestmark = pytest.mark.asyncio(loop_scope="module")

ADMIN, CHIEF, GRID, COMMITTEE, STAFF = (
    "13800000000",
    "13800000001",
    "13800000003",
    "13800000004",
    "13800000005",
)
RESIDENT, OUTSIDER, OTHER_COMMITTEE = "13800000007", "13800000011", "13800000014"
NOT_VISIBLE = "该内容不存在，或您没有查看权限。"
KEEPERS = "只有本社区“两委”成员可以查看和审核党员报到。"
DECIDERS_ONLY = "只有本社区“两委”成员可以审核党员报到，不能审核自己的报到申请。"

FIELDS = """id status compoundName householdNumber buildingName employer partyOrganization
  partyOrganizationContact memberSince skills services appliedAt decidedAt approvedOn endedOn reason
  person { name } group { name } transferredFrom { id status }"""
APPLY = f"mutation($input: ApplyPartyRegistrationInput!) {{ applyPartyRegistration(input: $input) {{ {FIELDS} }} }}"
APPROVE = f"mutation($id: ID!) {{ approvePartyRegistration(id: $id) {{ {FIELDS} }} }}"
REJECT = f"mutation($id: ID!, $r: String!) {{ rejectPartyRegistration(id: $id, reason: $r) {{ {FIELDS} }} }}"
WITHDRAW = (
    f"mutation($id: ID!, $r: String) {{ withdrawPartyRegistration(id: $id, reason: $r) {{ {FIELDS} }} }}"
)
TRANSFER = f"""mutation($id: ID!, $h: ID!) {{ transferPartyRegistration(id: $id, householdId: $h) {{ {FIELDS} }} }}"""
NODE = "query($id: ID!) { node(id: $id) { ... on PartyRegistration { id status employer } } }"
QUEUE = """query($c: ID!, $s: PartyRegistrationStatus) { partyRegistrations(compoundId: $c, status: $s, first: 100) {
  totalCount edges { node { id status person { name } } } } }"""
MINE = "{ me { partyRegistrations { edges { node { id status approvedOn partyOrganization } } } } }"
GROUPS = """query($c: ID!) { partyGroups(compoundId: $c, first: 100) { edges { node { id name buildings
  memberCount leader { name } members(first: 100) { totalCount edges { node { name } } } } } } }"""


async def compound_id(url: str, key: str = "qianshan-meilin") -> uuid.UUID:
    return await fetchval(url, "SELECT id FROM compound WHERE key = $1", key)


async def household(url: str, number: str, key: str = "qianshan-meilin") -> uuid.UUID:
    return await fetchval(
        url,
        "SELECT h.id FROM household h JOIN compound c ON c.id = h.compound_id WHERE c.key = $1 AND h.number = $2",
        key,
        number,
    )


async def member(url: str, phone: str, *homes: tuple[str, str]) -> str:
    """A newcomer living in `homes` ((compound key, number) pairs, as an owner): a token."""
    made = await fetchval(
        url, "INSERT INTO person (name, phone) VALUES ('党员' || $1, $1) RETURNING id", phone
    )
    for key, number in homes:
        h = await household(url, number, key)
        await fetchval(
            url,
            "INSERT INTO home (compound_id, household_id, person_id, relation)"
            " SELECT compound_id, id, $2, 'OWNER' FROM household WHERE id = $1 RETURNING id",
            h,
            made,
        )
    return await token_for(url, phone)


async def on_the_committee(url: str, phone: str) -> None:
    """The person with this phone joins 九龙社区's community committee."""
    await fetchval(
        url,
        "INSERT INTO role_assignment (person_id, role, community_id)"
        " SELECT p.id, 'COMMUNITY_COMMITTEE', c.id FROM person p, community c"
        " WHERE p.phone = $1 AND c.key = 'jiulong' RETURNING id",
        phone,
    )


def application(household_id: uuid.UUID, **changes: object) -> dict:
    return {
        "input": {
            "householdId": encode("Household", household_id),
            "employer": "綦江区科技局",
            "partyOrganization": "綦江区科技局机关党支部",
            "partyOrganizationContact": "王书记 023-48661234",
            "memberSince": "2010-07-01",
            "skills": "法律咨询",
            "services": ["MEDIATION", "PATROL"],
            **changes,
        }
    }


async def applied(api: Api, url: str, token: str, number: str, key: str = "qianshan-meilin") -> dict:
    body = await api.gql(APPLY, application(await household(url, number, key)), token=token)
    assert "errors" not in body, body
    return body["data"]["applyPartyRegistration"]


def error(body: dict) -> tuple[str, str | None, str]:
    (first,) = body["errors"]
    return first["extensions"]["code"], first["extensions"].get("field"), first["message"]


async def registrations_of(url: str, phone: str) -> list[str]:
    rows = await fetch(
        url,
        "SELECT x.status FROM party_registration x JOIN person p ON p.id = x.person_id WHERE p.phone = $1"
        " ORDER BY x.created_at",
        phone,
    )
    return [r["status"] for r in rows]


async def member_roles(url: str, phone: str) -> list[tuple[str, bool]]:
    """(compound key, in force today) of each Party member role of the person."""
    rows = await fetch(
        url,
        "SELECT c.key, (r.starts_on <= $2 AND (r.ends_on IS NULL OR r.ends_on > $2)) AS held"
        " FROM role_assignment r JOIN person p ON p.id = r.person_id JOIN compound c ON c.id = r.compound_id"
        " WHERE p.phone = $1 AND r.role = 'PARTY_MEMBER' ORDER BY r.created_at",
        phone,
        today(),
    )
    return [(r["key"], r["held"]) for r in rows]


async def test_apply_approve_and_the_group(shared_api: Api, shared_demo_db_url: str) -> None:
    api, url = shared_api, shared_demo_db_url
    token = await member(url, "13999940001", ("qianshan-meilin", "6-1-101"))
    made = await applied(api, url, token, "6-1-101")
    assert made["status"] == "PENDING" and made["decidedAt"] is None and made["approvedOn"] is None
    assert (made["compoundName"], made["householdNumber"], made["buildingName"]) == (
        "千山美林",
        "6-1-101",
        "6栋",
    )
    assert (made["employer"], made["partyOrganization"], made["memberSince"]) == (
        "綦江区科技局",
        "綦江区科技局机关党支部",
        "2010-07-01",
    )
    assert made["services"] == ["MEDIATION", "PATROL"] and made["group"] is None
    # waiting grants nothing
    assert await member_roles(url, "13999940001") == []
    committee = await token_for(url, COMMITTEE)
    waiting = await api.data(QUEUE, {"c": encode("Compound", await compound_id(url))}, token=committee)
    assert made["id"] in [e["node"]["id"] for e in waiting["partyRegistrations"]["edges"]]

    approved = (await api.data(APPROVE, {"id": made["id"]}, token=committee))["approvePartyRegistration"]
    assert approved["status"] == "APPROVED" and approved["approvedOn"] == today().isoformat()
    assert approved["group"] == {"name": "6栋党员楼栋小组"}
    assert await member_roles(url, "13999940001") == [("qianshan-meilin", True)]
    profile = await fetch(
        url,
        "SELECT pp.work_unit, pp.registered_on FROM party_profile pp JOIN person p ON p.id = pp.person_id"
        " WHERE p.phone = '13999940001'",
    )
    assert [tuple(r) for r in profile] == [("綦江区科技局机关党支部", today())]
    me = await api.data(
        "{ me { roles { role } person { party { registered workUnit registeredOn } } } }", token=token
    )
    assert {"role": "PARTY_MEMBER"} in me["me"]["roles"]
    assert me["me"]["person"]["party"] == {
        "registered": True,
        "workUnit": "綦江区科技局机关党支部",
        "registeredOn": today().isoformat(),
    }
    mine = (await api.data(MINE, token=token))["me"]["partyRegistrations"]["edges"]
    assert [e["node"]["status"] for e in mine] == ["APPROVED"]
    # the member is in their building's group, which a fellow member reads with full names
    groups = await api.data(
        GROUPS, {"c": encode("Compound", await compound_id(url))}, token=await token_for(url, CHIEF)
    )
    six = next(g["node"] for g in groups["partyGroups"]["edges"] if g["node"]["name"] == "6栋党员楼栋小组")
    assert six["buildings"] == ["6栋"]
    assert "党员13999940001" in [e["node"]["name"] for e in six["members"]["edges"]]
    assert six["memberCount"] == six["members"]["totalCount"] == len(six["members"]["edges"])
    # the decision is on the audit trail
    recorded = await fetchval(
        url,
        "SELECT count(*) FROM audit_record WHERE payload::jsonb->>'action' = 'DECIDE'"
        " AND payload::jsonb->>'object_id' = $1",
        str(
            await fetchval(
                url,
                "SELECT id FROM party_registration WHERE status = 'APPROVED' AND employer = '綦江区科技局' ORDER BY created_at DESC LIMIT 1",
            )
        ),
    )
    assert recorded == 1


DECIDERS = [
    (COMMITTEE, True),
    (ADMIN, False),
    (OTHER_COMMITTEE, False),
    (GRID, False),
    (CHIEF, False),
    (STAFF, False),
    (RESIDENT, False),
    (OUTSIDER, False),
    ("applicant", False),
]


@pytest.mark.parametrize("case", range(len(DECIDERS)))
async def test_who_decides_and_who_reads(shared_api: Api, shared_demo_db_url: str, case: int) -> None:
    api, url = shared_api, shared_demo_db_url
    who, allowed = DECIDERS[case]
    phone = f"1399995{case:04d}"
    token = await member(url, phone, ("qianshan-meilin", "5-1-101"))
    made = await applied(api, url, token, "5-1-101")
    caller = token if who == "applicant" else await token_for(url, who)
    # reading: the applicant and the community committee, nobody else (an admin neither: Party data)
    read = await api.gql(NODE, {"id": made["id"]}, token=caller)
    reads = who in (COMMITTEE, "applicant")
    if reads:
        assert read["data"]["node"] == {"id": made["id"], "status": "PENDING", "employer": "綦江区科技局"}
    else:
        assert error(read) == ("FORBIDDEN", None, NOT_VISIBLE)
    decided = await api.gql(APPROVE, {"id": made["id"]}, token=caller)
    if allowed:
        assert decided["data"]["approvePartyRegistration"]["status"] == "APPROVED"
        assert await registrations_of(url, phone) == ["APPROVED"]
    else:
        assert error(decided) == ("FORBIDDEN", None, DECIDERS_ONLY if reads else NOT_VISIBLE)
        rejected = await api.gql(REJECT, {"id": made["id"], "r": "不符合"}, token=caller)
        assert error(rejected)[0] == "FORBIDDEN"
        assert await registrations_of(url, phone) == ["PENDING"]
        assert await member_roles(url, phone) == []


QUEUE_READERS = [
    (COMMITTEE, True),
    (ADMIN, False),
    (GRID, False),
    (CHIEF, False),
    (STAFF, False),
    (RESIDENT, False),
]


@pytest.mark.parametrize("case", range(len(QUEUE_READERS)))
async def test_the_queue_is_the_committees(shared_api: Api, shared_demo_db_url: str, case: int) -> None:
    api, url = shared_api, shared_demo_db_url
    who, allowed = QUEUE_READERS[case]
    body = await api.gql(
        QUEUE, {"c": encode("Compound", await compound_id(url)), "s": None}, token=await token_for(url, who)
    )
    if allowed:
        # the imported registrations are approved ones
        assert body["data"]["partyRegistrations"]["totalCount"] > 0
    else:
        assert error(body)[0] == "FORBIDDEN"
        assert body["errors"][0]["message"] in (KEEPERS, NOT_VISIBLE)


async def test_reject_withdraw_and_refusals(shared_api: Api, shared_demo_db_url: str) -> None:
    api, url = shared_api, shared_demo_db_url
    phone = "13999941001"
    token = await member(url, phone, ("qianshan-meilin", "5-1-201"))
    committee = await token_for(url, COMMITTEE)
    h = await household(url, "5-1-201")
    # bad input writes nothing
    for changes, field in (
        ({"memberSince": (date.today().replace(year=date.today().year + 1)).isoformat()}, "memberSince"),
        ({"memberSince": "1920-01-01"}, "memberSince"),
        ({"employer": "  "}, "employer"),
        ({"partyOrganization": "党" * 101}, "partyOrganization"),
        ({"householdId": encode("Household", await household(url, "6-1-302"))}, "householdId"),  # not theirs
    ):
        body = await api.gql(APPLY, application(h, **changes), token=token)
        code, named, message = error(body)
        assert (code, named) == ("BAD_USER_INPUT", field), body
        assert message and "Traceback" not in message
    assert await registrations_of(url, phone) == []
    made = await applied(api, url, token, "5-1-201")
    again = await api.gql(APPLY, application(h), token=token)
    assert error(again)[0] == "CONFLICT"
    assert error(await api.gql(REJECT, {"id": made["id"], "r": " "}, token=committee))[:2] == (
        "BAD_USER_INPUT",
        "reason",
    )
    rejected = (await api.data(REJECT, {"id": made["id"], "r": "请先到社区核实党员身份"}, token=committee))[
        "rejectPartyRegistration"
    ]
    assert (rejected["status"], rejected["reason"]) == ("REJECTED", "请先到社区核实党员身份")
    assert error(await api.gql(APPROVE, {"id": made["id"]}, token=committee))[0] == "CONFLICT"
    assert error(await api.gql(WITHDRAW, {"id": made["id"]}, token=token))[0] == "CONFLICT"
    # a new application, withdrawn by the applicant while it waits
    second = await applied(api, url, token, "5-1-201")
    other = await token_for(url, RESIDENT)
    assert error(await api.gql(WITHDRAW, {"id": second["id"]}, token=other)) == (
        "FORBIDDEN",
        None,
        NOT_VISIBLE,
    )
    withdrawn = (await api.data(WITHDRAW, {"id": second["id"]}, token=token))["withdrawPartyRegistration"]
    assert withdrawn["status"] == "WITHDRAWN" and withdrawn["decidedAt"] is not None
    assert await registrations_of(url, phone) == ["REJECTED", "WITHDRAWN"]
    assert await member_roles(url, phone) == []
    # someone living nowhere cannot apply
    nowhere = await member(url, "13999941002")
    assert error(await api.gql(APPLY, application(h), token=nowhere))[:2] == ("BAD_USER_INPUT", "householdId")


async def test_end_and_transfer(shared_api: Api, shared_demo_db_url: str) -> None:
    api, url = shared_api, shared_demo_db_url
    phone = "13999942001"
    token = await member(url, phone, ("qianshan-meilin", "5-1-301"), ("shanyu-cheng", "1-1-101"))
    committee = await token_for(url, COMMITTEE)
    first = await applied(api, url, token, "5-1-301")
    await api.data(APPROVE, {"id": first["id"]}, token=committee)
    # applying again is refused: already registered here, and elsewhere only by a transfer
    assert (
        error(await api.gql(APPLY, application(await household(url, "5-1-301")), token=token))[0]
        == "CONFLICT"
    )
    elsewhere = application(await household(url, "1-1-101", "shanyu-cheng"))
    assert "转移报到" in error(await api.gql(APPLY, elsewhere, token=token))[2]
    moved = (
        await api.data(
            TRANSFER,
            {"id": first["id"], "h": encode("Household", await household(url, "1-1-101", "shanyu-cheng"))},
            token=token,
        )
    )["transferPartyRegistration"]
    assert moved["status"] == "PENDING" and moved["compoundName"] == "山予城"
    assert moved["transferredFrom"] == {"id": first["id"], "status": "APPROVED"}
    assert (moved["employer"], moved["services"]) == ("綦江区科技局", ["MEDIATION", "PATROL"])
    # until it is approved the old registration holds
    assert await member_roles(url, phone) == [("qianshan-meilin", True)]
    approved = (await api.data(APPROVE, {"id": moved["id"]}, token=committee))["approvePartyRegistration"]
    assert approved["status"] == "APPROVED"
    assert approved["transferredFrom"] == {"id": first["id"], "status": "TRANSFERRED"}
    assert await registrations_of(url, phone) == ["TRANSFERRED", "APPROVED"]
    assert await member_roles(url, phone) == [("qianshan-meilin", False), ("shanyu-cheng", True)]
    old = (await api.data(NODE.replace("employer", "endedOn"), {"id": first["id"]}, token=token))["node"]
    assert old["endedOn"] == today().isoformat()
    # ending: the registration ends, the profile says not registered, the record stays
    ended = (await api.data(WITHDRAW, {"id": moved["id"], "r": "调往外地工作"}, token=token))[
        "withdrawPartyRegistration"
    ]
    assert (ended["status"], ended["endedOn"], ended["reason"]) == (
        "ENDED",
        today().isoformat(),
        "调往外地工作",
    )
    party = await api.data("{ me { person { party { registered } } } }", token=token)
    assert party["me"]["person"]["party"] == {"registered": False}
    assert error(await api.gql(WITHDRAW, {"id": moved["id"]}, token=token))[0] == "CONFLICT"


async def test_two_committee_members_decide_once(shared_api: Api, shared_demo_db_url: str) -> None:
    api, url = shared_api, shared_demo_db_url
    second = "13999943000"
    await fetchval(url, "INSERT INTO person (name, phone) VALUES ('两委委员', $1) RETURNING id", second)
    await on_the_committee(url, second)
    one, two = await token_for(url, COMMITTEE), await token_for(url, second)
    for round_ in range(3):
        phone = f"1399994310{round_}"
        token = await member(url, phone, ("qianshan-meilin", f"5-2-{round_ + 1}01"))
        made = await applied(api, url, token, f"5-2-{round_ + 1}01")
        approving, rejecting = await asyncio.gather(
            api.gql(APPROVE, {"id": made["id"]}, token=one),
            api.gql(REJECT, {"id": made["id"], "r": "重复申请"}, token=two),
        )
        outcomes = [b for b in (approving, rejecting) if "errors" not in b]
        assert len(outcomes) == 1, (approving, rejecting)
        loser = approving if "errors" in approving else rejecting
        assert error(loser)[0] == "CONFLICT"
        final = await registrations_of(url, phone)
        assert final in (["APPROVED"], ["REJECTED"])
        assert (await member_roles(url, phone) == [("qianshan-meilin", True)]) == (final == ["APPROVED"])


async def test_groups_set_up_by_the_committee(shared_api: Api, shared_demo_db_url: str) -> None:
    api, url = shared_api, shared_demo_db_url
    compound = encode("Compound", await compound_id(url))
    committee = await token_for(url, COMMITTEE)
    buildings = {
        r["name"]: encode("Building", r["id"])
        for r in await fetch(
            url,
            "SELECT b.id, b.name FROM building b JOIN compound c ON c.id = b.compound_id WHERE c.key = 'qianshan-meilin'",
        )
    }
    create = """mutation($i: CreatePartyGroupInput!) { createPartyGroup(input: $i) { id name buildings memberCount
      leader { name } } }"""
    made = (
        await api.data(
            create,
            {
                "i": {
                    "compoundId": compound,
                    "name": "一二栋联合小组",
                    "buildingIds": [buildings["1栋"], buildings["2栋"]],
                }
            },
            token=committee,
        )
    )["createPartyGroup"]
    assert made["buildings"] == ["1栋", "2栋"] and made["leader"] is None
    # the buildings left their own groups: each building is in one group
    in_groups = await fetch(
        url,
        "SELECT b.name, count(*) AS n FROM party_group_building gb JOIN building b ON b.id = gb.building_id"
        " WHERE b.name IN ('1栋', '2栋') AND b.compound_id = (SELECT id FROM compound WHERE key = 'qianshan-meilin')"
        " GROUP BY b.name",
    )
    assert sorted((r["name"], r["n"]) for r in in_groups) == [("1栋", 1), ("2栋", 1)]
    duplicate = await api.gql(
        create,
        {"i": {"compoundId": compound, "name": "一二栋联合小组", "buildingIds": [buildings["3栋"]]}},
        token=committee,
    )
    assert error(duplicate)[0] == "CONFLICT"
    # the leader: a registered member of the group (罗志宏 lives in 2栋), not someone else
    appoint = (
        "mutation($id: ID!, $p: ID) { appointPartyGroupLeader(id: $id, personId: $p) { leader { name } } }"
    )
    chief_id = encode("Person", await fetchval(url, "SELECT id FROM person WHERE phone = $1", CHIEF))
    resident_id = encode("Person", await fetchval(url, "SELECT id FROM person WHERE phone = $1", RESIDENT))
    refused = await api.gql(appoint, {"id": made["id"], "p": resident_id}, token=committee)
    assert error(refused)[:2] == ("BAD_USER_INPUT", "personId")
    led = await api.data(appoint, {"id": made["id"], "p": chief_id}, token=committee)
    assert led["appointPartyGroupLeader"]["leader"] == {"name": "罗志宏"}
    # who sets groups up: the committee (and an admin), nobody else
    for phone in (GRID, CHIEF, RESIDENT, STAFF):
        denied = await api.gql(appoint, {"id": made["id"], "p": None}, token=await token_for(url, phone))
        assert error(denied)[0] == "FORBIDDEN"
    renamed = await api.data(
        'mutation($id: ID!) { updatePartyGroup(id: $id, name: "一二栋党员小组") { name buildings } }',
        {"id": made["id"]},
        token=await token_for(url, ADMIN),
    )
    assert renamed["updatePartyGroup"] == {"name": "一二栋党员小组", "buildings": ["1栋", "2栋"]}


GROUP_READERS = [
    (COMMITTEE, True),
    (GRID, True),
    (CHIEF, True),
    (ADMIN, True),
    (STAFF, False),
    (RESIDENT, False),
    ("13800000006", False),  # the owners' committee
    ("13800000009", False),  # the deputy convener (not a Party member)
]


@pytest.mark.parametrize("case", range(len(GROUP_READERS)))
async def test_who_reads_the_groups(shared_api: Api, shared_demo_db_url: str, case: int) -> None:
    api, url = shared_api, shared_demo_db_url
    who, allowed = GROUP_READERS[case]
    body = await api.data(
        GROUPS, {"c": encode("Compound", await compound_id(url))}, token=await token_for(url, who)
    )
    edges = body["partyGroups"]["edges"]
    assert bool(edges) == allowed
    if allowed:
        members = [m["node"]["name"] for g in edges for m in g["node"]["members"]["edges"]]
        assert members and sum(g["node"]["memberCount"] for g in edges) == len(members)
        # a fellow Party member and the staff of the area read full names
        assert "罗志宏" in members
    some = await fetchval(
        url,
        "SELECT g.id FROM party_group g JOIN compound c ON c.id = g.compound_id WHERE c.key = 'qianshan-meilin' LIMIT 1",
    )
    node = await api.gql(
        "query($id: ID!) { node(id: $id) { ... on PartyGroup { name } } }",
        {"id": encode("PartyGroup", some)},
        token=await token_for(url, who),
    )
    if allowed:
        assert node["data"]["node"]["name"]
    else:
        assert error(node) == ("FORBIDDEN", None, NOT_VISIBLE)


async def test_imported_registrations_are_approved_on_their_day(
    shared_api: Api, shared_demo_db_url: str
) -> None:
    api, url = shared_api, shared_demo_db_url
    mine = (await api.data(MINE, token=await token_for(url, CHIEF)))["me"]["partyRegistrations"]["edges"]
    assert [e["node"] for e in mine] == [
        {
            "id": mine[0]["node"]["id"],
            "status": "APPROVED",
            "approvedOn": "2025-03-12",
            "partyOrganization": "綦江区应急管理局机关党支部",
        }
    ]


async def test_committee_reads_of_party_data_are_recorded(shared_api: Api, shared_demo_db_url: str) -> None:
    api, url = shared_api, shared_demo_db_url
    committee = await token_for(url, COMMITTEE)
    count = "SELECT count(*) FROM audit_record WHERE payload::jsonb->>'action' = 'REVEAL'"
    await api.app.state.services.reveals.flush()
    before = await fetchval(url, count)
    chief = encode("Person", await fetchval(url, "SELECT id FROM person WHERE phone = $1", CHIEF))
    shown = await api.data(
        "query($id: ID!) { node(id: $id) { ... on Person { party { workUnit } } } }",
        {"id": chief},
        token=committee,
    )
    assert shown["node"]["party"] == {"workUnit": "綦江区应急管理局机关党支部"}
    await api.app.state.services.reveals.flush()
    assert await fetchval(url, count) == before + 1
    detail = await fetchval(
        url,
        "SELECT payload::jsonb->'detail' FROM audit_record WHERE payload::jsonb->>'action' = 'REVEAL'"
        " ORDER BY seq DESC LIMIT 1",
    )
    assert "PERSON.PARTY_DETAIL" in str(detail)
    # the member reading their own is not recorded
    await api.data("{ me { person { party { workUnit } } } }", token=await token_for(url, CHIEF))
    await api.app.state.services.reveals.flush()
    assert await fetchval(url, count) == before + 1


async def test_nobody_decides_their_own_application(shared_api: Api, shared_demo_db_url: str) -> None:
    api, url = shared_api, shared_demo_db_url
    phone = "13999944001"
    token = await member(url, phone, ("qianshan-meilin", "5-3-101"))
    await on_the_committee(url, phone)
    made = await applied(api, url, token, "5-3-101")
    for mutation, variables in ((APPROVE, {"id": made["id"]}), (REJECT, {"id": made["id"], "r": "自己驳回"})):
        code, _, message = error(await api.gql(mutation, variables, token=token))
        assert code == "FORBIDDEN" and "不能审核自己的报到申请" in message
    assert await registrations_of(url, phone) == ["PENDING"]
    approved = await api.data(APPROVE, {"id": made["id"]}, token=await token_for(url, COMMITTEE))
    assert approved["approvePartyRegistration"]["status"] == "APPROVED"


async def test_a_leader_who_leaves_leads_no_more(shared_api: Api, shared_demo_db_url: str) -> None:
    api, url = shared_api, shared_demo_db_url
    phone = "13999945001"
    token = await member(url, phone, ("qianshan-meilin", "7-1-101"))
    committee = await token_for(url, COMMITTEE)
    made = await applied(api, url, token, "7-1-101")
    await api.data(APPROVE, {"id": made["id"]}, token=committee)
    group = await fetchval(
        url,
        "SELECT gb.group_id FROM party_group_building gb JOIN party_registration x ON x.building_id = gb.building_id"
        " JOIN person p ON p.id = x.person_id WHERE p.phone = $1 AND x.status = 'APPROVED'",
        phone,
    )
    me = encode("Person", await fetchval(url, "SELECT id FROM person WHERE phone = $1", phone))
    appoint = (
        "mutation($id: ID!, $p: ID) { appointPartyGroupLeader(id: $id, personId: $p) { leader { name } } }"
    )
    led = await api.data(appoint, {"id": encode("PartyGroup", group), "p": me}, token=committee)
    assert led["appointPartyGroupLeader"]["leader"] == {"name": f"党员{phone}"}
    await api.data(WITHDRAW, {"id": made["id"], "r": "工作调动"}, token=token)
    assert await fetchval(url, "SELECT leader_id FROM party_group WHERE id = $1", group) is None


async def test_an_import_moves_and_ends_registrations(shared_api: Api, shared_demo_db_url: str) -> None:
    url = shared_demo_db_url
    phone = "13999946001"

    def world(homes: list[dict], role: dict) -> dict:
        return {
            "version": 1,
            "people": [
                {
                    "phone": phone,
                    "name": "导入党员",
                    "party": {"work_unit": "綦江区文旅委机关党支部", "registered_on": "2025-05-04"},
                    "homes": homes,
                }
            ],
            "roles": [{"phone": phone, "role": "PARTY_MEMBER", "compound": "qianshan-meilin", **role}],
        }

    first_home = {"compound": "qianshan-meilin", "household": "7-1-201", "relation": "OWNER"}
    await import_into(url, parse(world([first_home], {})))
    rows = await fetch(url, REGISTRATION_OF, phone)
    assert [tuple(r) for r in rows] == [("APPROVED", "7-1-201", date(2025, 5, 4), None)]
    # moved within the compound: the registration follows to the new home
    moved = [{**first_home, "ends_on": today().isoformat()}, {**first_home, "household": "7-1-202"}]
    await import_into(url, parse(world(moved, {})))
    assert [tuple(r) for r in await fetch(url, REGISTRATION_OF, phone)] == [
        ("APPROVED", "7-1-202", date(2025, 5, 4), None)
    ]
    # the file ends the role: registered there no more
    await import_into(url, parse(world(moved, {"ends_on": today().isoformat()})))
    assert [tuple(r) for r in await fetch(url, REGISTRATION_OF, phone)] == [
        ("ENDED", "7-1-202", date(2025, 5, 4), today())
    ]


REGISTRATION_OF = (
    "SELECT x.status, h.number, x.approved_on, x.ended_on FROM party_registration x"
    " JOIN household h ON h.id = x.household_id JOIN person p ON p.id = x.person_id WHERE p.phone = $1"
)
