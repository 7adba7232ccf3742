"""Rules of procedure and paper ballots over the API, as the owners' committee and the community
committee hold the building-6 elevator vote with paper and online ballots: every step checked
against an independent recount from the rows."""

from __future__ import annotations

import asyncio
import io
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from pypdf import PdfReader

from models.procedure_rules import DISPUTED, Procedure, final_tally, majority_side, unreturned
from models.vote_rules import Choice, VoteRule
from resolvers.ids import decode, encode
from tests.conftest import Api, fetch, fetchval, token_for
from tests.test_photos import uploaded
from tests.votes import CAST, compound_id, open_building6_vote, recount_from_rows, stored_tally

OWNERS_COMMITTEE = "13800000006"
COMMUNITY_COMMITTEE = "13800000004"
PROPERTY_STAFF = "13800000005"
RESIDENT = "13800000007"  # co-owner of 6-1-302

ADOPT = """mutation($i: AdoptProcedureRulesInput!) { adoptProcedureRules(input: $i) {
  version paperBallots proxies doubleVote unreturnedWithMajority legallyDisputed adoptedAt note } }"""
RULES = """query($id: ID!) { node(id: $id) { ... on Compound {
  procedureRules { version doubleVote } procedureRuleHistory { version } } } }"""
PAPER = "id household status signerName note signer { name } enteredBy { name } confirmedBy { name } photos { url }"
ENTER = f"mutation($i: EnterPaperBallotInput!) {{ enterPaperBallot(input: $i) {{ {PAPER} }} }}"
CONFIRM = f"mutation($i: ConfirmPaperBallotInput!) {{ confirmPaperBallot(input: $i) {{ {PAPER} }} }}"
VOTE = """query($id: ID!, $h: ID!) { vote(id: $id) { status result resultExplanation
  procedureRules { version }
  tally { participatingHeadcount agreeArea ballotsCast }
  notVoted(first: 100) { edges { node { number } } }
  paperBallots(first: 20) { totalCount edges { node { household status } } }
  ballotHistory(householdId: $h) { channel counted choice note } } }"""
HISTORY = """query($id: ID!, $h: ID!) { vote(id: $id) { ballotHistory(householdId: $h) { channel counted choice note } } }"""
CLOSE = "mutation($id: ID!) { closeVote(id: $id) { status result digest } }"
RECORD = "query($id: ID!) { vote(id: $id) { recordPath } }"


class Desk:
    """The people holding a vote on paper and online, each with their token."""

    def __init__(self, api: Api, url: str) -> None:
        self.api, self.url = api, url
        self.tokens: dict[str, str] = {}

    async def token(self, phone: str) -> str:
        if phone not in self.tokens:
            self.tokens[phone] = await token_for(self.url, phone)
        return self.tokens[phone]

    async def gql(self, phone: str, query: str, variables: dict) -> dict:
        return await self.api.gql(query, variables, token=await self.token(phone))

    async def data(self, phone: str, query: str, variables: dict) -> dict:
        body = await self.gql(phone, query, variables)
        assert "errors" not in body, body
        return body["data"]

    async def refusal(self, phone: str, query: str, variables: dict) -> tuple[str, str]:
        body = await self.gql(phone, query, variables)
        assert body.get("errors"), body
        error = body["errors"][0]
        return error["extensions"]["code"], error["message"]

    async def adopt(self, **rules: object) -> dict:
        given = {"compoundId": await compound_id(self.url), **rules}
        return (await self.data(COMMUNITY_COMMITTEE, ADOPT, {"i": given}))["adoptProcedureRules"]

    async def open6(self) -> tuple[str, uuid.UUID]:
        body = await open_building6_vote(self.api, self.url, await self.token(OWNERS_COMMITTEE))
        assert "errors" not in body, body
        vote_id = body["data"]["openVote"]["id"]
        return vote_id, decode(vote_id)[1]

    async def photo(self, phone: str) -> str:
        return (await uploaded(self.api, await self.token(phone)))["id"]

    async def enter(
        self, phone: str, vote_id: str, household: uuid.UUID, choice: str, **more: object
    ) -> dict:
        given = {"voteId": vote_id, "householdId": encode("Household", household), "choice": choice}
        given |= {"photos": [await self.photo(phone)]} | more
        return await self.gql(phone, ENTER, {"i": given})

    async def confirm(self, phone: str, paper_id: str, choice: str, **signer: object) -> dict:
        return await self.gql(phone, CONFIRM, {"i": {"paperBallotId": paper_id, "choice": choice, **signer}})


async def household_of(url: str, vote: uuid.UUID, phone: str) -> uuid.UUID:
    return await fetchval(
        url,
        "SELECT o.household_id FROM vote_owner o JOIN person p ON p.id = o.person_id"
        " WHERE o.vote_id = $1 AND p.phone = $2 ORDER BY o.household_id LIMIT 1",
        vote,
        phone,
    )


async def owned_households(url: str, vote: uuid.UUID, count: int) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """(household, one of its owners) for `count` households whose owners own only that one in the
    vote, none of them the test's named people."""
    rows = await fetch(
        url,
        "SELECT e.household_id, min(o.person_id::text)::uuid AS owner FROM vote_electorate e"
        " JOIN vote_owner o ON o.vote_id = e.vote_id AND o.household_id = e.household_id"
        " JOIN person p ON p.id = o.person_id"
        " WHERE e.vote_id = $1 AND p.phone NOT LIKE '138000000%'"
        " AND NOT EXISTS (SELECT 1 FROM vote_owner x WHERE x.vote_id = e.vote_id"
        "   AND x.person_id = o.person_id AND x.household_id <> e.household_id)"
        " GROUP BY e.household_id, e.number ORDER BY e.number LIMIT $2",
        vote,
        count,
    )
    return [(r["household_id"], r["owner"]) for r in rows]


async def passed_rules_vote(desk: Desk) -> str:
    """A compound-wide vote on the rules of procedure, opened through the API and then recorded as
    closed and passed (its counting is tested elsewhere; here it is the basis of a version)."""
    opened = await desk.data(
        OWNERS_COMMITTEE,
        "mutation($i: OpenVoteInput!) { openVote(input: $i) { id } }",
        {
            "i": {
                "compoundId": await compound_id(desk.url),
                "wholeCompound": True,
                "title": "修改业主大会议事规则",
                "description": "不再接受书面表决票。",
                "matter": "RULES_OF_PROCEDURE",
                "closesAt": (datetime.now(UTC) + timedelta(days=7)).isoformat(),
            }
        },
    )
    vote_id = opened["openVote"]["id"]
    await fetch(
        desk.url,
        "UPDATE vote SET status = 'CLOSED', result = 'PASSED', closed_at = now() WHERE id = $1",
        decode(vote_id)[1],
    )
    return vote_id


async def assert_recounted(url: str, vote: uuid.UUID) -> None:
    assert await stored_tally(url, vote) == await recount_from_rows(url, vote)


async def test_rules_of_procedure_are_versioned_and_each_vote_keeps_its_own(
    api: Api, demo_db_url: str
) -> None:
    desk = Desk(api, demo_db_url)
    compound = await compound_id(demo_db_url)
    shown = (await desk.data(RESIDENT, RULES, {"id": compound}))["node"]
    assert shown == {
        "procedureRules": {"version": 0, "doubleVote": "LATEST"},
        "procedureRuleHistory": [{"version": 0}],
    }
    # the first version is the rules adopted before: where they come from is said
    code, message = await desk.refusal(COMMUNITY_COMMITTEE, ADOPT, {"i": {"compoundId": compound}})
    assert code == "BAD_USER_INPUT" and "写明通过的业主大会会议和日期" in message
    first = await desk.adopt(doubleVote="PAPER", note="2026年6月1日业主大会通过")
    assert first | {"adoptedAt": None} == {
        "version": 1,
        "paperBallots": True,
        "proxies": True,
        "doubleVote": "PAPER",
        "unreturnedWithMajority": False,
        "legallyDisputed": False,
        "adoptedAt": None,
        "note": "2026年6月1日业主大会通过",
    }
    vote_id, vote = await desk.open6()
    # counting the silent is recorded only with the resolution it comes from
    code, message = await desk.refusal(
        COMMUNITY_COMMITTEE, ADOPT, {"i": {"compoundId": compound, "unreturnedWithMajority": True}}
    )
    assert code == "BAD_USER_INPUT" and "法律争议" in message
    # who may not record them, and a basis that is not a passed vote on the rules
    for phone in (RESIDENT, PROPERTY_STAFF):
        code, _ = await desk.refusal(phone, ADOPT, {"i": {"compoundId": compound}})
        assert code == "FORBIDDEN"
    code, message = await desk.refusal(
        COMMUNITY_COMMITTEE, ADOPT, {"i": {"compoundId": compound, "basisVoteId": vote_id}}
    )
    assert code == "BAD_USER_INPUT" and "已通过的“制定和修改业主大会议事规则”表决" in message
    # a later version only with the owners' vote that adopted it, and one vote adopts one version
    changed = {"paperBallots": False, "unreturnedWithMajority": True, "note": "2026年11月业主大会修改"}
    code, message = await desk.refusal(COMMUNITY_COMMITTEE, ADOPT, {"i": {"compoundId": compound, **changed}})
    assert code == "BAD_USER_INPUT" and "须经业主大会表决通过" in message
    basis = await passed_rules_vote(desk)
    second = await desk.adopt(basisVoteId=basis, **changed)
    assert (second["version"], second["legallyDisputed"]) == (2, True)
    code, message = await desk.refusal(
        COMMUNITY_COMMITTEE, ADOPT, {"i": {"compoundId": compound, "basisVoteId": basis}}
    )
    assert code == "CONFLICT" and "第2版" in message
    shown = (await desk.data(RESIDENT, RULES, {"id": compound}))["node"]
    assert [v["version"] for v in shown["procedureRuleHistory"]] == [2, 1, 0]
    # the open vote is still held under version 1; the versions cannot be changed in the database
    household = await household_of(demo_db_url, vote, RESIDENT)
    held = await desk.data(OWNERS_COMMITTEE, VOTE, {"id": vote_id, "h": encode("Household", household)})
    assert held["vote"]["procedureRules"] == {"version": 1}
    assert (
        await fetchval(
            demo_db_url, "SELECT count(*) FROM audit_record WHERE payload::jsonb->>'action' = 'SET_PROCEDURE'"
        )
        == 2
    )
    # under version 2 a new vote takes no paper ballot
    later_id, later = await desk.open6()
    target = (await owned_households(demo_db_url, later, 1))[0]
    code, message = await desk.refusal(
        OWNERS_COMMITTEE,
        ENTER,
        {
            "i": {
                "voteId": later_id,
                "householdId": encode("Household", target[0]),
                "choice": "AGREE",
                "signerId": encode("Person", target[1]),
                "photos": [await desk.photo(OWNERS_COMMITTEE)],
            }
        },
    )
    assert code == "CONFLICT" and "第2版" in message and "不接受书面表决票" in message


async def test_paper_ballots_are_entered_twice_and_counted_like_any_other(api: Api, demo_db_url: str) -> None:
    url, desk = demo_db_url, Desk(api, demo_db_url)
    vote_id, vote = await desk.open6()
    (paper_home, signer), (nameless_check, _) = await owned_households(url, vote, 2)
    signer_id = encode("Person", signer)
    resident_home = await household_of(url, vote, RESIDENT)
    await desk.data(RESIDENT, CAST, {"id": vote_id, "choice": "AGREE"})
    before = await stored_tally(url, vote)

    # the first entry: waits for a second person; nothing counts yet
    body = await desk.enter(OWNERS_COMMITTEE, vote_id, paper_home, "DISAGREE", signerId=signer_id)
    first = body["data"]["enterPaperBallot"]
    assert first["status"] == "PENDING" and len(first["photos"]) == 1 and first["confirmedBy"] is None
    assert "choice" not in first and await stored_tally(url, vote) == before
    # one pending entry per household; the enterer does not confirm their own
    body = await desk.enter(OWNERS_COMMITTEE, vote_id, paper_home, "DISAGREE", signerId=signer_id)
    assert body["errors"][0]["extensions"]["code"] == "CONFLICT"
    body = await desk.confirm(OWNERS_COMMITTEE, first["id"], "DISAGREE", signerId=signer_id)
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"

    # a second entry that differs: on the record, nothing counted
    body = await desk.confirm(COMMUNITY_COMMITTEE, first["id"], "AGREE", signerId=signer_id)
    mismatch = body["data"]["confirmPaperBallot"]
    assert mismatch["status"] == "MISMATCH" and "选择不一致" in mismatch["note"]
    assert await stored_tally(url, vote) == before
    body = await desk.confirm(COMMUNITY_COMMITTEE, first["id"], "DISAGREE", signerId=signer_id)
    assert body["errors"][0]["extensions"]["code"] == "CONFLICT"

    # entered afresh from the original, and confirmed: counted, in the tally and the turnout
    again = (await desk.enter(COMMUNITY_COMMITTEE, vote_id, paper_home, "DISAGREE", signerId=signer_id))[
        "data"
    ]
    body = await desk.confirm(
        OWNERS_COMMITTEE, again["enterPaperBallot"]["id"], "DISAGREE", signerId=signer_id
    )
    counted = body["data"]["confirmPaperBallot"]
    assert counted["status"] == "COUNTED" and counted["note"] is None
    # the photo shows the choice: given while it is being entered, not once it is decided
    assert len(mismatch["photos"]) == 1 and counted["photos"] == []
    two = await fetch(url, "SELECT entered_by, confirmed_by FROM paper_ballot WHERE status = 'COUNTED'")
    assert len(two) == 1 and two[0]["entered_by"] != two[0]["confirmed_by"]
    await assert_recounted(url, vote)
    after = await stored_tally(url, vote)
    assert after.disagree_headcount == before.disagree_headcount + 1
    number = await fetchval(url, "SELECT number FROM household WHERE id = $1", paper_home)
    shown = (await desk.data(OWNERS_COMMITTEE, VOTE, {"id": vote_id, "h": encode("Household", paper_home)}))[
        "vote"
    ]
    assert number not in [e["node"]["number"] for e in shown["notVoted"]["edges"]]
    assert shown["paperBallots"]["totalCount"] == 2
    assert [e["node"]["status"] for e in shown["paperBallots"]["edges"]] == ["COUNTED", "MISMATCH"]
    # staff see how and when a household voted, never how
    assert shown["ballotHistory"] == [{"channel": "PAPER", "counted": True, "choice": None, "note": None}]

    # a paper ballot handed in before the owner's online ballot: the latest counts (version 0)
    received = (await fetchval(url, "SELECT created_at FROM vote WHERE id = $1", vote)).isoformat()
    co_owner = await fetchval(url, "SELECT id FROM person WHERE phone = $1", RESIDENT)
    entry = await desk.enter(
        OWNERS_COMMITTEE,
        vote_id,
        resident_home,
        "DISAGREE",
        signerId=encode("Person", co_owner),
        receivedAt=received,
    )
    assert entry["data"]["enterPaperBallot"]["status"] == "PENDING"
    # the time it was handed in decides against the online ballot: it is entered twice too
    body = await desk.confirm(
        COMMUNITY_COMMITTEE,
        entry["data"]["enterPaperBallot"]["id"],
        "DISAGREE",
        signerId=encode("Person", co_owner),
    )
    timed = body["data"]["confirmPaperBallot"]
    assert timed["status"] == "MISMATCH" and "收票时间不一致" in timed["note"]
    entry = await desk.enter(
        OWNERS_COMMITTEE,
        vote_id,
        resident_home,
        "DISAGREE",
        signerId=encode("Person", co_owner),
        receivedAt=received,
    )
    body = await desk.confirm(
        COMMUNITY_COMMITTEE,
        entry["data"]["enterPaperBallot"]["id"],
        "DISAGREE",
        signerId=encode("Person", co_owner),
        receivedAt=received,
    )
    outranked = body["data"]["confirmPaperBallot"]
    assert outranked["status"] == "NOT_COUNTED" and "最后一次为准" in outranked["note"]
    await assert_recounted(url, vote)
    assert await stored_tally(url, vote) == after
    # the owner sees their household's history with the choices; a stranger is told nothing
    history = (await desk.data(RESIDENT, HISTORY, {"id": vote_id, "h": encode("Household", resident_home)}))[
        "vote"
    ]
    assert history["ballotHistory"] == [
        {"channel": "PAPER", "counted": False, "choice": "DISAGREE", "note": outranked["note"]},
        {"channel": "ONLINE", "counted": True, "choice": "AGREE", "note": None},
    ]
    stranger = await desk.gql(RESIDENT, HISTORY, {"id": vote_id, "h": encode("Household", paper_home)})
    assert stranger["data"]["vote"] is None and "不存在" in stranger["errors"][0]["message"]
    for phone in (RESIDENT, PROPERTY_STAFF):
        body = await desk.gql(
            phone, "query($id: ID!) { vote(id: $id) { paperBallots { totalCount } } }", {"id": vote_id}
        )
        assert body["errors"][0]["extensions"]["code"] in ("FORBIDDEN", "NOT_FOUND"), body

    # bad entries are refused and write nothing
    entries = await fetchval(url, "SELECT count(*) FROM paper_ballot")
    refusals = [
        ({"signerId": encode("Person", co_owner)}, paper_home, "signerId"),  # not an owner of it
        ({"signerName": "张三"}, nameless_check, "signerId"),  # it has owners: choose one
        ({"signerId": signer_id, "photos": []}, paper_home, "photos"),
        ({"signerId": signer_id, "receivedAt": "2020-01-01T00:00:00+08:00"}, paper_home, "receivedAt"),
        ({"signerId": signer_id}, uuid.uuid4(), "householdId"),
    ]
    for more, household, field in refusals:
        body = await desk.enter(OWNERS_COMMITTEE, vote_id, household, "AGREE", **more)
        error = body["errors"][0]
        assert (error["extensions"]["code"], error["extensions"].get("field")) == ("BAD_USER_INPUT", field), (
            body
        )
    body = await desk.enter(PROPERTY_STAFF, vote_id, paper_home, "AGREE", signerId=signer_id)
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert await fetchval(url, "SELECT count(*) FROM paper_ballot") == entries

    # the close: paper ballots are leaves of the published digest like online ones
    closed = (await desk.data(OWNERS_COMMITTEE, CLOSE, {"id": vote_id}))["closeVote"]
    assert closed["status"] == "CLOSED" and closed["digest"]
    channels = await fetch(
        url,
        "SELECT b.channel, count(*) FROM vote_electorate e JOIN ballot b ON b.id = e.ballot_id"
        " WHERE e.vote_id = $1 GROUP BY b.channel ORDER BY b.channel",
        vote,
    )
    assert [tuple(r) for r in channels] == [("ONLINE", 1), ("PAPER", 1)]
    body = await desk.confirm(COMMUNITY_COMMITTEE, first["id"], "DISAGREE", signerId=signer_id)
    assert body["errors"][0]["extensions"]["code"] == "CONFLICT"

    # the record to file with the street office: every household, how its ballot came, no choice
    path = (await desk.data(OWNERS_COMMITTEE, RECORD, {"id": vote_id}))["vote"]["recordPath"]
    committee = {"Authorization": f"Bearer {await desk.token(OWNERS_COMMITTEE)}"}
    response = await api.client.get(path, headers=committee)
    assert response.status_code == 200 and response.headers["content-type"] == "application/pdf"
    pages = [page.extract_text() for page in PdfReader(io.BytesIO(response.content)).pages]
    assert "业主表决记录" in pages[0] and closed["digest"][:16] in pages[0]
    listing = "".join(pages[1:])
    assert (
        number in listing
        and "书面" in listing
        and "两次录入不一致" in listing
        and "未计入（议事规则）" in listing
    )
    assert not any(word in listing for word in ("同意", "反对", "弃权", "AGREE", "DISAGREE"))
    assert (await desk.data(RESIDENT, RECORD, {"id": vote_id}))["vote"]["recordPath"] is None
    refused = await api.client.get(path, headers={"Authorization": f"Bearer {await desk.token(RESIDENT)}"})
    assert refused.status_code == 403 and refused.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    downloads = "SELECT count(*) FROM audit_record WHERE payload::jsonb->>'action' = 'DOWNLOAD_VOTE_RECORD'"
    assert await fetchval(url, downloads) == 1


async def test_where_paper_comes_first_an_online_ballot_is_refused(api: Api, demo_db_url: str) -> None:
    url, desk = demo_db_url, Desk(api, demo_db_url)
    await desk.adopt(doubleVote="PAPER", note="书面票优先")
    vote_id, vote = await desk.open6()
    home = await household_of(url, vote, RESIDENT)
    owner = encode("Person", await fetchval(url, "SELECT id FROM person WHERE phone = $1", RESIDENT))
    await desk.data(RESIDENT, CAST, {"id": vote_id, "choice": "AGREE"})
    entry = (await desk.enter(OWNERS_COMMITTEE, vote_id, home, "DISAGREE", signerId=owner))["data"]
    body = await desk.confirm(
        COMMUNITY_COMMITTEE, entry["enterPaperBallot"]["id"], "DISAGREE", signerId=owner
    )
    assert body["data"]["confirmPaperBallot"]["status"] == "COUNTED"  # over the earlier online one
    code, message = await desk.refusal(RESIDENT, CAST, {"id": vote_id, "choice": "AGREE"})
    assert code == "CONFLICT" and "以书面表决票为准" in message
    await assert_recounted(url, vote)
    history = (await desk.data(RESIDENT, HISTORY, {"id": vote_id, "h": encode("Household", home)}))["vote"]
    assert [(h["channel"], h["counted"], h["choice"]) for h in history["ballotHistory"]] == [
        ("ONLINE", False, "AGREE"),
        ("PAPER", True, "DISAGREE"),
    ]


async def test_a_paper_entry_racing_an_online_ballot_for_the_same_household(
    api: Api, demo_db_url: str
) -> None:
    """Both lock the household: whichever goes first, the online ballot is the later and counts."""
    url, desk = demo_db_url, Desk(api, demo_db_url)
    vote_id, vote = await desk.open6()
    home = await household_of(url, vote, RESIDENT)
    owner = encode("Person", await fetchval(url, "SELECT id FROM person WHERE phone = $1", RESIDENT))
    entries = []
    for _ in range(3):
        entry = await desk.enter(OWNERS_COMMITTEE, vote_id, home, "DISAGREE", signerId=owner)
        paper_id = entry["data"]["enterPaperBallot"]["id"]
        cast, confirmed = await asyncio.gather(
            desk.gql(RESIDENT, CAST, {"id": vote_id, "choice": "AGREE"}),
            desk.confirm(COMMUNITY_COMMITTEE, paper_id, "DISAGREE", signerId=owner),
        )
        assert "errors" not in cast and "errors" not in confirmed, (cast, confirmed)
        entries.append(confirmed["data"]["confirmPaperBallot"]["status"])
        await assert_recounted(url, vote)
        current = await fetchval(
            url,
            "SELECT b.channel FROM vote_electorate e JOIN ballot b ON b.id = e.ballot_id"
            " WHERE e.vote_id = $1 AND e.household_id = $2",
            vote,
            home,
        )
        assert current == "ONLINE"
    assert set(entries) <= {"COUNTED", "NOT_COUNTED"}


async def test_owners_who_did_not_vote_counted_with_the_majority_where_the_rules_say_so(
    api: Api, demo_db_url: str
) -> None:
    url, desk = demo_db_url, Desk(api, demo_db_url)
    await desk.adopt(unreturnedWithMajority=True, note="2019年业主大会通过的议事规则第十二条")
    vote_id, vote = await desk.open6()
    await desk.data(RESIDENT, CAST, {"id": vote_id, "choice": "AGREE"})
    closed = (await desk.data(OWNERS_COMMITTEE, CLOSE, {"id": vote_id}))["closeVote"]
    counted = await recount_from_rows(url, vote)
    area, heads = (
        await fetch(
            url,
            "SELECT coalesce(sum(e.area), 0) AS area, count(DISTINCT e.head) AS heads FROM vote_electorate e"
            " WHERE e.vote_id = $1 AND e.choice IS NULL AND EXISTS (SELECT 1 FROM vote_owner o"
            "   WHERE o.vote_id = e.vote_id AND o.household_id = e.household_id)",
            vote,
        )
    )[0]
    rules = Procedure(version=1, unreturned_with_majority=True)
    silent = unreturned(rules, counted, Decimal(area), heads)
    assert silent is not None and silent.side == majority_side(counted) == Choice.AGREE
    expected = final_tally(counted, silent).result(VoteRule.SPECIAL)
    assert closed["result"] == expected.value == "PASSED"  # one owner's ballot carried the silent
    row = (
        await fetch(
            url, "SELECT unreturned_area, unreturned_headcount, unreturned_as FROM vote WHERE id = $1", vote
        )
    )[0]
    assert tuple(row) == (Decimal(area), heads, "AGREE")
    explained = "query($id: ID!) { vote(id: $id) { resultExplanation tally { participatingHeadcount } } }"
    shown = (await desk.data(RESIDENT, explained, {"id": vote_id}))["vote"]
    assert shown["resultExplanation"].startswith("按实际投票：") and shown["resultExplanation"].endswith(
        DISPUTED
    )
    assert shown["tally"]["participatingHeadcount"] == counted.participating_headcount  # the count as cast
