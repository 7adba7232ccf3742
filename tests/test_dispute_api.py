"""Disputes (矛盾纠纷) over the API on the demo world: private parties, mediators, one outcome.

A resident reports a garage-leak dispute with his co-owner as the other party; the grid worker
names a mediator from the owners' committee, who only then sees the dispute and records how the
mediation ended.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from resolvers.ids import decode, encode
from tests.conftest import Api, fetch, fetchval, person_id
from tests.test_task_api import Desk
from tests.votes import compound_id

CHIEF = "13800000001"
BUILDING6 = "13800000002"
GRID = "13800000003"
COMMUNITY = "13800000004"
PROPERTY = "13800000005"
MEDIATOR = "13800000006"  # owners' committee member, owner of 3-2-801
REPORTER = "13800000007"  # owner of 6-1-302
OTHER_PARTY = "13800000012"  # co-owner of 6-1-302
OUTSIDER = "13800000011"
OTHER_GRID = "13800000013"

READ = """query($id: ID!) { task(id: $id) { kind title
  parties { id name phone } mediators { id name phone }
  disputeOutcome { agreed agreement recordedAt } } }"""
ADD = """mutation($task: ID!, $person: ID!) { addMediator(taskId: $task, personId: $person) {
  id mediators { id } } }"""
OUTCOME = """mutation($task: ID!, $agreed: Boolean!, $agreement: String) {
  recordDisputeOutcome(taskId: $task, agreed: $agreed, agreement: $agreement) {
    id disputeOutcome { agreed agreement recordedAt } } }"""
TIMELINE = (
    """query($id: ID!) { task(id: $id) { timeline(first: 50) { edges { node { kind actorRole text } } } } }"""
)
LIST = """query($c: ID!) { compound(id: $c) { tasks(first: 100) { edges { node { id } } } } }"""

AGREEMENT = "楼上业主负责修复车库防水层，并赔偿楼下业主损失800元。"


@pytest_asyncio.fixture
async def desk(api: Api, demo_db_url: str) -> AsyncIterator[Desk]:
    yield Desk(api, demo_db_url)


async def pid(desk: Desk, phone: str) -> str:
    return encode("Person", await person_id(desk.url, phone))


async def report_dispute(desk: Desk, parties: list[str]) -> dict:
    return await desk.report(
        REPORTER,
        kind="DISPUTE",
        category="NEIGHBOUR_RELATIONS",
        title="车库漏水纠纷",
        description="楼上车库漏水到我家车库，协商未果。",
        photoUrls=[],
        partyIds=[await pid(desk, phone) for phone in parties],
    )


async def new_dispute(desk: Desk) -> str:
    body = await report_dispute(desk, [OTHER_PARTY])
    assert "errors" not in body, body
    return body["data"]["reportTask"]["id"]


def code_of(body: dict) -> str:
    return body["errors"][0]["extensions"]["code"]


async def outcomes(desk: Desk) -> int:
    return await fetchval(desk.url, "SELECT count(*) FROM dispute_outcome")


async def mediators_in_db(desk: Desk) -> list[str]:
    rows = await fetch(
        desk.url,
        "SELECT p.phone FROM task_member m JOIN person p ON p.id = m.person_id WHERE m.role = 'MEDIATOR' "
        "ORDER BY p.phone",
    )
    return [r["phone"] for r in rows]


async def listed(desk: Desk, phone: str, task_id: str) -> bool:
    body = await desk.as_(phone, LIST, {"c": await compound_id(desk.url)})
    assert "errors" not in body, body
    return task_id in {e["node"]["id"] for e in body["data"]["compound"]["tasks"]["edges"]}


async def test_a_mediated_dispute_from_report_to_outcome(desk: Desk) -> None:
    task_id = await new_dispute(desk)
    mediator = await pid(desk, MEDIATOR)

    # before being named, the owners' committee member neither reads nor lists the dispute
    before = await desk.as_(MEDIATOR, READ, {"id": task_id})
    assert code_of(before) == "FORBIDDEN"
    assert before["errors"][0]["message"] == "该内容不存在，或您没有查看权限。"
    assert not await listed(desk, MEDIATOR, task_id)

    named = await desk.as_(GRID, ADD, {"task": task_id, "person": mediator})
    assert "errors" not in named, named
    assert named["data"]["addMediator"] == {"id": task_id, "mediators": [{"id": mediator}]}
    assert await mediators_in_db(desk) == [MEDIATOR]

    # now the mediator reads it, lists it, and sees the owners by name with masked phones
    seen = await desk.as_(MEDIATOR, READ, {"id": task_id})
    assert seen["data"]["task"] == {
        "kind": "DISPUTE",
        "title": "车库漏水纠纷",
        "parties": [
            {"id": await pid(desk, REPORTER), "name": "张德明", "phone": "138****0007"},
            {"id": await pid(desk, OTHER_PARTY), "name": "李淑珍", "phone": "138****0012"},
        ],
        "mediators": [{"id": mediator, "name": "周国庆", "phone": MEDIATOR}],
        "disputeOutcome": None,
    }
    assert await listed(desk, MEDIATOR, task_id)

    # the parties may not record the outcome themselves
    for party in (REPORTER, OTHER_PARTY):
        refused = await desk.as_(party, OUTCOME, {"task": task_id, "agreed": True, "agreement": AGREEMENT})
        assert code_of(refused) == "FORBIDDEN"
        assert refused["errors"][0]["message"] == "只有调解员、网格员或社区“两委”可以记录调解结果。"
    assert await outcomes(desk) == 0

    recorded = await desk.as_(MEDIATOR, OUTCOME, {"task": task_id, "agreed": True, "agreement": AGREEMENT})
    assert "errors" not in recorded, recorded
    outcome = recorded["data"]["recordDisputeOutcome"]["disputeOutcome"]
    assert (outcome["agreed"], outcome["agreement"]) == (True, AGREEMENT)
    stored = (await fetch(desk.url, "SELECT * FROM dispute_outcome"))[0]
    assert stored["task_id"] == decode(task_id)[1]
    assert stored["recorded_by"] == await person_id(desk.url, MEDIATOR)
    assert outcome["recordedAt"] == stored["recorded_at"].isoformat()

    # once only: a second outcome, by anyone, is a conflict and changes nothing
    events = await desk.events(task_id)
    for phone in (MEDIATOR, GRID):
        again = await desk.as_(phone, OUTCOME, {"task": task_id, "agreed": False, "agreement": "翻悔"})
        assert code_of(again) == "CONFLICT"
        assert again["errors"][0]["message"] == "该纠纷已记录调解结果，不能重复记录。"
    assert await outcomes(desk) == 1
    assert await fetchval(desk.url, "SELECT agreement FROM dispute_outcome") == AGREEMENT
    assert await desk.events(task_id) == events

    # the parties see the outcome and the whole story on the timeline
    party_view = await desk.as_(OTHER_PARTY, READ, {"id": task_id})
    assert party_view["data"]["task"]["disputeOutcome"] == outcome
    timeline = await desk.as_(REPORTER, TIMELINE, {"id": task_id})
    assert [
        (e["node"]["kind"], e["node"]["actorRole"], e["node"]["text"])
        for e in timeline["data"]["task"]["timeline"]["edges"]
    ] == [
        ("REPORTED", "REPORTER", None),
        ("MEDIATOR_ADDED", "TEAM", "指定了一名调解员"),
        ("DISPUTE_OUTCOME", "MEDIATOR", f"调解成功，达成协议：{AGREEMENT}"),
    ]


async def test_parties_see_each_other_masked(desk: Desk) -> None:
    task_id = await new_dispute(desk)
    reporter, other = await pid(desk, REPORTER), await pid(desk, OTHER_PARTY)
    mine = await desk.as_(REPORTER, READ, {"id": task_id})
    assert mine["data"]["task"]["parties"] == [
        {"id": reporter, "name": "张德明", "phone": REPORTER},
        {"id": other, "name": "李**", "phone": None},
    ]
    assert mine["data"]["task"]["mediators"] == []
    theirs = await desk.as_(OTHER_PARTY, READ, {"id": task_id})
    assert theirs["data"]["task"]["parties"] == [
        {"id": reporter, "name": "张**", "phone": None},
        {"id": other, "name": "李淑珍", "phone": OTHER_PARTY},
    ]
    # the grid worker sees both in full
    grid = await desk.as_(GRID, READ, {"id": task_id})
    assert grid["data"]["task"]["parties"] == [
        {"id": reporter, "name": "张德明", "phone": REPORTER},
        {"id": other, "name": "李淑珍", "phone": OTHER_PARTY},
    ]


@pytest.mark.parametrize("phone", [CHIEF, PROPERTY])
async def test_disputes_stay_invisible_to_the_chief_and_the_property_unless_assigned(
    desk: Desk, phone: str
) -> None:
    task_id = await new_dispute(desk)
    assert code_of(await desk.as_(phone, READ, {"id": task_id})) == "FORBIDDEN"
    assert not await listed(desk, phone, task_id)
    # assigned to the property company: its staff see it, the chief still does not
    assert "errors" not in await desk.do(GRID, "assignTask", id=task_id, role="PROPERTY_STAFF")
    if phone == PROPERTY:
        assert (await desk.as_(phone, READ, {"id": task_id}))["data"]["task"]["kind"] == "DISPUTE"
        assert await listed(desk, phone, task_id)
    else:
        assert code_of(await desk.as_(phone, READ, {"id": task_id})) == "FORBIDDEN"
        assert not await listed(desk, phone, task_id)
    # reassigned to the chief in person: now the chief sees it and the property no longer does
    assert "errors" not in await desk.do(GRID, "assignTask", id=task_id, assigneeId=await pid(desk, CHIEF))
    if phone == CHIEF:
        assert (await desk.as_(phone, READ, {"id": task_id}))["data"]["task"]["kind"] == "DISPUTE"
        assert await listed(desk, phone, task_id)
    else:
        assert code_of(await desk.as_(phone, READ, {"id": task_id})) == "FORBIDDEN"
        assert not await listed(desk, phone, task_id)


ADDERS = {GRID, COMMUNITY}


@pytest.mark.parametrize(
    "phone", [GRID, COMMUNITY, CHIEF, PROPERTY, REPORTER, MEDIATOR, OUTSIDER, OTHER_GRID]
)
async def test_who_may_name_a_mediator(desk: Desk, phone: str) -> None:
    task_id = await new_dispute(desk)
    body = await desk.as_(phone, ADD, {"task": task_id, "person": await pid(desk, MEDIATOR)})
    if phone in ADDERS:
        assert body["data"]["addMediator"]["mediators"] == [{"id": await pid(desk, MEDIATOR)}]
        assert await mediators_in_db(desk) == [MEDIATOR]
        assert await desk.events(task_id) == 2
    else:
        assert code_of(body) == "FORBIDDEN"
        assert await mediators_in_db(desk) == []
        assert await desk.events(task_id) == 1


async def test_a_mediator_names_no_other_mediator(desk: Desk) -> None:
    task_id = await new_dispute(desk)
    assert "errors" not in await desk.as_(GRID, ADD, {"task": task_id, "person": await pid(desk, MEDIATOR)})
    body = await desk.as_(MEDIATOR, ADD, {"task": task_id, "person": await pid(desk, BUILDING6)})
    assert code_of(body) == "FORBIDDEN"
    assert body["errors"][0]["message"] == "只有网格员或社区“两委”可以指定调解员。"
    assert await mediators_in_db(desk) == [MEDIATOR]


async def test_naming_the_same_mediator_twice_changes_nothing(desk: Desk) -> None:
    task_id = await new_dispute(desk)
    mediator = await pid(desk, MEDIATOR)
    for phone in (GRID, COMMUNITY):
        body = await desk.as_(phone, ADD, {"task": task_id, "person": mediator})
        assert body["data"]["addMediator"]["mediators"] == [{"id": mediator}]
    assert await mediators_in_db(desk) == [MEDIATOR]
    assert await desk.events(task_id) == 2


async def test_mediators_only_on_disputes(desk: Desk) -> None:
    issue = await desk.new_task(REPORTER)
    events = await desk.events(issue)
    body = await desk.as_(GRID, ADD, {"task": issue, "person": await pid(desk, MEDIATOR)})
    assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "taskId"}
    assert body["errors"][0]["message"] == "只有矛盾纠纷才能指定调解员。"
    outcome = await desk.as_(GRID, OUTCOME, {"task": issue, "agreed": True, "agreement": AGREEMENT})
    assert outcome["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "taskId"}
    assert await mediators_in_db(desk) == []
    assert await outcomes(desk) == 0
    assert await desk.events(issue) == events
    # an issue has no parties, mediators or outcome at all
    read = await desk.as_(REPORTER, READ, {"id": issue})
    task = read["data"]["task"]
    assert (task["parties"], task["mediators"], task["disputeOutcome"]) == (None, None, None)


@pytest.mark.parametrize(
    ("who", "message"),
    [
        (REPORTER, "纠纷当事人不能担任调解员。"),
        (OTHER_PARTY, "纠纷当事人不能担任调解员。"),
        ("unknown", "调解员必须是本小区的居民或服务本小区的人员，请重新选择。"),
        ("malformed", "人员编号格式不正确。"),
    ],
)
async def test_bad_mediators_are_refused(desk: Desk, who: str, message: str) -> None:
    task_id = await new_dispute(desk)
    person = {
        "unknown": encode("Person", uuid.uuid4()),
        "malformed": "not-an-id",
    }.get(who) or await pid(desk, who)
    body = await desk.as_(GRID, ADD, {"task": task_id, "person": person})
    assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "personId"}
    assert body["errors"][0]["message"] == message
    assert await mediators_in_db(desk) == []
    assert await desk.events(task_id) == 1


async def test_an_agreement_needs_its_text_a_failure_does_not(desk: Desk) -> None:
    task_id = await new_dispute(desk)
    for blank in (None, "", "   "):
        body = await desk.as_(GRID, OUTCOME, {"task": task_id, "agreed": True, "agreement": blank})
        assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "agreement"}
        assert body["errors"][0]["message"] == "请填写调解协议内容。"
    too_long = await desk.as_(GRID, OUTCOME, {"task": task_id, "agreed": True, "agreement": "协" * 2001})
    assert too_long["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "agreement"}
    assert await outcomes(desk) == 0
    assert await desk.events(task_id) == 1
    failed = await desk.as_(GRID, OUTCOME, {"task": task_id, "agreed": False, "agreement": None})
    assert failed["data"]["recordDisputeOutcome"]["disputeOutcome"]["agreed"] is False
    assert failed["data"]["recordDisputeOutcome"]["disputeOutcome"]["agreement"] is None
    timeline = await desk.as_(REPORTER, TIMELINE, {"id": task_id})
    last = timeline["data"]["task"]["timeline"]["edges"][-1]["node"]
    assert last == {"kind": "DISPUTE_OUTCOME", "actorRole": "TEAM", "text": "调解未能达成一致。"}


async def test_no_mediation_on_a_finished_dispute(desk: Desk) -> None:
    task_id = await new_dispute(desk)
    assert "errors" not in await desk.do(
        GRID, "rejectTask", id=task_id, reason="不属于物业管理范围，请走诉讼途径"
    )
    added = await desk.as_(GRID, ADD, {"task": task_id, "person": await pid(desk, MEDIATOR)})
    assert code_of(added) == "CONFLICT"
    recorded = await desk.as_(GRID, OUTCOME, {"task": task_id, "agreed": False, "agreement": None})
    assert code_of(recorded) == "CONFLICT"
    assert await mediators_in_db(desk) == []
    assert await outcomes(desk) == 0
    assert await desk.events(task_id) == 2


async def test_no_new_mediator_after_the_outcome(desk: Desk) -> None:
    task_id = await new_dispute(desk)
    assert "errors" not in await desk.as_(
        COMMUNITY, OUTCOME, {"task": task_id, "agreed": True, "agreement": AGREEMENT}
    )
    late = await desk.as_(GRID, ADD, {"task": task_id, "person": await pid(desk, MEDIATOR)})
    assert code_of(late) == "CONFLICT"
    assert await mediators_in_db(desk) == []


async def test_simultaneous_outcomes_one_wins(desk: Desk) -> None:
    import asyncio

    task_id = await new_dispute(desk)
    assert "errors" not in await desk.as_(GRID, ADD, {"task": task_id, "person": await pid(desk, MEDIATOR)})
    for phone in (GRID, COMMUNITY, MEDIATOR):
        await desk.token(phone)
    results = await asyncio.gather(
        *(
            desk.as_(phone, OUTCOME, {"task": task_id, "agreed": True, "agreement": f"{AGREEMENT}（{n}）"})
            for n, phone in enumerate([GRID, COMMUNITY, MEDIATOR] * 4)
        )
    )
    assert sum("errors" not in r for r in results) == 1
    assert {code_of(r) for r in results if "errors" in r} == {"CONFLICT"}
    assert await outcomes(desk) == 1
    assert (
        await fetchval(
            desk.url,
            "SELECT count(*) FROM task_event WHERE task_id = $1 AND kind = 'DISPUTE_OUTCOME'",
            decode(task_id)[1],
        )
        == 1
    )


@pytest.mark.parametrize("parties", [[], [REPORTER]], ids=["no-party", "only-the-reporter"])
async def test_a_dispute_needs_another_party(desk: Desk, parties: list[str]) -> None:
    """A dispute is between people: one filed with nobody else, or with only its reporter, is
    refused naming the field, and nothing is written."""
    before = await fetchval(desk.url, "SELECT count(*) FROM task")
    body = await report_dispute(desk, parties)
    error = body["errors"][0]
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "partyIds"}
    assert "当事人" in error["message"]
    assert await fetchval(desk.url, "SELECT count(*) FROM task") == before
