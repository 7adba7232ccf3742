"""Helpers shared by the vote tests: opening the demo's building-6 vote and recounting from rows."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from models.vote_rules import Choice, Eligible, Tally, recount
from resolvers.ids import encode
from tests.conftest import Api, fetch, fetchval

OPEN = """mutation($input: OpenVoteInput!) { openVote(input: $input) { id rule status } }"""
CAST = """mutation($id: ID!, $choice: Choice!) { castBallot(voteId: $id, choice: $choice) {
  choice households receipt castAt } }"""
TALLY = """query($id: ID!) { vote(id: $id) { status result tally {
  eligibleArea eligibleHeadcount participatingArea participatingHeadcount agreeArea agreeHeadcount
  disagreeArea disagreeHeadcount abstainArea abstainHeadcount participationMet approvalMet ballotsCast } } }"""


async def compound_id(url: str, key: str = "qianshan-meilin") -> str:
    return encode("Compound", await fetchval(url, "SELECT id FROM compound WHERE key = $1", key))


async def building_id(url: str, name: str = "6栋", key: str = "qianshan-meilin") -> str:
    ident = await fetchval(
        url,
        "SELECT b.id FROM building b JOIN compound c ON c.id = b.compound_id WHERE c.key = $1 AND b.name = $2",
        key,
        name,
    )
    return encode("Building", ident)


def later(days: int = 7) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).isoformat()


async def open_building6_vote(api: Api, url: str, token: str, **overrides: object) -> dict:
    variables = {
        "input": {
            "compoundId": await compound_id(url),
            "buildingIds": [await building_id(url)],
            "title": "6栋加装电梯",
            "description": "6栋申请加装电梯，费用按面积分摊，补贴后每户约200–300元。",
            "matter": "RENOVATE_OR_REBUILD",
            "closesAt": later(),
            **overrides,
        }
    }
    return await api.gql(OPEN, variables, token=token)


async def recount_from_rows(url: str, vote_id: uuid.UUID) -> Tally:
    """The tally recomputed from the frozen electorate and each household's current choice."""
    electors = await fetch(
        url, "SELECT household_id, area, choice FROM vote_electorate WHERE vote_id = $1", vote_id
    )
    owners: dict[uuid.UUID, set[uuid.UUID]] = {}
    for row in await fetch(url, "SELECT household_id, person_id FROM vote_owner WHERE vote_id = $1", vote_id):
        owners.setdefault(row["household_id"], set()).add(row["person_id"])
    electorate = [
        Eligible(e["household_id"], Decimal(e["area"]), frozenset(owners.get(e["household_id"], ())))
        for e in electors
    ]
    choices = {e["household_id"]: Choice(e["choice"]) for e in electors if e["choice"]}
    return recount(electorate, choices)


async def stored_tally(url: str, vote_id: uuid.UUID) -> Tally:
    row = (await fetch(url, "SELECT * FROM vote_tally WHERE vote_id = $1", vote_id))[0]
    return Tally(**{k: row[k] for k in Tally.__dataclass_fields__})
