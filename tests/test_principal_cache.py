"""A principal kept by the process is never acted on once stale.

The compiled read path answers a repeated screen from the principal cache, without reading the
caller; the access epoch (`models.access`) moves with every change to roles, positions, homes and
names, and the screen's statement refuses to answer for a principal read at an older epoch. These
tests change who someone is behind the server's back (plain SQL, as an import or another worker
would) and check that the very next request sees it.
"""

from __future__ import annotations

from typing import Any

import pytest

from resolvers.ids import encode
from tests.conftest import (
    Api,
    counting_statements,
    fetch,
    fetchval,
    make_settings,
    running_api,
    token_for,
    unpriced,
)

COMMITTEE = "13800000004"  # community committee of 九龙社区
SCREEN = """query Screen($id: ID!) { compound(id: $id) { name
  buildings(first: 2) { edges { node { name households(first: 3) { edges { node { number
    owners { name phone } } } } } } } } }"""


async def epoch(url: str) -> int:
    return await fetchval(url, "SELECT epoch FROM access_epoch")


@pytest.mark.parametrize(
    ("change", "moves"),
    [
        (
            "INSERT INTO role_assignment (person_id, role, compound_id) SELECT p.id, 'PARTY_MEMBER', "
            "(SELECT id FROM compound LIMIT 1) FROM person p WHERE phone = '13800000007'",
            True,
        ),
        (
            "DELETE FROM role_assignment WHERE person_id = (SELECT id FROM person WHERE phone = '13800000004')",
            True,
        ),
        ("DELETE FROM team_position WHERE id = (SELECT id FROM team_position LIMIT 1)", True),
        (
            "UPDATE home SET relation = 'TENANT' WHERE id = (SELECT id FROM home WHERE relation = 'OWNER' LIMIT 1)",
            True,
        ),
        ("UPDATE person SET name = '改了名' WHERE phone = '13800000007'", True),
        (
            "UPDATE household SET building_id = building_id WHERE id = (SELECT id FROM household LIMIT 1)",
            True,
        ),
        ("UPDATE person SET phone = '13899999999' WHERE phone = '13800000007'", False),
        ("UPDATE household SET area = area + 1 WHERE id = (SELECT id FROM household LIMIT 1)", False),
        ("SELECT count(*) FROM role_assignment", False),
    ],
)
async def test_the_epoch_moves_with_every_change_to_who_someone_is(
    demo_db_url: str, change: str, moves: bool
) -> None:
    before = await epoch(demo_db_url)
    await fetch(demo_db_url, change)
    assert (await epoch(demo_db_url) > before) is moves


async def ask(api: Api, token: str, compound: str) -> dict[str, Any]:
    response = await api.client.post(
        "/graphql",
        json={"query": SCREEN, "variables": {"id": compound}},
        headers={"Authorization": f"Bearer {token}"},
    )
    return response.json()


def phones_shown(answer: dict[str, Any]) -> int:
    compound = answer["data"]["compound"]
    return sum(
        1
        for b in compound["buildings"]["edges"]
        for h in b["node"]["households"]["edges"]
        for o in h["node"]["owners"]
        if o["phone"]
    )


async def warm(api: Api, token: str, compound: str) -> dict[str, Any]:
    """Ask until the screen is answered before strawberry, from the cached principal."""
    for _ in range(2):
        await ask(api, token, compound)
    with counting_statements(api.app) as counted:
        answer = await ask(api, token, compound)
    assert counted.count == 1
    return answer


async def test_a_role_taken_away_is_seen_by_the_next_request(demo_db_url: str) -> None:
    url = demo_db_url
    compound = encode(
        "Compound", await fetchval(url, "SELECT id FROM compound WHERE key = 'qianshan-meilin'")
    )
    token = await token_for(url, COMMITTEE)
    async with (
        running_api(url) as api,
        running_api(url, make_settings(url, QILIJIA_COMPILED_READS=False)) as off,
    ):
        before = await warm(api, token, compound)
        assert before["data"]["compound"]["name"] == "千山美林"
        await fetch(
            url,
            "DELETE FROM role_assignment WHERE person_id = (SELECT id FROM person WHERE phone = $1)",
            COMMITTEE,
        )
        after = await ask(api, token, compound)
        assert unpriced(after) == unpriced(await ask(off, token, compound))
        assert after != before
        assert after["data"]["compound"] is None


async def test_a_role_given_is_seen_by_the_next_request(demo_db_url: str) -> None:
    url = demo_db_url
    resident = "13800000007"  # owner of 6-1-302 in 千山美林
    compound_id = await fetchval(url, "SELECT id FROM compound WHERE key = 'qianshan-meilin'")
    compound = encode("Compound", compound_id)
    token = await token_for(url, resident)
    async with (
        running_api(url) as api,
        running_api(url, make_settings(url, QILIJIA_COMPILED_READS=False)) as off,
    ):
        before = await warm(api, token, compound)
        assert phones_shown(before) == 0  # a neighbour's phone is not shown to a resident
        await fetch(
            url,
            "INSERT INTO role_assignment (person_id, role, community_id) "
            "SELECT p.id, 'COMMUNITY_COMMITTEE', c.community_id FROM person p, compound c "
            "WHERE p.phone = $1 AND c.id = $2",
            resident,
            compound_id,
        )
        after = await ask(api, token, compound)
        assert unpriced(after) == unpriced(await ask(off, token, compound))
        assert phones_shown(after) > 0


async def test_a_mutation_acts_for_the_principal_read_now(demo_db_url: str) -> None:
    """A cached principal serves compiled reads only: a request strawberry answers reads the caller."""
    url = demo_db_url
    compound = encode(
        "Compound", await fetchval(url, "SELECT id FROM compound WHERE key = 'qianshan-meilin'")
    )
    token = await token_for(url, COMMITTEE)
    async with running_api(url) as api:
        await warm(api, token, compound)
        await fetch(
            url,
            "DELETE FROM role_assignment WHERE person_id = (SELECT id FROM person WHERE phone = $1)",
            COMMITTEE,
        )
        response = await api.client.post(
            "/graphql",
            json={"query": "{ me { roles { role } } }"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.json()["data"]["me"]["roles"] == []
