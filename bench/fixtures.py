"""What the benchmarks send and check: the screens' documents, their seed data, world files, and a
recount of a vote from its rows. The benchmarks' own copy: they never import the test suite, which
changes freely.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from models.vote_rules import Choice, Eligible, Tally, recount

WORLDGEN = Path(__file__).resolve().parents[2] / "shared" / "worldgen.py"

SCREEN = """query($id: ID!) { compound(id: $id) { tasks(first: 20) { edges { node {
  title status kind reporter { name phone } assignees { name }
  lastEvent { kind createdAt actor { name } }
  timeline(first: 5) { edges { node { kind } } }
  volunteerCalls { title needed signedCount waitlistCount myStatus } } }
  pageInfo { hasNextPage } } } }"""

SEED = """
WITH c AS (SELECT id FROM compound WHERE key = 'qianshan-meilin'),
people AS (
  SELECT p.id, row_number() OVER (ORDER BY p.phone) AS n FROM person p
  JOIN home h ON h.person_id = p.id JOIN c ON c.id = h.compound_id
),
staff AS (SELECT id FROM person WHERE phone = '13800000005'),
made AS (
  INSERT INTO task (compound_id, kind, category, title, description, status, reporter_id, assigned_role,
                    visibility, reopen_count)
  SELECT c.id, 'ISSUE', 'FACILITIES_REPAIR', '问题' || g, '描述' || g,
         (ARRAY['SUBMITTED','ACCEPTED','IN_PROGRESS'])[1 + g % 3],
         (SELECT id FROM people WHERE n = 1 + g % 400), CASE WHEN g % 2 = 0 THEN 'PROPERTY_STAFF' END,
         'PUBLIC', 0
  FROM c, generate_series(1, $1) AS g
  RETURNING id, compound_id, reporter_id
),
events AS (
  INSERT INTO task_event (task_id, compound_id, kind, actor_id, actor_role, payload)
  SELECT id, compound_id, 'REPORTED', reporter_id, 'REPORTER', '{"to": "SUBMITTED"}' FROM made
),
members AS (
  INSERT INTO task_member (task_id, person_id, role, compound_id)
  SELECT made.id, staff.id, 'ASSIGNEE', made.compound_id FROM made, staff
)
INSERT INTO volunteer_call (task_id, compound_id, title, needed, starts_at, ends_at, created_by, signed_count)
SELECT id, compound_id, '志愿者', 10, now() + interval '1 day', now() + interval '1 day 3 hours', reporter_id, 3
FROM made
"""

OPEN = """mutation($input: OpenVoteInput!) { openVote(input: $input) { id rule status } }"""
CAST = """mutation($id: ID!, $choice: Choice!) { castBallot(voteId: $id, choice: $choice) {
  choice households receipt castAt } }"""
TALLY = """query($id: ID!) { vote(id: $id) { status result tally {
  eligibleArea eligibleHeadcount participatingArea participatingHeadcount agreeArea agreeHeadcount
  disagreeArea disagreeHeadcount abstainArea abstainHeadcount participationMet approvalMet ballotsCast } } }"""


def later(days: int = 7) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).isoformat()


def generate(**options: int) -> dict[str, Any]:
    """A world document from `../shared/worldgen.py`; options are its flags (`compounds=2`)."""
    args = [sys.executable, str(WORLDGEN)]
    for name, value in options.items():
        args += [f"--{name.replace('_', '-')}", str(value)]
    return json.loads(subprocess.run(args, check=True, capture_output=True, text=True).stdout)


def _dsn(url: str) -> dict[str, Any]:
    parsed = make_url(url)
    return {
        "user": parsed.username,
        "password": parsed.password or None,
        "host": parsed.query.get("host") or parsed.host,
        "port": parsed.port,
        "database": parsed.database,
    }


async def fetch(url: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(**_dsn(url))
    try:
        return await conn.fetch(sql, *args)
    finally:
        await conn.close()


async def fetchval(url: str, sql: str, *args: Any) -> Any:
    conn = await asyncpg.connect(**_dsn(url))
    try:
        return await conn.fetchval(sql, *args)
    finally:
        await conn.close()


async def recount_from_rows(url: str, vote_id: uuid.UUID) -> Tally:
    """The tally recomputed from the frozen electorate and each household's current choice."""
    electors = await fetch(
        url, "SELECT household_id, area, choice FROM vote_electorate WHERE vote_id = $1", vote_id
    )
    owners: dict[uuid.UUID, set[uuid.UUID]] = {}
    for row in await fetch(url, "SELECT household_id, person_id FROM vote_owner WHERE vote_id = $1", vote_id):
        owners.setdefault(row["household_id"], set()).add(row["person_id"])
    electorate = [
        Eligible(e["household_id"], Decimal(e["area"]), frozenset(owners.get(e["household_id"], ())))
        for e in electors
    ]
    choices = {e["household_id"]: Choice(e["choice"]) for e in electors if e["choice"]}
    return recount(electorate, choices)


async def stored_tally(url: str, vote_id: uuid.UUID) -> Tally:
    row = (await fetch(url, "SELECT * FROM vote_tally WHERE vote_id = $1", vote_id))[0]
    return Tally(**{k: row[k] for k in Tally.__dataclass_fields__})
