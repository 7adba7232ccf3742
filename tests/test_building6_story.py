"""The building-6 elevator decided as it is really held, through the API as the people who do each
step: the rules of procedure, the announcement with the owner roll published, an objection to an
area corrected, the opening, online ballots, two paper ballots entered by two people (one
mismatch entered again), a proxy voting for an elderly owner, the close, the result published and
its objection window, and the record; the stored tally checked against a recount at each stage."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from app.database import create_engine, sessionmaker
from resolvers.ids import decode, encode
from resolvers.vote import open_due_votes
from tests.conftest import TODAY, Api, fetch, fetchval, make_settings
from tests.test_paper_ballots import COMMUNITY_COMMITTEE, OWNERS_COMMITTEE, RESIDENT, Desk
from tests.test_proxies import APPOINT, FOR, VERIFY, someone_outside_building6
from tests.test_roll import ANSWER, OBJECT
from tests.test_works_votes import CONSENT
from tests.votes import CAST, building_id, compound_id, recount_from_rows, stored_tally

OPEN = "mutation($input: OpenVoteInput!) { openVote(input: $input) { id status } }"
CLOSE = "mutation($id: ID!) { closeVote(id: $id) { result objectionUntil decision } }"
RESULT = "query($id: ID!) { vote(id: $id) { decision resultExplanation recordPath } }"
CORRECT_AREA = "mutation($i: CorrectHouseholdAreaInput!) { correctHouseholdArea(input: $i) { area } }"
RESULT_OBJECTION = "mutation($id: ID!, $t: String!) { objectToResult(voteId: $id, text: $t) { id } }"


async def test_the_elevator_vote_of_building_6_from_announcement_to_record(
    api: Api, demo_db_url: str
) -> None:
    url, desk = demo_db_url, Desk(api, demo_db_url)

    async def recounted(vote: uuid.UUID) -> None:
        assert await stored_tally(url, vote) == await recount_from_rows(url, vote)

    # the community committee records the compound's rules; the owners' committee announces
    await desk.adopt(rollDays=3, objectionDays=7, note="2026年6月1日业主大会通过")
    now = datetime.now(UTC)
    households = await fetch(
        url,
        "SELECT h.id, min(o.person_id::text)::uuid AS owner FROM household h JOIN building b ON b.id = h.building_id"
        f" JOIN home o ON o.household_id = h.id AND o.relation = 'OWNER' AND (o.ends_on IS NULL OR o.ends_on > {TODAY})"
        " JOIN person p ON p.id = o.person_id"
        " JOIN compound c ON c.id = b.compound_id"
        " WHERE b.name = '6栋' AND c.key = 'qianshan-meilin' AND p.phone NOT LIKE '138000000%'"
        " AND (SELECT count(*) FROM home x WHERE x.person_id = o.person_id AND x.relation = 'OWNER') = 1"
        " GROUP BY h.id, h.number HAVING count(*) = 1 ORDER BY h.number LIMIT 3",
    )
    (elder_home, elder), (paper1, signer1), (paper2, signer2) = ((r["id"], r["owner"]) for r in households)
    given = {
        "compoundId": await compound_id(url),
        "buildingIds": [await building_id(url)],
        "title": "6栋加装电梯",
        "description": "6栋申请加装电梯，低层三户须明确同意。",
        "matter": "RENOVATE_OR_REBUILD",
        "kind": "WORKS",
        "affectedHouseholdIds": [encode("Household", h) for h in (elder_home, paper1, paper2)],
        "opensAt": (now + timedelta(days=3, hours=1)).isoformat(),
        "closesAt": (now + timedelta(days=14)).isoformat(),
    }
    vote_id = (await desk.data(OWNERS_COMMITTEE, OPEN, {"input": given}))["openVote"]["id"]
    vote = decode(vote_id)[1]

    # the elderly owner appoints a relative for the votes of the coming year; the committee checks it
    elder_phone = await fetchval(url, "SELECT phone FROM person WHERE id = $1", elder)
    _, relative = await someone_outside_building6(url)
    period = {
        "validFrom": (now - timedelta(days=1)).isoformat(),
        "validUntil": (now + timedelta(days=365)).isoformat(),
    }
    appointment = {
        "compoundId": given["compoundId"],
        "proxyName": "王小明",
        "proxyPhone": relative,
        "photos": [await desk.photo(elder_phone)],
    }
    proxy = (await desk.data(elder_phone, APPOINT, {"i": appointment | period}))["appointProxy"]
    await desk.data(OWNERS_COMMITTEE, VERIFY, {"id": proxy["id"], "ok": True})

    # an owner finds their area wrong; the register is corrected and the objection settled
    home = await fetchval(url, "SELECT id FROM household WHERE number = '6-1-302'")
    objected = {
        "voteId": vote_id,
        "householdId": encode("Household", home),
        "issue": "WRONG_AREA",
        "text": "房产证面积为 98.60 平方米",
        "photos": [await desk.photo(RESIDENT)],
    }
    objection = (await desk.data(RESIDENT, OBJECT, {"i": objected}))["objectToRoll"]
    await fetch(url, "UPDATE vote SET opens_at = now() - interval '1 second' WHERE id = $1", vote)
    engine = create_engine(url, make_settings(url), pool_size=2, max_overflow=0)
    try:
        assert await open_due_votes(sessionmaker(engine), {}) == 0  # waiting for the objection
        corrected = {"householdId": encode("Household", home), "area": "98.60", "reason": "据不动产权证更正"}
        assert (await desk.data(COMMUNITY_COMMITTEE, CORRECT_AREA, {"i": corrected}))[
            "correctHouseholdArea"
        ] == {"area": "98.60"}
        await desk.data(COMMUNITY_COMMITTEE, ANSWER, {"id": objection["id"], "a": "已更正", "s": True})
        assert await open_due_votes(sessionmaker(engine), {}) == 1
    finally:
        await engine.dispose()
    assert await fetchval(
        url, "SELECT area FROM vote_electorate WHERE vote_id = $1 AND household_id = $2", vote, home
    ) == Decimal("98.60")
    await recounted(vote)

    # the three low households sign their consent on paper; the committee enters each 同意书
    for household in (elder_home, paper1, paper2):
        signed = {
            "voteId": vote_id,
            "householdId": encode("Household", household),
            "agree": True,
            "photos": [await desk.photo(COMMUNITY_COMMITTEE)],
        }
        await desk.data(COMMUNITY_COMMITTEE, CONSENT, {"i": signed})

    # online ballots from every other owner
    offline = {elder, signer1, signer2}
    owners = await fetch(
        url,
        "SELECT DISTINCT p.id, p.phone FROM vote_owner o JOIN person p ON p.id = o.person_id WHERE o.vote_id = $1",
        vote,
    )
    for row in owners:
        if row["id"] not in offline:
            await desk.data(row["phone"], CAST, {"id": vote_id, "choice": "AGREE"})
    await recounted(vote)

    # two paper ballots, each entered by one and confirmed by another; one mismatch entered again
    first = await desk.enter(OWNERS_COMMITTEE, vote_id, paper1, "AGREE", signerId=encode("Person", signer1))
    body = await desk.confirm(
        COMMUNITY_COMMITTEE,
        first["data"]["enterPaperBallot"]["id"],
        "AGREE",
        signerId=encode("Person", signer1),
    )
    assert body["data"]["confirmPaperBallot"]["status"] == "COUNTED"
    second = await desk.enter(OWNERS_COMMITTEE, vote_id, paper2, "AGREE", signerId=encode("Person", signer2))
    body = await desk.confirm(
        COMMUNITY_COMMITTEE,
        second["data"]["enterPaperBallot"]["id"],
        "DISAGREE",
        signerId=encode("Person", signer2),
    )
    assert body["data"]["confirmPaperBallot"]["status"] == "MISMATCH"
    await recounted(vote)
    again = await desk.enter(
        COMMUNITY_COMMITTEE, vote_id, paper2, "AGREE", signerId=encode("Person", signer2)
    )
    body = await desk.confirm(
        OWNERS_COMMITTEE, again["data"]["enterPaperBallot"]["id"], "AGREE", signerId=encode("Person", signer2)
    )
    assert body["data"]["confirmPaperBallot"]["status"] == "COUNTED"
    await recounted(vote)

    # the proxy votes for the elderly owner: the owner's household, not a head of the proxy's own
    before = await stored_tally(url, vote)
    await desk.data(relative, FOR, {"id": vote_id, "choice": "AGREE", "owner": encode("Person", elder)})
    after = await stored_tally(url, vote)
    assert after.participating_headcount == before.participating_headcount + 1
    await recounted(vote)

    # the close: passed by the owners, each affected household agreed; the result is published
    closed = (await desk.data(OWNERS_COMMITTEE, CLOSE, {"id": vote_id}))["closeVote"]
    assert (closed["result"], closed["decision"]) == ("PASSED", "OBJECTION_WINDOW")
    await recounted(vote)
    shown = (await desk.data(RESIDENT, RESULT, {"id": vote_id}))["vote"]
    assert "直接受影响的 3 户均已明确同意。" in shown["resultExplanation"] and shown[
        "resultExplanation"
    ].endswith("表决通过。")
    raised = await desk.data(RESIDENT, RESULT_OBJECTION, {"id": vote_id, "t": "施工期间的出入安排未公示"})
    await desk.data(
        COMMUNITY_COMMITTEE, ANSWER, {"id": raised["objectToResult"]["id"], "a": "已公示出入安排", "s": True}
    )
    # the window ends with nothing unresolved: the works take effect
    await fetch(
        url,
        "UPDATE vote_objection SET raised_at = raised_at - interval '8 days', answered_at = answered_at - interval '8 days', settled_at = settled_at - interval '8 days' WHERE vote_id = $1",
        vote,
    )
    await fetch(url, "UPDATE vote SET objection_until = now() - interval '1 day' WHERE id = $1", vote)
    final = (await desk.data(OWNERS_COMMITTEE, RESULT, {"id": vote_id}))["vote"]
    assert final["decision"] == "FINAL"
    response = await api.client.get(
        final["recordPath"], headers={"Authorization": f"Bearer {await desk.token(OWNERS_COMMITTEE)}"}
    )
    assert response.status_code == 200 and response.content.startswith(b"%PDF")
    channels = await fetch(
        url,
        "SELECT b.channel, b.proxy_id IS NOT NULL AS by_proxy, count(*) FROM vote_electorate e"
        " JOIN ballot b ON b.id = e.ballot_id WHERE e.vote_id = $1 GROUP BY 1, 2 ORDER BY 1, 2",
        vote,
    )
    counts = {(r["channel"], r["by_proxy"]): r["count"] for r in channels}
    assert counts[("PAPER", False)] == 2 and counts[("ONLINE", True)] == 1
