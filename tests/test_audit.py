"""The audit trail: every privileged action appends a hash-chained record in its own transaction;
the community committee reads its community's records; `qilijia audit verify` finds tampering."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from resolvers.ids import decode, encode
from tests.conftest import Api, fetch, fetchval
from tests.test_cli import aqilijia
from tests.test_task_api import CHIEF, COMMUNITY, GRID, OTHER_COMMUNITY, RESIDENT, Desk
from tests.votes import compound_id

ADMIN = "13800000000"
TRAIL = """query($c: ID, $first: Int, $after: String) { auditTrail(communityId: $c, first: $first, after: $after) {
  edges { cursor node { seq action actorKind actorName actorId actorRole objectType objectId address detail hash } }
  pageInfo { hasNextPage endCursor } } }"""


async def community_of(url: str) -> str:
    ident = await fetchval(
        url,
        "SELECT g.community_id FROM compound c JOIN grid g ON g.id = c.grid_id WHERE c.key = 'qianshan-meilin'",
    )
    return encode("Community", ident)


async def records(url: str) -> list[dict]:
    return [
        json.loads(r["payload"]) for r in await fetch(url, "SELECT payload FROM audit_record ORDER BY seq")
    ]


async def test_privileged_actions_are_recorded_and_others_are_not(api: Api, demo_db_url: str) -> None:
    desk = Desk(api, demo_db_url)
    before = len(await records(demo_db_url))
    task_id = await desk.new_task(RESIDENT)  # a resident's report: not privileged
    assert len(await records(demo_db_url)) == before
    assert "errors" not in await desk.do(GRID, "acceptTask", id=task_id)
    assert "errors" not in await desk.do(GRID, "assignTask", id=task_id, role="PROPERTY_STAFF")
    refused = await desk.do(RESIDENT, "rejectTask", id=task_id, reason="不想修")  # denied: nothing recorded
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"

    accepted, assigned = (await records(demo_db_url))[before:]
    assert [accepted["action"], assigned["action"]] == ["ACCEPT", "ASSIGN"]
    grid_worker = await fetchval(demo_db_url, "SELECT id FROM person WHERE phone = $1", GRID)
    assert accepted["actor"] == {
        "kind": "person",
        "id": str(grid_worker),
        "name": accepted["actor"]["name"],
        "role": "TEAM",
    }
    assert accepted["object_type"] == "TASK" and accepted["object_id"] == str(decode(task_id)[1])
    assert accepted["compound_id"] == str(decode(await compound_id(demo_db_url))[1])
    assert accepted["community_id"] == str(decode(await community_of(demo_db_url))[1])
    assert accepted["address"]  # where the request came from


async def test_the_community_committee_reads_its_trail_and_no_one_else(api: Api, demo_db_url: str) -> None:
    desk = Desk(api, demo_db_url)
    community = await community_of(demo_db_url)
    for _ in range(3):
        assert "errors" not in await desk.do(CHIEF, "acceptTask", id=await desk.new_task(RESIDENT))
    body = await desk.as_(COMMUNITY, TRAIL, {"c": community, "first": 2})
    assert "errors" not in body, body
    page = body["data"]["auditTrail"]
    seqs = [e["node"]["seq"] for e in page["edges"]]
    assert seqs == sorted(seqs, reverse=True) and len(seqs) == 2  # newest first
    assert page["pageInfo"]["hasNextPage"]
    following = await desk.as_(
        COMMUNITY, TRAIL, {"c": community, "first": 2, "after": page["pageInfo"]["endCursor"]}
    )
    assert following["data"]["auditTrail"]["edges"][0]["node"]["seq"] == seqs[-1] - 1
    newest = page["edges"][0]["node"]
    assert newest["action"] == "ACCEPT" and newest["actorKind"] == "person" and newest["actorRole"] == "TEAM"
    assert decode(newest["actorId"])[0] == "Person"

    for phone in (RESIDENT, GRID, CHIEF, OTHER_COMMUNITY):  # only the community's own committee
        denied = await desk.as_(phone, TRAIL, {"c": community})
        assert denied["errors"][0]["extensions"]["code"] == "FORBIDDEN", phone
        assert denied["data"] is None
    unauthenticated = await api.gql(TRAIL, {"c": community})
    assert unauthenticated["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    # every record, also those of no community (the import of the demo world), for an admin only
    everything = await desk.as_(ADMIN, TRAIL, {"first": 100})
    assert "IMPORT" in {e["node"]["action"] for e in everything["data"]["auditTrail"]["edges"]}
    assert (await desk.as_(COMMUNITY, TRAIL, {}))["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_racing_privileged_actions_keep_one_unbroken_chain(
    api: Api, demo_db_url: str, tmp_path: Path
) -> None:
    desk = Desk(api, demo_db_url)
    tasks = [await desk.new_task(RESIDENT) for _ in range(8)]
    await asyncio.gather(
        *(desk.do(GRID if i % 2 else CHIEF, "acceptTask", id=t) for i, t in enumerate(tasks))
    )
    seqs = [r["seq"] for r in await records(demo_db_url)]
    assert seqs == list(range(1, len(seqs) + 1))
    verified = await aqilijia(tmp_path, demo_db_url, "audit", "verify")
    assert verified.returncode == 0, verified.stderr
    assert f"共 {len(seqs)} 条" in verified.stdout
    newest = await fetchval(demo_db_url, "SELECT hash FROM audit_record ORDER BY seq DESC LIMIT 1")
    assert newest in verified.stdout


async def test_verify_names_the_first_record_edited_or_deleted(
    api: Api, demo_db_url: str, tmp_path: Path
) -> None:
    desk = Desk(api, demo_db_url)
    for _ in range(3):
        await desk.do(GRID, "acceptTask", id=await desk.new_task(RESIDENT))
    count = await fetchval(demo_db_url, "SELECT count(*) FROM audit_record")
    assert count >= 4
    # an edit: someone rewrites who accepted the second record's task
    payload = await fetchval(demo_db_url, "SELECT payload FROM audit_record WHERE seq = 2")
    forged = (
        payload.replace('"kind":"person"', '"kind":"operator"')
        if '"kind":"person"' in payload
        else payload + " "
    )
    await fetch(demo_db_url, "UPDATE audit_record SET payload = $1 WHERE seq = 2", forged)
    edited = await aqilijia(tmp_path, demo_db_url, "audit", "verify")
    assert edited.returncode == 1
    assert "第 2 条" in edited.stderr and "改动" in edited.stderr
    await fetch(demo_db_url, "UPDATE audit_record SET payload = $1 WHERE seq = 2", payload)
    assert (await aqilijia(tmp_path, demo_db_url, "audit", "verify")).returncode == 0
    # a deletion in the middle: the numbers and the links both show it
    await fetch(demo_db_url, "DELETE FROM audit_record WHERE seq = 3")
    deleted = await aqilijia(tmp_path, demo_db_url, "audit", "verify")
    assert deleted.returncode == 1
    assert "第 4 条" in deleted.stderr and "缺失" in deleted.stderr


async def test_staff_logins_are_recorded_and_residents_are_not(api: Api, demo_db_url: str) -> None:
    login = "mutation($p: String!) { devLogin(phone: $p) { token } }"
    before = len(await records(demo_db_url))
    assert "errors" not in await api.gql(login, {"p": RESIDENT})
    assert len(await records(demo_db_url)) == before
    assert "errors" not in await api.gql(login, {"p": GRID})
    [logged] = (await records(demo_db_url))[before:]
    assert logged["action"] == "LOGIN" and logged["object_type"] == "PERSON"
    assert logged["actor"]["kind"] == "person" and "GRID_WORKER" in logged["actor"]["role"]
