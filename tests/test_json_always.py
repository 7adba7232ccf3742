"""Every failure is a JSON GraphQL error with a code: an unreachable database, a body nested too
deep, text PostgreSQL cannot store, an absurd cursor. Never a plain-text 500, never INTERNAL."""

from __future__ import annotations

import json
import socket
import uuid

import pytest

from auth import tokens
from resolvers.ids import encode
from tests.conftest import SECRET, Api, fetchval, make_settings, running_api, token_for
from tests.test_hardening import cursor, only_error
from tests.votes import CAST

RESIDENT = "13800000007"
REPORT = """mutation($i: ReportTaskInput!) { reportTask(input: $i) { id } }"""


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_an_unreachable_database_answers_unavailable_in_json() -> None:
    url = f"postgresql://postgres@127.0.0.1:{closed_port()}/nowhere"
    async with running_api(url, make_settings(url)) as api:
        token = tokens.mint(uuid.uuid4(), secret=SECRET, ttl_seconds=600)[0]
        for query in ("{ compounds(first: 1) { edges { node { name } } } }", CAST):
            response = await api.post(query, {"id": "x", "choice": "AGREE"}, token=token)
            assert response.status_code == 503
            assert response.headers["content-type"].startswith("application/json")
            assert response.headers["retry-after"] == "5"
            only_error(response.json(), "UNAVAILABLE")


async def test_a_database_lost_during_execution_is_unavailable_not_internal() -> None:
    """The error a resolver meets when the database goes away mid-request (here: a real refused
    connection) is classified as UNAVAILABLE, its detail kept from the client."""
    import asyncpg
    from graphql import GraphQLError

    from schema.errors import rewrite

    try:
        await asyncpg.connect(host="127.0.0.1", port=closed_port(), user="postgres", timeout=5)
    except OSError as refused:
        error = GraphQLError("boom", original_error=refused)
    rewrite([error])
    assert error.extensions == {"code": "UNAVAILABLE"}
    assert error.original_error is None and "127.0.0.1" not in error.message


async def test_a_database_refusing_more_connections_is_unavailable_not_internal(db_url: str) -> None:
    """PostgreSQL at its connection limit ("too many clients", SQLSTATE 53300) refuses a new
    connection: a moment later there may be room, so the client is told to retry (UNAVAILABLE),
    not that the server failed (INTERNAL). Here the limit is a role's, met on its first connection."""
    import asyncpg
    from graphql import GraphQLError
    from sqlalchemy.engine import make_url

    from models.errors import database_unreachable
    from schema.errors import rewrite

    role = f"qlj_nomore_{uuid.uuid4().hex[:8]}"
    await fetchval(db_url, f"CREATE ROLE {role} LOGIN CONNECTION LIMIT 0")
    try:
        url = make_url(db_url).set(username=role, password=None).render_as_string(hide_password=False)
        with pytest.raises(asyncpg.TooManyConnectionsError) as refused:
            await asyncpg.connect(url, timeout=5)
        assert database_unreachable(refused.value)
        error = GraphQLError("boom", original_error=refused.value)
        rewrite([error])
        assert error.extensions == {"code": "UNAVAILABLE"}
        assert error.original_error is None and role not in error.message
    finally:
        await fetchval(db_url, f"DROP ROLE {role}")


async def test_a_body_nested_too_deep_is_bad_input_in_json(api: Api) -> None:
    nested = '{"query": "{ __typename }", "variables": {"a": ' + "[" * 5000 + "]" * 5000 + "}}"
    response = await api.client.post("/graphql", content=nested, headers={"content-type": "application/json"})
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    only_error(body, "BAD_USER_INPUT")


@pytest.mark.parametrize("bad", ["标题\x00", "标题\ud800"])
async def test_unstorable_text_in_a_variable_names_its_field(api: Api, demo_db_url: str, bad: str) -> None:
    token = await token_for(demo_db_url, RESIDENT)
    compound = encode(
        "Compound", await fetchval(demo_db_url, "SELECT id FROM compound WHERE key = 'qianshan-meilin'")
    )
    before = await fetchval(demo_db_url, "SELECT count(*) FROM task")
    body = json.dumps(
        {
            "query": REPORT,
            "variables": {
                "i": {"compoundId": compound, "title": bad, "description": "井盖松了", "kind": "REPAIR"}
            },
        }
    )  # json.dumps writes the lone surrogate as \\ud800, as a client's JSON may
    response = await api.client.post(
        "/graphql",
        content=body,
        headers={"content-type": "application/json", "authorization": f"Bearer {token}"},
    )
    error = only_error(response.json(), "BAD_USER_INPUT")
    assert error["extensions"]["field"] == "i.title"
    assert await fetchval(demo_db_url, "SELECT count(*) FROM task") == before


async def test_unstorable_text_in_the_document_names_its_argument(api: Api, demo_db_url: str) -> None:
    token = await token_for(demo_db_url, RESIDENT)
    error = only_error(
        await api.gql('{ verifyReceipt(code: "a\\u0000b") { choice } }', token=token), "BAD_USER_INPUT"
    )
    assert error["extensions"]["field"] == "code"


@pytest.mark.parametrize("offset", [2**31, 2**63, 2**70])
async def test_an_absurd_cursor_is_bad_input(api: Api, demo_db_url: str, offset: int) -> None:
    token = await token_for(demo_db_url, "13800000000")
    query = "query($a: String) { compounds(first: 1, after: $a) { edges { node { name } } } }"
    for _ in range(2):  # strawberry, then the compiled plan of the repeated document
        only_error(await api.gql(query, {"a": cursor(f"o:{offset}")}, token=token), "BAD_USER_INPUT")


async def test_connections_lost_during_requests_give_json_errors_only_and_recover(demo_db_url: str) -> None:
    """The database restarting, as the app meets it: every connection of its database is killed,
    again and again, while reads and ballots are in flight. Each answer is JSON: data, or errors
    whose only code is UNAVAILABLE; once it stops, everything answers again."""
    import asyncio

    screen = (
        "{ compounds(first: 5) { edges { node { name buildings(first: 5) { edges { node { name } } } } } } }"
    )
    async with running_api(demo_db_url, make_settings(demo_db_url, QILIJIA_DB_POOL_SIZE=4)) as api:
        token = await token_for(demo_db_url, RESIDENT)
        killing = True

        async def kill() -> int:
            killed = 0
            while killing:
                killed += await fetchval(
                    demo_db_url,
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()",
                )
                await asyncio.sleep(0.05)
            return killed

        async def ask(i: int) -> tuple[int, dict]:
            if i % 3:
                response = await api.post(screen, token=token)
            else:
                response = await api.post(
                    CAST, {"id": encode("Vote", uuid.uuid4()), "choice": "AGREE"}, token=token
                )
            assert response.headers["content-type"].startswith("application/json"), response.text
            return response.status_code, response.json()

        killer = asyncio.create_task(kill())
        answers = []
        for _ in range(6):
            answers += await asyncio.gather(*(ask(i) for i in range(12)))
            await asyncio.sleep(0.1)
        killing = False
        assert await killer > 0
        codes = {e["extensions"]["code"] for _, body in answers for e in body.get("errors") or ()}
        assert codes <= {"UNAVAILABLE", "NOT_FOUND", "FORBIDDEN"}, codes  # a made-up vote: not found
        assert "UNAVAILABLE" in codes  # the killing was met
        assert all(status in (200, 503) for status, _ in answers)
        for _ in range(3):  # recovered: the pools replaced the dead connections
            status, body = await ask(1)
            assert status == 200 and "errors" not in body, body
