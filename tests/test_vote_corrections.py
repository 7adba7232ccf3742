"""Correcting votes: an explicit scope when opening, cancelling (freely before the first ballot,
with a published reason after), extending the closing time (never shortening it), who may do each,
and cancellation racing ballots and the close."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
import pytest_asyncio

from auth import tokens
from auth.policy import NOT_VISIBLE
from resolvers.ids import decode, encode
from tests.conftest import SECRET, Api, fetch, fetchval, make_settings, running_api
from tests.test_vote_api import (
    COMMUNITY_COMMITTEE,
    NOT_OPENERS,
    OWNERS_COMMITTEE,
    RESIDENT,
    Voting,
)
from tests.votes import CAST, open_building6_vote, recount_from_rows, stored_tally

CANCEL = """mutation($id: ID!, $reason: String) { cancelVote(id: $id, reason: $reason) {
  status result cancelledAt cancelReason } }"""
EXTEND = "mutation($id: ID!, $at: DateTime!) { extendVote(id: $id, closesAt: $at) { closesAt } }"
CLOSE = "mutation($id: ID!) { closeVote(id: $id) { status result } }"
SHOWN = """query($id: ID!) { vote(id: $id) { status result wholeCompound cancelledAt cancelReason closesAt
  tally { ballotsCast } } }"""
#: who can see the building-6 vote while it is open, though they may not correct it
SEES_IT = {RESIDENT, "13800000001", "13800000002", "13800000003"}


@pytest_asyncio.fixture
async def voting(api: Api, demo_db_url: str) -> AsyncIterator[Voting]:
    yield Voting(api, demo_db_url)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shared_voting(shared_api: Api, shared_demo_db_url: str) -> AsyncIterator[Voting]:
    """One database and app for the module's matrices: each of their tests works on objects of its
    own, and what it counts it counts before and after its own request."""
    yield Voting(shared_api, shared_demo_db_url)


def at(days: float) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).isoformat()


async def state(voting: Voting, vote_id: str) -> tuple[str, datetime, bool]:
    ident = decode(vote_id)[1]
    row = (
        await fetch(
            voting.url,
            "SELECT v.status, v.closes_at, t.closed FROM vote v JOIN vote_tally t ON t.vote_id = v.id WHERE v.id = $1",
            ident,
        )
    )[0]
    return row["status"], row["closes_at"], row["closed"]


# --- scope ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        pytest.param({"buildingIds": []}, "buildingIds", id="empty-building-list"),
        pytest.param({"buildingIds": None}, "buildingIds", id="no-scope-at-all"),
        pytest.param({"wholeCompound": False, "buildingIds": None}, "buildingIds", id="whole-compound-false"),
        pytest.param({"wholeCompound": True}, "wholeCompound", id="both-buildings-and-whole"),
    ],
)
async def test_a_vote_must_say_what_it_covers(voting: Voting, overrides: dict, field: str) -> None:
    body = await open_building6_vote(
        voting.api, voting.url, await voting.token(OWNERS_COMMITTEE), **overrides
    )
    error = body["errors"][0]
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": field}
    assert "wholeCompound" in error["message"] or "楼" in error["message"]
    assert await fetchval(voting.url, "SELECT count(*) FROM vote") == 0


async def test_a_whole_compound_vote_says_so(voting: Voting) -> None:
    whole = await voting.open6(buildingIds=None, wholeCompound=True)
    building = await voting.open6()
    shown = {
        v: (await voting.as_(OWNERS_COMMITTEE, SHOWN, {"id": v}))["data"]["vote"] for v in (whole, building)
    }
    assert shown[whole]["wholeCompound"] is True and shown[building]["wholeCompound"] is False
    eligible = await fetch(voting.url, "SELECT vote_id, count(*) AS n FROM vote_electorate GROUP BY vote_id")
    counts = {encode("Vote", r["vote_id"]): r["n"] for r in eligible}
    assert counts[building] == 28 and counts[whole] > 300


# --- cancelling ----------------------------------------------------------------------------------


async def test_a_vote_opened_by_mistake_is_cancelled_before_its_first_ballot(voting: Voting) -> None:
    vote_id = await voting.open6()
    ident = decode(vote_id)[1]
    electorate = await fetchval(voting.url, "SELECT count(*) FROM vote_electorate WHERE vote_id = $1", ident)
    body = await voting.as_(COMMUNITY_COMMITTEE, CANCEL, {"id": vote_id})
    cancelled = body["data"]["cancelVote"]
    assert cancelled["status"] == "CANCELLED" and cancelled["result"] is None
    assert cancelled["cancelledAt"] and cancelled["cancelReason"] is None
    late = await voting.cast(RESIDENT, vote_id, "AGREE")
    assert late["errors"][0]["extensions"]["code"] == "CONFLICT"
    assert "撤销" in late["errors"][0]["message"]
    assert await fetchval(voting.url, "SELECT count(*) FROM ballot WHERE vote_id = $1", ident) == 0
    closing = await voting.as_(OWNERS_COMMITTEE, CLOSE, {"id": vote_id})
    assert closing["errors"][0]["extensions"]["code"] == "CONFLICT"
    again = await voting.as_(OWNERS_COMMITTEE, CANCEL, {"id": vote_id})
    assert again["errors"][0]["extensions"]["code"] == "CONFLICT"
    status, _, sealed = await state(voting, vote_id)
    assert (status, sealed) == ("CANCELLED", True)
    assert (
        await fetchval(voting.url, "SELECT count(*) FROM vote_electorate WHERE vote_id = $1", ident)
        == electorate
    )


async def test_after_ballots_a_cancellation_needs_a_reason_and_keeps_them(voting: Voting) -> None:
    vote_id = await voting.open6()
    ident = decode(vote_id)[1]
    assert "errors" not in await voting.cast(RESIDENT, vote_id, "AGREE")
    refused = await voting.as_(OWNERS_COMMITTEE, CANCEL, {"id": vote_id, "reason": "  "})
    assert refused["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "reason"}
    status, _, sealed = await state(voting, vote_id)
    assert (status, sealed) == ("OPEN", False)  # nothing sealed
    assert "errors" not in await voting.cast("13800000018", vote_id, "DISAGREE")  # still open
    reason = "业委会换届，表决材料需重新公示后再发起。"
    cancelled = (await voting.as_(OWNERS_COMMITTEE, CANCEL, {"id": vote_id, "reason": reason}))["data"]
    assert (
        cancelled["cancelVote"]["status"] == "CANCELLED" and cancelled["cancelVote"]["cancelReason"] == reason
    )
    assert await fetchval(voting.url, "SELECT count(*) FROM ballot WHERE vote_id = $1", ident) == 2
    assert await stored_tally(voting.url, ident) == await recount_from_rows(voting.url, ident)
    # the reason is published with the vote, to whoever may see it, on both read paths
    url = voting.url
    async with running_api(url, make_settings(url, QILIJIA_COMPILED_READS=False)) as plain:
        for phone in (RESIDENT, "13800000005", COMMUNITY_COMMITTEE):
            token = await voting.token(phone)
            compiled = await voting.api.gql(SHOWN, {"id": vote_id}, token=token)
            answered = await plain.gql(SHOWN, {"id": vote_id}, token=token)
            assert compiled["data"] == answered["data"]
            assert compiled["data"]["vote"]["cancelReason"] == reason
            assert compiled["data"]["vote"]["tally"]["ballotsCast"] == 2


# --- extending -----------------------------------------------------------------------------------


async def test_a_vote_is_extended_never_shortened(voting: Voting) -> None:
    vote_id = await voting.open6(closesAt=at(7))
    _, closes, _ = await state(voting, vote_id)
    for when, problem in [
        (at(3), "不能提前"),
        (closes.isoformat(), "不能提前"),
        (at(400), "一年"),
        ((datetime.now() + timedelta(days=9)).replace(microsecond=0).isoformat(), "时区"),
    ]:
        body = await voting.as_(OWNERS_COMMITTEE, EXTEND, {"id": vote_id, "at": when})
        error = body["errors"][0]
        assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "closesAt"}, body
        assert problem in error["message"], body
        assert (await state(voting, vote_id))[1] == closes
    later = at(14)
    body = await voting.as_(COMMUNITY_COMMITTEE, EXTEND, {"id": vote_id, "at": later})
    assert datetime.fromisoformat(body["data"]["extendVote"]["closesAt"]) == datetime.fromisoformat(later)
    assert "errors" not in await voting.as_(OWNERS_COMMITTEE, CLOSE, {"id": vote_id})
    closed = await voting.as_(OWNERS_COMMITTEE, EXTEND, {"id": vote_id, "at": at(20)})
    assert closed["errors"][0]["extensions"]["code"] == "CONFLICT"


# --- who may ------------------------------------------------------------------------------------


@pytest.mark.parametrize("action", ["cancel", "extend"])
@pytest.mark.parametrize(
    ("phone", "allowed"),
    [(OWNERS_COMMITTEE, True), (COMMUNITY_COMMITTEE, True), *((p, False) for p in NOT_OPENERS)],
)
@pytest.mark.asyncio(loop_scope="module")
async def test_who_may_cancel_and_extend(
    shared_voting: Voting, action: str, phone: str, allowed: bool
) -> None:
    voting = shared_voting
    vote_id = await voting.open6()
    before = await state(voting, vote_id)
    asked = (CANCEL, {"id": vote_id}) if action == "cancel" else (EXTEND, {"id": vote_id, "at": at(10)})
    body = await voting.as_(phone, *asked)
    if allowed:
        assert "errors" not in body, body
        status, closes, _ = await state(voting, vote_id)
        assert (status == "CANCELLED") if action == "cancel" else (closes > before[1])
    else:
        error = body["errors"][0]
        assert error["extensions"]["code"] == "FORBIDDEN"
        if phone in SEES_IT:  # one who sees the vote is told why
            assert error["message"] != NOT_VISIBLE and "业委会" in error["message"]
        else:  # one who does not learns nothing, exactly as for a vote that does not exist
            assert error["message"] == NOT_VISIBLE
            missing = encode("Vote", uuid.UUID(int=1))
            nothing = await voting.as_(phone, asked[0], {**asked[1], "id": missing})
            assert nothing["errors"][0]["message"] == NOT_VISIBLE
        assert await state(voting, vote_id) == before


async def test_corrections_are_on_the_audit_trail(voting: Voting) -> None:
    vote_id = await voting.open6()
    await voting.as_(COMMUNITY_COMMITTEE, EXTEND, {"id": vote_id, "at": at(10)})
    await voting.as_(OWNERS_COMMITTEE, CANCEL, {"id": vote_id})
    ident = str(decode(vote_id)[1])
    records = [
        json.loads(r["payload"])
        for r in await fetch(voting.url, "SELECT payload FROM audit_record ORDER BY seq")
    ]
    mine = [(r["action"], r["actor"]["name"]) for r in records if r["object_id"] == ident]
    assert [action for action, _ in mine] == ["EXTEND", "CANCEL"]


# --- races --------------------------------------------------------------------------------------


async def test_ballots_racing_a_cancellation_are_counted_or_refused(voting: Voting) -> None:
    """Every owner of building 6 casts while the vote is cancelled: each ballot is acknowledged and
    kept, or refused; the sealed tally equals a recount of what was kept."""
    vote_id = await voting.open6()
    ident = decode(vote_id)[1]
    assert "errors" not in await voting.cast(RESIDENT, vote_id, "AGREE")  # so a reason is needed
    owners = await fetch(voting.url, "SELECT DISTINCT person_id FROM vote_owner WHERE vote_id = $1", ident)
    owner_tokens = [tokens.mint(r["person_id"], secret=SECRET, ttl_seconds=600)[0] for r in owners]
    ballots = [voting.api.gql(CAST, {"id": vote_id, "choice": "DISAGREE"}, token=t) for t in owner_tokens]
    cancel = voting.api.gql(
        CANCEL, {"id": vote_id, "reason": "材料有误"}, token=await voting.token(OWNERS_COMMITTEE)
    )
    half = len(ballots) // 2
    answers = await asyncio.gather(*ballots[:half], cancel, *ballots[half:])
    cancelled, cast = answers[half], answers[:half] + answers[half + 1 :]
    assert cancelled["data"]["cancelVote"]["status"] == "CANCELLED", cancelled
    refused = [r for r in cast if "errors" in r]
    assert all(r["errors"][0]["extensions"]["code"] == "CONFLICT" for r in refused), refused
    accepted = len(cast) - len(refused)
    assert await fetchval(voting.url, "SELECT count(*) FROM ballot WHERE vote_id = $1", ident) == accepted + 1
    assert (
        await fetchval(voting.url, "SELECT ballots_cast FROM vote_tally WHERE vote_id = $1", ident)
        == accepted + 1
    )
    assert await stored_tally(voting.url, ident) == await recount_from_rows(voting.url, ident)


async def test_a_cancellation_racing_the_close_leaves_one_of_them(voting: Voting) -> None:
    for _ in range(3):
        vote_id = await voting.open6()
        close = voting.as_(COMMUNITY_COMMITTEE, CLOSE, {"id": vote_id})
        cancel = voting.as_(OWNERS_COMMITTEE, CANCEL, {"id": vote_id})
        closed, cancelled = await asyncio.gather(close, cancel)
        winners = [b for b in (closed, cancelled) if "errors" not in b]
        losers = [b for b in (closed, cancelled) if "errors" in b]
        assert len(winners) == 1 and losers[0]["errors"][0]["extensions"]["code"] == "CONFLICT"
        status, _, sealed = await state(voting, vote_id)
        result = await fetchval(voting.url, "SELECT result FROM vote WHERE id = $1", decode(vote_id)[1])
        assert sealed and (status, result is None) in {("CLOSED", False), ("CANCELLED", True)}
        assert status == ("CLOSED" if "errors" not in closed else "CANCELLED")
