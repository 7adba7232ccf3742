"""Task timelines live across server processes, filtered by the same policy."""

from __future__ import annotations

import asyncio

import pytest

from tests.conftest import token_for
from tests.servers import Server, start_all, stop_all
from tests.test_vote_live import error_code, gql, next_message, subscription
from tests.votes import building_id, compound_id

pytestmark = pytest.mark.slow

EVENTS = """subscription($id: ID!, $after: ID) { taskEvents(taskId: $id, afterEventId: $after) {
  kind text actorRole toStatus } }"""
REPORT = "mutation($input: ReportTaskInput!) { reportTask(input: $input) { id } }"


async def test_events_made_on_one_process_reach_a_subscriber_on_another(demo_db_url: str) -> None:
    a, b = await asyncio.to_thread(start_all, [Server(url="", database_url=demo_db_url) for _ in range(2)])
    try:
        resident = await token_for(demo_db_url, "13800000007")
        grid = await token_for(demo_db_url, "13800000003")
        reported = await gql(
            a.base,
            REPORT,
            {
                "input": {
                    "compoundId": await compound_id(demo_db_url),
                    "buildingId": await building_id(demo_db_url),
                    "category": "FACILITIES_REPAIR",
                    "title": "井盖松动",
                    "description": "6栋门口井盖松动",
                }
            },
            resident,
        )
        task_id = reported["data"]["reportTask"]["id"]
        timeline = await gql(
            a.base, "query($id: ID!) { task(id: $id) { lastEvent { id } } }", {"id": task_id}, resident
        )
        seen = timeline["data"]["task"]["lastEvent"]["id"]
        async with subscription(a.ws, resident, EVENTS, {"id": task_id, "after": seen}) as ws:
            accepted = await gql(
                b.base, "mutation($id: ID!) { acceptTask(id: $id) { status } }", {"id": task_id}, grid
            )
            assert accepted["data"]["acceptTask"]["status"] == "ACCEPTED"
            first = await next_message(ws)
            assert first["payload"].get("data"), first
            assert first["payload"]["data"]["taskEvents"] == {
                "kind": "STATUS_CHANGED",
                "text": None,
                "actorRole": "TEAM",
                "toStatus": "ACCEPTED",
            }
            await gql(
                b.base,
                'mutation($id: ID!) { commentTask(id: $id, text: "明天来修") { kind } }',
                {"id": task_id},
                grid,
            )
            second = await next_message(ws)
            assert second["payload"]["data"]["taskEvents"]["text"] == "明天来修"
        outsider = await token_for(demo_db_url, "13800000011")
        async with subscription(a.ws, outsider, EVENTS, {"id": task_id, "after": None}) as ws:
            assert error_code(await next_message(ws)) == "FORBIDDEN"
    finally:
        stop_all([a, b])
