"""Moderation on the demo world: text held for review is its author's and its moderators' until a
moderator approves it (then everyone's who may read the task) or removes it (then still only
theirs, with the reason); the queue, the policy both ways, the record, and two moderators at once.

Held text is made as the content check leaves it (`review_hold = 'HELD'`, a comment's payload
`held_for_review`); how the check holds it is tested in test_content_check.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from resolvers.ids import decode, encode
from schema.compiled import ANSWERS
from tests.conftest import Api, fetch, fetchval, person_id, token_for, unpriced
from tests.test_task_api import Desk
from tests.test_task_matrix import CALLERS, TEAM, prepared_task
from tests.votes import compound_id

RESIDENT, TENANT, CHIEF, GRID, COMMUNITY, PROPERTY = (
    "13800000007",
    "13800000008",
    "13800000001",
    "13800000003",
    "13800000004",
    "13800000005",
)

TASK = """query($id: ID!) { task(id: $id) { title heldForReview removed removalReason
  timeline(first: 50) { edges { node { text heldForReview removalReason } } }
  lastEvent { text } } }"""
LIST = (
    """query($compound: ID!) { compound(id: $compound) { tasks(first: 50) { edges { node { title } } } } }"""
)
QUEUE = """query($compound: ID!) { moderationQueue(compoundId: $compound) {
  tasks { totalCount edges { node { id title } } } comments { edges { node { id text } } } } }"""
APPROVE = """mutation($id: ID!) { approveContent(id: $id) { decision reason decidedAt task { title } } }"""
REMOVE = (
    """mutation($id: ID!, $reason: String!) { removeContent(id: $id, reason: $reason) { decision reason } }"""
)


@pytest_asyncio.fixture
async def desk(api: Api, demo_db_url: str) -> AsyncIterator[Desk]:
    yield Desk(api, demo_db_url)


async def twice(desk: Desk, phone: str, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    """The answer of strawberry and, asked again, of the compiled statement: the same."""
    first = unpriced(await desk.as_(phone, query, variables))
    before = ANSWERS.labels("sql")._value.get()
    second = unpriced(await desk.as_(phone, query, variables))
    assert second == first
    if "errors" not in second:
        assert ANSWERS.labels("sql")._value.get() == before + 1
    return second


async def held_task(desk: Desk, title: str = "6栋门口井盖松动") -> str:
    task_id = await desk.new_task(RESIDENT, title=title)
    await fetch(desk.url, "UPDATE task SET review_hold = 'HELD' WHERE id = $1", decode(task_id)[1])
    return task_id


async def held_comment(desk: Desk, task_id: str, text: str) -> str:
    """A comment by the resident that the content check held, as the comment mutation writes it."""
    ident = await fetchval(
        desk.url,
        "INSERT INTO task_event (task_id, compound_id, kind, actor_id, actor_role, payload)"
        " SELECT id, compound_id, 'COMMENTED', $2, 'REPORTER', $3::jsonb FROM task WHERE id = $1 RETURNING id",
        decode(task_id)[1],
        await person_id(desk.url, RESIDENT),
        json.dumps({"text": text, "held_for_review": True}),
    )
    return encode("TaskEvent", ident)


async def decisions(desk: Desk) -> list[tuple[str, str | None]]:
    rows = await fetch(desk.url, "SELECT decision, reason FROM moderation_decision ORDER BY decided_at")
    return [(r["decision"], r["reason"]) for r in rows]


async def test_a_held_report_is_its_authors_and_the_teams_until_approved(desk: Desk) -> None:
    task_id = await held_task(desk)
    compound = await compound_id(desk.url)
    for phone in (RESIDENT, CHIEF, GRID, COMMUNITY):
        body = await twice(desk, phone, TASK, {"id": task_id})
        assert body["data"]["task"]["heldForReview"] is True, phone
    for phone in (TENANT, PROPERTY):
        body = await twice(desk, phone, TASK, {"id": task_id})
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN", phone
        listed = await twice(desk, phone, LIST, {"compound": compound})
        assert "6栋门口井盖松动" not in [
            e["node"]["title"] for e in listed["data"]["compound"]["tasks"]["edges"]
        ]

    queue = await desk.as_(CHIEF, QUEUE, {"compound": compound})
    assert [e["node"]["id"] for e in queue["data"]["moderationQueue"]["tasks"]["edges"]] == [task_id]
    nothing = await desk.as_(TENANT, QUEUE, {"compound": compound})
    assert nothing["data"]["moderationQueue"]["tasks"] == {"totalCount": 0, "edges": []}

    approved = await desk.as_(CHIEF, APPROVE, {"id": task_id})
    assert "errors" not in approved, approved
    assert approved["data"]["approveContent"]["decision"] == "APPROVED"
    assert approved["data"]["approveContent"]["task"]["title"] == "6栋门口井盖松动"
    body = await twice(desk, TENANT, TASK, {"id": task_id})
    assert body["data"]["task"]["heldForReview"] is False
    queue = await desk.as_(CHIEF, QUEUE, {"compound": compound})
    assert queue["data"]["moderationQueue"]["tasks"]["totalCount"] == 0
    # on the record: the decision and the audit trail
    assert await decisions(desk) == [("APPROVED", None)]
    audited = await fetchval(
        desk.url, "SELECT count(*) FROM audit_record WHERE payload::jsonb ->> 'action' = 'MODERATE'"
    )
    assert audited == 1
    again = await desk.as_(GRID, APPROVE, {"id": task_id})
    assert again["errors"][0]["extensions"]["code"] == "CONFLICT"
    assert await decisions(desk) == [("APPROVED", None)]


async def test_a_removed_report_stays_its_authors_with_the_reason(desk: Desk) -> None:
    task_id = await held_task(desk)
    refused = await desk.as_(CHIEF, REMOVE, {"id": task_id, "reason": "  "})
    assert refused["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "reason"}
    assert await decisions(desk) == []
    removed = await desk.as_(CHIEF, REMOVE, {"id": task_id, "reason": "含有他人电话号码"})
    assert removed["data"]["removeContent"] == {"decision": "REMOVED", "reason": "含有他人电话号码"}
    author = await twice(desk, RESIDENT, TASK, {"id": task_id})
    assert author["data"]["task"]["removed"] is True
    assert author["data"]["task"]["removalReason"] == "含有他人电话号码"
    assert author["data"]["task"]["heldForReview"] is False
    neighbour = await twice(desk, TENANT, TASK, {"id": task_id})
    assert neighbour["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    # removed is decided: it is not approved afterwards
    later = await desk.as_(GRID, APPROVE, {"id": task_id})
    assert later["errors"][0]["extensions"]["code"] == "CONFLICT"


async def test_a_held_comment_is_hidden_from_other_readers_until_approved(desk: Desk) -> None:
    task_id = await desk.new_task(RESIDENT)
    comment = await held_comment(desk, task_id, "物业经理电话 139xxxx")
    other = await held_comment(desk, task_id, "还有一条待审核的")

    def texts(body: dict) -> list[str]:
        return [e["node"]["text"] for e in body["data"]["task"]["timeline"]["edges"]]

    neighbour = await twice(desk, TENANT, TASK, {"id": task_id})
    assert "物业经理电话 139xxxx" not in texts(neighbour)
    assert neighbour["data"]["task"]["lastEvent"]["text"] is None  # the report, not a held comment
    author = await twice(desk, RESIDENT, TASK, {"id": task_id})
    assert texts(author)[-2:] == ["物业经理电话 139xxxx", "还有一条待审核的"]
    assert [e["node"]["heldForReview"] for e in author["data"]["task"]["timeline"]["edges"]][-2:] == [
        True,
        True,
    ]
    hidden = await desk.as_(TENANT, "query($id: ID!) { node(id: $id) { id } }", {"id": comment})
    assert hidden["errors"][0]["extensions"]["code"] == "FORBIDDEN"

    compound = await compound_id(desk.url)
    queue = await desk.as_(GRID, QUEUE, {"compound": compound})
    assert {e["node"]["id"] for e in queue["data"]["moderationQueue"]["comments"]["edges"]} == {
        comment,
        other,
    }

    assert "errors" not in await desk.as_(GRID, APPROVE, {"id": comment})
    assert "errors" not in await desk.as_(GRID, REMOVE, {"id": other, "reason": "重复内容"})
    neighbour = await twice(desk, TENANT, TASK, {"id": task_id})
    assert texts(neighbour)[-1] == "物业经理电话 139xxxx"
    assert "还有一条待审核的" not in texts(neighbour)
    author = await twice(desk, RESIDENT, TASK, {"id": task_id})
    edges = author["data"]["task"]["timeline"]["edges"]
    assert [(e["node"]["heldForReview"], e["node"]["removalReason"]) for e in edges[-2:]] == [
        (False, None),
        (False, "重复内容"),
    ]
    queue = await desk.as_(GRID, QUEUE, {"compound": compound})
    assert queue["data"]["moderationQueue"]["comments"]["edges"] == []


async def test_a_held_dispute_is_queued_only_for_those_who_may_read_it(desk: Desk) -> None:
    party = encode("Person", await person_id(desk.url, "13800000012"))
    task_id = await desk.new_task(
        RESIDENT,
        kind="DISPUTE",
        category="NEIGHBOUR_RELATIONS",
        title="楼上漏水纠纷",
        description="楼上漏水到我家",
        partyIds=[party],
    )
    await fetch(desk.url, "UPDATE task SET review_hold = 'HELD' WHERE id = $1", decode(task_id)[1])
    await held_comment(desk, task_id, "对方电话是……")
    compound = await compound_id(desk.url)
    # the chief convener triages the compound's issues but does not read its disputes
    chief = await desk.as_(CHIEF, QUEUE, {"compound": compound})
    assert chief["data"]["moderationQueue"]["tasks"]["edges"] == []
    assert chief["data"]["moderationQueue"]["comments"]["edges"] == []
    refused = await desk.as_(CHIEF, APPROVE, {"id": task_id})
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    grid = await desk.as_(GRID, QUEUE, {"compound": compound})
    assert [e["node"]["id"] for e in grid["data"]["moderationQueue"]["tasks"]["edges"]] == [task_id]
    assert len(grid["data"]["moderationQueue"]["comments"]["edges"]) == 1


async def test_nobody_decides_on_their_own_text(desk: Desk) -> None:
    task_id = await desk.new_task(CHIEF, title="班子自己反映的", kind="PROJECT", photoUrls=[])
    await fetch(desk.url, "UPDATE task SET review_hold = 'HELD' WHERE id = $1", decode(task_id)[1])
    own = await desk.as_(CHIEF, APPROVE, {"id": task_id})
    assert own["errors"][0]["extensions"]["code"] == "CONFLICT"
    assert "自己" in own["errors"][0]["message"]
    assert "errors" not in await desk.as_(GRID, APPROVE, {"id": task_id})


async def test_a_removed_report_is_not_edited_back_into_review(desk: Desk) -> None:
    task_id = await held_task(desk)
    assert "errors" not in await desk.as_(CHIEF, REMOVE, {"id": task_id, "reason": "不实信息"})
    edit = """mutation($id: ID!) { editTask(id: $id, title: "改个标题再试试") { title } }"""
    body = await desk.as_(RESIDENT, edit, {"id": task_id})
    assert body["errors"][0]["extensions"]["code"] == "CONFLICT"
    assert (
        await fetchval(desk.url, "SELECT review_hold FROM task WHERE id = $1", decode(task_id)[1])
        == "REMOVED"
    )


async def test_the_author_of_a_hidden_comment_does_not_appear_by_it(desk: Desk) -> None:
    """Someone shown to a reader only through a task (a resident of another building commenting on
    it) is not shown through a comment the reader may not see."""
    task_id = await desk.new_task(RESIDENT, buildingId=None, title="小区大门门禁坏了")
    other = await fetchval(
        desk.url,
        "SELECT p.phone FROM person p JOIN home h ON h.person_id = p.id JOIN household x ON x.id = h.household_id"
        " JOIN building b ON b.id = x.building_id JOIN compound c ON c.id = b.compound_id"
        " WHERE c.key = 'qianshan-meilin' AND b.name <> '6栋' ORDER BY p.phone LIMIT 1",
    )
    author = await person_id(desk.url, other)
    await fetch(
        desk.url,
        "INSERT INTO task_event (task_id, compound_id, kind, actor_id, actor_role, payload)"
        " SELECT id, compound_id, 'COMMENTED', $2, 'RESIDENT', $3::jsonb FROM task WHERE id = $1",
        decode(task_id)[1],
        author,
        json.dumps({"text": "待审核", "held_for_review": True}),
    )
    node = "query($id: ID!) { node(id: $id) { id } }"
    hidden = await desk.as_(TENANT, node, {"id": encode("Person", author)})
    assert hidden["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    shown = await desk.as_(GRID, node, {"id": encode("Person", author)})
    assert shown["data"]["node"]["id"] == encode("Person", author)


async def test_text_that_was_never_held_is_not_moderated(desk: Desk) -> None:
    task_id = await desk.new_task(RESIDENT)
    body = await desk.as_(CHIEF, APPROVE, {"id": task_id})
    assert body["errors"][0]["extensions"]["code"] == "CONFLICT"
    vote_like = await desk.as_(CHIEF, APPROVE, {"id": encode("Compound", uuid.uuid4())})
    assert vote_like["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "id"}
    assert await decisions(desk) == []


@pytest.mark.parametrize("caller", CALLERS)
async def test_who_may_moderate(api: Api, demo_db_url: str, caller: str) -> None:
    desk = Desk(api, demo_db_url)
    task_id = await prepared_task(api, demo_db_url, "SUBMITTED")
    comment = await held_comment(desk, task_id, "待审核的评论")
    await fetch(demo_db_url, "UPDATE task SET review_hold = 'HELD' WHERE id = $1", decode(task_id)[1])
    token = await token_for(demo_db_url, caller)
    for body in (
        await api.gql(APPROVE, {"id": comment}, token=token),
        await api.gql(REMOVE, {"id": task_id, "reason": "不实信息"}, token=token),
    ):
        if caller in TEAM:
            assert "errors" not in body, (caller, body)
        else:
            assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN", (caller, body)
    assert len(await decisions(desk)) == (2 if caller in TEAM else 0)


async def test_two_moderators_at_once_decide_once(desk: Desk) -> None:
    task_id = await desk.new_task(RESIDENT)
    for phone in (CHIEF, GRID):
        await desk.token(phone)
    for n in range(3):
        comment = await held_comment(desk, task_id, f"待审核{n}")
        approved, removed = await asyncio.gather(
            desk.as_(CHIEF, APPROVE, {"id": comment}),
            desk.as_(GRID, REMOVE, {"id": comment, "reason": "不当"}),
        )
        winners = [b for b in (approved, removed) if "errors" not in b]
        assert len(winners) == 1, (approved, removed)
        loser = removed if winners[0] is approved else approved
        assert loser["errors"][0]["extensions"]["code"] == "CONFLICT"
        count = await fetchval(
            desk.url, "SELECT count(*) FROM moderation_decision WHERE event_id = $1", decode(comment)[1]
        )
        assert count == 1


async def test_text_edited_after_the_moderator_read_it_is_not_approved_unseen(desk: Desk) -> None:
    """The moderator approves what they read: the task's `updatedAt` they saw goes with the approval,
    and an edit in between (the author's, held again) makes it a conflict that decides nothing."""
    task_id = await held_task(desk)
    read = await desk.as_(CHIEF, "query($id: ID!) { task(id: $id) { title updatedAt } }", {"id": task_id})
    seen = read["data"]["task"]["updatedAt"]
    edited = await desk.as_(
        RESIDENT,
        'mutation($id: ID!) { editTask(id: $id, title: "6栋门口井盖松动了，有人踩空") { title } }',
        {"id": task_id},
    )
    assert "errors" not in edited, edited
    approve = """mutation($id: ID!, $seen: DateTime) { approveContent(id: $id, seenUpdatedAt: $seen) {
      decision task { title } } }"""
    stale = await desk.as_(CHIEF, approve, {"id": task_id, "seen": seen})
    assert stale["errors"][0]["extensions"]["code"] == "CONFLICT", stale
    assert "重新查看" in stale["errors"][0]["message"]
    assert await decisions(desk) == []
    again = await desk.as_(CHIEF, "query($id: ID!) { task(id: $id) { title updatedAt } }", {"id": task_id})
    assert again["data"]["task"]["title"] == "6栋门口井盖松动了，有人踩空"
    done = await desk.as_(CHIEF, approve, {"id": task_id, "seen": again["data"]["task"]["updatedAt"]})
    assert done["data"]["approveContent"] == {
        "decision": "APPROVED",
        "task": {"title": "6栋门口井盖松动了，有人踩空"},
    }
