"""Works inside a building (the building-6 elevator) and results published with an objection
window: the directly affected households must each agree, owners object within the window, the
committees answer, and the decision takes effect only with no objection unresolved at its end."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

from pypdf import PdfReader

from models.vote_rules import (
    Decision,
    VoteKind,
    VoteResult,
    VoteRule,
    affected_problem,
    consent_words,
    decision,
    works_result,
)
from resolvers.ids import decode, encode
from tests.conftest import Api, fetch, fetchval
from tests.test_paper_ballots import (
    COMMUNITY_COMMITTEE,
    OWNERS_COMMITTEE,
    PROPERTY_STAFF,
    RESIDENT,
    Desk,
    owned_households,
)
from tests.votes import CAST, building_id, compound_id, later, recount_from_rows

OPEN = (
    """mutation($input: OpenVoteInput!) { openVote(input: $input) { id kind affectedHouseholds decision } }"""
)
CLOSE = "mutation($id: ID!) { closeVote(id: $id) { status result objectionUntil decision } }"
SHOWN = """query($id: ID!) { vote(id: $id) { result resultExplanation decision unresolvedObjections objectionUntil
  objections(first: 10) { totalCount edges { node { text answer settled } } } } }"""
CONSENT = "mutation($i: WorksConsentInput!) { recordWorksConsent(input: $i) { household agree givenAt } }"
OBJECT = "mutation($id: ID!, $t: String!) { objectToResult(voteId: $id, text: $t) { id text settled } }"
ANSWER = "mutation($id: ID!, $a: String!, $s: Boolean!) { answerObjection(id: $id, answer: $a, settled: $s) { answer settled } }"
NOW = datetime(2026, 12, 7, 12, tzinfo=UTC)


def test_works_need_each_affected_household_and_no_objection_left() -> None:
    assert works_result(VoteResult.PASSED, VoteKind.WORKS, ["6-1-101"]) == VoteResult.REJECTED
    assert works_result(VoteResult.PASSED, VoteKind.WORKS, []) == VoteResult.PASSED
    assert works_result(VoteResult.INVALID, VoteKind.WORKS, ["6-1-101"]) == VoteResult.INVALID
    assert works_result(VoteResult.PASSED, VoteKind.ASSEMBLY, ["6-1-101"]) == VoteResult.PASSED
    assert consent_words(VoteKind.ASSEMBLY, 0, []) == ""
    assert consent_words(VoteKind.WORKS, 2, []) == "直接受影响的 2 户均已明确同意。"
    assert "6-1-101、6-1-201 未签署同意" in consent_words(VoteKind.WORKS, 3, ["6-1-101", "6-1-201"])
    until = NOW + timedelta(days=7)
    assert decision(VoteKind.WORKS, None, 0, NOW) is None
    assert decision(VoteKind.WORKS, until, 3, NOW) == Decision.OBJECTION_WINDOW
    assert decision(VoteKind.WORKS, until, 1, until) == Decision.NOT_EFFECTIVE
    # works the owners rejected stay rejected, objections or not
    assert decision(VoteKind.WORKS, until, 1, until, VoteResult.REJECTED) == Decision.FINAL
    assert decision(VoteKind.WORKS, until, 0, until) == Decision.FINAL
    # an objection to an owners' decision is answered, and does not suspend it
    assert decision(VoteKind.ASSEMBLY, until, 1, until) == Decision.FINAL
    assert affected_problem(VoteKind.WORKS, [], False) is not None
    assert affected_problem(VoteKind.WORKS, ["x"], True) is not None
    assert affected_problem(VoteKind.ASSEMBLY, ["x"], False) is not None
    assert (
        affected_problem(VoteKind.WORKS, ["x"], False) is None
        and affected_problem(VoteKind.ASSEMBLY, [], True) is None
    )


async def _everyone_votes(desk: Desk, vote_id: str, vote: object, against: set[str]) -> None:
    owners = await fetch(
        desk.url,
        "SELECT DISTINCT p.phone FROM vote_owner o JOIN person p ON p.id = o.person_id WHERE o.vote_id = $1",
        vote,
    )
    for row in owners:
        choice = "DISAGREE" if row["phone"] in against else "AGREE"
        await desk.data(row["phone"], CAST, {"id": vote_id, "choice": choice})


async def test_the_elevator_of_building_6_as_works_with_its_objection_window(
    api: Api, demo_db_url: str
) -> None:
    url, desk = demo_db_url, Desk(api, demo_db_url)
    base = {
        "compoundId": await compound_id(url),
        "buildingIds": [await building_id(url)],
        "title": "6栋1单元加装电梯",
        "description": "低层住户须逐户同意。",
        "matter": "RENOVATE_OR_REBUILD",
        "closesAt": later(),
        "kind": "WORKS",
    }
    # the kind and its households are explicit, and in scope
    other = await fetchval(
        url,
        "SELECT h.id FROM household h JOIN building b ON b.id = h.building_id WHERE b.name = '3栋' LIMIT 1",
    )
    for more in ({}, {"affectedHouseholdIds": [encode("Household", other)]}):
        error = (await desk.gql(OWNERS_COMMITTEE, OPEN, {"input": base | more}))["errors"][0]["extensions"]
        assert (error["code"], error["field"]) == ("BAD_USER_INPUT", "affectedHouseholdIds")
    first = await desk.data(OWNERS_COMMITTEE, OPEN, {"input": base | {"kind": "ASSEMBLY"}})
    vote = first["openVote"]["id"]
    ident = decode(vote)[1]
    (low, low_owner), (second, _) = await owned_households(url, ident, 2)
    affected = [encode("Household", low), encode("Household", second)]
    body = await desk.gql(
        OWNERS_COMMITTEE, OPEN, {"input": base | {"kind": "ASSEMBLY", "affectedHouseholdIds": affected}}
    )
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"

    # one directly affected household says no: the owners pass it by far, the works do not
    opened = (await desk.data(OWNERS_COMMITTEE, OPEN, {"input": base | {"affectedHouseholdIds": affected}}))[
        "openVote"
    ]
    numbers = sorted(
        [await fetchval(url, "SELECT number FROM household WHERE id = $1", h) for h in (low, second)]
    )
    assert (opened["kind"], opened["affectedHouseholds"], opened["decision"]) == ("WORKS", numbers, None)
    vote_id, vote_ident = opened["id"], decode(opened["id"])[1]
    # consent is given openly, apart from the secret ballot: the low owner agrees; the second
    # household's signed refusal is entered by the committee, with its photo
    low_phone = await fetchval(url, "SELECT phone FROM person WHERE id = $1", low_owner)
    consent = {"voteId": vote_id, "householdId": affected[0], "agree": True}
    assert (await desk.data(low_phone, CONSENT, {"i": consent}))["recordWorksConsent"]["agree"] is True
    refusal_entry = {"voteId": vote_id, "householdId": affected[1], "agree": False}
    error = (await desk.gql(OWNERS_COMMITTEE, CONSENT, {"i": refusal_entry}))["errors"][0]["extensions"]
    assert (error["code"], error["field"]) == ("BAD_USER_INPUT", "photos")
    error = (await desk.gql(low_phone, CONSENT, {"i": refusal_entry}))["errors"][0]["extensions"]
    assert (error["code"], error["field"]) == ("BAD_USER_INPUT", "householdId")
    signed = refusal_entry | {"photos": [await desk.photo(OWNERS_COMMITTEE)]}
    assert (await desk.data(OWNERS_COMMITTEE, CONSENT, {"i": signed}))["recordWorksConsent"]["agree"] is False
    await _everyone_votes(desk, vote_id, vote_ident, set())
    assert (await recount_from_rows(url, vote_ident)).approval_met(VoteRule.SPECIAL)
    closed = (await desk.data(OWNERS_COMMITTEE, CLOSE, {"id": vote_id}))["closeVote"]
    assert (closed["result"], closed["decision"]) == ("REJECTED", "OBJECTION_WINDOW")
    until = datetime.fromisoformat(closed["objectionUntil"])
    assert timedelta(days=6, hours=23) < until - datetime.now(UTC) <= timedelta(days=7)
    shown = (await desk.data(RESIDENT, SHOWN, {"id": vote_id}))["vote"]
    second_number = await fetchval(url, "SELECT number FROM household WHERE id = $1", second)
    assert f"{second_number} 未签署同意" in shown["resultExplanation"]
    assert shown["resultExplanation"].endswith("表决未通过。")

    # all agree: passed, then objections within the window, answered and settled
    again = (await desk.data(OWNERS_COMMITTEE, OPEN, {"input": base | {"affectedHouseholdIds": affected}}))[
        "openVote"
    ]
    vote_id, vote_ident = again["id"], decode(again["id"])[1]
    for household in affected:
        signed = {
            "voteId": vote_id,
            "householdId": household,
            "agree": True,
            "photos": [await desk.photo(OWNERS_COMMITTEE)],
        }
        await desk.data(OWNERS_COMMITTEE, CONSENT, {"i": signed})
    consents = await desk.data(
        RESIDENT, "query($id: ID!) { vote(id: $id) { worksConsents { household agree } } }", {"id": vote_id}
    )
    assert consents["vote"]["worksConsents"] == [{"household": n, "agree": True} for n in numbers]
    await _everyone_votes(desk, vote_id, vote_ident, set())
    closed = (await desk.data(OWNERS_COMMITTEE, CLOSE, {"id": vote_id}))["closeVote"]
    assert closed["result"] == "PASSED"
    shown = (await desk.data(RESIDENT, SHOWN, {"id": vote_id}))["vote"]
    assert "直接受影响的 2 户均已明确同意。" in shown["resultExplanation"]
    objection = await desk.data(
        RESIDENT, OBJECT, {"id": vote_id, "t": "电梯井位置挡住302的采光，公示图纸与实际不符"}
    )
    objection_id = objection["objectToResult"]["id"]
    code, _ = await desk.refusal(PROPERTY_STAFF, OBJECT, {"id": vote_id, "t": "物业的意见"})
    assert code == "FORBIDDEN"
    code, _ = await desk.refusal(RESIDENT, ANSWER, {"id": objection_id, "a": "自己答复", "s": True})
    assert code == "FORBIDDEN"
    answered = await desk.data(
        OWNERS_COMMITTEE, ANSWER, {"id": objection_id, "a": "将请设计单位复核", "s": False}
    )
    assert answered["answerObjection"] == {"answer": "将请设计单位复核", "settled": False}
    shown = (await desk.data(COMMUNITY_COMMITTEE, SHOWN, {"id": vote_id}))["vote"]
    assert (shown["unresolvedObjections"], shown["objections"]["totalCount"]) == (1, 1)
    settled = await desk.data(
        COMMUNITY_COMMITTEE, ANSWER, {"id": objection_id, "a": "已调整井道位置，业主同意", "s": True}
    )
    assert settled["answerObjection"]["settled"] is True
    code, _ = await desk.refusal(COMMUNITY_COMMITTEE, ANSWER, {"id": objection_id, "a": "再答复", "s": True})
    assert code == "CONFLICT"
    # the owner sees their own objection and its answer; another owner sees none of it
    mine = (await desk.data(RESIDENT, SHOWN, {"id": vote_id}))["vote"]["objections"]
    assert mine["edges"][0]["node"] == {
        "text": "电梯井位置挡住302的采光，公示图纸与实际不符",
        "answer": "已调整井道位置，业主同意",
        "settled": True,
    }
    low_phone = await fetchval(url, "SELECT phone FROM person WHERE id = $1", low_owner)
    assert (await desk.data(low_phone, SHOWN, {"id": vote_id}))["vote"]["objections"]["totalCount"] == 0

    # the window closes (a week on): settled in time, the works take effect
    await fetch(
        url,
        "UPDATE vote_objection SET raised_at = raised_at - interval '8 days', answered_at = answered_at - interval '8 days', settled_at = settled_at - interval '8 days' WHERE vote_id = $1",
        vote_ident,
    )
    await fetch(url, "UPDATE vote SET objection_until = now() - interval '1 day' WHERE id = $1", vote_ident)
    assert (await desk.data(RESIDENT, SHOWN, {"id": vote_id}))["vote"]["decision"] == "FINAL"
    code, message = await desk.refusal(RESIDENT, OBJECT, {"id": vote_id, "t": "晚了的异议"})
    assert code == "CONFLICT" and "公示期已经结束" in message
    # one left unresolved when the window closed: the works do not take effect, even if settled later
    await fetch(url, "UPDATE vote SET objection_until = now() + interval '1 day' WHERE id = $1", vote_ident)
    late = (await desk.data(RESIDENT, OBJECT, {"id": vote_id, "t": "施工噪音时段未公示"}))["objectToResult"][
        "id"
    ]
    await fetch(
        url,
        "UPDATE vote SET objection_until = o.raised_at + interval '1 millisecond' FROM vote_objection o"
        " WHERE vote.id = $1 AND o.id = $2",
        vote_ident,
        decode(late)[1],
    )
    assert (await desk.data(RESIDENT, SHOWN, {"id": vote_id}))["vote"]["decision"] == "NOT_EFFECTIVE"
    await desk.data(OWNERS_COMMITTEE, ANSWER, {"id": late, "a": "已公示施工时段", "s": True})
    final = (await desk.data(RESIDENT, SHOWN, {"id": vote_id}))["vote"]
    assert (final["decision"], final["unresolvedObjections"]) == ("NOT_EFFECTIVE", 0)
    # its record, to file: the objections and their answers, and where the decision stands
    committee = {"Authorization": f"Bearer {await desk.token(COMMUNITY_COMMITTEE)}"}
    response = await api.client.get(f"/exports/votes/{vote_id}.pdf", headers=committee)
    assert response.status_code == 200
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(response.content)).pages)
    for expected in ("施工噪音时段未公示", "已公示施工时段（已解决）", "决定未生效", "直接受影响的住户"):
        assert expected in text, expected
    still_open = await desk.data(OWNERS_COMMITTEE, OPEN, {"input": base | {"affectedHouseholdIds": affected}})
    response = await api.client.get(f"/exports/votes/{still_open['openVote']['id']}.pdf", headers=committee)
    assert response.status_code == 409 and "表决结束后" in response.json()["errors"][0]["message"]
