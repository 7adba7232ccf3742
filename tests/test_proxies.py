"""Written proxies over the API: an elderly owner of building 6 appoints a relative with a signed
委托书, the owners' committee checks it, the proxy votes for the owner's households (never as a
head of their own), and the owner revokes it; every step against a recount from the rows."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from auth.backend import load_person_principal
from auth.facts import VoteFacts
from auth.policy import Action, Resource, allows
from auth.principal import PersonPrincipal
from resolvers import pipeline
from resolvers.ids import decode, encode
from resolvers.vote import CASTING
from tests.conftest import Api, fetch, fetchval
from tests.test_paper_ballots import (
    COMMUNITY_COMMITTEE,
    OWNERS_COMMITTEE,
    RESIDENT,
    Desk,
    assert_recounted,
    owned_households,
)
from tests.votes import compound_id, open_building6_vote, stored_tally

PROXY = "id status proxyName validFrom validUntil rejectReason revokedAt owner { id } proxy { id } vote { id } photos { url }"
APPOINT = f"mutation($i: AppointProxyInput!) {{ appointProxy(input: $i) {{ {PROXY} }} }}"
VERIFY = f"mutation($id: ID!, $ok: Boolean!, $why: String) {{ verifyProxy(id: $id, approve: $ok, reason: $why) {{ {PROXY} }} }}"
REVOKE = f"mutation($id: ID!) {{ revokeProxy(id: $id) {{ {PROXY} }} }}"
FOR = """mutation($id: ID!, $choice: Choice!, $owner: ID) {
  castBallot(voteId: $id, choice: $choice, onBehalfOf: $owner) { households receipt } }"""
HISTORY = """query($id: ID!, $h: ID!) { vote(id: $id) { ballotHistory(householdId: $h) { channel counted choice byProxy } } }"""
LISTS = """query($c: ID!) { me { proxyAppointments { id status } }
  node(id: $c) { ... on Compound { proxies(first: 10) { totalCount edges { node { id status } } } } } }"""


async def phone_of(url: str, person: uuid.UUID) -> str:
    return await fetchval(url, "SELECT phone FROM person WHERE id = $1", person)


async def someone_outside_building6(url: str) -> tuple[uuid.UUID, str]:
    """A person of the compound who owns nothing in building 6: the relative who is appointed."""
    row = (
        await fetch(
            url,
            "SELECT p.id, p.phone FROM person p WHERE p.phone IS NOT NULL AND p.phone NOT LIKE '138000000%'"
            " AND NOT EXISTS (SELECT 1 FROM home h JOIN household x ON x.id = h.household_id"
            "   JOIN building b ON b.id = x.building_id WHERE h.person_id = p.id AND b.name = '6栋')"
            " AND EXISTS (SELECT 1 FROM home h JOIN household x ON x.id = h.household_id"
            "   JOIN compound c ON c.id = x.compound_id WHERE h.person_id = p.id AND c.key = 'qianshan-meilin')"
            " ORDER BY p.phone LIMIT 1",
        )
    )[0]
    return row["id"], row["phone"]


async def test_a_proxy_votes_for_the_owner_once_checked_and_until_revoked(api: Api, demo_db_url: str) -> None:
    url, desk = demo_db_url, Desk(api, demo_db_url)
    vote_id, vote = await desk.open6()
    (home, owner), (_, other_owner) = await owned_households(url, vote, 2)
    elder, other = await phone_of(url, owner), await phone_of(url, other_owner)
    relative, relative_phone = await someone_outside_building6(url)
    compound = await compound_id(url)

    # the owner appoints, with the signed 委托书
    given = {
        "compoundId": compound,
        "proxyName": "王小明",
        "proxyPhone": relative_phone,
        "voteId": vote_id,
        "photos": [await desk.photo(elder)],
    }
    appointed = (await desk.data(elder, APPOINT, {"i": given}))["appointProxy"]
    assert appointed["status"] == "PENDING" and len(appointed["photos"]) == 1
    assert appointed["proxyName"] == "王小明"
    assert decode(appointed["vote"]["id"])[1] == vote
    stored = await fetch(
        url, "SELECT owner_id, proxy_id FROM vote_proxy WHERE id = $1", decode(appointed["id"])[1]
    )
    assert tuple(stored[0]) == (owner, relative)
    before = await stored_tally(url, vote)
    # not yet checked: the proxy may not vote; nobody but the committees checks it
    body = await desk.gql(
        relative_phone, FOR, {"id": vote_id, "choice": "AGREE", "owner": encode("Person", owner)}
    )
    assert body["errors"][0]["extensions"]["code"] in ("FORBIDDEN", "NOT_FOUND"), body
    for phone in (RESIDENT, elder, relative_phone):
        code, _ = await desk.refusal(phone, VERIFY, {"id": appointed["id"], "ok": True})
        assert code == "FORBIDDEN"
    verified = (await desk.data(OWNERS_COMMITTEE, VERIFY, {"id": appointed["id"], "ok": True}))["verifyProxy"]
    assert verified["status"] == "VERIFIED"

    # the proxy votes for the owner: the owner's households, the owner's head, not a head of their own
    body = await desk.gql(relative_phone, FOR, {"id": vote_id, "choice": "AGREE"})
    assert body["errors"][0]["extensions"] | {"field": body["errors"][0]["extensions"].get("field")} == {
        "code": "BAD_USER_INPUT",
        "field": "onBehalfOf",
    }
    cast = await desk.data(
        relative_phone, FOR, {"id": vote_id, "choice": "AGREE", "owner": encode("Person", owner)}
    )
    number = await fetchval(url, "SELECT number FROM household WHERE id = $1", home)
    assert cast["castBallot"]["households"] == [number] and cast["castBallot"]["receipt"]
    await assert_recounted(url, vote)
    after = await stored_tally(url, vote)
    assert after.participating_headcount == before.participating_headcount + 1
    ballot = (await fetch(url, "SELECT person_id, proxy_id FROM ballot WHERE vote_id = $1", vote))[0]
    assert (ballot["person_id"], ballot["proxy_id"]) == (owner, decode(appointed["id"])[1])
    # it is not the proxy's to vote for anyone else
    body = await desk.gql(
        relative_phone, FOR, {"id": vote_id, "choice": "AGREE", "owner": encode("Person", other_owner)}
    )
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"

    # the owner and the proxy see the appointment; the committee lists the compound's
    for phone in (elder, relative_phone):
        mine = await desk.gql(phone, LISTS, {"c": compound})
        assert [a["id"] for a in mine["data"]["me"]["proxyAppointments"]] == [appointed["id"]]
        assert mine["errors"][0]["extensions"]["code"] == "FORBIDDEN"  # not the compound's list
    listed = (await desk.data(COMMUNITY_COMMITTEE, LISTS, {"c": compound}))["node"]["proxies"]
    assert listed["totalCount"] == 1 and listed["edges"][0]["node"]["status"] == "VERIFIED"

    # revoked: no more ballots under it, and the one cast stays counted
    revoked = (await desk.data(elder, REVOKE, {"id": appointed["id"]}))["revokeProxy"]
    assert revoked["revokedAt"]
    body = await desk.gql(
        relative_phone, FOR, {"id": vote_id, "choice": "DISAGREE", "owner": encode("Person", owner)}
    )
    assert body["errors"][0]["extensions"]["code"] in ("FORBIDDEN", "NOT_FOUND"), body
    assert await stored_tally(url, vote) == after
    history = (await desk.data(elder, HISTORY, {"id": vote_id, "h": encode("Household", home)}))["vote"]
    assert history["ballotHistory"] == [
        {"channel": "ONLINE", "counted": True, "choice": "AGREE", "byProxy": True}
    ]
    code, _ = await desk.refusal(other, REVOKE, {"id": appointed["id"]})
    assert code in ("NOT_FOUND", "CONFLICT", "FORBIDDEN")


async def test_proxies_refused_checked_for_a_period_or_not_accepted(api: Api, demo_db_url: str) -> None:
    url, desk = demo_db_url, Desk(api, demo_db_url)
    compound = await compound_id(url)
    vote_id, vote = await desk.open6()
    ((_, owner),) = await owned_households(url, vote, 1)
    elder = await phone_of(url, owner)
    _, relative_phone = await someone_outside_building6(url)
    photo = [await desk.photo(elder)]
    base = {"compoundId": compound, "proxyName": "王小明", "proxyPhone": relative_phone, "photos": photo}
    # bad appointments write nothing
    count = await fetchval(url, "SELECT count(*) FROM vote_proxy")
    now = datetime.now(UTC)
    for more, field in [
        ({"proxyPhone": "12345"}, "proxyPhone"),
        ({"proxyName": "  ", "voteId": vote_id}, "proxyName"),
        ({"proxyPhone": elder, "voteId": vote_id}, "proxyPhone"),  # oneself
        ({}, "validUntil"),  # neither a vote nor a period
        ({"validFrom": now.isoformat(), "validUntil": (now - timedelta(days=1)).isoformat()}, "validUntil"),
        ({"voteId": vote_id, "photos": []}, "photos"),
    ]:
        body = await desk.gql(elder, APPOINT, {"i": base | more})
        error = body["errors"][0]
        assert (error["extensions"]["code"], error["extensions"].get("field")) == ("BAD_USER_INPUT", field), (
            body
        )
    relative_photo = [await desk.photo(relative_phone)]
    mine = base | {"voteId": vote_id, "proxyPhone": elder, "photos": relative_photo}
    error = (await desk.gql(relative_phone, APPOINT, {"i": mine}))["errors"][0]["extensions"]
    assert (error["code"], error["field"]) == ("BAD_USER_INPUT", "voteId")  # owns nothing in the vote
    assert await fetchval(url, "SELECT count(*) FROM vote_proxy") == count

    # a committee member named as proxy does not check their own appointment
    named = base | {"voteId": vote_id, "proxyPhone": OWNERS_COMMITTEE}
    mine = (await desk.data(elder, APPOINT, {"i": named}))["appointProxy"]
    code, message = await desk.refusal(OWNERS_COMMITTEE, VERIFY, {"id": mine["id"], "ok": True})
    assert code == "FORBIDDEN" and "不能核实自己的委托" in message
    assert (await desk.data(COMMUNITY_COMMITTEE, VERIFY, {"id": mine["id"], "ok": True}))["verifyProxy"][
        "status"
    ] == "VERIFIED"

    # a refusal needs a reason, which the owner reads
    period = {"validFrom": now.isoformat(), "validUntil": (now + timedelta(days=365)).isoformat()}
    appointed = (await desk.data(elder, APPOINT, {"i": base | period}))["appointProxy"]
    code, message = await desk.refusal(OWNERS_COMMITTEE, VERIFY, {"id": appointed["id"], "ok": False})
    assert code == "BAD_USER_INPUT" and "理由" in message
    rejected = await desk.data(
        OWNERS_COMMITTEE, VERIFY, {"id": appointed["id"], "ok": False, "why": "委托书未签字"}
    )
    assert rejected["verifyProxy"]["rejectReason"] == "委托书未签字"
    code, _ = await desk.refusal(COMMUNITY_COMMITTEE, VERIFY, {"id": appointed["id"], "ok": True})
    assert code == "CONFLICT"

    # a checked appointment for a period covers the votes opened in it
    appointed = (await desk.data(elder, APPOINT, {"i": base | period}))["appointProxy"]
    await desk.data(COMMUNITY_COMMITTEE, VERIFY, {"id": appointed["id"], "ok": True})
    later_id, later = await desk.open6()
    await desk.data(
        relative_phone, FOR, {"id": later_id, "choice": "DISAGREE", "owner": encode("Person", owner)}
    )
    await assert_recounted(url, later)

    # a phone nobody uses yet is answered as any other: it becomes a person, who votes once logged in
    people = await fetchval(url, "SELECT count(*) FROM person")
    newcomer = base | {"voteId": later_id, "proxyName": "李新", "proxyPhone": "13900000077"}
    fresh = (await desk.data(elder, APPOINT, {"i": newcomer}))["appointProxy"]
    known = (await desk.data(elder, APPOINT, {"i": base | {"voteId": later_id}}))["appointProxy"]
    assert set(fresh) == set(known) and (fresh["status"], fresh["proxyName"]) == ("PENDING", "李新")
    assert await fetchval(url, "SELECT count(*) FROM person") == people + 1
    # called by WeChat's placeholder until they say their name: an owner does not name somebody else
    assert await fetchval(url, "SELECT name FROM person WHERE phone = '13900000077'") == "微信用户"
    # the same phone again under another name is the same person; the checker sees both names
    again = (await desk.data(elder, APPOINT, {"i": newcomer | {"proxyName": "李新民"}}))["appointProxy"]
    assert again["proxyName"] == "李新民"
    assert (
        await fetchval(
            url,
            "SELECT count(DISTINCT proxy_id) FROM vote_proxy WHERE id = ANY($1::uuid[])",
            [decode(fresh["id"])[1], decode(again["id"])[1]],
        )
        == 1
    )
    assert await fetchval(url, "SELECT count(*) FROM person") == people + 1
    await desk.data(COMMUNITY_COMMITTEE, VERIFY, {"id": fresh["id"], "ok": True})
    await desk.data("13900000077", FOR, {"id": later_id, "choice": "AGREE", "owner": encode("Person", owner)})
    await assert_recounted(url, later)

    # where the rules of procedure take no proxies, none is appointed and none is used
    await desk.adopt(proxies=False, note="2026年12月业主大会修改")
    code, message = await desk.refusal(elder, APPOINT, {"i": base | period})
    assert code == "CONFLICT" and "不接受书面委托" in message
    last_id, _ = await desk.open6()
    code, message = await desk.refusal(
        relative_phone, FOR, {"id": last_id, "choice": "AGREE", "owner": encode("Person", owner)}
    )
    assert code == "CONFLICT" and "不接受书面委托" in message


async def test_a_period_proxy_counts_only_in_the_votes_its_owner_votes_in(api: Api, demo_db_url: str) -> None:
    """A checked appointment for a period is in force in every vote of the compound opened in it,
    but it makes its holder a proxy only where the appointing owner is an owner: the facts a ballot
    is judged by name the holder in the compound-wide vote, not in building 6's."""
    url, desk = demo_db_url, Desk(api, demo_db_url)
    compound = await compound_id(url)
    owner, owner_phone = await someone_outside_building6(url)
    relative = await fetchval(
        url,
        "SELECT id FROM person WHERE id <> $1 AND phone IS NOT NULL AND phone NOT LIKE '138000000%'"
        " AND NOT EXISTS (SELECT 1 FROM home h WHERE h.person_id = person.id) ORDER BY phone LIMIT 1",
        owner,
    )
    now = datetime.now(UTC)
    appointed = (
        await desk.data(
            owner_phone,
            APPOINT,
            {
                "i": {
                    "compoundId": compound,
                    "proxyName": "王小明",
                    "proxyPhone": await phone_of(url, relative),
                    "photos": [await desk.photo(owner_phone)],
                    "validFrom": (now - timedelta(minutes=1)).isoformat(),
                    "validUntil": (now + timedelta(days=30)).isoformat(),
                }
            },
        )
    )["appointProxy"]
    await desk.data(COMMUNITY_COMMITTEE, VERIFY, {"id": appointed["id"], "ok": True})
    _, six = await desk.open6()
    whole = await open_building6_vote(
        api, url, await desk.token(OWNERS_COMMITTEE), buildingIds=None, wholeCompound=True
    )
    assert "errors" not in whole, whole
    everyone = decode(whole["data"]["openVote"]["id"])[1]

    async with api.app.state.services.sessions() as session:
        holder = await load_person_principal(session, relative)
        assert holder is not None
        found = {}
        for vote in (six, everyone):
            loaded = await pipeline.load(session, CASTING, vote, holder, Action.CAST)
            assert loaded is not None
            found[vote] = loaded[1].proxies
    assert found == {six: frozenset(), everyone: frozenset({relative})}


def test_a_proxy_holder_may_read_and_cast_in_an_open_vote_and_no_more() -> None:
    proxy = PersonPrincipal(person_id=uuid.uuid4(), name="代理人")
    community, grid, compound = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    place = {"community_id": community, "grid_id": grid, "compound_id": compound}
    holding = VoteFacts(**place, status="OPEN", proxies=frozenset({proxy.person_id}))
    assert allows(proxy, Resource.VOTE, Action.READ, holding)
    assert allows(proxy, Resource.VOTE, Action.CAST, holding)
    for action in (Action.CLOSE, Action.READ_TURNOUT, Action.ENTER_PAPER_BALLOTS, Action.READ_ELECTORATE):
        assert not allows(proxy, Resource.VOTE, action, holding)
    assert not allows(proxy, Resource.VOTE, Action.CAST, VoteFacts(**place, status="OPEN"))
