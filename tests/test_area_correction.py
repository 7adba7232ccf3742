"""A household's area corrected (`correctHouseholdArea`), as after an owner's objection to a vote's
roll: who may, both ways; bad input refused with nothing written; the reason on the audit trail;
both read paths show the new area; an open vote keeps the area it froze."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from resolvers.ids import decode, encode
from tests.conftest import Api, fetch, fetchval, token_for
from tests.test_vacancy import CALLERS, GRID, NOT_VISIBLE, OWNERS_COMMITTEE, error
from tests.votes import building_id, compound_id

# one database for the module: each test works on a household of its own
pytestmark = pytest.mark.asyncio(loop_scope="module")

CORRECT = """mutation($i: CorrectHouseholdAreaInput!) {
  correctHouseholdArea(input: $i) { number area } }"""
SHOWN = """query($id: ID!) { node(id: $id) { ... on Household { number area } } }"""
AREA = """SELECT h.id, h.area FROM household h JOIN compound c ON c.id = h.compound_id
  WHERE c.key = 'qianshan-meilin' AND h.number = $1"""


async def household(url: str, number: str) -> tuple[str, Decimal]:
    row = (await fetch(url, AREA, number))[0]
    return encode("Household", row["id"]), row["area"]


@pytest.mark.parametrize("case", range(len(CALLERS)))
async def test_who_may_correct_an_area(shared_api: Api, shared_demo_db_url: str, case: int) -> None:
    api, url = shared_api, shared_demo_db_url
    caller, allowed = CALLERS[case]
    number = f"4-1-{case + 1}01"
    target, before = await household(url, number)
    wanted = before + Decimal("1.25")
    given = {"householdId": target, "area": str(wanted), "reason": "据不动产权证更正"}
    body = await api.gql(CORRECT, {"i": given}, token=await token_for(url, caller))
    stored = (await household(url, number))[1]
    if allowed:
        assert body.get("data") == {"correctHouseholdArea": {"number": number, "area": str(wanted)}}, body
        assert stored == wanted
    else:
        code, _, said = error(body)
        assert code == "FORBIDDEN"
        assert stored == before
        if caller == OWNERS_COMMITTEE:  # reads the household, does not keep the register
            assert said != NOT_VISIBLE
        else:
            assert said == NOT_VISIBLE


@pytest.mark.parametrize(
    ("area", "reason", "field", "code"),
    [
        ("0", "更正", "area", "BAD_USER_INPUT"),
        ("-3.50", "更正", "area", "BAD_USER_INPUT"),
        ("100000", "更正", "area", "BAD_USER_INPUT"),
        ("88.125", "更正", "area", "BAD_USER_INPUT"),
        ("88.50", "   ", "reason", "BAD_USER_INPUT"),
        ("88.50", "因" * 201, "reason", "BAD_USER_INPUT"),
    ],
)
async def test_bad_input_is_refused_and_writes_nothing(
    shared_api: Api, shared_demo_db_url: str, area: str, reason: str, field: str, code: str
) -> None:
    api, url = shared_api, shared_demo_db_url
    target, before = await household(url, "4-2-101")
    trail = await fetchval(url, "SELECT count(*) FROM audit_record")
    body = await api.gql(
        CORRECT,
        {"i": {"householdId": target, "area": area, "reason": reason}},
        token=await token_for(url, GRID),
    )
    got_code, got_field, said = error(body)
    assert (got_code, got_field) == (code, field), body
    assert "Traceback" not in said and "SELECT" not in said
    assert (await household(url, "4-2-101"))[1] == before
    assert await fetchval(url, "SELECT count(*) FROM audit_record") == trail


async def test_the_same_area_again_is_a_conflict(shared_api: Api, shared_demo_db_url: str) -> None:
    api, url = shared_api, shared_demo_db_url
    target, before = await household(url, "4-2-201")
    given = {"householdId": target, "area": str(before), "reason": "核对"}
    code, _, said = error(await api.gql(CORRECT, {"i": given}, token=await token_for(url, GRID)))
    assert code == "CONFLICT"
    assert str(before) in said


async def test_the_reason_is_audited_and_both_read_paths_show_the_area(
    shared_api: Api, shared_demo_db_url: str
) -> None:
    api, url = shared_api, shared_demo_db_url
    target, before = await household(url, "4-2-301")
    grid = await token_for(url, GRID)
    given = {"householdId": target, "area": "97.4", "reason": "业主名册异议：据不动产权证更正"}
    assert (await api.data(CORRECT, {"i": given}, token=grid))["correctHouseholdArea"]["area"] == "97.40"
    ident = str(decode(target)[1])
    payloads = [json.loads(r["payload"]) for r in await fetch(url, "SELECT payload FROM audit_record")]
    (entry,) = [p for p in payloads if p["detail"].get("household") == ident]
    assert (entry["action"], entry["object_id"]) == ("MANAGE_HOMES", ident)
    assert entry["detail"] == {
        "household": ident,
        "from": str(before),
        "to": "97.40",
        "reason": "业主名册异议：据不动产权证更正",
    }
    # the compiled read path and the strawberry one (a field only strawberry answers) agree
    shown = await api.data(SHOWN, {"id": target}, token=grid)
    assert shown["node"] == {"number": "4-2-301", "area": "97.40"}
    mixed = SHOWN.replace("area }", "area occupants { relation } }")
    assert (await api.data(mixed, {"id": target}, token=grid))["node"]["area"] == "97.40"


async def test_an_open_vote_keeps_the_area_it_froze(shared_api: Api, shared_demo_db_url: str) -> None:
    api, url = shared_api, shared_demo_db_url
    opened = await api.data(
        "mutation($i: OpenVoteInput!) { openVote(input: $i) { id } }",
        {
            "i": {
                "compoundId": await compound_id(url),
                "buildingIds": [await building_id(url)],
                "title": "6栋外墙维修",
                "description": "使用维修资金维修外墙。",
                "matter": "USE_MAINTENANCE_FUND",
                "closesAt": (datetime.now(UTC) + timedelta(days=7)).isoformat(),
            }
        },
        token=await token_for(url, OWNERS_COMMITTEE),
    )
    vote = decode(opened["openVote"]["id"])[1]
    number = await fetchval(
        url, "SELECT number FROM vote_electorate WHERE vote_id = $1 ORDER BY number LIMIT 1", vote
    )
    target, before = await household(url, number)
    given = {"householdId": target, "area": str(before + 10), "reason": "据不动产权证更正"}
    assert "errors" not in await api.gql(CORRECT, {"i": given}, token=await token_for(url, GRID))
    frozen = await fetchval(
        url, "SELECT area FROM vote_electorate WHERE vote_id = $1 AND number = $2", vote, number
    )
    assert frozen == before
    assert (await household(url, number))[1] == before + 10
