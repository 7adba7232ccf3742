"""Benchmark: Qilijia next to its peer PostGraphile 5 and a raw one-statement endpoint, screen by screen.

    .venv/bin/python bench/peer.py [--database-url URL] [--workers 1,2] [--concurrency 1,16,64]
                                   [--requests 200] [--warmup 20] [--rounds 3] [--ballots 0]
                                   [--skip-ballots] [--skip-scale] [--scale-concurrency 1,16] [--client wire]

Why: Qilijia's figures alone (bench/screen_latency.py, tasks.py, votes.py) do not say whether they
are good. This script puts two references next to them on the same machine, database and data:

- PostGraphile 5 (`../shared/peer/postgraphile.sh`, amber preset): a mature GraphQL server that
  compiles a whole query into one SQL statement, exposes every table and applies no policy at all;
- "raw": a tiny Starlette app in this file that answers each screen with ONE SQL statement building
  the response JSON in PostgreSQL (json_build_object / json_agg) and sends it on untouched — no
  GraphQL, no policy, no Python objects. It is the physical lower bound of this stack.

Qilijia enforces its policy (auth/policy.py) on every row; the other two do not, so a ratio below 1
is the price of the policy plus the framework, not a bug in itself.

What it does, end to end:

1. creates `qlj_peer_<random>` on `--database-url` (default `$DATABASE_URL`, else
   postgresql://postgres@127.0.0.1:5432/postgres), runs `qilijia import --demo` into it (migrates,
   imports the demo world and tells its story, which opens the building-6 vote of 千山美林), adds
   `--tasks` tasks to 千山美林 with bench/fixtures.py's SEED; the database is dropped at the end, also
   on failure, Ctrl-C or SIGTERM;
2. starts the servers on free ports, each in its own process group: `qilijia serve --workers N`
   for every N of `--workers` (QILIJIA_ENV=prod, a random 64-character QILIJIA_SECRET_KEY,
   QILIJIA_DB_POOL_SIZE 10 ÷ N: every server keeps about as many connections as one worker does),
   PostGraphile (it installs itself from npm into ~/.cache/qilijia-peer on first run, which may
   take minutes: `--postgraphile-timeout`), and the raw endpoint (`--serve-raw`, uvicorn,
   `--raw-workers`, an asyncpg pool of `--raw-pool` connections);
3. sends every screen once to every server and prints what came back (buildings, households,
   owners, tasks, …) so that the shapes can be compared before anything is timed;
4. counts SQL statements per request (see "Statements" below);
5. measures INTERLEAVED: for each of `--rounds` rounds, for each screen and concurrency, each server
   in turn (the order rotates every round) gets `--warmup` unmeasured then `--requests` measured
   requests with that many in flight over keep-alive loopback connections, from `WireClient`
   (`--client wire`, the default: about 0.1 ms of this process's CPU a request) or httpx
   (`--client httpx`, as the runs before it: about 2.3 ms, a whole core at 400 requests/s);
   the table shows the median over the rounds of: requests/s (and its min–max over the rounds),
   p50 and p99 latency, the server's CPU ms per request (user + system of its whole process tree
   from /proc: uvicorn's workers, node), the PostgreSQL backends' CPU ms per request (the backends
   connected to the benchmark database, from /proc; a "+" marks a lower bound: some backend exited
   during the cell, e.g. pool overflow connections, and its CPU is lost), the benchmark client's
   own CPU ms per request, and the statements per request from step 4; then the ratios
   Qilijia ÷ PostGraphile and Qilijia ÷ raw of requests/s;
6. ballots/s with `--ballot-clients` (32) clients: per round and server a fresh compound-wide vote
   of 千山美林 is opened (through Qilijia's openVote, not timed) and its distinct owners cast one
   ballot each (`--ballots N` caps or, with re-casts, extends that number): Qilijia through
   `castBallot` (one token per owner minted with auth.tokens as bench/votes.py does; before the
   timed ballots, untimed, each owner opens the vote's screen with it as on the phone, so that
   the ballot acts for the owner Qilijia kept: `--cold-ballots` skips that), raw with the fewest
   statements that stay correct under concurrency — `SELECT … FROM vote_tally … FOR UPDATE`, then
   one statement whose data-modifying CTEs insert the ballot, update vote_electorate, move
   vote_tally by the ballot's delta and pg_notify as Qilijia does (two statements: the lock must
   come before the snapshot that reads the current choices). After each round the stored tally is
   compared with a recount from the rows (bench/fixtures.recount_from_rows). PostGraphile has no
   equivalent (its generated CRUD mutations cannot take the lock and move the tally);
7. the scale of the home screen, Qilijia alone (`--skip-scale` skips it): the servers above are
   stopped, a second database `qlj_peer_<random>_scale` is created on the same server (dropped at
   the end like the first, also on failure), a world of SCALE_WORLD — 1 compound of 20 buildings
   with 100 households each (1 unit × 25 floors × 4 per floor), their owners and roles — is
   generated by ../shared/worldgen.py into a JSON file and imported with `qilijia import FILE`
   (which analyzes what it wrote; an ANALYZE follows), and one `qilijia serve --workers 1` is
   started on it (QILIJIA_ENV=prod, the same random secret). The viewer is the compound's
   community's COMMUNITY_COMMITTEE member from the world's roles (`qilijia token PHONE`), who sees
   every household and its owners. Two variants of QILIJIA_SCREENS["home"] (buildings(first: 20),
   the same fields) are checked once — no `errors`, and the households per building and owners
   they show are printed — then their statements are counted as in step 4 and they are measured
   interleaved as in step 5 (`--rounds`, `--warmup`, `--requests`, at `--scale-concurrency`, 1,16
   by default): `households(first: 20)` and `households(first: 100)`. The table shows both
   variants' households shown, req/s, p50, p99, server and PostgreSQL CPU ms per request and
   statements per request, then the ratios 100-variant ÷ 20-variant of server CPU per request,
   of PostgreSQL CPU per request and of 1/(req/s) against the target "the home screen at 100
   households per building costs at most 5x the screen at 20" (printed, not asserted: five
   times the households for at most five times the cost);
8. prints the load average at the start and at the end; stops every server; drops the databases.

Screens (same content for all three; PostGraphile's names are its amber preset's, checked by
introspection: tables with an `id` column get `rowId` and `…ByRowId` fields):

- home: compound 千山美林 → 20 buildings (by name) → 20 households each (by number) → owners (name,
  phone), as the community committee member 13800000004. PostGraphile's `homesByHouseholdId` cannot
  be filtered by `relation` (not indexed), so it returns every occupant with its relation;
- tasks: the compound's 20 newest tasks with reporter, assignees, last event, the first 5 timeline
  events and volunteer calls (Qilijia: bench/fixtures.py SCREEN), as 13800000004. PostGraphile:
  assignees are `taskMembersByTaskId(condition: {role: "ASSIGNEE"})`, the last event has `actorId`
  but no actor (task_event.actor_id has no foreign key), and a call's waitlist count and the
  caller's status come as the call's sign-up rows (`status personId`; the condition cannot filter
  by status);
- household: household 6-1-302 with its building, as 13800000004;
- vote: the demo's building-6 vote with its tally and the caller's own households in it
  (`myBallot`), as 13800000007 (owner of 6-1-302). PostGraphile: the vote, its `voteTallyByVoteId`,
  the caller's `voteOwnersByVoteId(condition: {personId})` and `voteElectoratesByVoteId(condition:
  {householdId})` (vote_owner → vote_electorate has no foreign key, so the client passes the
  household); participationMet / approvalMet are not columns and are not asked for.

Statements: with pg_stat_statements usable (`CREATE EXTENSION IF NOT EXISTS pg_stat_statements`
and a read of the view both succeed) the measuring servers are counted there, filtered by the
benchmark database. Otherwise (it must be in shared_preload_libraries) a counting TCP proxy in this
process is put between a second, counting instance of each server (Qilijia with one worker) and
PostgreSQL: it answers SSLRequest with "N" and reads the frontend protocol, counting every simple
Query and every Execute of the extended protocol (the statement text is known from Parse/Bind). The
counting instances get `--count-requests` sequential requests per screen after a short warm-up; no
timing is taken through the proxy. `sql` is data statements; `ctl` is everything else (BEGIN,
COMMIT, ROLLBACK, SET, set_config, pool pings, asyncpg's reset and its type introspection on a new
connection, LISTEN).

Client, servers and PostgreSQL share the machine, so every figure includes their competition for
the CPUs; with other work running, treat differences below ~30 % as noise.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid
import zlib
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from sqlalchemy.engine import make_url

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench"
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(BENCH))

from fixtures import CAST, OPEN, SEED, later, recount_from_rows, stored_tally  # noqa: E402
from fixtures import SCREEN as TASKS_QILIJIA  # noqa: E402
from screen_latency import (  # noqa: E402  (the benchmarks share their process and database helpers)
    QILIJIA,
    _admin,
    _dsn,
    free_port,
    loadavg,
    percentile,
    qilijia,
    tree_cpu_seconds,
)

from auth import tokens  # noqa: E402
from resolvers.events import CHANNEL  # noqa: E402
from resolvers.ids import decode, encode  # noqa: E402

DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
POSTGRAPHILE = REPO.parent / "shared" / "peer" / "postgraphile.sh"
COMPOUND_KEY = "qianshan-meilin"
COMMITTEE = "13800000004"  # community committee of 九龙社区: sees every household and task
VOTER = "13800000007"  # owner of 6-1-302, which has not voted in the demo's building-6 vote
OPENER = "13800000006"  # owners' committee of 千山美林: may open votes
HOUSEHOLD = "6-1-302"
SCREENS = ("home", "tasks", "household", "vote")
WORLDGEN = REPO.parent / "shared" / "worldgen.py"
#: The scale world (step 7): one compound of 20 buildings of 100 households (1 unit × 25 floors × 4).
SCALE_WORLD = {"compounds": 1, "buildings": 20, "units": 1, "floors": 25, "per_floor": 4, "seed": 11}
SCALE_SHOWN = (20, 100)  # households(first: N) per building on the scale's home screen
SCALE_TARGET = 5.0  # the 100-variant costs at most this many times the 20-variant
FIRST_CHOICES = ("AGREE", "AGREE", "DISAGREE", "ABSTAIN")

# --- the screens, as each server is asked ---------------------------------------------------------

TALLY_FIELDS = """eligibleArea eligibleHeadcount participatingArea participatingHeadcount agreeArea
  agreeHeadcount disagreeArea disagreeHeadcount abstainArea abstainHeadcount ballotsCast"""

QILIJIA_SCREENS: dict[str, str] = {
    "home": """query Home($id: ID!) { compound(id: $id) { name buildings(first: 20) { edges { node { name
      households(first: 20) { edges { node { number area owners { name phone } } } } } } } } }""",
    "tasks": TASKS_QILIJIA,
    "household": """query Household($id: ID!) { node(id: $id) { ... on Household {
      number floor area building { name } } } }""",
    "vote": f"""query Vote($id: ID!) {{ vote(id: $id) {{ title status
      tally {{ {TALLY_FIELDS} participationMet approvalMet }} myBallot {{ number area choice }} }} }}""",
}

POSTGRAPHILE_SCREENS: dict[str, str] = {
    "home": """query Home($c: UUID!) { compoundByRowId(rowId: $c) { name
      buildingsByCompoundId(first: 20, orderBy: [NAME_ASC, ROW_ID_ASC]) { nodes { name
        householdsByBuildingId(first: 20, orderBy: [NUMBER_ASC, ROW_ID_ASC]) { nodes { number area
          homesByHouseholdId { nodes { relation personByPersonId { name phone } } } } } } } } }""",
    "tasks": """query Tasks($c: UUID!) { compoundByRowId(rowId: $c) {
      tasksByCompoundId(first: 20, orderBy: [CREATED_AT_DESC, ROW_ID_ASC]) { nodes {
        title status kind personByReporterId { name phone }
        taskMembersByTaskId(condition: {role: "ASSIGNEE"}) { nodes { personByPersonId { name } } }
        lastEvent: taskEventsByTaskId(first: 1, orderBy: SEQ_DESC) { nodes { kind createdAt actorId } }
        timeline: taskEventsByTaskId(first: 5, orderBy: SEQ_ASC) { nodes { kind } }
        volunteerCallsByTaskId { nodes { title needed signedCount
          volunteerSignupsByCallId { nodes { status personId } } } } }
        pageInfo { hasNextPage } } } }""",
    "household": """query Household($h: UUID!) { householdByRowId(rowId: $h) {
      number floor area buildingByBuildingId { name } } }""",
    "vote": f"""query Vote($v: UUID!, $p: UUID!, $h: UUID!) {{ voteByRowId(rowId: $v) {{ title status
      voteTallyByVoteId {{ {TALLY_FIELDS} }}
      voteOwnersByVoteId(condition: {{personId: $p}}) {{ nodes {{ householdId }} }}
      voteElectoratesByVoteId(condition: {{householdId: $h}}) {{ nodes {{ number area choice }} }} }} }}""",
}


def home_query(per_building: int) -> str:
    """Qilijia's home screen (QILIJIA_SCREENS["home"]) showing `per_building` households of each
    of its 20 buildings."""
    old = "households(first: 20)"
    assert QILIJIA_SCREENS["home"].count(old) == 1
    return QILIJIA_SCREENS["home"].replace(old, f"households(first: {per_building})")


#: One statement per screen, the response JSON built in PostgreSQL in Qilijia's shape; (sql, params).
RAW_SCREENS: dict[str, tuple[str, tuple[str, ...]]] = {
    "home": (
        """
SELECT json_build_object('data', json_build_object('compound', json_build_object(
  'name', c.name,
  'buildings', json_build_object('edges', coalesce((
    SELECT json_agg(json_build_object('node', json_build_object(
      'name', b.name,
      'households', json_build_object('edges', coalesce((
        SELECT json_agg(json_build_object('node', json_build_object(
          'number', h.number, 'area', h.area,
          'owners', coalesce((
            SELECT json_agg(json_build_object('name', p.name, 'phone', p.phone) ORDER BY p.name, p.id)
            FROM home m JOIN person p ON p.id = m.person_id
            WHERE m.household_id = h.id AND m.relation = 'OWNER'), '[]'::json)))
          ORDER BY h.number, h.id)
        FROM (SELECT id, number, area FROM household WHERE building_id = b.id
              ORDER BY number, id LIMIT 20) h), '[]'::json))))
      ORDER BY b.name, b.id)
    FROM (SELECT id, name FROM building WHERE compound_id = c.id ORDER BY name, id LIMIT 20) b),
    '[]'::json)))))::text
FROM compound c WHERE c.id = $1::uuid""",
        ("compound",),
    ),
    "tasks": (
        """
SELECT json_build_object('data', json_build_object('compound', json_build_object('tasks', json_build_object(
  'edges', coalesce((
    SELECT json_agg(json_build_object('node', json_build_object(
      'title', t.title, 'status', t.status, 'kind', t.kind,
      'reporter', (SELECT json_build_object('name', p.name, 'phone', p.phone)
                   FROM person p WHERE p.id = t.reporter_id),
      'assignees', coalesce((
        SELECT json_agg(json_build_object('name', p.name)
                        ORDER BY m.role NOT IN ('LEAD', 'ASSIGNEE'), m.person_id <> t.reporter_id,
                                 m.created_at, m.person_id)
        FROM task_member m JOIN person p ON p.id = m.person_id
        WHERE m.task_id = t.id AND m.role IN ('ASSIGNEE', 'LEAD', 'MEMBER')), '[]'::json),
      'lastEvent', (
        SELECT json_build_object('kind', e.kind, 'createdAt', e.created_at,
                                 'actor', (SELECT json_build_object('name', a.name)
                                           FROM person a WHERE a.id = e.actor_id))
        FROM task_event e WHERE e.task_id = t.id ORDER BY e.seq DESC LIMIT 1),
      'timeline', json_build_object('edges', coalesce((
        SELECT json_agg(json_build_object('node', json_build_object('kind', e.kind)) ORDER BY e.seq)
        FROM (SELECT kind, seq FROM task_event WHERE task_id = t.id ORDER BY seq LIMIT 5) e), '[]'::json)),
      'volunteerCalls', coalesce((
        SELECT json_agg(json_build_object(
          'title', v.title, 'needed', v.needed, 'signedCount', v.signed_count,
          'waitlistCount', (SELECT count(*) FROM volunteer_signup s
                            WHERE s.call_id = v.id AND s.status = 'WAITLIST'),
          'myStatus', (SELECT s.status FROM volunteer_signup s
                       WHERE s.call_id = v.id AND s.person_id = $2::uuid))
          ORDER BY v.created_at DESC)
        FROM volunteer_call v WHERE v.task_id = t.id), '[]'::json)))
      ORDER BY t.created_at DESC, t.id)
    FROM (SELECT * FROM task WHERE compound_id = $1::uuid ORDER BY created_at DESC, id LIMIT 20) t),
    '[]'::json),
  'pageInfo', json_build_object('hasNextPage',
    (SELECT count(*) > 20 FROM (SELECT 1 FROM task WHERE compound_id = $1::uuid LIMIT 21) n))))))::text""",
        ("compound", "person"),
    ),
    "household": (
        """
SELECT json_build_object('data', json_build_object('node', json_build_object(
  'number', h.number, 'floor', h.floor, 'area', h.area, 'building', json_build_object('name', b.name))))::text
FROM household h JOIN building b ON b.id = h.building_id WHERE h.id = $1::uuid""",
        ("household",),
    ),
    "vote": (
        """
SELECT json_build_object('data', json_build_object('vote', json_build_object(
  'title', v.title, 'status', v.status,
  'tally', json_build_object(
    'eligibleArea', t.eligible_area, 'eligibleHeadcount', t.eligible_headcount,
    'participatingArea', t.participating_area, 'participatingHeadcount', t.participating_headcount,
    'agreeArea', t.agree_area, 'agreeHeadcount', t.agree_headcount,
    'disagreeArea', t.disagree_area, 'disagreeHeadcount', t.disagree_headcount,
    'abstainArea', t.abstain_area, 'abstainHeadcount', t.abstain_headcount,
    'ballotsCast', t.ballots_cast,
    'participationMet', t.eligible_headcount > 0
        AND 3 * t.participating_area >= 2 * t.eligible_area
        AND 3 * t.participating_headcount >= 2 * t.eligible_headcount,
    'approvalMet', t.participating_headcount > 0 AND CASE WHEN v.rule = 'SPECIAL'
        THEN 4 * t.agree_area >= 3 * t.participating_area AND 4 * t.agree_headcount >= 3 * t.participating_headcount
        ELSE 2 * t.agree_area > t.participating_area AND 2 * t.agree_headcount > t.participating_headcount END),
  'myBallot', coalesce((
    SELECT json_agg(json_build_object('number', e.number, 'area', e.area, 'choice', e.choice) ORDER BY e.number)
    FROM vote_owner o JOIN vote_electorate e ON e.vote_id = o.vote_id AND e.household_id = o.household_id
    WHERE o.vote_id = v.id AND o.person_id = $2::uuid), '[]'::json))))::text
FROM vote v JOIN vote_tally t ON t.vote_id = v.id WHERE v.id = $1::uuid""",
        ("vote", "person"),
    ),
}

#: The ballot's lock, taken first so that the next statement's snapshot sees every earlier ballot.
RAW_LOCK = """
SELECT v.status = 'OPEN' AND v.closes_at > clock_timestamp() AS open
FROM vote_tally t JOIN vote v ON v.id = t.vote_id WHERE t.vote_id = $1::uuid FOR UPDATE OF t"""

#: Everything else a ballot writes, in one statement: the caller's households of the frozen
#: electorate with their current choices, the ballot row, the households' new choice, the tally
#: moved by the ballot's delta (areas per household, headcounts per head: models.vote_rules.
#: ballot_delta) and the live tally's notice. No row when the caller owns nothing in the vote.
RAW_RECORD = """
WITH mine AS (
  SELECT e.household_id, e.number, e.area, e.head, e.choice AS before
  FROM vote_electorate e JOIN vote_owner o ON o.vote_id = e.vote_id AND o.household_id = e.household_id
  WHERE e.vote_id = $1::uuid AND o.person_id = $2::uuid
),
heads AS (SELECT DISTINCT ON (head) head, before FROM mine ORDER BY head),
area AS (
  SELECT coalesce(sum(area) FILTER (WHERE before IS NULL), 0) AS participating,
         coalesce(sum(area) FILTER (WHERE $3::text = 'AGREE'), 0)
           - coalesce(sum(area) FILTER (WHERE before = 'AGREE'), 0) AS agree,
         coalesce(sum(area) FILTER (WHERE $3::text = 'DISAGREE'), 0)
           - coalesce(sum(area) FILTER (WHERE before = 'DISAGREE'), 0) AS disagree,
         coalesce(sum(area) FILTER (WHERE $3::text = 'ABSTAIN'), 0)
           - coalesce(sum(area) FILTER (WHERE before = 'ABSTAIN'), 0) AS abstain
  FROM mine
),
head AS (
  SELECT count(*) FILTER (WHERE before IS NULL) AS participating,
         count(*) FILTER (WHERE $3::text = 'AGREE') - count(*) FILTER (WHERE before = 'AGREE') AS agree,
         count(*) FILTER (WHERE $3::text = 'DISAGREE') - count(*) FILTER (WHERE before = 'DISAGREE') AS disagree,
         count(*) FILTER (WHERE $3::text = 'ABSTAIN') - count(*) FILTER (WHERE before = 'ABSTAIN') AS abstain
  FROM heads
),
ballot AS (
  INSERT INTO ballot (vote_id, compound_id, person_id, choice, household_ids, receipt_hash)
  SELECT $1::uuid, t.compound_id, $2::uuid, $3::text,
         (SELECT array_agg(household_id ORDER BY number) FROM mine), $4::text
  FROM vote_tally t WHERE t.vote_id = $1::uuid AND EXISTS (SELECT 1 FROM mine)
  RETURNING id, cast_at
),
chosen AS (
  UPDATE vote_electorate e SET choice = $3::text, ballot_id = (SELECT id FROM ballot)
  FROM mine WHERE e.vote_id = $1::uuid AND e.household_id = mine.household_id
    AND EXISTS (SELECT 1 FROM ballot)
  RETURNING e.number
),
moved AS (
  UPDATE vote_tally t SET
    ballots_cast = t.ballots_cast + 1,
    participating_area = t.participating_area + area.participating,
    agree_area = t.agree_area + area.agree,
    disagree_area = t.disagree_area + area.disagree,
    abstain_area = t.abstain_area + area.abstain,
    participating_headcount = t.participating_headcount + head.participating,
    agree_headcount = t.agree_headcount + head.agree,
    disagree_headcount = t.disagree_headcount + head.disagree,
    abstain_headcount = t.abstain_headcount + head.abstain
  FROM area, head WHERE t.vote_id = $1::uuid AND EXISTS (SELECT 1 FROM ballot)
  RETURNING 1
)
SELECT b.id, b.cast_at, (SELECT json_agg(number ORDER BY number) FROM chosen)::text AS households,
       (SELECT count(*) FROM moved) AS moved, pg_notify($5::text, $6::text) AS sent
FROM ballot b"""


# --- the raw endpoint (a subprocess: `peer.py --serve-raw PORT`) ---------------------------------


async def _keep_session(conn: asyncpg.Connection) -> None:
    """The raw endpoint sets no session state, so asyncpg's reset query on release is skipped."""


def raw_app() -> Any:
    """The raw endpoint: POST /screen/{name} with the screen's parameters as JSON, POST /ballot
    {vote, person, choice}; GET /readyz. No policy, no GraphQL: the physical lower bound."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    target = json.loads(os.environ["PEER_RAW_DATABASE"])
    size = int(os.environ.get("PEER_RAW_POOL", "20"))
    state: dict[str, asyncpg.Pool] = {}

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        state["pool"] = await asyncpg.create_pool(min_size=size, max_size=size, reset=_keep_session, **target)
        try:
            yield
        finally:
            await state["pool"].close()

    async def screen(request: Request) -> Response:
        sql, names = RAW_SCREENS[request.path_params["name"]]
        body = await request.json()
        async with state["pool"].acquire() as conn:
            text = await conn.fetchval(sql, *(body[n] for n in names))
        if text is None:
            return JSONResponse({"errors": [{"message": "not found"}]}, status_code=404)
        return Response(text, media_type="application/json")

    async def ballot(request: Request) -> Response:
        body = await request.json()
        vote, person, choice = body["vote"], body["person"], body["choice"]
        code = secrets.token_urlsafe(24)
        notice = json.dumps({"topic": f"vote:{vote}"})
        async with state["pool"].acquire() as conn, conn.transaction():
            if not await conn.fetchval(RAW_LOCK, vote):
                return JSONResponse({"errors": [{"message": "the vote is closed"}]}, status_code=409)
            row = await conn.fetchrow(
                RAW_RECORD, vote, person, choice, hashlib.sha256(code.encode()).hexdigest(), CHANNEL, notice
            )
            if row is None:
                return JSONResponse({"errors": [{"message": "not an owner in this vote"}]}, status_code=403)
        cast = {"choice": choice, "households": json.loads(row["households"]), "receipt": code}
        return JSONResponse({"data": {"castBallot": {**cast, "castAt": row["cast_at"].isoformat()}}})

    async def readyz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    routes = [
        Route("/screen/{name}", screen, methods=["POST"]),
        Route("/ballot", ballot, methods=["POST"]),
        Route("/readyz", readyz),
    ]
    return Starlette(routes=routes, lifespan=lifespan)


def serve_raw(port: int, workers: int) -> None:
    import uvicorn

    uvicorn.run(
        "peer:raw_app",
        factory=True,
        app_dir=str(BENCH),
        host="127.0.0.1",
        port=port,
        workers=workers,
        log_level="warning",
        access_log=False,
    )


# --- servers --------------------------------------------------------------------------------------


@dataclass
class Server:
    """One server under test: `kind` says how it is asked (qilijia, postgraphile, raw)."""

    label: str
    kind: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def launch(label: str, kind: str, port: int, args: list[str], env: dict[str, str], tmp: Path) -> Server:
    """Start a server in its own session (a Ctrl-C reaches only this script, which then stops the
    servers in order) with its output in a log file."""
    log = tmp / f"{label}.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            args, env=env, cwd=tmp, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
        )
    return Server(label, kind, port, process, log)


#: the database connections of one Qilijia worker at the default pool size (QILIJIA_DB_POOL_SIZE
#: 10: 10 for the compiled reads, 20 for the rest, the listener): each server of N workers gets a
#: pool size of 10 ÷ N, so that all of them, PostGraphile's and the raw endpoint's fit in
#: PostgreSQL's default 100 connections
POOL_SIZE = 10


def start_qilijia(label: str, env: dict[str, str], tmp: Path, workers: int) -> Server:
    port = free_port()
    args = [str(QILIJIA), "serve", "--workers", str(workers), "--port", str(port)]
    env = {**env, "QILIJIA_DB_POOL_SIZE": str(max(2, POOL_SIZE // workers))}
    return launch(label, "qilijia", port, args, env, tmp)


def start_postgraphile(label: str, url: str, tmp: Path, script: Path) -> Server:
    port = free_port()
    return launch(label, "postgraphile", port, ["bash", str(script), url, str(port)], dict(os.environ), tmp)


def start_raw(label: str, target: dict[str, Any], tmp: Path, workers: int, pool: int) -> Server:
    port = free_port()
    env = {**os.environ, "PEER_RAW_DATABASE": json.dumps(target), "PEER_RAW_POOL": str(pool)}
    args = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--raw-workers",
        str(workers),
        "--serve-raw",
        str(port),
    ]
    return launch(label, "raw", port, args, env, tmp)


def ready(server: Server, timeout: float) -> None:
    """Wait until the server answers: /readyz for Qilijia and raw, `{__typename}` for PostGraphile."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            tail = server.log.read_text(errors="replace")[-3000:]
            raise SystemExit(f"{server.label} exited with {server.process.returncode}:\n{tail}")
        try:
            if server.kind == "postgraphile":
                answer = httpx.post(f"{server.base}/graphql", json={"query": "{__typename}"}, timeout=5)
            else:
                answer = httpx.get(f"{server.base}/readyz", timeout=5)
            if answer.status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    tail = server.log.read_text(errors="replace")[-3000:]
    raise SystemExit(f"{server.label} was not ready after {timeout:.0f} s:\n{tail}")


def stop_server(server: Server) -> None:
    """SIGTERM to the server's process group (uvicorn's workers, node behind bash, npm), then
    SIGKILL if it has not exited within 20 s."""
    if server.process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.process.pid, signal.SIGTERM)
    try:
        server.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.process.pid, signal.SIGKILL)
        server.process.wait(timeout=10)


# --- the world the screens look at ----------------------------------------------------------------


@dataclass(frozen=True)
class World:
    """The ids and tokens the screens need, looked up once after the import."""

    compound: uuid.UUID
    household: uuid.UUID
    vote: uuid.UUID
    committee: uuid.UUID
    voter: uuid.UUID
    committee_token: str
    voter_token: str
    opener_token: str


async def look_up(conn: asyncpg.Connection) -> dict[str, uuid.UUID]:
    compound = await conn.fetchval("SELECT id FROM compound WHERE key = $1", COMPOUND_KEY)
    people = dict(
        await conn.fetch("SELECT phone, id FROM person WHERE phone = ANY($1::text[])", [COMMITTEE, VOTER])
    )
    household = await conn.fetchval(
        "SELECT id FROM household WHERE compound_id = $1 AND number = $2", compound, HOUSEHOLD
    )
    vote = await conn.fetchval(
        "SELECT id FROM vote WHERE compound_id = $1 AND status = 'OPEN' ORDER BY created_at LIMIT 1", compound
    )
    if vote is None:
        raise SystemExit("the demo story opened no vote in 千山美林 (app/demo/story.py)")
    return {
        "compound": compound,
        "household": household,
        "vote": vote,
        "committee": people[COMMITTEE],
        "voter": people[VOTER],
    }


@dataclass(frozen=True)
class Call:
    """One prepared request: path, body bytes and headers, the same for every repetition."""

    path: str
    body: bytes
    headers: dict[str, str]


def screen_call(kind: str, screen: str, world: World) -> Call:
    """The request for `screen` as server `kind` is asked it (see the module docstring)."""
    json_header = {"content-type": "application/json"}
    if kind == "qilijia":
        ids = {
            "home": encode("Compound", world.compound),
            "tasks": encode("Compound", world.compound),
            "household": encode("Household", world.household),
            "vote": encode("Vote", world.vote),
        }
        token = world.voter_token if screen == "vote" else world.committee_token
        body = {"query": QILIJIA_SCREENS[screen], "variables": {"id": ids[screen]}}
        return Call(
            "/graphql", json.dumps(body).encode(), {**json_header, "authorization": f"Bearer {token}"}
        )
    if kind == "postgraphile":
        variables = {
            "home": {"c": str(world.compound)},
            "tasks": {"c": str(world.compound)},
            "household": {"h": str(world.household)},
            "vote": {"v": str(world.vote), "p": str(world.voter), "h": str(world.household)},
        }[screen]
        body = {"query": POSTGRAPHILE_SCREENS[screen], "variables": variables}
        return Call("/graphql", json.dumps(body).encode(), json_header)
    params = {
        "compound": str(world.compound),
        "household": str(world.household),
        "vote": str(world.vote),
        "person": str(world.voter if screen == "vote" else world.committee),
    }
    chosen = {name: params[name] for name in RAW_SCREENS[screen][1]}
    return Call(f"/screen/{screen}", json.dumps(chosen).encode(), json_header)


def summarize(kind: str, screen: str, data: dict[str, Any]) -> str:
    """What a response holds, in words that are comparable across the three servers."""
    if kind == "postgraphile":
        if screen == "home":
            c = data["compoundByRowId"]
            buildings = c["buildingsByCompoundId"]["nodes"]
            households = [h for b in buildings for h in b["householdsByBuildingId"]["nodes"]]
            homes = [m for h in households for m in h["homesByHouseholdId"]["nodes"]]
            owners = [m for m in homes if m["relation"] == "OWNER"]
            return (
                f"{c['name']}: {len(buildings)} buildings, {len(households)} households, "
                f"{len(owners)} owners (of {len(homes)} occupants sent)"
            )
        if screen == "tasks":
            tasks = data["compoundByRowId"]["tasksByCompoundId"]["nodes"]
            return (
                f"{len(tasks)} tasks, {sum(bool(t['personByReporterId']) for t in tasks)} reporters, "
                f"{sum(len(t['taskMembersByTaskId']['nodes']) for t in tasks)} assignees, "
                f"{sum(len(t['lastEvent']['nodes']) for t in tasks)} last events, "
                f"{sum(len(t['volunteerCallsByTaskId']['nodes']) for t in tasks)} calls"
            )
        if screen == "household":
            h = data["householdByRowId"]
            return f"{h['number']} ({h['area']} m²) in {h['buildingByBuildingId']['name']}"
        v = data["voteByRowId"]
        tally = v["voteTallyByVoteId"]
        mine = ", ".join(f"{m['number']}={m['choice']}" for m in v["voteElectoratesByVoteId"]["nodes"])
        return (
            f"{v['status']}, {tally['ballotsCast']} ballots, "
            f"{tally['participatingHeadcount']}/{tally['eligibleHeadcount']} heads; mine: {mine or 'none'}"
        )
    if screen == "home":
        c = data["compound"]
        buildings = [b["node"] for b in c["buildings"]["edges"]]
        households = [h["node"] for b in buildings for h in b["households"]["edges"]]
        owners = sum(len(h["owners"]) for h in households)
        return f"{c['name']}: {len(buildings)} buildings, {len(households)} households, {owners} owners"
    if screen == "tasks":
        tasks = [e["node"] for e in data["compound"]["tasks"]["edges"]]
        return (
            f"{len(tasks)} tasks, {sum(bool(t['reporter']) for t in tasks)} reporters, "
            f"{sum(len(t['assignees']) for t in tasks)} assignees, "
            f"{sum(bool(t['lastEvent']) for t in tasks)} last events, "
            f"{sum(len(t['volunteerCalls']) for t in tasks)} calls"
        )
    if screen == "household":
        h = data["node"]
        return f"{h['number']} ({h['area']} m²) in {h['building']['name']}"
    v = data["vote"]
    mine = ", ".join(f"{m['number']}={m['choice']}" for m in v["myBallot"])
    return (
        f"{v['status']}, {v['tally']['ballotsCast']} ballots, "
        f"{v['tally']['participatingHeadcount']}/{v['tally']['eligibleHeadcount']} heads; mine: {mine or 'none'}"
    )


# --- counting statements --------------------------------------------------------------------------

CONTROL_WORDS = {
    "BEGIN", "START", "COMMIT", "END", "ROLLBACK", "ABORT", "SAVEPOINT", "RELEASE", "SET", "RESET",
    "SHOW", "DISCARD", "LISTEN", "UNLISTEN", "DEALLOCATE", "CLOSE", "",
}  # fmt: skip
FIRST_WORD = re.compile(r"^\s*(?:--[^\n]*\n\s*|/\*.*?\*/\s*)*([A-Za-z_]*)", re.S)


def classify(sql: str) -> str:
    """`sql` for statements that read or write data; `ctl` for transaction and session control,
    pool pings (`;`, `SELECT 1`), `set_config`/advisory-unlock housekeeping and asyncpg's type
    introspection on a new connection (`WITH RECURSIVE typeinfo_tree …`)."""
    match = FIRST_WORD.match(sql)
    word = (match.group(1) if match else "").upper()
    if word in CONTROL_WORDS:
        return "ctl"
    text = " ".join(sql.split()).lower()
    housekeeping = ("set_config(", "pg_advisory_unlock_all", "with recursive typeinfo_tree")
    if text in ("select 1", "select 1;") or any(h in text for h in housekeeping):
        return "ctl"
    return "sql"


@dataclass
class Seen:
    """Statements seen, by class, and their texts (for `--show-statements`), over `requests`
    requests."""

    kinds: Counter[str] = field(default_factory=Counter)
    texts: Counter[str] = field(default_factory=Counter)
    requests: int = 0

    def add(self, sql: str, calls: int = 1) -> None:
        self.kinds[classify(sql)] += calls
        self.texts[" ".join(sql.split())[:110]] += calls


SSL_REQUEST, GSSENC_REQUEST = 80877103, 80877104


class WireCounter:
    """A TCP proxy in front of PostgreSQL that counts what its clients execute: every simple
    Query ('Q') and every Execute ('E') of the extended protocol, with the text from Parse/Bind.
    SSL and GSS encryption requests are refused ('N') so that the stream stays readable."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.seen = Seen()
        self._server: asyncio.Server | None = None

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 5)

    def reset(self) -> Seen:
        seen, self.seen = self.seen, Seen()
        return seen

    async def _upstream(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self.host.startswith("/"):
            return await asyncio.open_unix_connection(f"{self.host}/.s.PGSQL.{self.port}")
        return await asyncio.open_connection(self.host, self.port)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream: asyncio.StreamWriter | None = None
        try:
            up_reader, upstream = await self._upstream()
            while True:  # the startup phase: untyped messages
                head = await reader.readexactly(8)
                length, code = struct.unpack("!ii", head)
                rest = await reader.readexactly(length - 8)
                if code in (SSL_REQUEST, GSSENC_REQUEST):
                    writer.write(b"N")
                    await writer.drain()
                    continue
                upstream.write(head + rest)
                await upstream.drain()
                break
            await asyncio.gather(
                self._copy(up_reader, writer), self._frontend(reader, upstream), return_exceptions=True
            )
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            for w in (writer, upstream):
                if w is not None:
                    w.close()

    @staticmethod
    async def _copy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while chunk := await reader.read(65536):
                writer.write(chunk)
                await writer.drain()
        finally:
            writer.close()

    async def _frontend(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        statements: dict[bytes, str] = {}
        portals: dict[bytes, str] = {}
        try:
            while True:
                head = await reader.readexactly(5)
                body = await reader.readexactly(int.from_bytes(head[1:5], "big") - 4)
                kind = head[:1]
                if kind == b"Q":
                    self.seen.add(body[:-1].decode(errors="replace"))
                elif kind == b"P":
                    name, rest = body.split(b"\0", 1)
                    statements[name] = rest.split(b"\0", 1)[0].decode(errors="replace")
                elif kind == b"B":
                    portal, rest = body.split(b"\0", 1)
                    portals[portal] = statements.get(rest.split(b"\0", 1)[0], "?")
                elif kind == b"E":
                    self.seen.add(portals.get(body.split(b"\0", 1)[0], "?"))
                writer.write(head + body)
                await writer.drain()
        finally:
            writer.close()


class PgssCounter:
    """pg_stat_statements, filtered by the benchmark database: calls since the last `reset`."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn
        self._base: dict[tuple[int, str], int] = {}

    async def _now(self) -> dict[tuple[int, str], int]:
        rows = await self.conn.fetch(
            "SELECT queryid, query, calls FROM pg_stat_statements "
            "WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())"
        )
        return {
            (r["queryid"], r["query"]): r["calls"] for r in rows if "pg_stat_statements" not in r["query"]
        }

    async def reset(self) -> Seen:
        now = await self._now()
        seen = Seen()
        for key, calls in now.items():
            if calls > self._base.get(key, 0):
                seen.add(key[1], calls - self._base.get(key, 0))
        self._base = now
        return seen


async def pgss_usable(conn: asyncpg.Connection) -> bool:
    try:
        await conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        await conn.fetchval("SELECT count(*) FROM pg_stat_statements")
        return True
    except asyncpg.PostgresError:
        return False


# --- measuring ------------------------------------------------------------------------------------


def proc_cpu(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Backends:
    """CPU of the PostgreSQL backends connected to the benchmark database (PostgreSQL on this
    machine: their pids from pg_stat_activity, their CPU from /proc)."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def sample(self) -> dict[int, float]:
        pids = await self.conn.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        found = {r["pid"]: proc_cpu(r["pid"]) for r in pids}
        return {pid: cpu for pid, cpu in found.items() if cpu is not None}

    @staticmethod
    def spent(before: dict[int, float], after: dict[int, float]) -> tuple[float, bool]:
        """(CPU seconds, complete): incomplete when a backend of `before` has gone meanwhile."""
        total = sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())
        return total, set(before) <= set(after)


@dataclass
class Sample:
    """One measured cell of one round."""

    rps: float
    p50: float
    p99: float
    server_cpu: float  # ms per request
    db_cpu: float  # ms per request
    db_complete: bool
    client_cpu: float  # ms per request
    errors: int
    first_error: str = ""


class WireClient:
    """The measured requests' client (`--client wire`, the default): HTTP/1.1 over keep-alive
    connections, one per request in flight, each request written as bytes and each response read by
    its Content-Length (or its chunks) and inflated when compressed. It sends what httpx sends
    (`accept-encoding: gzip, deflate`, keep-alive), so every server does the same work as before.

    httpx costs this process about 2.3 ms of CPU a request: at 400 requests a second the client
    alone filled one of this machine's two cores, and every server was measured at the client's
    pace rather than its own."""

    def __init__(self, base: str) -> None:
        url = urllib.parse.urlsplit(base)
        self.host, self.port = url.hostname or "127.0.0.1", url.port or 80
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def __aenter__(self) -> WireClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        idle, self.idle = self.idle, []
        for _, writer in idle:
            writer.close()

    def request(self, call: Call) -> bytes:
        headers = {
            "host": f"{self.host}:{self.port}",
            "accept": "*/*",
            "accept-encoding": "gzip, deflate",
            "connection": "keep-alive",
            **call.headers,
            "content-length": str(len(call.body)),
        }
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        return f"POST {call.path} HTTP/1.1\r\n{head}\r\n".encode("latin-1") + call.body

    async def _connection(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, bool]:
        """An idle connection the server has not closed (uvicorn closes one idle for 5 s, and the
        rounds leave each server's idle while the others are measured), else a new one; and whether
        it was reused."""
        while self.idle:
            reader, writer = self.idle.pop()
            if not reader.at_eof() and not writer.is_closing():
                return reader, writer, True
            writer.close()
        reader, writer = await asyncio.open_connection(self.host, self.port)
        return reader, writer, False

    async def post(self, call: Call) -> tuple[int, bytes]:
        """(HTTP status, the body as sent before compression)."""
        reader, writer, reused = await self._connection()
        try:
            writer.write(self.request(call))
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError) as exc:
                if not reused or getattr(exc, "partial", b""):
                    raise
                # closed by the server as it went idle, before it read this request: once more on a
                # new connection (nothing was done: not even a ballot is cast twice)
                writer.close()
                reader, writer = await asyncio.open_connection(self.host, self.port)
                writer.write(self.request(call))
                head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            status = int(lines[0].split(" ", 2)[1])
            headers = {}
            for line in lines[1:]:
                if line:
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip().lower()
            if "content-length" in headers:
                body = await reader.readexactly(int(headers["content-length"]))
            elif headers.get("transfer-encoding") == "chunked":
                chunks = []
                while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
                    chunks.append((await reader.readexactly(size + 2))[:-2])
                await reader.readuntil(b"\r\n")  # the empty trailer
                body = b"".join(chunks)
            else:
                body = await reader.read()
                headers["connection"] = "close"
        except BaseException:
            writer.close()
            raise
        if headers.get("connection") == "close":
            writer.close()
        else:
            self.idle.append((reader, writer))
        encoding = headers.get("content-encoding")
        if encoding == "gzip":
            body = zlib.decompress(body, 16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            body = zlib.decompress(body)
        return status, body


Client = httpx.AsyncClient | WireClient


def measuring_client(args: argparse.Namespace, base: str, in_flight: int) -> Client:
    """The client for measured requests, as `--client` says."""
    if args.client == "wire":
        return WireClient(base)
    limits = httpx.Limits(max_connections=in_flight, max_keepalive_connections=in_flight)
    return httpx.AsyncClient(base_url=base, limits=limits, timeout=300)


async def fire(client: Client, call: Call) -> str | None:
    """One request; None when it succeeded (HTTP 200, no GraphQL `errors`), else what went wrong."""
    try:
        if isinstance(client, WireClient):
            status, content = await client.post(call)
        else:
            response = await client.post(call.path, content=call.body, headers=call.headers)
            status, content = response.status_code, response.content
    except (
        httpx.HTTPError,
        OSError,
        asyncio.IncompleteReadError,
        asyncio.LimitOverrunError,
        ValueError,
    ) as exc:
        return f"{type(exc).__name__}: {exc}"
    if status != 200 or b'"errors"' in content:
        return f"HTTP {status}: {content[:300].decode(errors='replace')}"
    return None


async def burst(
    client: Client, call: Call, total: int, concurrency: int
) -> tuple[list[float], float, list[str]]:
    """`total` requests, `concurrency` in flight at any time; (latencies in ms, wall s, errors)."""
    latencies: list[float] = []
    errors: list[str] = []
    remaining = total

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            start = time.perf_counter()
            error = await fire(client, call)
            if error is None:
                latencies.append((time.perf_counter() - start) * 1000)
            else:
                errors.append(error)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, time.perf_counter() - start, errors


async def measure_cell(
    client: Client,
    server: Server,
    call: Call,
    backends: Backends,
    concurrency: int,
    requests: int,
    warmup: int,
) -> Sample:
    """One cell: the warm-up (it also opens the keep-alive connections), then the measured burst,
    with the server's, the backends' and this process's CPU sampled around the burst only."""
    if warmup:
        await burst(client, call, warmup, concurrency)
    db = await backends.sample()
    server_cpu = tree_cpu_seconds(server.process.pid)
    client_cpu = time.process_time()
    latencies, wall, errors = await burst(client, call, requests, concurrency)
    server_cpu = tree_cpu_seconds(server.process.pid) - server_cpu
    client_cpu = time.process_time() - client_cpu
    db_cpu, complete = Backends.spent(db, await backends.sample())
    latencies.sort()
    return Sample(
        rps=len(latencies) / wall,
        p50=percentile(latencies, 50),
        p99=percentile(latencies, 99),
        server_cpu=server_cpu * 1000 / requests,
        db_cpu=db_cpu * 1000 / requests,
        db_complete=complete,
        client_cpu=client_cpu * 1000 / requests,
        errors=len(errors),
        first_error=errors[0] if errors else "",
    )


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


# --- ballots --------------------------------------------------------------------------------------


@dataclass
class BallotRun:
    """One server's ballots in one round, and whether its stored tally equals a recount."""

    ballots: int
    errors: int
    wall: float
    p50: float
    p99: float
    server_cpu: float  # ms per ballot
    db_cpu: float
    db_complete: bool
    recount_ok: bool
    first_error: str = ""


async def open_vote(
    client: httpx.AsyncClient, opener_token: str, compound: uuid.UUID, title: str
) -> uuid.UUID:
    """A compound-wide vote of 千山美林 through Qilijia's openVote (not timed)."""
    variables = {
        "input": {
            "compoundId": encode("Compound", compound),
            "wholeCompound": True,
            "title": title,
            "description": "基准测试用的表决（bench/peer.py）。",
            "matter": "HIRE_OR_FIRE_PROPERTY_SERVICE",
            "closesAt": later(),
        }
    }
    response = await client.post(
        "/graphql",
        json={"query": OPEN, "variables": variables},
        headers={"authorization": f"Bearer {opener_token}"},
    )
    body = response.json()
    if response.status_code != 200 or body.get("errors"):
        raise SystemExit(f"openVote failed: {response.text[:500]}")
    return decode(body["data"]["openVote"]["id"])[1]


async def owners_of(conn: asyncpg.Connection, vote: uuid.UUID) -> list[uuid.UUID]:
    rows = await conn.fetch(
        "SELECT DISTINCT person_id FROM vote_owner WHERE vote_id = $1 ORDER BY person_id", vote
    )
    return [r["person_id"] for r in rows]


def owner_tokens(owners: list[uuid.UUID], secret: str) -> dict[uuid.UUID, str]:
    """One token per owner, as each owner's phone holds one for the whole of its session."""
    return {person: tokens.mint(person, secret=secret, ttl_seconds=3600)[0] for person in owners}


def opening_calls(vote: uuid.UUID, owners: list[uuid.UUID], held: dict[uuid.UUID, str]) -> list[Call]:
    """Each owner opening the vote's screen (QILIJIA_SCREENS["vote"]) before casting, as on the
    phone: Qilijia reads the owner then, and keeps it for the ballot (`--cold-ballots`: not)."""
    body = json.dumps({"query": QILIJIA_SCREENS["vote"], "variables": {"id": encode("Vote", vote)}}).encode()
    return [
        Call("/graphql", body, {"content-type": "application/json", "authorization": f"Bearer {held[p]}"})
        for p in owners
    ]


def ballot_calls(
    kind: str, vote: uuid.UUID, owners: list[uuid.UUID], count: int, held: dict[uuid.UUID, str]
) -> list[Call]:
    """`count` ballots by the vote's owners in turn (beyond one each: changes of mind), each
    owner's with the owner's token (`owner_tokens`)."""
    calls: list[Call] = []
    json_header = {"content-type": "application/json"}
    for i in range(count):
        person = owners[i % len(owners)]
        choice = FIRST_CHOICES[(i + i // len(owners)) % len(FIRST_CHOICES)]
        if kind == "qilijia":
            token = held[person]
            body = {"query": CAST, "variables": {"id": encode("Vote", vote), "choice": choice}}
            headers = {**json_header, "authorization": f"Bearer {token}"}
            calls.append(Call("/graphql", json.dumps(body).encode(), headers))
        else:
            body = {"vote": str(vote), "person": str(person), "choice": choice}
            calls.append(Call("/ballot", json.dumps(body).encode(), json_header))
    return calls


async def cast_all(client: Client, calls: list[Call], clients: int) -> tuple[list[float], float, list[str]]:
    pending = iter(calls)
    latencies: list[float] = []
    errors: list[str] = []

    async def worker() -> None:
        for call in pending:  # one shared iterator: each ballot is cast exactly once
            start = time.perf_counter()
            error = await fire(client, call)
            if error is None:
                latencies.append((time.perf_counter() - start) * 1000)
            else:
                errors.append(error)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(clients)))
    return latencies, time.perf_counter() - start, errors


# --- the run --------------------------------------------------------------------------------------


@dataclass
class Run:
    """Everything one invocation owns, so that `finally` can take it all down."""

    args: argparse.Namespace
    server_url: str
    url: str
    name: str
    tmp: Path
    env: dict[str, str]
    secret: str
    servers: list[Server] = field(default_factory=list)  # the measured ones
    spawned: list[Server] = field(default_factory=list)  # every server started, for `finally`

    def target(self, url: str | None = None) -> dict[str, Any]:
        parsed = make_url(url or self.url)
        return _dsn(parsed.render_as_string(hide_password=False), parsed.database or self.name)


def fmt_count(seen: Seen | None) -> tuple[str, str]:
    """(sql, ctl) statements per request, as printed."""
    if seen is None or not seen.requests:
        return "?", "?"
    return f"{seen.kinds['sql'] / seen.requests:.1f}", f"{seen.kinds['ctl'] / seen.requests:.1f}"


async def verify(run: Run, world: World, servers: list[Server]) -> None:
    """Each screen once from each server, summarised, before anything is timed."""
    print("\n## what each server answers (one request each, before measuring)")
    async with httpx.AsyncClient(timeout=120) as client:
        for screen in run.args.screens:
            for server in servers:
                call = screen_call(server.kind, screen, world)
                response = await client.post(server.base + call.path, content=call.body, headers=call.headers)
                try:
                    body = response.json()  # PostGraphile: application/graphql-response+json
                except ValueError:
                    body = {}
                if response.status_code != 200 or body.get("errors") or not body.get("data"):
                    raise SystemExit(
                        f"{server.label} {screen}: HTTP {response.status_code} {response.text[:800]}"
                    )
                print(
                    f"{screen:<9} {server.label:<14} {len(response.content):>7,} B  "
                    f"{summarize(server.kind, screen, body['data'])}",
                    flush=True,
                )


async def count_on(
    client: httpx.AsyncClient,
    base: str,
    calls: dict[str, list[Call]],
    take: Callable[[], Awaitable[Seen]],
    warmups: dict[str, list[Call]] | None = None,
) -> dict[str, Seen]:
    """Per entry of `calls`: its warm-up requests (`warmups`, by default the first call three
    times), then the calls one after another, counting the statements between two `take()`s."""
    found: dict[str, Seen] = {}
    for label, items in calls.items():
        # a ballot is not repeatable: its warm-up is the screens before it, and its owners' openings
        default = [] if label == "ballot" else items[:1] * 3
        for call in (warmups or {}).get(label, default):
            await fire(client, call)
        await asyncio.sleep(0.3)
        await take()
        for call in items:
            error = await fire(client, call)
            if error:
                raise SystemExit(f"counting {label} on {base}: {error}")
        await asyncio.sleep(0.3)  # connections go back to their pools (a rollback) after the response
        seen = await take()
        seen.requests = len(items)
        found[label] = seen
    return found


def count_plan(
    run: Run, world: World, kind: str, vote: uuid.UUID | None, owners: list[uuid.UUID]
) -> tuple[dict[str, list[Call]], dict[str, list[Call]]]:
    """What is counted on one server: each screen `--count-requests` times, then as many ballots
    by distinct owners of `vote` (none for PostGraphile); and the ballots' warm-up, each owner
    opening the vote (Qilijia's, unless `--cold-ballots`)."""
    k = run.args.count_requests
    calls = {screen: [screen_call(kind, screen, world)] * k for screen in run.args.screens}
    warmups: dict[str, list[Call]] = {}
    if vote is not None and kind != "postgraphile":
        casting = owners[: min(k, len(owners))]
        held = owner_tokens(casting, run.secret)
        calls["ballot"] = ballot_calls(kind, vote, casting, len(casting), held)
        if kind == "qilijia" and not run.args.cold_ballots:
            warmups["ballot"] = opening_calls(vote, casting, held)
    return calls, warmups


def wire_counter(url: str) -> WireCounter:
    """A counting proxy in front of the PostgreSQL server of `url` (not yet listening)."""
    parsed = make_url(url)
    host = parsed.query.get("host") or parsed.host or "127.0.0.1"
    return WireCounter(host if isinstance(host, str) else host[0], parsed.port or 5432)


def via_proxy(url: str, port: int) -> str:
    """`url` with its server replaced by a counting proxy listening on `port`."""
    return make_url(url).set(host="127.0.0.1", port=port, query={}).render_as_string(hide_password=False)


async def count_statements(
    run: Run, world: World, admin: asyncpg.Connection, measured: list[Server]
) -> tuple[dict[tuple[str, str], Seen], str]:
    """Statements per request for each kind of server and screen (and per ballot), and how they
    were counted: pg_stat_statements on the measuring servers if it is loaded, else a counting
    proxy in front of a counting instance of each kind."""
    args = run.args
    counts: dict[tuple[str, str], Seen] = {}
    kinds = ["qilijia", "postgraphile", "raw"]

    async def fresh_vote(qilijia_base: str, kind: str) -> tuple[uuid.UUID | None, list[uuid.UUID]]:
        if args.skip_ballots or kind == "postgraphile":
            return None, []
        async with httpx.AsyncClient(base_url=qilijia_base, timeout=120) as opening:
            vote = await open_vote(opening, world.opener_token, world.compound, f"计数 {kind}")
        return vote, await owners_of(admin, vote)

    if await pgss_usable(admin):
        counter = PgssCounter(admin)
        opener = next(s for s in measured if s.kind == "qilijia")
        for kind in kinds:
            server = next(s for s in measured if s.kind == kind)
            vote, owners = await fresh_vote(opener.base, kind)
            async with httpx.AsyncClient(base_url=server.base, timeout=120) as client:
                plan, warmups = count_plan(run, world, kind, vote, owners)
                for label, seen in (
                    await count_on(client, server.base, plan, counter.reset, warmups)
                ).items():
                    counts[(kind, label)] = seen
        return counts, "pg_stat_statements on the measuring servers"

    proxies: list[WireCounter] = []
    counting: list[Server] = []
    try:
        for kind in kinds:
            proxy = wire_counter(run.url)
            proxies.append(proxy)
            via = via_proxy(run.url, await proxy.start())
            label = f"count-{kind}"
            if kind == "qilijia":
                server = start_qilijia(label, {**run.env, "DATABASE_URL": via}, run.tmp, 1)
            elif kind == "postgraphile":
                server = start_postgraphile(label, via, run.tmp, args.postgraphile_script)
            else:
                server = start_raw(label, run.target(via), run.tmp, 1, args.raw_pool)
            counting.append(server)
            run.spawned.append(server)
            # in a thread: the proxies on this event loop must serve the server's start-up
            await asyncio.to_thread(ready, server, args.postgraphile_timeout)
        for kind, proxy, server in zip(kinds, proxies, counting, strict=True):
            vote, owners = await fresh_vote(counting[0].base, kind)

            async def take(proxy: WireCounter = proxy) -> Seen:
                return proxy.reset()

            async with httpx.AsyncClient(base_url=server.base, timeout=120) as client:
                plan, warmups = count_plan(run, world, kind, vote, owners)
                for label, seen in (await count_on(client, server.base, plan, take, warmups)).items():
                    counts[(kind, label)] = seen
    finally:
        for server in counting:
            await asyncio.to_thread(stop_server, server)
        for proxy in proxies:
            await proxy.close()
    return (
        counts,
        "a counting proxy on the wire in front of counting instances (pg_stat_statements is not loaded)",
    )


def print_counts(run: Run, counts: dict[tuple[str, str], Seen], how: str) -> None:
    print(f"\n## SQL statements per request, counted with {how}")
    print(f"{'screen':<9} {'server':<13} {'requests':>8} {'sql':>5} {'ctl':>5}")
    for label in [*run.args.screens, *([] if run.args.skip_ballots else ["ballot"])]:
        for kind in ("qilijia", "postgraphile", "raw"):
            seen = counts.get((kind, label))
            if seen is None:
                continue
            sql, ctl = fmt_count(seen)
            print(f"{label:<9} {kind:<13} {seen.requests:>8} {sql:>5} {ctl:>5}")
            if run.args.show_statements:
                for text, calls in seen.texts.most_common():
                    print(f"{'':<9} {calls / seen.requests:>6.1f} × {text}")


async def measure_all(
    run: Run, world: World, servers: list[Server], backends: Backends, counts: dict[tuple[str, str], Seen]
) -> None:
    args = run.args
    clients = {s.label: measuring_client(args, s.base, max(args.concurrency)) for s in servers}
    samples: dict[tuple[str, int, str], list[Sample]] = {}
    try:
        for r in range(args.rounds):
            order = servers[r % len(servers) :] + servers[: r % len(servers)]
            print(f"# round {r + 1}/{args.rounds}: load average {loadavg()}", flush=True)
            for screen in args.screens:
                for concurrency in args.concurrency:
                    for server in order:
                        call = screen_call(server.kind, screen, world)
                        sample = await measure_cell(
                            clients[server.label],
                            server,
                            call,
                            backends,
                            concurrency,
                            args.requests,
                            args.warmup,
                        )
                        samples.setdefault((screen, concurrency, server.label), []).append(sample)
                        if sample.errors:
                            print(
                                f"  {server.label} {screen} ×{concurrency}: {sample.errors} errors, {sample.first_error}"
                            )
    finally:
        for c in clients.values():
            await c.aclose()

    print(
        f"\n## screens: medians of {args.rounds} interleaved rounds, {args.requests} requests per cell "
        f"after {args.warmup} warm-up"
    )
    print(
        f"{'screen':<9} {'conc':>4} {'server':<14} {'req/s':>7} {'req/s range':>13} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'srv cpu ms':>10} {'db cpu ms':>10} {'cli cpu ms':>10} {'sql':>5} {'ctl':>5} {'errors':>6}"
    )
    for screen in args.screens:
        for concurrency in args.concurrency:
            for server in servers:
                cell = samples[(screen, concurrency, server.label)]
                rps = [s.rps for s in cell]
                db = f"{median([s.db_cpu for s in cell]):.1f}" + (
                    "" if all(s.db_complete for s in cell) else "+"
                )
                sql, ctl = fmt_count(counts.get((server.kind, screen)))
                print(
                    f"{screen:<9} {concurrency:>4} {server.label:<14} {median(rps):>7.1f} "
                    f"{f'{min(rps):.0f}–{max(rps):.0f}':>13} {median([s.p50 for s in cell]):>8.1f} "
                    f"{median([s.p99 for s in cell]):>8.1f} {median([s.server_cpu for s in cell]):>10.1f} "
                    f"{db:>10} {median([s.client_cpu for s in cell]):>10.2f} {sql:>5} {ctl:>5} "
                    f"{sum(s.errors for s in cell):>6}",
                    flush=True,
                )

    ours = [s for s in servers if s.kind == "qilijia"]
    peer = next(s for s in servers if s.kind == "postgraphile")
    raw = next(s for s in servers if s.kind == "raw")
    print("\n## ratios of median req/s")
    header = " ".join(f"{f'{q.label} ÷ {other.label}':>24}" for q in ours for other in (peer, raw))
    print(f"{'screen':<9} {'conc':>4} {header}")
    for screen in args.screens:
        for concurrency in args.concurrency:

            def rps(s: Server, screen: str = screen, concurrency: int = concurrency) -> float:
                return median([x.rps for x in samples[(screen, concurrency, s.label)]])

            cells = " ".join(
                f"{rps(q) / rps(other) if rps(other) else float('nan'):>24.2f}"
                for q in ours
                for other in (peer, raw)
            )
            print(f"{screen:<9} {concurrency:>4} {cells}")


async def ballots_all(
    run: Run,
    world: World,
    servers: list[Server],
    admin: asyncpg.Connection,
    backends: Backends,
    counts: dict[tuple[str, str], Seen],
) -> None:
    args = run.args
    casting = [s for s in servers if s.kind in ("qilijia", "raw")]
    opener = next(s for s in servers if s.kind == "qilijia")
    runs: dict[str, list[BallotRun]] = {}
    async with httpx.AsyncClient(base_url=opener.base, timeout=120) as opening:
        for r in range(args.rounds):
            order = casting[r % len(casting) :] + casting[: r % len(casting)]
            for server in order:
                vote = await open_vote(
                    opening, world.opener_token, world.compound, f"基准 {server.label} 第{r + 1}轮"
                )
                owners = await owners_of(admin, vote)
                held = owner_tokens(owners, run.secret)
                calls = ballot_calls(server.kind, vote, owners, args.ballots or len(owners), held)
                async with measuring_client(args, server.base, args.ballot_clients) as client:
                    if server.kind == "qilijia" and not args.cold_ballots:  # not timed
                        _, _, failed = await cast_all(
                            client, opening_calls(vote, owners, held), args.ballot_clients
                        )
                        if failed:
                            raise SystemExit(f"{server.label}: owners opening the vote: {failed[0]}")
                    cpu, db = tree_cpu_seconds(server.process.pid), await backends.sample()
                    latencies, wall, errors = await cast_all(client, calls, args.ballot_clients)
                    cpu = tree_cpu_seconds(server.process.pid) - cpu
                    db_cpu, complete = Backends.spent(db, await backends.sample())
                stored = await stored_tally(run.url, vote)
                recount = await recount_from_rows(run.url, vote)
                cast = await admin.fetchval("SELECT ballots_cast FROM vote_tally WHERE vote_id = $1", vote)
                latencies.sort()
                n = max(1, len(latencies))
                runs.setdefault(server.label, []).append(
                    BallotRun(
                        ballots=len(latencies),
                        errors=len(errors),
                        wall=wall,
                        p50=percentile(latencies, 50),
                        p99=percentile(latencies, 99),
                        server_cpu=cpu * 1000 / n,
                        db_cpu=db_cpu * 1000 / n,
                        db_complete=complete,
                        recount_ok=stored == recount and cast == len(latencies),
                        first_error=errors[0] if errors else "",
                    )
                )
                if errors:
                    print(f"  {server.label} ballots: {len(errors)} errors, {errors[0]}")
    print(
        f"\n## ballots: {args.ballot_clients} clients, a fresh compound-wide vote per server and round, "
        f"medians of {args.rounds} rounds"
    )
    print(
        f"{'server':<14} {'ballots':>7} {'ballots/s':>9} {'range':>11} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'srv cpu ms':>10} {'db cpu ms':>10} {'sql':>5} {'ctl':>5} {'errors':>6} {'tally == recount':>16}"
    )
    for server in casting:
        cell = runs[server.label]
        bps = [x.ballots / x.wall for x in cell]
        db = f"{median([x.db_cpu for x in cell]):.1f}" + ("" if all(x.db_complete for x in cell) else "+")
        sql, ctl = fmt_count(counts.get((server.kind, "ballot")))
        print(
            f"{server.label:<14} {cell[0].ballots:>7} {median(bps):>9.1f} {f'{min(bps):.0f}–{max(bps):.0f}':>11} "
            f"{median([x.p50 for x in cell]):>8.1f} {median([x.p99 for x in cell]):>8.1f} "
            f"{median([x.server_cpu for x in cell]):>10.1f} {db:>10} {sql:>5} {ctl:>5} "
            f"{sum(x.errors for x in cell):>6} {'yes' if all(x.recount_ok for x in cell) else 'NO':>16}",
            flush=True,
        )
    print(f"{'postgraphile':<14} n/a: no mutation of its generated API can take the lock and move the tally")


# --- the scale: the home screen at 20 and at 100 households per building -------------------------


@dataclass(frozen=True)
class ScaleWorld:
    """The scale database's compound and the community committee member who looks at it."""

    compound: uuid.UUID
    phone: str
    token: str


def write_scale_world(tmp: Path) -> tuple[Path, dict[str, Any]]:
    """SCALE_WORLD generated by ../shared/worldgen.py into a JSON world file; (file, document)."""
    path = tmp / "scale-world.json"
    args = [sys.executable, str(WORLDGEN)]
    for option, value in SCALE_WORLD.items():
        args += [f"--{option.replace('_', '-')}", str(value)]
    done = subprocess.run([*args, "--out", str(path)], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{WORLDGEN} failed ({done.returncode}):\n{done.stderr}")
    return path, json.loads(path.read_text())


def scale_viewer(document: dict[str, Any]) -> tuple[str, str]:
    """(compound key, phone) of a COMMUNITY_COMMITTEE member of the compound's community: sees every
    household of the compound and its owners."""
    compound = document["compounds"][0]
    phone = next(
        r["phone"]
        for r in document["roles"]
        if r["role"] == "COMMUNITY_COMMITTEE" and r.get("community") == compound["community"]
    )
    return compound["key"], phone


async def analyze_and_look_up(target: dict[str, Any], key: str) -> uuid.UUID:
    conn = await asyncpg.connect(**target)
    try:
        await conn.execute("SET statement_timeout = 0")
        await conn.execute("ANALYZE")  # the import analyzes what it wrote; this covers the rest
        compound = await conn.fetchval("SELECT id FROM compound WHERE key = $1", key)
    finally:
        await conn.close()
    if compound is None:
        raise SystemExit(f"the scale world's compound {key} was not imported")
    return compound


def scale_call(world: ScaleWorld, per_building: int) -> Call:
    body = {"query": home_query(per_building), "variables": {"id": encode("Compound", world.compound)}}
    headers = {"content-type": "application/json", "authorization": f"Bearer {world.token}"}
    return Call("/graphql", json.dumps(body).encode(), headers)


@dataclass(frozen=True)
class Shown:
    """What one variant of the scale's home screen returned."""

    size: int  # bytes
    buildings: int
    households: int
    owners: int
    least: int  # households of the building that shows the fewest
    most: int


async def scale_verify(server: Server, calls: dict[int, Call]) -> dict[int, Shown]:
    """Each variant once, before anything is timed: no `errors`, and what it shows."""
    shown: dict[int, Shown] = {}
    async with httpx.AsyncClient(base_url=server.base, timeout=120) as client:
        for per_building, call in calls.items():
            response = await client.post(call.path, content=call.body, headers=call.headers)
            body = response.json() if response.status_code == 200 else {}
            if body.get("errors") or not body.get("data") or not body["data"].get("compound"):
                raise SystemExit(
                    f"scale home {per_building}: HTTP {response.status_code} {response.text[:800]}"
                )
            buildings = [b["node"] for b in body["data"]["compound"]["buildings"]["edges"]]
            if not buildings:
                raise SystemExit(f"scale home {per_building}: no buildings in {response.text[:800]}")
            per = [len(b["households"]["edges"]) for b in buildings]
            owners = sum(len(h["node"]["owners"]) for b in buildings for h in b["households"]["edges"])
            s = Shown(len(response.content), len(buildings), sum(per), owners, min(per), max(per))
            shown[per_building] = s
            print(
                f"home households(first: {per_building:>3})  {s.size:>9,} B  {s.buildings} buildings, "
                f"{s.households} households ({s.least}–{s.most} per building), {s.owners} owners",
                flush=True,
            )
            if s.least < per_building or not s.owners:
                print(f"  warning: fewer than {per_building} households in some building, or no owners shown")
    return shown


async def scale_count(
    run: Run, url: str, admin: asyncpg.Connection, server: Server, calls: dict[int, Call]
) -> tuple[dict[int, Seen], str]:
    """Statements per request of each variant, counted as step 4 counts the screens."""
    plan = {f"home {n}": [call] * run.args.count_requests for n, call in calls.items()}

    def by_variant(found: dict[str, Seen]) -> dict[int, Seen]:
        return {n: found[f"home {n}"] for n in calls}

    if await pgss_usable(admin):
        counter = PgssCounter(admin)
        async with httpx.AsyncClient(base_url=server.base, timeout=120) as client:
            found = await count_on(client, server.base, plan, counter.reset)
        return by_variant(found), "pg_stat_statements on the measuring server"
    proxy = wire_counter(url)
    counting: Server | None = None
    try:
        via = via_proxy(url, await proxy.start())
        counting = start_qilijia("count-scale", {**run.env, "DATABASE_URL": via}, run.tmp, 1)
        run.spawned.append(counting)
        await asyncio.to_thread(ready, counting, run.args.postgraphile_timeout)

        async def take() -> Seen:
            return proxy.reset()

        async with httpx.AsyncClient(base_url=counting.base, timeout=120) as client:
            found = await count_on(client, counting.base, plan, take)
    finally:
        if counting is not None:
            await asyncio.to_thread(stop_server, counting)
        await proxy.close()
    how = "a counting proxy in front of a counting instance (pg_stat_statements is not loaded)"
    return by_variant(found), how


async def scale_session(run: Run, url: str, world: ScaleWorld, server: Server) -> None:
    """Steps 7's checks, counts and interleaved measurement, then its table."""
    args = run.args
    calls = {n: scale_call(world, n) for n in SCALE_SHOWN}
    admin = await asyncpg.connect(**run.target(url))
    try:
        backends = Backends(admin)
        print("\n## scale: what the home screen answers (one request each, before measuring)")
        shown = await scale_verify(server, calls)
        counts, how = await scale_count(run, url, admin, server, calls)
        print(f"statements counted with {how}")
        samples: dict[tuple[int, int], list[Sample]] = {}
        async with measuring_client(args, server.base, max(args.scale_concurrency)) as client:
            for r in range(args.rounds):
                order = SCALE_SHOWN[r % len(SCALE_SHOWN) :] + SCALE_SHOWN[: r % len(SCALE_SHOWN)]
                print(f"# scale round {r + 1}/{args.rounds}: load average {loadavg()}", flush=True)
                for concurrency in args.scale_concurrency:
                    for n in order:
                        sample = await measure_cell(
                            client, server, calls[n], backends, concurrency, args.requests, args.warmup
                        )
                        samples.setdefault((n, concurrency), []).append(sample)
                        if sample.errors:
                            print(f"  home {n} ×{concurrency}: {sample.errors} errors, {sample.first_error}")
    finally:
        await admin.close()

    print(
        f"\n## scale: the home screen at {SCALE_SHOWN[-1]} households per building costs at most "
        f"{SCALE_TARGET:g}x the screen at {SCALE_SHOWN[0]}"
    )
    print(
        f"{server.label}, {SCALE_WORLD['buildings']} buildings × "
        f"{SCALE_WORLD['units'] * SCALE_WORLD['floors'] * SCALE_WORLD['per_floor']} households; medians of "
        f"{args.rounds} interleaved rounds, {args.requests} requests per cell after {args.warmup} warm-up"
    )
    print(
        f"{'variant':<22} {'conc':>4} {'households':>10} {'req/s':>7} {'req/s range':>13} {'p50 ms':>8} "
        f"{'p99 ms':>8} {'srv cpu ms':>10} {'db cpu ms':>10} {'sql':>5} {'ctl':>5} {'errors':>6}"
    )
    for concurrency in args.scale_concurrency:
        for n in SCALE_SHOWN:
            cell = samples[(n, concurrency)]
            rps = [s.rps for s in cell]
            db = f"{median([s.db_cpu for s in cell]):.1f}" + ("" if all(s.db_complete for s in cell) else "+")
            sql, ctl = fmt_count(counts.get(n))
            print(
                f"{f'households(first: {n})':<22} {concurrency:>4} {shown[n].households:>10} {median(rps):>7.1f} "
                f"{f'{min(rps):.0f}–{max(rps):.0f}':>13} {median([s.p50 for s in cell]):>8.1f} "
                f"{median([s.p99 for s in cell]):>8.1f} {median([s.server_cpu for s in cell]):>10.1f} "
                f"{db:>10} {sql:>5} {ctl:>5} {sum(s.errors for s in cell):>6}",
                flush=True,
            )

    small, large = SCALE_SHOWN[0], SCALE_SHOWN[-1]
    shown_ratio = shown[large].households / max(1, shown[small].households)
    print(
        f"\n## scale: ratios {large} ÷ {small} ({shown_ratio:.1f}× the households shown), "
        f"target ≤ {SCALE_TARGET:g}×"
    )
    print(f"{'conc':>4} {'srv cpu/req':>14} {'db cpu/req':>14} {'1/(req/s)':>14}")

    def ratio(value: float) -> str:
        verdict = "ok" if value <= SCALE_TARGET else "OVER"
        return f"{value:.2f}× {verdict:>4}"

    for concurrency in args.scale_concurrency:

        def med(n: int, what: Callable[[Sample], float], concurrency: int = concurrency) -> float:
            return median([what(s) for s in samples[(n, concurrency)]])

        def of(big: float, little: float) -> float:
            return big / little if little else float("nan")

        cells = (
            of(med(large, lambda s: s.server_cpu), med(small, lambda s: s.server_cpu)),
            of(med(large, lambda s: s.db_cpu), med(small, lambda s: s.db_cpu)),
            of(med(small, lambda s: s.rps), med(large, lambda s: s.rps)),  # 1/(req/s): the inverse ratio
        )
        line = " ".join(f"{ratio(c):>14}" for c in cells)
        print(f"{concurrency:>4} {line}   (target ≤ {SCALE_TARGET:g}×)")


def run_scale(run: Run, name: str) -> None:
    """Step 7 on the (already created) database `name`: import, analyze, serve, measure."""
    url = make_url(run.url).set(database=name).render_as_string(hide_password=False)
    env = {**run.env, "DATABASE_URL": url}
    start = time.perf_counter()
    path, document = write_scale_world(run.tmp)
    qilijia(env, "import", str(path))
    key, phone = scale_viewer(document)
    compound = asyncio.run(analyze_and_look_up(run.target(url), key))
    households = sum(len(b["households"]) for c in document["compounds"] for b in c["buildings"])
    print(
        f"\nscale database {name}: {households} households in {SCALE_WORLD['buildings']} buildings "
        f"({SCALE_WORLD['units']} unit × {SCALE_WORLD['floors']} floors × {SCALE_WORLD['per_floor']}), "
        f"{len(document['people'])} people, imported and analyzed in {time.perf_counter() - start:.1f} s; "
        f"viewer {phone} (COMMUNITY_COMMITTEE)",
        flush=True,
    )
    world = ScaleWorld(compound, phone, qilijia(env, "token", phone).strip())
    server = start_qilijia("scale-qilijia×1", env, run.tmp, 1)
    run.spawned.append(server)
    ready(server, run.args.postgraphile_timeout)
    print(f"server: {server.label} (pid {server.process.pid}, port {server.port})", flush=True)
    asyncio.run(scale_session(run, url, world, server))
    stop_server(server)


async def seed_and_look_up(run: Run) -> dict[str, uuid.UUID]:
    conn = await asyncpg.connect(**run.target())
    try:
        await conn.execute("SET statement_timeout = 0")
        await conn.fetch(SEED, run.args.tasks)
        await conn.execute("ANALYZE")  # as autovacuum would soon after; the bench measures at once
        return await look_up(conn)
    finally:
        await conn.close()


async def session(run: Run, world: World, servers: list[Server]) -> None:
    admin = await asyncpg.connect(**run.target())
    try:
        backends = Backends(admin)
        await verify(run, world, servers)
        counts, how = await count_statements(run, world, admin, servers)
        print_counts(run, counts, how)
        await measure_all(run, world, servers, backends, counts)
        if not run.args.skip_ballots:
            await ballots_all(run, world, servers, admin, backends, counts)
    finally:
        await admin.close()


def int_list(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        prog="bench/peer.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL") or DEFAULT_SERVER,
        help="PostgreSQL server to create the temporary database on (default: $DATABASE_URL, else %(default)s)",
    )
    ap.add_argument(
        "--workers", type=int_list, default=[1, 2],
        help="`qilijia serve --workers` values, comma-separated; each is a separate server measured "
        "side by side with the others (default: 1,2)",
    )  # fmt: skip
    ap.add_argument(
        "--raw-workers", type=int, default=1, help="uvicorn workers of the raw endpoint (default: 1)"
    )
    ap.add_argument(
        "--raw-pool",
        type=int,
        default=20,
        help="the raw endpoint's asyncpg pool size per worker (default: 20)",
    )
    ap.add_argument(
        "--concurrency", type=int_list, default=[1, 16, 64],
        help="requests in flight, comma-separated levels (default: 1,16,64)",
    )  # fmt: skip
    ap.add_argument(
        "--requests", type=int, default=200, help="measured requests per cell and round (default: 200)"
    )
    ap.add_argument(
        "--warmup", type=int, default=20, help="unmeasured requests before each cell (default: 20)"
    )
    ap.add_argument(
        "--rounds", type=int, default=3, help="interleaved rounds; medians are printed (default: 3)"
    )
    ap.add_argument(
        "--screens", type=lambda s: [x for x in s.split(",") if x], default=list(SCREENS),
        help=f"screens to measure, comma-separated, of {','.join(SCREENS)} (default: all)",
    )  # fmt: skip
    ap.add_argument("--tasks", type=int, default=2000, help="tasks seeded into 千山美林 (default: 2000)")
    ap.add_argument(
        "--ballots", type=int, default=0,
        help="ballots per server and round (default 0: every distinct owner of the vote once; more "
        "than the owners: changes of mind)",
    )  # fmt: skip
    ap.add_argument("--ballot-clients", type=int, default=32, help="clients casting at once (default: 32)")
    ap.add_argument(
        "--cold-ballots", action="store_true",
        help="Qilijia's owners cast without opening the vote first: each ballot is its token's first "
        "request, and the owner is read for it (one statement more)",
    )  # fmt: skip
    ap.add_argument(
        "--client", choices=("wire", "httpx"), default="wire",
        help="the measured requests' client: wire (a keep-alive HTTP/1.1 client of a few lines, "
        "default) or httpx (as runs before 2026-12-07's last table: about 2.3 ms of this process's CPU "
        "a request, a core of this machine at 400 requests/s)",
    )  # fmt: skip
    ap.add_argument("--skip-ballots", action="store_true", help="measure the screens only")
    ap.add_argument(
        "--skip-scale", action="store_true",
        help="skip step 7: the home screen at 20 and at 100 households per building on a second database",
    )  # fmt: skip
    ap.add_argument(
        "--scale-concurrency", type=int_list, default=[1, 16],
        help="requests in flight for step 7, comma-separated levels (default: 1,16)",
    )  # fmt: skip
    ap.add_argument(
        "--count-requests", type=int, default=10,
        help="sequential requests (and ballots) per screen when counting statements (default: 10)",
    )  # fmt: skip
    ap.add_argument(
        "--show-statements", action="store_true", help="print every statement text counted, per request"
    )
    ap.add_argument(
        "--postgraphile-script", type=Path, default=POSTGRAPHILE,
        help="starts PostGraphile: SCRIPT DATABASE_URL PORT (default: %(default)s)",
    )  # fmt: skip
    ap.add_argument(
        "--postgraphile-timeout", type=float, default=900.0,
        help="seconds to wait for a server to answer; PostGraphile's first run installs it (default: 900)",
    )  # fmt: skip
    ap.add_argument(
        "--serve-raw", type=int, metavar="PORT",
        help="internal: only run the raw endpoint on PORT (the database from $PEER_RAW_DATABASE)",
    )  # fmt: skip
    args = ap.parse_args()
    unknown = set(args.screens) - set(SCREENS)
    if unknown:
        ap.error(f"unknown screens: {', '.join(sorted(unknown))}")
    if args.count_requests < 1 or args.requests < 1 or args.rounds < 1:
        ap.error("--requests, --rounds and --count-requests must be at least 1")
    return args


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt  # SIGTERM takes the same way out as Ctrl-C: servers stopped, database dropped


def main() -> None:
    args = parse_args()
    if args.serve_raw:
        serve_raw(args.serve_raw, args.raw_workers)
        return
    signal.signal(signal.SIGTERM, _interrupt)
    tmp = Path(tempfile.mkdtemp(prefix="qilijia-bench-peer-"))
    name = f"qlj_peer_{uuid.uuid4().hex[:10]}"
    url = make_url(args.database_url).set(database=name).render_as_string(hide_password=False)
    secret = secrets.token_urlsafe(48)  # 64 characters
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "QILIJIA_ENV": "prod",
        "QILIJIA_SECRET_KEY": secret,
        "QILIJIA_DATA_DIR": str(tmp),
        # one benchmark persona asks what thousands of residents would: rate windows out of the way
        "QILIJIA_RATE_LIMIT_SCALE": "100000",
    }
    run = Run(args, args.database_url, url, name, tmp, env, secret)
    created: list[str] = []  # databases to drop at the end, also on failure
    print(f"load average at the start: {loadavg()} ({os.cpu_count()} CPUs)", flush=True)
    try:
        asyncio.run(_admin(args.database_url, f"CREATE DATABASE {name}"))
        created.append(name)
        start = time.perf_counter()
        qilijia(env, "import", "--demo")
        ids = asyncio.run(seed_and_look_up(run))
        print(
            f"database {name}: demo world and story imported, {args.tasks} tasks seeded in "
            f"{time.perf_counter() - start:.1f} s",
            flush=True,
        )
        world = World(
            **ids,
            committee_token=qilijia(env, "token", COMMITTEE).strip(),
            voter_token=qilijia(env, "token", VOTER).strip(),
            opener_token=qilijia(env, "token", OPENER).strip(),
        )
        for workers in args.workers:
            run.servers.append(start_qilijia(f"qilijia×{workers}", env, tmp, workers))
        run.servers.append(start_postgraphile("postgraphile", url, tmp, args.postgraphile_script))
        run.servers.append(
            start_raw(f"raw×{args.raw_workers}", run.target(), tmp, args.raw_workers, args.raw_pool)
        )
        run.spawned.extend(run.servers)
        for server in run.servers:
            ready(server, args.postgraphile_timeout)
        print(
            "servers: " + ", ".join(f"{s.label} (pid {s.process.pid}, port {s.port})" for s in run.servers),
            flush=True,
        )
        asyncio.run(session(run, world, run.servers))
        if not args.skip_scale:
            for server in run.servers:  # the scale is measured alone
                stop_server(server)
            scale = f"{name}_scale"
            asyncio.run(_admin(args.database_url, f"CREATE DATABASE {scale}"))
            created.append(scale)
            run_scale(run, scale)
    except KeyboardInterrupt:
        print("\ninterrupted", flush=True)
    finally:
        for server in run.spawned:
            stop_server(server)
            problems = [
                line
                for line in server.log.read_text(errors="replace").splitlines()
                if '"error"' in line or "Traceback" in line or "Error:" in line
            ]
            if problems:
                print(
                    f"{server.label}: {len(problems)} error lines in its log, the first: {problems[0][:400]}"
                )
        try:
            failed: list[str] = []
            for database in created:
                try:  # one failed drop does not keep the other database
                    asyncio.run(_admin(args.database_url, f"DROP DATABASE IF EXISTS {database} WITH (FORCE)"))
                    print(f"database {database} dropped")
                except Exception as exc:
                    failed.append(f"{database}: {exc}")
            if failed:
                raise SystemExit("databases NOT dropped: " + "; ".join(failed))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        print(f"load average at the end: {loadavg()}")


if __name__ == "__main__":
    main()
