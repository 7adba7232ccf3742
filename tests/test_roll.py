"""A vote announced with its owner roll published (公示) before it opens: owners check their own
entry and object with evidence, the committees correct the register and settle each objection, and
the vote opens only then, its electorate frozen from the corrected register."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from app.database import create_engine, sessionmaker
from resolvers.ids import decode, encode
from resolvers.vote import open_due_votes
from tests.conftest import TODAY, Api, fetch, fetchval, make_settings
from tests.test_paper_ballots import COMMUNITY_COMMITTEE, OWNERS_COMMITTEE, RESIDENT, Desk
from tests.votes import CAST, building_id, compound_id, stored_tally

OPEN = "mutation($input: OpenVoteInput!) { openVote(input: $input) { id status opensAt } }"
ROLL = """query($id: ID!) { vote(id: $id) { status opensAt tally { eligibleArea }
  roll(first: 100) { totalCount edges { node { number area owners } } }
  objections(first: 10) { totalCount edges { node { stage issue household text settled photos { url } } } } } }"""
OBJECT = (
    """mutation($i: ObjectToRollInput!) { objectToRoll(input: $i) { id stage issue household settled } }"""
)
ANSWER = "mutation($id: ID!, $a: String!, $s: Boolean!) { answerObjection(id: $id, answer: $a, settled: $s) { settled } }"
CANCEL = "mutation($id: ID!) { cancelVote(id: $id) { status } }"


async def test_the_roll_is_published_checked_and_corrected_before_the_vote_opens(
    api: Api, demo_db_url: str
) -> None:
    url, desk = demo_db_url, Desk(api, demo_db_url)
    adopted = await desk.adopt(rollDays=3, announcementRequired=True, note="2026年业主大会通过：名册公示三日")
    assert adopted["version"] == 1
    now = datetime.now(UTC)
    base = {
        "compoundId": await compound_id(url),
        "buildingIds": [await building_id(url)],
        "title": "6栋加装电梯",
        "description": "先公示业主名册。",
        "matter": "RENOVATE_OR_REBUILD",
        "closesAt": (now + timedelta(days=14)).isoformat(),
    }
    # the rules require every vote to be announced first, its roll published for their period
    error = (await desk.gql(OWNERS_COMMITTEE, OPEN, {"input": base}))["errors"][0]
    assert (error["extensions"]["code"], error["extensions"]["field"]) == ("BAD_USER_INPUT", "opensAt")
    assert "第1版" in error["message"] and "3 天" in error["message"]
    assert await fetchval(url, "SELECT count(*) FROM vote WHERE title = '6栋加装电梯'") == 0
    early = base | {"opensAt": (now + timedelta(days=1)).isoformat()}
    error = (await desk.gql(OWNERS_COMMITTEE, OPEN, {"input": early}))["errors"][0]
    assert (error["extensions"]["code"], error["extensions"]["field"]) == ("BAD_USER_INPUT", "opensAt")
    assert "3 天" in error["message"]
    announced = await desk.data(
        OWNERS_COMMITTEE, OPEN, {"input": base | {"opensAt": (now + timedelta(days=4)).isoformat()}}
    )
    vote_id = announced["openVote"]["id"]
    vote = decode(vote_id)[1]
    assert announced["openVote"]["status"] == "ANNOUNCED"
    # the owners in its scope are told, each once, to check their entry; nobody outside it
    told = await fetch(
        url,
        "SELECT p.phone, n.body FROM notification n JOIN person p ON p.id = n.person_id"
        " WHERE n.kind = 'VOTE_ANNOUNCED' AND n.ref_id = $1",
        vote,
    )
    owners6 = await fetchval(
        url,
        "SELECT count(DISTINCT o.person_id) FROM home o JOIN household h ON h.id = o.household_id"
        " JOIN building b ON b.id = h.building_id WHERE b.name = '6栋' AND b.compound_id = $1"
        f" AND o.relation = 'OWNER' AND (o.ends_on IS NULL OR o.ends_on > {TODAY})",
        decode(base["compoundId"])[1],
    )
    assert len(told) == owners6 == len({t["phone"] for t in told}) and RESIDENT in {t["phone"] for t in told}
    assert "业主名册正在公示" in told[0]["body"]

    # the people of the compound read it, names masked; it is not yet open to anything else
    shown = (await desk.data(RESIDENT, ROLL, {"id": vote_id}))["vote"]
    entries = {e["node"]["number"]: e["node"] for e in shown["roll"]["edges"]}
    home = await fetchval(url, "SELECT id FROM household WHERE number = '6-1-302'")
    area = await fetchval(url, "SELECT area FROM household WHERE id = $1", home)
    assert entries["6-1-302"]["area"] == f"{area:.2f}" and len(entries["6-1-302"]["owners"]) == 2
    assert all("*" in name for e in entries.values() for name in e["owners"])
    assert shown["tally"]["eligibleArea"] == "0.00"
    for phone, query, variables in (
        (RESIDENT, CAST, {"id": vote_id, "choice": "AGREE"}),
        (OWNERS_COMMITTEE, "mutation($id: ID!) { closeVote(id: $id) { status } }", {"id": vote_id}),
    ):
        code, message = await desk.refusal(phone, query, variables)
        assert code == "CONFLICT" and "尚未开始" in message
    assert await fetchval(url, "SELECT count(*) FROM vote_electorate WHERE vote_id = $1", vote) == 0

    # an owner objects to their own entry, with evidence; not to another's
    photo = await desk.photo(RESIDENT)
    given = {
        "voteId": vote_id,
        "householdId": encode("Household", home),
        "issue": "WRONG_AREA",
        "text": "房产证面积为 98.60 平方米",
        "photos": [photo],
    }
    objection = (await desk.data(RESIDENT, OBJECT, {"i": given}))["objectToRoll"]
    assert (objection["stage"], objection["issue"], objection["household"]) == (
        "ROLL",
        "WRONG_AREA",
        "6-1-302",
    )
    other = await fetchval(url, "SELECT id FROM household WHERE number = '6-1-101'")
    error = (await desk.gql(RESIDENT, OBJECT, {"i": given | {"householdId": encode("Household", other)}}))[
        "errors"
    ][0]
    assert (error["extensions"]["code"], error["extensions"]["field"]) == ("BAD_USER_INPUT", "householdId")

    # the publication ends: the vote waits for the objection to be settled
    await fetch(url, "UPDATE vote SET opens_at = now() - interval '1 second' WHERE id = $1", vote)
    engine = create_engine(url, make_settings(url), pool_size=2, max_overflow=0)
    try:
        sessions = sessionmaker(engine)
        assert await open_due_votes(sessions, {}) == 0
        code, message = await desk.refusal(RESIDENT, OBJECT, {"i": given})
        assert code == "CONFLICT" and "公示期内" in message
        # the committee corrects the register and settles it
        corrected = {"householdId": encode("Household", home), "area": "98.60", "reason": "据不动产权证更正"}
        await desk.data(
            COMMUNITY_COMMITTEE,
            "mutation($i: CorrectHouseholdAreaInput!) { correctHouseholdArea(input: $i) { area } }",
            {"i": corrected},
        )
        listed = (await desk.data(COMMUNITY_COMMITTEE, ROLL, {"id": vote_id}))["vote"]
        assert (
            listed["objections"]["totalCount"] == 1
            and len(listed["objections"]["edges"][0]["node"]["photos"]) == 1
        )
        assert {e["node"]["number"]: e["node"]["area"] for e in listed["roll"]["edges"]}["6-1-302"] == "98.60"
        await desk.data(
            COMMUNITY_COMMITTEE, ANSWER, {"id": objection["id"], "a": "已按房产证更正面积", "s": True}
        )
        assert await open_due_votes(sessions, {}) == 1
        assert await open_due_votes(sessions, {}) == 0
    finally:
        await engine.dispose()

    # open: the electorate is frozen from the corrected register, and owners vote
    frozen = await fetchval(
        url, "SELECT area FROM vote_electorate WHERE vote_id = $1 AND household_id = $2", vote, home
    )
    assert frozen == Decimal("98.60")
    tally = await stored_tally(url, vote)
    expected = await fetchval(
        url,
        "SELECT sum(h.area) FROM household h JOIN building b ON b.id = h.building_id WHERE b.name = '6栋'"
        " AND b.compound_id = (SELECT compound_id FROM vote WHERE id = $1)",
        vote,
    )
    assert tally.eligible_area == expected
    await desk.data(RESIDENT, CAST, {"id": vote_id, "choice": "AGREE"})
    mine = (await desk.data(RESIDENT, ROLL, {"id": vote_id}))["vote"]
    assert mine["status"] == "OPEN" and mine["objections"]["edges"][0]["node"]["settled"] is True

    # an announced vote is withdrawn freely
    again = await desk.data(
        OWNERS_COMMITTEE, OPEN, {"input": base | {"opensAt": (now + timedelta(days=5)).isoformat()}}
    )
    cancelled = await desk.data(OWNERS_COMMITTEE, CANCEL, {"id": again["openVote"]["id"]})
    assert cancelled["cancelVote"]["status"] == "CANCELLED"
