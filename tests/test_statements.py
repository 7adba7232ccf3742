"""Fast by construction: a screen costs the same number of SQL statements however large the world.

The screen is the one a district operator opens: compounds → buildings → households → owners.
"""

from __future__ import annotations

import pytest

from app.world_file import parse
from schema import PLANS
from tests.conftest import counting_statements, import_into, running_api, token_for
from tests.worlds import generate

SCREEN = """{
  me { person { name } households { household { number } } }
  compounds(first: 20) { edges { node { name
    buildings(first: 10) { edges { node { name
      households(first: 30) { edges { node { number area
        owners { name phone } } } } } } } } } }
}"""


def world(compounds: int, buildings: int) -> dict:
    return generate(compounds=compounds, buildings=buildings, seed=3)


async def statements_for_screen(url: str, document: dict) -> tuple[tuple[int, int], int]:
    """((statements the first time, statements once compiled), households shown) for the admin's
    screen: the first sighting of a document goes through the resolvers, a repeated one is compiled."""
    await import_into(url, parse(document))
    admin_phone = next(r["phone"] for r in document["roles"] if r["role"] == "ADMIN")
    token = await token_for(url, admin_phone)
    PLANS.cache.clear()
    PLANS.seen.clear()
    counts = []
    async with running_api(url) as api:
        for _ in range(2):
            with counting_statements(api.app) as counted:
                body = await api.gql(SCREEN, token=token)
            assert "errors" not in body, body
            counts.append(counted.count)
    shown = sum(
        len(b["node"]["households"]["edges"])
        for c in body["data"]["compounds"]["edges"]
        for b in c["node"]["buildings"]["edges"]
    )
    return (counts[0], counts[1]), shown


@pytest.fixture
def second_db_url(pg_url: str, template_db: str):
    from tests.conftest import _clone

    yield from _clone(pg_url, template_db)


async def test_screen_statements_do_not_grow_with_the_world(db_url: str, second_db_url: str) -> None:
    small_count, small_shown = await statements_for_screen(db_url, world(compounds=2, buildings=2))
    large_count, large_shown = await statements_for_screen(second_db_url, world(compounds=20, buildings=3))
    assert large_shown >= 10 * small_shown  # the larger world really is ten times larger on screen
    assert large_count == small_count
    assert small_count[0] <= 11  # the principal, then one statement per level or batch
    assert small_count[1] == 2  # the principal, then the whole screen in one statement
