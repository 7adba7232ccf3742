"""End to end with real server processes: live tallies across processes, and a crash mid-vote."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import websockets

from models.vote_digest import receipt_hash
from resolvers.ids import decode
from tests.conftest import fetch, fetchval, token_for
from tests.servers import Server, start_all, stop_all
from tests.votes import CAST, OPEN, building_id, compound_id, later, recount_from_rows, stored_tally

pytestmark = pytest.mark.slow

SUBSCRIBE = (
    "subscription($id: ID!) { voteTally(voteId: $id) { participatingHeadcount agreeHeadcount ballotsCast } }"
)


@pytest.fixture
def servers(demo_db_url: str) -> Iterator[list[Server]]:
    started = start_all([Server(url="", database_url=demo_db_url) for _ in range(2)])
    try:
        yield started
    finally:
        stop_all(started)


async def gql(base: str, query: str, variables: dict, token: str) -> dict:
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        response = await client.post(
            "/graphql",
            json={"query": query, "variables": variables},
            headers={"Authorization": f"Bearer {token}"},
        )
        return response.json()


@contextlib.asynccontextmanager
async def subscription(
    ws_url: str, token: str | None, query: str, variables: dict
) -> AsyncIterator[websockets.ClientConnection]:
    async with websockets.connect(ws_url, subprotocols=["graphql-transport-ws"]) as ws:
        payload = {"Authorization": f"Bearer {token}"} if token else {}
        await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "connection_ack"
        await ws.send(
            json.dumps({"id": "1", "type": "subscribe", "payload": {"query": query, "variables": variables}})
        )
        yield ws


async def next_message(ws: websockets.ClientConnection) -> dict:
    return json.loads(await asyncio.wait_for(ws.recv(), 15))


def error_code(message: dict) -> str:
    """The code of a refused subscription (an `error` message, or a `next` carrying only errors)."""
    if message["type"] == "error":
        return message["payload"][0]["extensions"]["code"]
    assert message["type"] == "next" and message["payload"]["data"] is None, message
    return message["payload"]["errors"][0]["extensions"]["code"]


async def test_a_ballot_on_one_process_reaches_a_subscriber_on_another(
    servers: list[Server], demo_db_url: str
) -> None:
    a, b = servers
    committee = await token_for(demo_db_url, "13800000006")
    opened = await gql(
        a.base,
        OPEN,
        {
            "input": {
                "compoundId": await compound_id(demo_db_url),
                "title": "6栋加装电梯",
                "description": "说明",
                "matter": "RENOVATE_OR_REBUILD",
                "closesAt": later(),
                "buildingIds": [await building_id(demo_db_url)],
            }
        },
        committee,
    )
    vote_id = opened["data"]["openVote"]["id"]
    async with subscription(a.ws, committee, SUBSCRIBE, {"id": vote_id}) as ws:
        first = await next_message(ws)
        assert first["type"] == "next" and first["payload"].get("data"), first
        assert first["payload"]["data"]["voteTally"] == {
            "participatingHeadcount": 0,
            "agreeHeadcount": 0,
            "ballotsCast": 0,
        }
        # a notice that changes nothing (as the opening's can be, delivered after the subscriber
        # began to listen) pushes nothing: the next message is the ballot's
        notice = json.dumps({"topic": f"vote:{decode(vote_id)[1]}"})
        await fetch(demo_db_url, "SELECT pg_notify('qilijia_events', $1)", notice)
        cast = await gql(
            b.base, CAST, {"id": vote_id, "choice": "AGREE"}, await token_for(demo_db_url, "13800000007")
        )
        assert "errors" not in cast, cast
        update = await next_message(ws)
        assert update["payload"]["data"]["voteTally"] == {
            "participatingHeadcount": 1,
            "agreeHeadcount": 1,
            "ballotsCast": 1,
        }
        # closing on process B ends the subscription on process A with the final tally
        closed = await gql(
            b.base, "mutation($id: ID!) { closeVote(id: $id) { result } }", {"id": vote_id}, committee
        )
        assert closed["data"]["closeVote"]["result"] == "INVALID"
        final = await next_message(ws)
        assert final["payload"]["data"]["voteTally"]["ballotsCast"] == 1
        assert (await next_message(ws))["type"] == "complete"


async def test_subscriptions_are_authenticated_and_filtered(servers: list[Server], demo_db_url: str) -> None:
    a = servers[0]
    committee = await token_for(demo_db_url, "13800000006")
    opened = await gql(
        a.base,
        OPEN,
        {
            "input": {
                "compoundId": await compound_id(demo_db_url),
                "wholeCompound": True,
                "title": "续聘物业",
                "description": "说明",
                "matter": "HIRE_OR_FIRE_PROPERTY_SERVICE",
                "closesAt": later(),
            }
        },
        committee,
    )
    vote_id = opened["data"]["openVote"]["id"]
    async with subscription(a.ws, None, SUBSCRIBE, {"id": vote_id}) as ws:
        assert error_code(await next_message(ws)) == "UNAUTHENTICATED"
    outsider = await token_for(demo_db_url, "13800000011")  # 东方新天地
    async with subscription(a.ws, outsider, SUBSCRIBE, {"id": vote_id}) as ws:
        assert error_code(await next_message(ws)) == "FORBIDDEN"
    async with websockets.connect(a.ws, subprotocols=["graphql-transport-ws"]) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": {"Authorization": "Bearer forged"}}))
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 10)
        assert closed.value.rcvd.code == 4403
    # the document limits hold on WebSocket too: a fragment bomb is refused before validation
    bomb = " ".join(f"fragment F{i} on Subscription {{ ...F{i + 1} ...F{i + 1} }}" for i in range(30))
    bomb = f"subscription {{ ...F0 }} {bomb} fragment F30 on Subscription {{ __typename }}"
    async with subscription(a.ws, committee, bomb, {}) as ws:
        assert error_code(await next_message(ws)) == "QUERY_TOO_COMPLEX"


async def test_every_acknowledged_ballot_survives_a_crash(demo_db_url: str) -> None:
    server = Server(url="", database_url=demo_db_url).start()
    try:
        committee = await token_for(demo_db_url, "13800000006")
        opened = await gql(
            server.base,
            OPEN,
            {
                "input": {
                    "compoundId": await compound_id(demo_db_url),
                    "wholeCompound": True,
                    "title": "续聘物业",
                    "description": "说明",
                    "matter": "HIRE_OR_FIRE_PROPERTY_SERVICE",
                    "closesAt": later(),
                }
            },
            committee,
        )
        vote_id = opened["data"]["openVote"]["id"]
        ident = decode(vote_id)[1]
        owners = await fetch(
            demo_db_url,
            "SELECT DISTINCT p.phone FROM vote_owner o JOIN person p ON p.id = o.person_id WHERE o.vote_id = $1",
            ident,
        )
        tokens = [await token_for(demo_db_url, r["phone"]) for r in owners]
        acknowledged: list[str] = []
        queue: asyncio.Queue[str] = asyncio.Queue()
        for token in tokens:
            queue.put_nowait(token)

        async def stream() -> None:
            async with httpx.AsyncClient(base_url=server.base, timeout=10) as client:
                while not queue.empty():
                    token = queue.get_nowait()
                    try:
                        response = await client.post(
                            "/graphql",
                            json={"query": CAST, "variables": {"id": vote_id, "choice": "AGREE"}},
                            headers={"Authorization": f"Bearer {token}"},
                        )
                    except httpx.HTTPError:
                        return
                    body = response.json()
                    if body.get("data") and body["data"].get("castBallot"):
                        acknowledged.append(body["data"]["castBallot"]["receipt"])
                        if len(acknowledged) >= 40:
                            enough.set()

        enough = asyncio.Event()
        workers = [asyncio.create_task(stream()) for _ in range(8)]
        await asyncio.wait_for(enough.wait(), 60)
        server.kill()
        await asyncio.gather(*workers)
        assert 40 <= len(acknowledged) < len(tokens)  # killed mid-stream
        server.start()
        stored = {
            r["receipt_hash"]
            for r in await fetch(demo_db_url, "SELECT receipt_hash FROM ballot WHERE vote_id = $1", ident)
        }
        assert {receipt_hash(code) for code in acknowledged} <= stored
        assert await stored_tally(demo_db_url, ident) == await recount_from_rows(demo_db_url, ident)
        assert await fetchval(
            demo_db_url, "SELECT ballots_cast FROM vote_tally WHERE vote_id = $1", ident
        ) == len(stored)
        after = await gql(
            server.base,
            "query($id: ID!) { vote(id: $id) { tally { ballotsCast } } }",
            {"id": vote_id},
            committee,
        )
        assert after["data"]["vote"]["tally"]["ballotsCast"] == len(stored)
    finally:
        server.stop()
