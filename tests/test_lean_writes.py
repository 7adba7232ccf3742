"""Lean writes (`schema.lean`): a known `castBallot` document is answered without GraphQL execution,
with the answer strawberry gives; whatever is refused, or asked in a shape the lean path does not
write, is answered by strawberry, and a refusal writes nothing."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import datetime

import pytest
import pytest_asyncio
from prometheus_client import REGISTRY

from resolvers.ids import decode
from schema import LEAN_WRITES
from tests.conftest import Api, fetchval
from tests.test_vote_api import CO_OWNER, COMMUNITY_COMMITTEE, MULTI_UNIT_OWNER, RESIDENT, Voting
from tests.votes import CAST

ALIASED = """mutation($id: ID!, $choice: Choice!) { mine: castBallot(voteId: $id, choice: $choice) {
  __typename how: choice households castAt } }"""
FRAGMENT = """mutation($id: ID!, $choice: Choice!) { castBallot(voteId: $id, choice: $choice) {
  ... on Ballot { choice households } } }"""
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+00:00$")


#: one database and app for the module: each test opens a vote of its own
pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def voting(shared_api: Api, shared_demo_db_url: str) -> AsyncIterator[Voting]:
    yield Voting(shared_api, shared_demo_db_url)


def lean_answers() -> float:
    return REGISTRY.get_sample_value("qilijia_graphql_lean_total") or 0.0


@contextmanager
def strawberry_only() -> Iterator[None]:
    """Every mutation through GraphQL execution, as before the lean path existed."""
    kept, kept_plans = LEAN_WRITES.lean, dict(LEAN_WRITES.plans)
    LEAN_WRITES.lean, LEAN_WRITES.plans = {}, {}
    try:
        yield
    finally:
        LEAN_WRITES.lean, LEAN_WRITES.plans = kept, kept_plans


def unspent(body: dict) -> dict:
    """The answer without what is left of the caller's rate window (each request spends from it)."""
    cost = {k: v for k, v in body["extensions"]["cost"].items() if k != "remaining"}
    return {**body, "extensions": {**body["extensions"], "cost": cost}}


def masked(body: dict) -> dict:
    """The answer without what differs from one ballot to the next (its receipt and time)."""
    cast = dict(body["data"]["castBallot"])
    assert ISO.match(cast.pop("castAt")), cast
    assert len(cast.pop("receipt")) == 32
    return unspent({**body, "data": {"castBallot": cast}})


async def ballots(voting: Voting, vote_id: str) -> int:
    return await fetchval(voting.url, "SELECT count(*) FROM ballot WHERE vote_id = $1", decode(vote_id)[1])


async def test_a_known_ballot_document_is_answered_as_strawberry_answers_it(voting: Voting) -> None:
    vote_id = await voting.open6()
    with strawberry_only():
        by_strawberry = await voting.cast(RESIDENT, vote_id, "AGREE")
    assert "errors" not in by_strawberry, by_strawberry
    before = lean_answers()
    lean = await voting.cast(RESIDENT, vote_id, "AGREE")  # the same owner, the same choice, again
    assert lean_answers() == before + 1
    assert masked(lean) == masked(by_strawberry)
    assert list(lean["data"]["castBallot"]) == ["choice", "households", "receipt", "castAt"]
    multi = await voting.cast(MULTI_UNIT_OWNER, vote_id, "DISAGREE")
    assert lean_answers() == before + 2
    assert sorted(multi["data"]["castBallot"]["households"]) == ["6-1-702", "6-2-201"]
    assert await ballots(voting, vote_id) == 3


async def test_aliases_and_typename_are_answered_lean(voting: Voting) -> None:
    vote_id = await voting.open6()
    with strawberry_only():
        by_strawberry = await voting.as_(CO_OWNER, ALIASED, {"id": vote_id, "choice": "ABSTAIN"})
    before = lean_answers()
    lean = await voting.as_(CO_OWNER, ALIASED, {"id": vote_id, "choice": "ABSTAIN"})
    assert lean_answers() == before + 1
    for body in (by_strawberry, lean):
        mine = body["data"]["mine"]
        assert list(mine) == ["__typename", "how", "households", "castAt"]
        assert (mine["__typename"], mine["how"], mine["households"]) == ("Ballot", "ABSTAIN", ["6-1-302"])
        datetime.fromisoformat(mine["castAt"])


async def test_a_fragment_is_answered_by_strawberry(voting: Voting) -> None:
    vote_id = await voting.open6()
    before = lean_answers()
    for _ in range(2):
        body = await voting.as_(CO_OWNER, FRAGMENT, {"id": vote_id, "choice": "AGREE"})
        assert body["data"]["castBallot"] == {"choice": "AGREE", "households": ["6-1-302"]}
    assert lean_answers() == before
    assert await ballots(voting, vote_id) == 2


@pytest.mark.parametrize("who", [COMMUNITY_COMMITTEE, "closed"])
async def test_a_refusal_is_strawberrys_answer_and_writes_nothing(voting: Voting, who: str) -> None:
    vote_id = await voting.open6()
    assert "errors" not in await voting.cast(RESIDENT, vote_id, "AGREE")  # the document is known now
    phone = CO_OWNER
    if who == "closed":
        closed = await voting.as_(
            "13800000006", "mutation($id: ID!) { closeVote(id: $id) { status } }", {"id": vote_id}
        )
        assert "errors" not in closed, closed
    else:
        phone = who
    with strawberry_only():
        expected = await voting.cast(phone, vote_id, "DISAGREE")
    before, cast_before = lean_answers(), await ballots(voting, vote_id)
    refused = await voting.cast(phone, vote_id, "DISAGREE")
    assert unspent(refused) == unspent(expected)
    assert refused["errors"][0]["extensions"]["code"] in {"CONFLICT", "BAD_USER_INPUT", "FORBIDDEN"}
    assert "data" not in refused or refused["data"] is None
    assert lean_answers() == before
    assert await ballots(voting, vote_id) == cast_before


async def test_variables_that_do_not_coerce_are_strawberrys_to_refuse(voting: Voting) -> None:
    vote_id = await voting.open6()
    assert "errors" not in await voting.cast(RESIDENT, vote_id, "AGREE")
    with strawberry_only():
        expected = await voting.cast(CO_OWNER, vote_id, "MAYBE")
    before = lean_answers()
    assert unspent(await voting.cast(CO_OWNER, vote_id, "MAYBE")) == unspent(expected)
    assert expected["errors"]
    assert lean_answers() == before


async def test_a_lean_ballot_is_read_back_like_any_other(voting: Voting) -> None:
    vote_id = await voting.open6()
    assert "errors" not in await voting.cast(RESIDENT, vote_id, "AGREE")
    assert "errors" not in await voting.cast(CO_OWNER, vote_id, "DISAGREE")  # lean: same household
    tally = await voting.tally(COMMUNITY_COMMITTEE, vote_id)
    assert tally["tally"]["ballotsCast"] == 2
    assert tally["tally"]["disagreeHeadcount"] == 1 and tally["tally"]["agreeHeadcount"] == 0
    assert CAST.count("castBallot") == 1


async def test_owners_casting_at_once_through_the_lean_path_keep_the_tally_exact(voting: Voting) -> None:
    from auth import tokens
    from tests.conftest import SECRET, fetch
    from tests.votes import recount_from_rows, stored_tally

    vote_id = await voting.open6()
    ident = decode(vote_id)[1]
    assert "errors" not in await voting.cast(RESIDENT, vote_id, "AGREE")  # the document is known now
    owners = await fetch(voting.url, "SELECT DISTINCT person_id FROM vote_owner WHERE vote_id = $1", ident)
    owner_tokens = [tokens.mint(r["person_id"], secret=SECRET, ttl_seconds=600)[0] for r in owners]
    choices = ["AGREE", "DISAGREE", "ABSTAIN"]
    before = lean_answers()
    results = await asyncio.gather(
        *(
            voting.api.gql(CAST, {"id": vote_id, "choice": choices[i % 3]}, token=t)
            for i, t in enumerate(owner_tokens)
        )
    )
    assert all("errors" not in r for r in results), [r for r in results if "errors" in r][:1]
    assert lean_answers() == before + len(owner_tokens)
    assert await ballots(voting, vote_id) == len(owner_tokens) + 1
    assert await stored_tally(voting.url, ident) == await recount_from_rows(voting.url, ident)


async def test_a_failure_that_may_follow_the_write_is_answered_and_never_run_again(
    voting: Voting, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A connection lost during COMMIT may have stored the ballot: the lean path answers with the
    error strawberry would give, and does not hand the mutation to strawberry to run once more."""
    from resolvers import vote as vote_resolvers

    vote_id = await voting.open6()
    assert "errors" not in await voting.cast(RESIDENT, vote_id, "AGREE")  # the document is known now
    calls: list[str] = []

    async def lost(*args: object, **kwargs: object) -> None:
        calls.append("cast")
        raise ConnectionResetError("the connection was lost during COMMIT")

    monkeypatch.setattr(vote_resolvers, "cast_ballot", lost)
    with strawberry_only():
        expected = await voting.cast(CO_OWNER, vote_id, "DISAGREE")
    assert calls == ["cast"]
    before = lean_answers()
    answered = await voting.cast(CO_OWNER, vote_id, "DISAGREE")
    assert calls == ["cast", "cast"]  # once for each request: never again by strawberry
    assert unspent(answered) == unspent(expected)
    assert answered["data"] is None
    assert answered["errors"][0]["extensions"]["code"] == "UNAVAILABLE"  # a lost connection
    assert answered["errors"][0]["path"] == ["castBallot"]
    assert lean_answers() == before


async def test_a_document_holding_other_operations_is_strawberrys(voting: Voting) -> None:
    """What strawberry checks of a whole document (introspection in any of its operations, for one)
    is checked for each caller: a ballot beside other operations is never answered lean."""
    two = CAST.replace("mutation(", "mutation Cast(") + " query Mine { me { person { name } } }"
    vote_id = await voting.open6()
    before = lean_answers()
    for choice in ("AGREE", "DISAGREE"):
        body = await voting.api.gql(
            two, {"id": vote_id, "choice": choice}, token=await voting.token(CO_OWNER), operation_name="Cast"
        )
        assert body["data"]["castBallot"]["choice"] == choice, body
    assert lean_answers() == before
