"""The task list screen costs the same number of statements for 20 and for 2,000 tasks."""

from __future__ import annotations

from resolvers.ids import encode
from schema import PLANS
from tests.conftest import counting_statements, fetch, fetchval, running_api, token_for

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


async def statements(url: str, tasks: int) -> tuple[tuple[int, int], int]:
    await fetch(url, SEED, tasks)
    compound = encode(
        "Compound", await fetchval(url, "SELECT id FROM compound WHERE key = 'qianshan-meilin'")
    )
    token = await token_for(url, "13800000004")  # the community committee sees every task
    PLANS.cache.clear()
    PLANS.seen.clear()
    counts = []
    async with running_api(url) as api:
        for _ in range(2):  # the first sighting goes through the resolvers, the repeat is compiled
            with counting_statements(api.app) as counted:
                body = await api.gql(SCREEN, {"id": compound}, token=token)
            assert "errors" not in body, body
            counts.append(counted.count)
    edges = body["data"]["compound"]["tasks"]["edges"]
    assert all(e["node"]["volunteerCalls"][0]["signedCount"] == 3 for e in edges)
    assert all(e["node"]["assignees"] for e in edges)
    return (counts[0], counts[1]), len(edges)


async def test_task_list_statements_are_flat(demo_db_url: str, pg_url: str, demo_template_db: str) -> None:
    from tests.conftest import _clone

    small_count, small_shown = await statements(demo_db_url, 20)
    clone = _clone(pg_url, demo_template_db)
    large_url = next(clone)
    try:
        large_count, large_shown = await statements(large_url, 2000)
    finally:
        next(clone, None)
    assert small_shown == large_shown == 20
    assert large_count == small_count
    assert small_count[1] == 2  # compiled: the principal, then the whole screen
