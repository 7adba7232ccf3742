"""Evaluations of Party members (评价鉴定) through the API: the chief convener drafts from the
member's participation record, the community committee confirms, a confirmed evaluation never
changes and is corrected by a new version. Who drafts, confirms and reads is asserted both ways;
two committee members confirming at once confirm once."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from resolvers.ids import decode, encode
from tests.conftest import Api, fetch, fetchval, token_for
from tests.test_party import error, on_the_committee

pytestmark = pytest.mark.asyncio(loop_scope="module")

ADMIN, CHIEF, GRID, COMMITTEE, RESIDENT = (
    "13800000000",
    "13800000001",
    "13800000003",
    "13800000004",
    "13800000007",
)
OTHER_COMMITTEE, OTHER_CHIEF = "13800000014", "13800000016"
NOT_VISIBLE = "该内容不存在，或您没有查看权限。"
FIELDS = """id period startsOn endsOn compoundName version status grade comment hours meetings shifts tasks
  disputes points confirmedAt person { name } supersedes { id status }"""
DRAFT = f"mutation($i: DraftEvaluationInput!) {{ draftEvaluation(input: $i) {{ {FIELDS} }} }}"
CONFIRM = f"mutation($id: ID!) {{ confirmEvaluation(id: $id) {{ {FIELDS} }} }}"
REVISE = f"""mutation($id: ID!, $g: EvaluationGrade!, $c: String!) {{
  reviseEvaluation(id: $id, grade: $g, comment: $c) {{ {FIELDS} }} }}"""
NODE = "query($id: ID!) { node(id: $id) { ... on PartyEvaluation { id status grade } } }"
LIST = """query($c: ID!, $p: String) { partyEvaluations(compoundId: $c, period: $p, first: 100) {
  edges { node { id version status } } } }"""


async def members(url: str, key: str = "qianshan-meilin") -> list[tuple[str, str]]:
    """(phone, global id) of the compound's Party members registered before 2025, not the tour's."""
    rows = await fetch(
        url,
        "SELECT p.phone, p.id FROM party_registration x JOIN person p ON p.id = x.person_id"
        " JOIN compound c ON c.id = x.compound_id WHERE c.key = $1 AND x.status = 'APPROVED'"
        " AND x.approved_on < '2025-01-01' AND p.phone NOT LIKE '1380000%' ORDER BY p.phone",
        key,
    )
    return [(r["phone"], encode("Person", r["id"])) for r in rows]


def drafted(person: str, period: str, grade: str = "QUALIFIED", comment: str = "积极参加小区活动。") -> dict:
    return {"i": {"personId": person, "period": period, "grade": grade, "comment": comment}}


async def test_draft_confirm_and_revise(shared_api: Api, shared_demo_db_url: str) -> None:
    api, url = shared_api, shared_demo_db_url
    (phone, member), *_ = await members(url)
    chief, committee = await token_for(url, CHIEF), await token_for(url, COMMITTEE)
    first = (await api.data(DRAFT, drafted(member, "2025q2"), token=chief))["draftEvaluation"]
    assert (first["period"], first["startsOn"], first["endsOn"]) == ("2025Q2", "2025-04-01", "2025-07-01")
    assert (first["status"], first["version"], first["grade"], first["compoundName"]) == (
        "DRAFT",
        1,
        "QUALIFIED",
        "千山美林",
    )
    # its totals are the member's record over the period
    record = await api.data(
        """query($p: ID!) { participationRecord(personId: $p, startsOn: "2025-04-01", endsOn: "2025-07-01") {
          hours meetings shifts tasks disputes points } }""",
        {"p": member},
        token=committee,
    )
    assert {k: first[k] for k in record["participationRecord"]} == record["participationRecord"]
    # redrafting changes the draft, not the version
    again = (await api.data(DRAFT, drafted(member, "2025Q2", "EXCELLENT"), token=chief))["draftEvaluation"]
    assert (again["id"], again["version"], again["grade"]) == (first["id"], 1, "EXCELLENT")
    own = await api.data(
        "{ me { partyEvaluations { edges { node { id status grade } } } } }",
        token=await token_for(url, phone),
    )
    assert {"id": first["id"], "status": "DRAFT", "grade": "EXCELLENT"} in [
        e["node"] for e in own["me"]["partyEvaluations"]["edges"]
    ]
    confirmed = (await api.data(CONFIRM, {"id": first["id"]}, token=committee))["confirmEvaluation"]
    assert confirmed["status"] == "CONFIRMED" and confirmed["confirmedAt"]
    # confirmed: the chief convener reads drafts only; nothing changes it
    assert error(await api.gql(NODE, {"id": first["id"]}, token=chief)) == ("FORBIDDEN", None, NOT_VISIBLE)
    assert error(await api.gql(DRAFT, drafted(member, "2025Q2"), token=chief))[0] == "CONFLICT"
    assert error(await api.gql(CONFIRM, {"id": first["id"]}, token=committee))[0] == "CONFLICT"
    with pytest.raises(asyncpg.exceptions.RestrictViolationError):
        await fetch(url, "UPDATE party_evaluation SET grade = 'UNQUALIFIED' WHERE status = 'CONFIRMED'")
    # a correction is a new version, confirmed in turn; both are kept
    # (by the committee: the chief convener no longer reads the confirmed one)
    denied = await api.gql(REVISE, {"id": first["id"], "g": "QUALIFIED", "c": "改"}, token=chief)
    assert error(denied) == ("FORBIDDEN", None, NOT_VISIBLE)
    correction = {"id": first["id"], "g": "QUALIFIED", "c": "更正：服务时长以签到为准。"}
    revised = (await api.data(REVISE, correction, token=committee))["reviseEvaluation"]
    assert (revised["version"], revised["status"]) == (2, "DRAFT")
    assert revised["supersedes"] == {"id": first["id"], "status": "CONFIRMED"}
    twice = await api.gql(REVISE, {**correction, "c": "再改"}, token=committee)
    assert error(twice)[0] == "CONFLICT"
    # the new version is a draft: the chief convener may work on it
    assert (await api.data(NODE, {"id": revised["id"]}, token=chief))["node"]["status"] == "DRAFT"
    final = (await api.data(CONFIRM, {"id": revised["id"]}, token=committee))["confirmEvaluation"]
    assert final["supersedes"] == {"id": first["id"], "status": "SUPERSEDED"}
    listed = await api.data(
        LIST, {"c": encode("Compound", await compound(url)), "p": "2025Q2"}, token=committee
    )
    assert sorted(
        (e["node"]["version"], e["node"]["status"]) for e in listed["partyEvaluations"]["edges"]
    ) == [
        (1, "SUPERSEDED"),
        (2, "CONFIRMED"),
    ]
    audited = await fetchval(
        url,
        "SELECT count(*) FROM audit_record WHERE payload::jsonb->>'action' IN ('EVALUATE', 'DECIDE')"
        " AND payload::jsonb->>'object_type' IN ('COMPOUND', 'PARTY_EVALUATION')",
    )
    assert audited >= 4


async def compound(url: str, key: str = "qianshan-meilin") -> object:
    return await fetchval(url, "SELECT id FROM compound WHERE key = $1", key)


DRAFTERS = [
    (CHIEF, True),
    (COMMITTEE, True),
    (GRID, False),
    (ADMIN, False),
    (OTHER_COMMITTEE, False),
    (OTHER_CHIEF, False),
    (RESIDENT, False),
    ("member", False),
]


@pytest.mark.parametrize("case", range(len(DRAFTERS)))
async def test_who_drafts(shared_api: Api, shared_demo_db_url: str, case: int) -> None:
    api, url = shared_api, shared_demo_db_url
    who, allowed = DRAFTERS[case]
    phone, member = (await members(url))[1 + case]
    caller = await token_for(url, phone if who == "member" else who)
    body = await api.gql(DRAFT, drafted(member, "2025Q3"), token=caller)
    if allowed:
        assert body["data"]["draftEvaluation"]["status"] == "DRAFT"
    else:
        assert error(body)[0] == "FORBIDDEN"
        assert (
            await fetchval(
                url,
                "SELECT count(*) FROM party_evaluation WHERE person_id = (SELECT id FROM person WHERE phone = $1)",
                phone,
            )
            == 0
        )


CONFIRMERS = [
    (COMMITTEE, True),
    (CHIEF, False),
    (GRID, False),
    (ADMIN, False),
    (OTHER_COMMITTEE, False),
    ("member", False),
]


@pytest.mark.parametrize("case", range(len(CONFIRMERS)))
async def test_who_confirms_and_reads(shared_api: Api, shared_demo_db_url: str, case: int) -> None:
    api, url = shared_api, shared_demo_db_url
    who, allowed = CONFIRMERS[case]
    phone, member = (await members(url))[1 + case]
    made = (await api.data(DRAFT, drafted(member, "2025Q4"), token=await token_for(url, CHIEF)))[
        "draftEvaluation"
    ]
    caller = await token_for(url, phone if who == "member" else who)
    reads = who in (COMMITTEE, CHIEF, "member")
    node = await api.gql(NODE, {"id": made["id"]}, token=caller)
    if reads:
        assert node["data"]["node"]["status"] == "DRAFT"
    else:
        assert error(node) == ("FORBIDDEN", None, NOT_VISIBLE)
    body = await api.gql(CONFIRM, {"id": made["id"]}, token=caller)
    if allowed:
        assert body["data"]["confirmEvaluation"]["status"] == "CONFIRMED"
    else:
        code, _, message = error(body)
        assert code == "FORBIDDEN" and (message != NOT_VISIBLE) == reads
        status = await fetchval(
            url,
            "SELECT status FROM party_evaluation WHERE id = (SELECT id FROM party_evaluation WHERE person_id = (SELECT id FROM person WHERE phone = $1) AND period = '2025Q4')",
            phone,
        )
        assert status == "DRAFT"


async def test_periods_follow_the_community(shared_api: Api, shared_demo_db_url: str) -> None:
    api, url = shared_api, shared_demo_db_url
    (phone, member), *_ = await members(url, "dongfang-xintiandi")
    community = encode("Community", await fetchval(url, "SELECT id FROM community WHERE key = 'tonghui'"))
    setting = "mutation($c: ID!, $p: EvaluationPeriod!) { setEvaluationPeriod(communityId: $c, period: $p) }"
    other = await token_for(url, OTHER_COMMITTEE)
    refused = await api.gql(setting, {"c": community, "p": "YEAR"}, token=await token_for(url, OTHER_CHIEF))
    assert error(refused)[0] == "FORBIDDEN"
    assert (await api.data(setting, {"c": community, "p": "YEAR"}, token=other))[
        "setEvaluationPeriod"
    ] == "YEAR"
    chief = await token_for(url, OTHER_CHIEF)
    for period in ("2025Q1", "25", "2025-1", "1999"):
        assert error(await api.gql(DRAFT, drafted(member, period), token=chief))[:2] == (
            "BAD_USER_INPUT",
            "period",
        )
    assert error(await api.gql(DRAFT, drafted(member, "2025", comment=" "), token=chief))[:2] == (
        "BAD_USER_INPUT",
        "comment",
    )
    yearly = (await api.data(DRAFT, drafted(member, "2025"), token=chief))["draftEvaluation"]
    assert (yearly["startsOn"], yearly["endsOn"]) == ("2025-01-01", "2026-01-01")
    # someone else's chief convener learns nothing of whether this person is a Party member
    assert error(await api.gql(DRAFT, drafted(member, "2025Q1"), token=await token_for(url, CHIEF))) == (
        "FORBIDDEN",
        None,
        NOT_VISIBLE,
    )
    assert (
        await fetchval(
            url,
            "SELECT count(*) FROM party_evaluation WHERE person_id = (SELECT id FROM person WHERE phone = $1)",
            phone,
        )
        == 1
    )


async def test_two_committee_members_confirm_once(shared_api: Api, shared_demo_db_url: str) -> None:
    api, url = shared_api, shared_demo_db_url
    second = "13999970000"
    await fetchval(url, "INSERT INTO person (name, phone) VALUES ('两委委员乙', $1) RETURNING id", second)
    await on_the_committee(url, second)
    one, two = await token_for(url, COMMITTEE), await token_for(url, second)
    for i, (_, member) in enumerate((await members(url))[10:13]):
        made = (await api.data(DRAFT, drafted(member, f"2026Q{i + 1}"), token=await token_for(url, CHIEF)))[
            "draftEvaluation"
        ]
        bodies = await asyncio.gather(
            api.gql(CONFIRM, {"id": made["id"]}, token=one), api.gql(CONFIRM, {"id": made["id"]}, token=two)
        )
        assert sorted("errors" in b for b in bodies) == [False, True]
        assert error(next(b for b in bodies if "errors" in b))[0] == "CONFLICT"
        row = await fetch(
            url, "SELECT status, confirmed_by FROM party_evaluation WHERE id = $1", decode(made["id"])[1]
        )
        assert row[0]["status"] == "CONFIRMED"
        assert row[0]["confirmed_by"] in {
            await fetchval(url, "SELECT id FROM person WHERE phone = $1", p) for p in (COMMITTEE, second)
        }
