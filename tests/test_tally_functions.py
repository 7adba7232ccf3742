"""The database's functions that alone change a tally (migration 0010): what they write is what the
pure rules say (`models.vote_rules.ballot_delta` step by step, `recount` in the end), and the
service's role has no other way to change a tally or an electorate's choices."""

from __future__ import annotations

import itertools
import random
import uuid
from datetime import timedelta
from decimal import Decimal

import asyncpg
import pytest

from app.migrate import OWNER_ROLE, SERVICE_ROLE
from models.procedure_rules import Cast, Channel, DoubleVote, counts, preferred_channel
from models.vote_rules import (
    TALLY_MEASURES,
    Choice,
    Eligible,
    HouseholdChange,
    Tally,
    ballot_delta,
    electorate_tally,
    head_key,
    head_of,
    owned_in_scope,
    recount,
)
from tests.conftest import fetch, fetchval
from tests.test_db_roles import as_service

SERVICE_MAY_NOT = [
    "UPDATE vote_tally SET agree_area = agree_area + 1000",
    "UPDATE vote_tally SET closed = true",
    "DELETE FROM vote_tally",
    "UPDATE vote_electorate SET choice = 'AGREE'",
    "DELETE FROM vote_electorate",
    "UPDATE vote_owner SET person_id = person_id",
    "DELETE FROM vote_owner",
    "SELECT * FROM vote_tally FOR UPDATE",
]


@pytest.mark.parametrize("statement", SERVICE_MAY_NOT)
async def test_the_service_changes_tallies_only_through_the_functions(
    demo_db_url: str, statement: str
) -> None:
    conn = await as_service(demo_db_url)
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute(statement)
    finally:
        await conn.close()


async def test_the_functions_run_as_an_owner_that_is_no_superuser(demo_db_url: str) -> None:
    functions = await fetch(
        demo_db_url,
        "SELECT p.proname, p.prosecdef, pg_get_userbyid(p.proowner) AS owner, "
        "has_function_privilege($1, p.oid, 'EXECUTE') AS service, "
        "has_function_privilege('public', p.oid, 'EXECUTE') AS anyone, p.proconfig "
        "FROM pg_proc p WHERE p.proname IN ('record_ballot', 'close_tally', 'cast_ballot') ORDER BY p.proname",
        SERVICE_ROLE,
    )
    assert [f["proname"] for f in functions] == ["cast_ballot", "close_tally", "record_ballot"]
    for f in functions:
        assert (f["prosecdef"], f["owner"], f["service"], f["anyone"]) == (True, OWNER_ROLE, True, False)
        assert f["proconfig"] == ["search_path=public, pg_temp"]
    owner = await fetch(
        demo_db_url, "SELECT rolsuper, rolcanlogin FROM pg_roles WHERE rolname = $1", OWNER_ROLE
    )
    assert [tuple(owner[0])] == [(False, False)]
    foreign = await fetchval(
        demo_db_url,
        "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'S', 'v') AND pg_get_userbyid(c.relowner) <> $1",
        OWNER_ROLE,
    )
    assert foreign == 0, "every table and sequence belongs to the owner's role"


async def _vote_with(url: str, rng: random.Random) -> tuple[uuid.UUID, list[Eligible], list[uuid.UUID]]:
    """A vote of 12 households over 5 real people: some share an owner set (one head), some have
    overlapping sets, one has none; written as `openVote` freezes them."""
    people = [r["id"] for r in await fetch(url, "SELECT id FROM person ORDER BY phone LIMIT 5")]
    compound = await fetchval(url, "SELECT id FROM compound ORDER BY key LIMIT 1")
    owner_sets = [
        {people[0]},
        {people[0]},  # the same head as the first
        {people[0], people[1]},
        {people[1], people[0]},  # the same head as the third
        {people[1]},
        {people[2], people[3]},
        {people[3]},
        {people[4]},
        {people[2]},
        {people[3], people[4], people[2]},
        {people[4]},
        set(),  # no owner: nobody can vote for it
    ]
    electorate = [
        Eligible(uuid.uuid4(), Decimal(rng.randrange(4000, 15000)) / 100, frozenset(owners))
        for owners in owner_sets
    ]
    vote = uuid.uuid4()
    await fetch(
        url,
        "INSERT INTO vote (id, compound_id, title, description, matter, rule, status, closes_at, opened_by) "
        "VALUES ($1, $2, 't', 'd', 'RULES_OF_PROCEDURE', 'ORDINARY', 'OPEN', now() + interval '1 day', $3)",
        vote,
        compound,
        people[0],
    )
    denominators = electorate_tally(electorate)
    await fetch(
        url,
        f"INSERT INTO vote_tally (vote_id, compound_id, ballots_cast, {', '.join(TALLY_MEASURES)}) "
        f"VALUES ($1, $2, 0, {', '.join(f'${i + 3}' for i in range(len(TALLY_MEASURES)))})",
        vote,
        compound,
        *(getattr(denominators, name) for name in TALLY_MEASURES),
    )
    for number, e in enumerate(electorate):
        await fetch(
            url,
            "INSERT INTO vote_electorate (vote_id, household_id, compound_id, building_id, number, area, head) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7)",
            vote,
            e.household,
            compound,
            uuid.uuid4(),
            f"h{number:02}",
            e.area,
            head_key(e),
        )
        for person in e.owners:
            await fetch(
                url,
                "INSERT INTO vote_owner (vote_id, household_id, person_id, compound_id) VALUES ($1, $2, $3, $4)",
                vote,
                e.household,
                person,
                compound,
            )
    return vote, electorate, people


def _tally(row: asyncpg.Record) -> Tally:
    return Tally(**{name: row[name] for name in TALLY_MEASURES})


async def test_every_ballot_moves_the_tally_as_the_rule_says(demo_db_url: str) -> None:
    rng = random.Random(20261203)
    vote, electorate, people = await _vote_with(demo_db_url, rng)
    choices: dict[uuid.UUID, Choice] = {}
    conn = await as_service(demo_db_url)
    try:
        before = _tally(await conn.fetchrow("SELECT * FROM vote_tally WHERE vote_id = $1", vote))
        for cast in range(60):
            person, choice = rng.choice(people), rng.choice(list(Choice))
            mine = owned_in_scope(electorate, person)
            expected = ballot_delta(
                HouseholdChange(h.area, head_of(h), choices.get(h.household), choice) for h in mine
            )
            written = await conn.fetchrow(
                "SELECT * FROM record_ballot($1, $2, $3, $4, $5)",
                uuid.uuid4(),
                vote,
                person,
                choice.value,
                f"receipt-{cast}",
            )
            assert sorted(written["out_households"]) == sorted(h.household for h in mine)
            assert written["out_tallies"] == 1
            for h in mine:
                choices[h.household] = choice
            after = _tally(await conn.fetchrow("SELECT * FROM vote_tally WHERE vote_id = $1", vote))
            assert after == before + expected, f"ballot {cast}: {person} {choice}"
            before = after
        assert before == recount(electorate, choices)
        assert await conn.fetchval("SELECT ballots_cast FROM vote_tally WHERE vote_id = $1", vote) == 60

        sealed = await conn.fetch("SELECT * FROM close_tally($1)", vote)
        assert [(_tally(r), r["closed"]) for r in sealed] == [(before, True)]
        assert await conn.fetch("SELECT * FROM close_tally($1)", vote) == []  # sealed once
        late = await conn.fetchrow(
            "SELECT * FROM record_ballot($1, $2, $3, 'AGREE', 'late')", uuid.uuid4(), vote, people[0]
        )
        assert late["out_tallies"] == 0  # its caller must roll back
        # the service's own call, outside a transaction: refused, and nothing of it is written
        ballots = await conn.fetchval("SELECT count(*) FROM ballot WHERE vote_id = $1", vote)
        choices_before = await conn.fetch(
            "SELECT household_id, choice, ballot_id FROM vote_electorate WHERE vote_id = $1 ORDER BY 1", vote
        )
        with pytest.raises(asyncpg.ObjectNotInPrerequisiteStateError):
            await conn.fetchrow(
                "SELECT * FROM cast_ballot($1, $2, $3, 'AGREE', 'late-alone', NULL, NULL)",
                uuid.uuid4(),
                vote,
                people[0],
            )
        assert await conn.fetchval("SELECT count(*) FROM ballot WHERE vote_id = $1", vote) == ballots
        assert (
            await conn.fetch(
                "SELECT household_id, choice, ballot_id FROM vote_electorate WHERE vote_id = $1 ORDER BY 1",
                vote,
            )
            == choices_before
        )
        assert _tally(await conn.fetchrow("SELECT * FROM vote_tally WHERE vote_id = $1", vote)) == before
    finally:
        await conn.close()


async def test_a_ballot_is_refused_to_who_owns_nothing_in_the_roll(demo_db_url: str) -> None:
    vote, _, _ = await _vote_with(demo_db_url, random.Random(1))
    stranger = await fetchval(demo_db_url, "SELECT id FROM person ORDER BY phone DESC LIMIT 1")
    conn = await as_service(demo_db_url)
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.fetchrow(
                "SELECT * FROM record_ballot($1, $2, $3, 'AGREE', 'r')", uuid.uuid4(), vote, stranger
            )
        with pytest.raises(asyncpg.InvalidParameterValueError):
            await conn.fetchrow(
                "SELECT * FROM record_ballot($1, $2, $3, 'MAYBE', 'r')", uuid.uuid4(), vote, stranger
            )
        assert await conn.fetchval("SELECT count(*) FROM ballot WHERE vote_id = $1", vote) == 0
    finally:
        await conn.close()


@pytest.mark.parametrize("held", list(Channel))
async def test_the_double_vote_rule_in_sql_is_the_pure_one(demo_db_url: str, held: Channel) -> None:
    """`ballot_outranked` (migration 0031) answers as `models.procedure_rules.counts` for every rule,
    channel and order, against a household holding an online or a paper ballot."""
    url = demo_db_url
    vote, electorate, people = await _vote_with(url, random.Random(7))
    owner = people[2]
    households = sorted(h.household for h in owned_in_scope(electorate, owner))
    conn = await as_service(url)
    try:
        if held == Channel.ONLINE:
            written = await conn.fetchrow(
                "SELECT * FROM record_ballot($1, $2, $3, 'AGREE', 'r-held')", uuid.uuid4(), vote, owner
            )
            held_at = written["out_cast_at"]
        else:
            held_at = await conn.fetchval("SELECT now() - interval '1 day'")
            written = await conn.fetchrow(
                "SELECT * FROM record_paper_ballot($1, $2, $3, NULL, 'AGREE', 'r-held', $4, NULL)",
                uuid.uuid4(),
                vote,
                owner,
                held_at,
            )
            await conn.execute(
                "INSERT INTO paper_ballot (vote_id, compound_id, household_id, signer_id, choice, received_at,"
                " status, entered_by, confirmed_by, confirm_choice, confirmed_at, ballot_id)"
                " SELECT $1, compound_id, $2, $3, 'AGREE', $4, 'COUNTED', $5, $6, 'AGREE', now(), $7"
                " FROM vote WHERE id = $1",
                vote,
                households[0],
                owner,
                held_at,
                people[0],
                people[1],
                written["out_id"],
            )
        assert written["out_tallies"] == 1
    finally:
        await conn.close()
    for rule, new, later in itertools.product(DoubleVote, Channel, (True, False)):
        at = held_at + timedelta(hours=1 if later else -1)
        prefer = preferred_channel(rule)
        outranked = await fetchval(
            url,
            "SELECT ballot_outranked($1, $2, $3, $4, $5)",
            vote,
            households,
            new.value,
            at,
            prefer.value if prefer else None,
        )
        assert outranked is not counts(rule, Cast(new, at), [Cast(held, held_at)]), (rule, new, later)


async def test_a_ballot_goes_to_the_heads_where_no_higher_ballot_stands(demo_db_url: str) -> None:
    """Under `PAPER`, a co-owner's counted paper ballot on a shared flat keeps it; an owner's online
    ballot still goes to their flats of other heads, and is refused only where it reaches none."""
    url = demo_db_url
    vote, electorate, people = await _vote_with(url, random.Random(3))
    shared = {h.household for h in electorate if h.owners == frozenset({people[0], people[1]})}
    alone = {h.household for h in electorate if h.owners == frozenset({people[0]})}
    conn = await as_service(url)
    try:
        paper = await conn.fetchrow(
            "SELECT * FROM record_paper_ballot($1, $2, $3, NULL, 'DISAGREE', 'r-paper', now(), 'PAPER')",
            uuid.uuid4(),
            vote,
            people[1],
        )
        assert paper["out_tallies"] == 1 and shared <= set(paper["out_households"])
        online = await conn.fetchrow(
            "SELECT * FROM record_ballot($1, $2, $3, 'AGREE', 'r-online', 'PAPER')",
            uuid.uuid4(),
            vote,
            people[0],
        )
        assert online["out_tallies"] == 1 and set(online["out_households"]) == alone
        choices = {
            r["household_id"]: Choice(r["choice"])
            for r in await conn.fetch(
                "SELECT household_id, choice FROM vote_electorate WHERE vote_id = $1 AND choice IS NOT NULL",
                vote,
            )
        }
        assert all(choices[h] == Choice.DISAGREE for h in shared) and all(
            choices[h] == Choice.AGREE for h in alone
        )
        assert _tally(await conn.fetchrow("SELECT * FROM vote_tally WHERE vote_id = $1", vote)) == recount(
            electorate, choices
        )
        # the co-owner's own online ballot reaches only flats their paper ballot holds: refused,
        # and it writes nothing
        refused = await conn.fetchrow(
            "SELECT * FROM record_ballot($1, $2, $3, 'AGREE', 'r-refused', 'PAPER')",
            uuid.uuid4(),
            vote,
            people[1],
        )
        assert (refused["out_tallies"], refused["out_households"], refused["out_id"]) == (-1, None, None)
        assert await conn.fetchval("SELECT count(*) FROM ballot WHERE receipt_hash = 'r-refused'") == 0
    finally:
        await conn.close()


#: `unranked_households` household by household, as migration 0037 wrote it (0039 keeps it for
#: households some ballot stands on)
RANKED = """
SELECT array_agg(e.household_id ORDER BY e.household_id) FROM vote_electorate e
WHERE e.vote_id = $1 AND e.household_id = ANY ($2::uuid[])
  AND NOT ballot_outranked(
      $1,
      ARRAY(
          SELECT x.household_id FROM vote_electorate x
          WHERE x.vote_id = $1 AND x.head = e.head AND x.household_id = ANY ($2::uuid[])
      ),
      $3, $4, $5
  )
"""


async def test_the_households_a_ballot_reaches_are_those_the_ranking_gives(demo_db_url: str) -> None:
    """`unranked_households` answers at once for households no ballot stands on (migration 0039):
    the same households, in the same order, as asking the ranking household by household, before
    any ballot, between ballots of both channels, and for every rule of preference."""
    url = demo_db_url
    rng = random.Random(39)
    vote, electorate, people = await _vote_with(url, rng)
    households = [h.household for h in electorate]

    async def agree() -> int:
        checked = 0
        for size in (1, 2, 3, 5, 12):
            for _ in range(4):
                chosen = rng.sample(households, size)
                for channel, prefer in itertools.product(("ONLINE", "PAPER"), (None, "ONLINE", "PAPER")):
                    args = (vote, chosen, channel, await fetchval(url, "SELECT clock_timestamp()"), prefer)
                    fast = await fetchval(url, "SELECT unranked_households($1, $2, $3, $4, $5)", *args)
                    assert fast == await fetchval(url, RANKED, *args), (size, channel, prefer)
                    checked += 1
        return checked

    assert await agree() == 120  # no ballot stands anywhere yet: every answer is the fast one
    conn = await as_service(url)
    try:
        await conn.fetchrow(
            "SELECT * FROM record_paper_ballot($1, $2, $3, NULL, 'DISAGREE', 'r-p', now() + interval '1 hour', 'PAPER')",
            uuid.uuid4(),
            vote,
            people[1],
        )
        await conn.fetchrow(
            "SELECT * FROM record_ballot($1, $2, $3, 'AGREE', 'r-o', NULL)", uuid.uuid4(), vote, people[3]
        )
    finally:
        await conn.close()
    assert (
        await fetchval(
            url, "SELECT count(*) FROM vote_electorate WHERE vote_id = $1 AND ballot_id IS NOT NULL", vote
        )
        > 0
    )
    assert await agree() == 120
