"""The audit trail: every privileged action appends a hash-chained record in its own transaction;
the community committee reads its community's records; `qilijia audit verify` finds tampering."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from resolvers.ids import decode, encode
from tests.conftest import Api, fetch, fetchval, token_for
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


# --- reveals: staff reading residents' full phone numbers -----------------------------------------

OWNERS_OF = (
    """query Owners($id: ID!) { node(id: $id) { ... on Household { number owners { name phone } } } }"""
)
NAMES_OF = """query Names($id: ID!) { node(id: $id) { ... on Household { owners { name } } } }"""
PROPERTY, OWNERS_COMMITTEE, CO_OWNER = "13800000005", "13800000006", "13800000012"


async def household_6_1_302(url: str) -> str:
    return encode("Household", await fetchval(url, "SELECT id FROM household WHERE number = '6-1-302'"))


async def reveals(api: Api, url: str) -> list[dict]:
    await api.app.state.services.reveals.flush()
    return [r for r in await records(url) if r["action"] == "REVEAL"]


async def test_staff_reading_full_phone_numbers_is_recorded(api: Api, demo_db_url: str) -> None:
    household = await household_6_1_302(demo_db_url)
    for _ in range(2):  # the second answer comes from the compiled plan: recorded all the same
        body = await api.gql(OWNERS_OF, {"id": household}, token=await token_for(demo_db_url, COMMUNITY))
        assert any(o["phone"] and "*" not in o["phone"] for o in body["data"]["node"]["owners"])
    recorded = await reveals(api, demo_db_url)
    assert len(recorded) == 2
    committee = await fetchval(demo_db_url, "SELECT id FROM person WHERE phone = $1", COMMUNITY)
    first = recorded[0]
    assert first["actor"]["kind"] == "person" and first["actor"]["id"] == str(committee)
    assert first["actor"]["role"] == "COMMUNITY_COMMITTEE"
    assert first["detail"] == {
        "fields": ["PERSON.PHONE"],
        "operation": "Owners",
        "objects": {"id": household},
    }
    assert (first["object_type"], first["object_id"]) == ("Household", str(decode(household)[1]))
    assert first["community_id"] == str(decode(await community_of(demo_db_url))[1])
    assert first["address"]
    # the community committee reads them in its community's trail
    trail = await api.gql(
        TRAIL, {"c": await community_of(demo_db_url)}, token=await token_for(demo_db_url, COMMUNITY)
    )
    assert [e["node"]["action"] for e in trail["data"]["auditTrail"]["edges"][:2]] == ["REVEAL", "REVEAL"]


async def test_who_reads_full_phone_numbers_is_recorded_and_no_one_else(api: Api, demo_db_url: str) -> None:
    """Recorded: those the policy shows other people's full numbers (PHONE_READERS). Not: a
    resident (their own number only), the owners' committee (masked numbers), a co-owner, anyone
    reading names only."""
    household = await household_6_1_302(demo_db_url)
    readers = {
        ADMIN: "ADMIN",
        GRID: "GRID_WORKER",
        PROPERTY: "PROPERTY_STAFF",
        COMMUNITY: "COMMUNITY_COMMITTEE",
    }
    for phone in (*readers, RESIDENT, OWNERS_COMMITTEE, CO_OWNER):
        body = await api.gql(OWNERS_OF, {"id": household}, token=await token_for(demo_db_url, phone))
        assert "errors" not in body, (phone, body)
    for phone in readers:
        assert "errors" not in await api.gql(
            NAMES_OF, {"id": household}, token=await token_for(demo_db_url, phone)
        )
    recorded = await reveals(api, demo_db_url)
    people = {
        r["id"]: r["phone"]
        for r in await fetch(
            demo_db_url, "SELECT id::text, phone FROM person WHERE phone = ANY($1)", list(readers)
        )
    }
    assert sorted(people[r["actor"]["id"]] for r in recorded) == sorted(readers)
    for r in recorded:
        assert readers[people[r["actor"]["id"]]] in r["actor"]["role"].split(",")


async def test_reveal_records_wait_for_the_database_and_are_kept(api: Api, demo_db_url: str) -> None:
    """Noted while the database cannot take them, they are appended at the next flush."""
    household = await household_6_1_302(demo_db_url)
    log = api.app.state.services.reveals
    working = log.sessions

    def broken() -> object:
        raise ConnectionError("database down")

    log.sessions = broken
    try:
        await api.gql(OWNERS_OF, {"id": household}, token=await token_for(demo_db_url, GRID))
        assert await log.flush() == 0 and len(log.pending) == 1
    finally:
        log.sessions = working
    assert len(await reveals(api, demo_db_url)) == 1
    assert log.pending == []
