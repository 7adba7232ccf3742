"""A request's deadline bounds the whole of it: past it the client gets a JSON error, the SQL it
was waiting for is cancelled in PostgreSQL, and nothing it began is kept."""

from __future__ import annotations

import asyncio
import time

import asyncpg

from app.http import DEADLINE_MESSAGE
from resolvers.ids import decode
from tests.conftest import fetchval, make_settings, running_api, token_for
from tests.votes import CAST, open_building6_vote

OWNERS_COMMITTEE = "13800000006"
RESIDENT = "13800000007"  # co-owner of 6-1-302


async def waiting_on_locks(url: str) -> int:
    return await fetchval(
        url,
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
    )


async def test_past_the_deadline_the_client_gets_json_and_the_sql_is_cancelled(demo_db_url: str) -> None:
    # long enough for the unhindered ballot at the end on a busy two-core machine (after a cancel
    # it may need a new connection), short enough to keep the test quick
    settings = make_settings(demo_db_url, QILIJIA_REQUEST_DEADLINE_SECONDS=1.5)
    async with running_api(demo_db_url, settings) as api:
        opened = await open_building6_vote(api, demo_db_url, await token_for(demo_db_url, OWNERS_COMMITTEE))
        vote_id = opened["data"]["openVote"]["id"]
        ident = decode(vote_id)[1]
        token = await token_for(demo_db_url, RESIDENT)
        holder = await asyncpg.connect(demo_db_url)
        try:
            blocking = holder.transaction()
            await blocking.start()
            await holder.execute("SELECT 1 FROM vote_electorate WHERE vote_id = $1 FOR UPDATE", ident)

            started = time.monotonic()
            response = await api.post(CAST, {"id": vote_id, "choice": "AGREE"}, token=token)
            took = time.monotonic() - started

            assert 1.5 <= took < 4, took
            assert response.status_code == 503
            assert response.headers["Retry-After"].isdigit()
            assert response.json() == {
                "data": None,
                "errors": [{"message": DEADLINE_MESSAGE, "extensions": {"code": "UNAVAILABLE"}}],
            }
            for _ in range(50):  # the ballot's lock wait was cancelled, not left behind
                if await waiting_on_locks(demo_db_url) == 0:
                    break
                await asyncio.sleep(0.05)
            assert await waiting_on_locks(demo_db_url) == 0
            await blocking.rollback()
        finally:
            await holder.close()
        assert await fetchval(demo_db_url, "SELECT count(*) FROM ballot WHERE vote_id = $1", ident) == 0
        # and the same ballot, unhindered, goes through
        again = (await api.post(CAST, {"id": vote_id, "choice": "AGREE"}, token=token)).json()
        assert "errors" not in again, again
        assert await fetchval(demo_db_url, "SELECT count(*) FROM ballot WHERE vote_id = $1", ident) == 1
