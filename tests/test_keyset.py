"""Keyset pagination, on both read paths: pages that stay put when rows arrive or leave between
them, `totalCount`, a timeline read backward, and cursors that hold no more than the list shows."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from resolvers.ids import decode, encode
from schema.compiled import ANSWERS
from tests.conftest import Api, fetchval, make_settings, person_id, running_api
from tests.test_task_api import Desk
from tests.votes import compound_id

RESIDENT, GRID, OUTSIDER = "13800000007", "13800000003", "13800000011"

TASKS = """query($compound: ID!, $first: Int, $after: String) { compound(id: $compound) {
  tasks(first: $first, after: $after) { totalCount edges { cursor node { title } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } } }"""
TIMELINE = """query($id: ID!, $last: Int!, $before: String) { task(id: $id) {
  timeline(last: $last, before: $before) { totalCount edges { node { text } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } } }"""
FORWARD = """query($id: ID!) { task(id: $id) { timeline(first: 100) { edges { node { text } } } } }"""


class Reader:
    """Asks a query on one read path: strawberry, or the compiled statement (asked twice, so that it
    compiles, and checked to have answered)."""

    def __init__(self, api: Api, url: str, compiled: bool) -> None:
        self.api, self.url, self.compiled = api, url, compiled
        self.desk = Desk(api, url)

    async def ask(self, phone: str, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        if not self.compiled:
            return await self.desk.as_(phone, query, variables)
        await self.desk.as_(phone, query, variables)
        before = ANSWERS.labels("sql")._value.get()
        body = await self.desk.as_(phone, query, variables)
        if "errors" not in body:
            assert ANSWERS.labels("sql")._value.get() == before + 1, "the compiled path did not answer"
        return body


@pytest_asyncio.fixture(params=[False, True], ids=["strawberry", "compiled"])
async def reader(request: pytest.FixtureRequest, demo_db_url: str) -> AsyncIterator[Reader]:
    settings = make_settings(demo_db_url, QILIJIA_COMPILED_READS=request.param)
    async with running_api(demo_db_url, settings) as api:
        yield Reader(api, demo_db_url, request.param)


async def report(reader: Reader, title: str) -> str:
    return await reader.desk.new_task(RESIDENT, title=title, buildingId=None)


def titles(connection: dict) -> list[str]:
    return [e["node"]["title"] for e in connection["edges"]]


async def test_a_new_task_between_two_pages_repeats_nothing(reader: Reader) -> None:
    for n in range(5):
        await report(reader, f"事项{n}")
    compound = await compound_id(reader.url)
    first = (await reader.ask(GRID, TASKS, {"compound": compound, "first": 2}))["data"]["compound"]["tasks"]
    assert titles(first) == ["事项4", "事项3"]
    assert first["totalCount"] == 5
    assert first["pageInfo"]["hasNextPage"] and not first["pageInfo"]["hasPreviousPage"]
    await report(reader, "新来的事项")  # newest: it goes on top, before the page already read
    after = first["pageInfo"]["endCursor"]
    second = (await reader.ask(GRID, TASKS, {"compound": compound, "first": 2, "after": after}))["data"]
    assert titles(second["compound"]["tasks"]) == ["事项2", "事项1"]
    assert second["compound"]["tasks"]["totalCount"] == 6
    assert second["compound"]["tasks"]["pageInfo"]["hasPreviousPage"]


SUBMITTED = """query($compound: ID!, $after: String) { compound(id: $compound) {
  tasks(first: 2, after: $after, status: SUBMITTED) { edges { cursor node { id title } }
    pageInfo { endCursor } } } }"""


async def test_a_task_leaving_the_list_between_two_pages_skips_nothing(reader: Reader) -> None:
    for n in range(5):
        await report(reader, f"事项{n}")
    compound = await compound_id(reader.url)
    first = (await reader.ask(GRID, SUBMITTED, {"compound": compound}))["data"]["compound"]["tasks"]
    assert titles(first) == ["事项4", "事项3"]
    # the team accepts the first one read: it leaves the list of tasks waiting for acceptance
    accepted = await reader.desk.do(GRID, "acceptTask", id=first["edges"][0]["node"]["id"])
    assert "errors" not in accepted, accepted
    after = first["pageInfo"]["endCursor"]
    second = (await reader.ask(GRID, SUBMITTED, {"compound": compound, "after": after}))["data"]
    assert titles(second["compound"]["tasks"]) == ["事项2", "事项1"]
    # and the cursor of the task that left still marks its place
    since_left = first["edges"][0]["cursor"]
    third = (await reader.ask(GRID, SUBMITTED, {"compound": compound, "after": since_left}))["data"]
    assert titles(third["compound"]["tasks"]) == ["事项3", "事项2"]


async def test_the_last_page_says_so(reader: Reader) -> None:
    for n in range(3):
        await report(reader, f"事项{n}")
    compound = await compound_id(reader.url)
    page = (await reader.ask(GRID, TASKS, {"compound": compound, "first": 3}))["data"]["compound"]["tasks"]
    assert not page["pageInfo"]["hasNextPage"]
    end = page["pageInfo"]["endCursor"]
    empty = (await reader.ask(GRID, TASKS, {"compound": compound, "first": 3, "after": end}))["data"]
    assert empty["compound"]["tasks"]["edges"] == []
    assert empty["compound"]["tasks"]["pageInfo"] == {
        "hasNextPage": False,
        "hasPreviousPage": True,
        "startCursor": None,
        "endCursor": None,
    }


async def test_a_timeline_is_read_backward_from_its_newest_event(reader: Reader) -> None:
    task_id = await report(reader, "井盖松动")
    for n in range(6):
        body = await reader.desk.as_(
            RESIDENT,
            "mutation($id: ID!, $text: String!) { commentTask(id: $id, text: $text) { kind } }",
            {"id": task_id, "text": f"补充{n}"},
        )
        assert "errors" not in body, body
    everything = [
        e["node"]["text"]
        for e in (await reader.desk.as_(GRID, FORWARD, {"id": task_id}))["data"]["task"]["timeline"]["edges"]
    ]
    assert len(everything) == 7  # the report and six comments

    pages, before = [], None
    while True:
        body = await reader.ask(GRID, TIMELINE, {"id": task_id, "last": 3, "before": before})
        assert "errors" not in body, body
        timeline = body["data"]["task"]["timeline"]
        assert timeline["totalCount"] == 7
        pages.append([e["node"]["text"] for e in timeline["edges"]])
        assert timeline["pageInfo"]["hasNextPage"] == (before is not None)
        if not timeline["pageInfo"]["hasPreviousPage"]:
            break
        before = timeline["pageInfo"]["startCursor"]
    # newest page first, each in time order: together the whole timeline once
    assert pages == [everything[4:], everything[1:4], everything[:1]]


async def test_counts_are_of_what_the_caller_may_read(reader: Reader) -> None:
    await report(reader, "公开事项")
    compound = await compound_id(reader.url)
    query = """query($compound: ID!) { compound(id: $compound) { tasks { totalCount }
      households(first: 1) { totalCount } buildings(first: 1) { totalCount } } }"""
    staff = (await reader.ask(GRID, query, {"compound": compound}))["data"]["compound"]
    resident = (await reader.ask(RESIDENT, query, {"compound": compound}))["data"]["compound"]
    households = await fetchval(
        reader.url, "SELECT count(*) FROM household WHERE compound_id = $1", decode(compound)[1]
    )
    assert staff["households"]["totalCount"] == households
    assert resident["households"]["totalCount"] == 1  # their own home only
    assert staff["tasks"]["totalCount"] == resident["tasks"]["totalCount"] == 1
    assert staff["buildings"]["totalCount"] == resident["buildings"]["totalCount"] > 1
    mine = """{ me { reportedTasks { totalCount } myCalls { totalCount } } }"""
    assert (await reader.ask(RESIDENT, mine, {}))["data"]["me"] == {
        "reportedTasks": {"totalCount": 1},
        "myCalls": {"totalCount": 0},
    }


def _cursor(values: list[Any]) -> str:
    return base64.urlsafe_b64encode(("k:" + json.dumps(values)).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    ("variables", "field"),
    [
        ({"first": 2, "after": base64.urlsafe_b64encode(b"o:5").decode().rstrip("=")}, "after"),
        ({"first": 2, "after": "not a cursor"}, "after"),
        ({"first": 2, "after": _cursor(["6-1-302", "e3b0c442-98fc-1c14-9afb-f4c8996fb924"])}, "after"),
        ({"first": 2, "after": _cursor(["not a time", "e3b0c442-98fc-1c14-9afb-f4c8996fb924"])}, "after"),
        ({"first": 2, "after": _cursor(["2026-12-01T00:00:00"])}, "after"),
        ({"first": 2, "after": _cursor(["2026-12-01T00:00:00+00:00", 5])}, "after"),
        ({"first": 101}, "first"),
    ],
)
async def test_a_cursor_that_is_not_this_lists_is_refused(
    reader: Reader, variables: dict, field: str
) -> None:
    compound = await compound_id(reader.url)
    body = await reader.ask(GRID, TASKS, {"compound": compound, **variables})
    assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": field}, body


async def test_before_with_a_first_that_is_null_reads_as_strawberry_does(reader: Reader) -> None:
    task_id = await report(reader, "井盖松动")
    for n in range(3):
        await reader.desk.as_(
            RESIDENT,
            "mutation($id: ID!, $text: String!) { commentTask(id: $id, text: $text) { kind } }",
            {"id": task_id, "text": f"补充{n}"},
        )
    query = """query($id: ID!, $first: Int, $before: String) { task(id: $id) {
      timeline(first: $first, before: $before) { edges { node { text } } pageInfo { hasNextPage hasPreviousPage } } } }"""
    newest = (await reader.ask(GRID, TIMELINE, {"id": task_id, "last": 1}))["data"]["task"]["timeline"]
    before = newest["pageInfo"]["startCursor"]
    # the document cannot say which way it reads: the compiled path leaves it to strawberry
    for _ in range(2):
        body = await reader.desk.as_(GRID, query, {"id": task_id, "first": None, "before": before})
        timeline = body["data"]["task"]["timeline"]
        assert [e["node"]["text"] for e in timeline["edges"]][-1] == "补充1"
        assert timeline["pageInfo"]["hasNextPage"] is True


async def test_first_and_last_together_are_refused(reader: Reader) -> None:
    task_id = await report(reader, "井盖松动")
    query = "query($id: ID!) { task(id: $id) { timeline(first: 2, last: 2) { edges { node { text } } } } }"
    body = await reader.ask(GRID, query, {"id": task_id})
    assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "last"}, body


async def test_a_cursor_holds_only_what_the_list_shows(reader: Reader) -> None:
    """A person found by search who is shown masked: their cursor holds their id, not their name."""
    query = """query { search(text: "6-1-302") { households { edges { cursor node { number } } } }
      people: search(text: "0007") { people { edges { cursor node { id name phone } } } } }"""
    body = await reader.ask("13800000006", query, {})  # the owners' committee: phones masked
    (person,) = [e for e in body["data"]["people"]["people"]["edges"] if e["node"]["phone"] == "138****0007"]
    raw = base64.urlsafe_b64decode(person["cursor"] + "=" * (-len(person["cursor"]) % 4)).decode()
    assert raw == f'k:["{await person_id(reader.url, RESIDENT)}"]'
    assert encode("Person", await person_id(reader.url, RESIDENT)) == person["node"]["id"]
    (household,) = body["data"]["search"]["households"]["edges"]
    raw = base64.urlsafe_b64decode(household["cursor"] + "=" * (-len(household["cursor"]) % 4)).decode()
    assert json.loads(raw[2:])[0] == "6-1-302"


async def test_an_outsider_counts_nothing(reader: Reader) -> None:
    await report(reader, "公开事项")
    body = await reader.ask(OUTSIDER, "{ me { reportedTasks { totalCount } } }", {})
    assert body["data"]["me"]["reportedTasks"]["totalCount"] == 0
