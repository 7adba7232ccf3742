"""The tally has one definition (`models.vote_rules.Tally`): the stored row and the GraphQL type are
made from it, and the frozen electorate's head groups are the law's `head_key`."""

from __future__ import annotations

import uuid
from dataclasses import fields
from decimal import Decimal

import sqlalchemy as sa
from graphql import GraphQLNonNull

from models.vote import VoteTally
from models.vote_rules import TALLY_MEASURES, Eligible, Tally, electorate_tally, head_key
from resolvers.ids import decode
from schema import schema
from tests.conftest import Api, fetch, token_for
from tests.votes import open_building6_vote


def camel(name: str) -> str:
    first, *rest = name.split("_")
    return first + "".join(part.title() for part in rest)


def test_the_stored_row_has_a_column_per_measure() -> None:
    columns = VoteTally.__table__.c
    for f in fields(Tally):
        column = columns[f.name]
        assert isinstance(column.type, sa.Numeric if TALLY_MEASURES[f.name] is Decimal else sa.Integer), (
            f.name
        )
        assert not column.nullable
    assert set(columns.keys()) == {"vote_id", "compound_id", "ballots_cast", "closed", *TALLY_MEASURES}


def test_the_graphql_tally_has_a_field_per_measure_with_its_description() -> None:
    graphql = schema._schema.type_map["Tally"]
    for f in fields(Tally):
        field = graphql.fields[camel(f.name)]
        assert isinstance(field.type, GraphQLNonNull)
        assert field.type.of_type.name == ("Decimal" if TALLY_MEASURES[f.name] is Decimal else "Int")
        assert field.description == f.metadata["description"]
    assert set(graphql.fields) == {camel(n) for n in TALLY_MEASURES} | {
        "participationMet",
        "approvalMet",
        "ballotsCast",
    }


def test_head_keys_are_equal_exactly_when_the_owner_sets_are() -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    same = Eligible("h1", Decimal(1), frozenset({a, b})), Eligible("h2", Decimal(1), frozenset({b, a}))
    assert head_key(same[0]) == head_key(same[1])
    assert head_key(Eligible("h3", Decimal(1), frozenset({a}))) != head_key(same[0])
    lone = Eligible("h4", Decimal(1), frozenset()), Eligible("h5", Decimal(1), frozenset())
    assert head_key(lone[0]) != head_key(lone[1])  # households without owners count one each


async def test_the_frozen_electorate_counts_heads_by_the_rule(api: Api, demo_db_url: str) -> None:
    body = await open_building6_vote(api, demo_db_url, await token_for(demo_db_url, "13800000006"))
    vote_id = decode(body["data"]["openVote"]["id"], "Vote")[1]
    electors = await fetch(
        demo_db_url, "SELECT household_id, area, head FROM vote_electorate WHERE vote_id = $1", vote_id
    )
    owners: dict[uuid.UUID, set[uuid.UUID]] = {}
    for row in await fetch(
        demo_db_url, "SELECT household_id, person_id FROM vote_owner WHERE vote_id = $1", vote_id
    ):
        owners.setdefault(row["household_id"], set()).add(row["person_id"])
    electorate = [
        Eligible(e["household_id"], Decimal(e["area"]), frozenset(owners.get(e["household_id"], ())))
        for e in electors
    ]
    assert [e["head"] for e in electors] == [head_key(h) for h in electorate]
    [stored] = await fetch(
        demo_db_url, "SELECT eligible_area, eligible_headcount FROM vote_tally WHERE vote_id = $1", vote_id
    )
    expected = electorate_tally(electorate)
    assert (stored["eligible_area"], stored["eligible_headcount"]) == (
        expected.eligible_area,
        expected.eligible_headcount,
    )
    assert expected.eligible_headcount < len(electorate)  # the demo's multi-unit owner counts once
