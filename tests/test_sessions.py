"""Sessions that end: logging out here or everywhere, an operator's `qilijia token revoke`, refresh
tokens used once, and open WebSockets closed (4401) when their token expires or is revoked."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import websockets

from tests.conftest import Api, fetchval, token_for
from tests.servers import Server, start_all, stop_all
from tests.test_cli import aqilijia

RESIDENT = "13800000007"
LOGIN = """mutation($phone: String!) { devLogin(phone: $phone) { token refreshToken expiresAt } }"""
REFRESH = """mutation($r: String!) { refreshToken(refreshToken: $r) { token refreshToken me { person { phone } } } }"""
ME = "query Me { me { person { phone } } }"
SCREEN = "query Names { compounds(first: 3) { edges { node { name } } } }"


async def login(api: Api, phone: str = RESIDENT) -> dict:
    return (await api.data(LOGIN, {"phone": phone}))["devLogin"]


async def works(api: Api, token: str) -> bool:
    response = await api.post(ME, token=token)
    body = response.json()
    if "errors" in body and body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED":
        return False
    assert "errors" not in body, body
    return True


async def test_logout_ends_this_token_even_on_the_compiled_path(api: Api) -> None:
    this, other = await login(api), await login(api)
    for _ in range(3):  # strawberry, then compiled with the principal cached for this token
        assert "errors" not in (await api.post(SCREEN, token=this["token"])).json()
    assert (await api.data("mutation { logout }", token=this["token"])) == {"logout": True}

    for query in (SCREEN, ME):
        refused = await api.post(query, token=this["token"])
        assert refused.json()["errors"][0]["message"] == "您已退出登录，请重新登录。"
    assert await works(api, other["token"])  # the person's other login goes on
    # and this login's refresh token ended with it
    body = await api.gql(REFRESH, {"r": this["refreshToken"]})
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert "errors" not in await api.gql(REFRESH, {"r": other["refreshToken"]})


async def test_logout_everywhere_ends_every_token_and_refresh_token(api: Api) -> None:
    first, second = await login(api), await login(api)
    assert await works(api, first["token"]) and await works(api, second["token"])
    assert await api.data("mutation { logoutEverywhere }", token=first["token"]) == {"logoutEverywhere": True}
    assert not await works(api, first["token"])
    assert not await works(api, second["token"])
    for refresh in (first["refreshToken"], second["refreshToken"]):
        assert (await api.gql(REFRESH, {"r": refresh}))["errors"][0]["extensions"][
            "code"
        ] == "UNAUTHENTICATED"
    assert await works(api, (await login(api))["token"])  # a new login afterwards works at once


async def test_a_refresh_token_is_used_once_and_a_copy_ends_its_family(api: Api, demo_db_url: str) -> None:
    start = await login(api)
    renewed = (await api.data(REFRESH, {"r": start["refreshToken"]}))["refreshToken"]
    assert renewed["me"]["person"]["phone"] == RESIDENT
    assert renewed["refreshToken"] != start["refreshToken"]
    assert await works(api, renewed["token"])
    # the used one, presented again (a copy): refused, and the family it belongs to ends
    replay = await api.gql(REFRESH, {"r": start["refreshToken"]})
    assert replay["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    later = await api.gql(REFRESH, {"r": renewed["refreshToken"]})
    assert later["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    stored = await fetchval(demo_db_url, "SELECT count(*) FROM refresh_token WHERE token_hash LIKE 'qlr_%'")
    assert stored == 0  # only hashes are kept
    for junk in ("", "qlr_nothing", "x" * 500):
        assert (await api.gql(REFRESH, {"r": junk}))["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_refreshes_racing_with_one_token_give_one_new_pair(api: Api) -> None:
    start = await login(api)
    bodies = await asyncio.gather(*(api.gql(REFRESH, {"r": start["refreshToken"]}) for _ in range(8)))
    renewed = [b for b in bodies if "errors" not in b]
    assert len(renewed) == 1
    assert all(b["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED" for b in bodies if "errors" in b)


async def test_access_tokens_live_two_hours_by_default(api: Api) -> None:
    from datetime import datetime

    issued = await login(api)
    left = datetime.fromisoformat(issued["expiresAt"]) - datetime.now(
        datetime.fromisoformat(issued["expiresAt"]).tzinfo
    )
    assert 7_000 < left.total_seconds() <= 7_200


async def _subscribed(server: Server, token: str, vote_id: str = "x") -> websockets.ClientConnection:
    ws = await websockets.connect(server.ws, subprotocols=["graphql-transport-ws"])
    await ws.send(json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}}))
    assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "connection_ack"
    return ws


async def closed_with(ws: websockets.ClientConnection, seconds: float) -> int | None:
    try:
        while True:
            await asyncio.wait_for(ws.recv(), seconds)
    except websockets.ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd else None
    except TimeoutError:
        return None


async def test_an_operator_revokes_a_person_and_their_websockets_close(
    tmp_path: Path, demo_db_url: str
) -> None:
    servers = [Server(url="", database_url=demo_db_url) for _ in range(2)]
    try:  # a server that fails to start must not leave the other running
        await asyncio.to_thread(start_all, servers)
        token = await token_for(demo_db_url, RESIDENT)
        sockets = [await _subscribed(server, token) for server in servers]  # one on each process
        revoked = await aqilijia(tmp_path, demo_db_url, "token", "revoke", RESIDENT)
        assert revoked.returncode == 0, revoked.stderr
        assert "已结束" in revoked.stdout
        assert [await closed_with(ws, 10) for ws in sockets] == [4401, 4401]
        import httpx

        async with httpx.AsyncClient() as client:
            response = await client.post(
                f"{servers[0].base}/graphql", json={"query": ME}, headers={"Authorization": f"Bearer {token}"}
            )
        assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        unknown = await aqilijia(tmp_path, demo_db_url, "token", "revoke", "13899999999")
        assert unknown.returncode == 1 and "没有手机号" in unknown.stderr
    finally:
        stop_all(servers)


async def test_a_websocket_closes_when_its_token_expires(demo_db_url: str) -> None:
    server = Server(url="", database_url=demo_db_url)
    await asyncio.to_thread(server.start)
    try:
        ws = await _subscribed(server, await token_for(demo_db_url, RESIDENT, ttl=2))
        assert await closed_with(ws, 8) == 4401
    finally:
        server.stop()
