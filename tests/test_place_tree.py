"""The place tree from the top, on the demo world: districts and streets are nodes, a community
lists its grids and compounds and a grid its compounds, each as the caller may see them, on both
read paths; a version-1 world file makes the nodes from the names it gives."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest_asyncio

from schema.compiled import ANSWERS
from tests.conftest import Api, fetch, fetchval, unpriced
from tests.test_task_api import Desk

ADMIN, RESIDENT, GRID, COMMUNITY, OUTSIDER = (
    "13800000000",
    "13800000007",  # 千山美林 (九龙社区, 文龙街道)
    "13800000003",  # grid worker of jiulong-g3
    "13800000004",  # community committee of 九龙社区
    "13800000011",  # 东方新天地 (通惠社区, 通惠街道)
)

TREE = """{ districts { totalCount edges { node { id name streets { edges { node { id name
  district { name } communities { edges { node { id name street district parentStreet { name } } } } } } } } } } }"""
#: below a community (the document limits stop one query from going all the way down)
BELOW = """query($id: ID!) { node(id: $id) { ... on Community {
  grids { edges { node { name compounds { edges { node { name } } } } } }
  compounds { totalCount edges { node { name } } } } } }"""


@pytest_asyncio.fixture
async def desk(api: Api, demo_db_url: str) -> AsyncIterator[Desk]:
    yield Desk(api, demo_db_url)


async def twice(
    desk: Desk, phone: str, query: str, variables: dict[str, Any] | None = None
) -> dict[str, Any]:
    """As strawberry answers and, asked again, as the compiled statement does: equal."""
    first = unpriced(await desk.as_(phone, query, variables))
    before = ANSWERS.labels("sql")._value.get()
    second = unpriced(await desk.as_(phone, query, variables))
    assert second == first
    assert ANSWERS.labels("sql")._value.get() == before + 1
    assert "errors" not in second, second
    return second["data"]


async def tree(desk: Desk, phone: str) -> dict[str, Any]:
    """district → street → community → ({grid: [compounds]}, [compounds]), as `phone` sees it."""
    data = await twice(desk, phone, TREE)
    out: dict[str, Any] = {}
    for d in data["districts"]["edges"]:
        streets = out.setdefault(d["node"]["name"], {})
        for s in d["node"]["streets"]["edges"]:
            communities = streets.setdefault(s["node"]["name"], {})
            for c in s["node"]["communities"]["edges"]:
                node = c["node"]
                assert (node["street"], node["parentStreet"]["name"]) == (
                    s["node"]["name"],
                    s["node"]["name"],
                )
                assert node["district"] == d["node"]["name"] == s["node"]["district"]["name"]
                below = (await twice(desk, phone, BELOW, {"id": node["id"]}))["node"]
                grids = {
                    g["node"]["name"]: [k["node"]["name"] for k in g["node"]["compounds"]["edges"]]
                    for g in below["grids"]["edges"]
                }
                assert below["compounds"]["totalCount"] == len(below["compounds"]["edges"])
                communities[node["name"]] = (grids, [k["node"]["name"] for k in below["compounds"]["edges"]])
    return out


async def test_the_admin_sees_the_whole_tree(desk: Desk) -> None:
    assert (await tree(desk, ADMIN)) == {
        "綦江区": {
            "文龙街道": {
                "九龙社区": (
                    {"九龙社区第三网格": ["千山美林"], "九龙社区第五网格": ["山予城"]},
                    ["千山美林", "山予城"],
                )
            },
            "通惠街道": {
                "通惠社区": (
                    {"通惠社区第二网格": ["东方新天地"], "通惠社区第四网格": ["君鼎疆上"]},
                    ["东方新天地", "君鼎疆上"],
                )
            },
        }
    }


async def test_everyone_else_sees_the_branches_of_what_they_may_read(desk: Desk) -> None:
    # the community committee: its community, both its grids, its compounds; not the other street
    assert (await tree(desk, COMMUNITY)) == {
        "綦江区": {
            "文龙街道": {
                "九龙社区": (
                    {"九龙社区第三网格": ["千山美林"], "九龙社区第五网格": ["山予城"]},
                    ["千山美林", "山予城"],
                )
            }
        }
    }
    # a resident reaches the compounds they may read (their own), and no grid but their own
    resident = await tree(desk, RESIDENT)
    assert list(resident) == ["綦江区"] and list(resident["綦江区"]) == ["文龙街道"]
    grids, compounds = resident["綦江区"]["文龙街道"]["九龙社区"]
    assert "千山美林" in compounds and grids["九龙社区第三网格"] == ["千山美林"]
    outsider = await tree(desk, OUTSIDER)
    assert list(outsider["綦江区"]) == ["通惠街道"]


async def test_a_street_the_caller_may_not_read_is_not_there(desk: Desk) -> None:
    from resolvers.ids import encode

    other = await fetchval(desk.url, "SELECT id FROM street WHERE name = '通惠街道'")
    node = "query($id: ID!) { node(id: $id) { ... on Street { name } } }"
    hidden = await desk.as_(RESIDENT, node, {"id": encode("Street", other)})
    assert hidden["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    shown = await desk.as_(OUTSIDER, node, {"id": encode("Street", other)})
    assert shown["data"]["node"] == {"name": "通惠街道"}
    anonymous = await desk.as_(None, "{ districts { edges { node { name } } } }")
    assert anonymous["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_an_import_moves_a_community_to_the_street_it_names(demo_db_url: str, tmp_path: Any) -> None:
    """A version-1 file names streets and districts by name: a new name makes a new node, the
    community moves to it, and the old street stays for the communities still in it."""
    import json

    from tests.test_cli import qilijia

    world = {
        "version": 1,
        "communities": [{"key": "tonghui", "name": "通惠社区", "street": "古南街道", "district": "綦江区"}],
    }
    path = tmp_path / "move.json"
    path.write_text(json.dumps(world, ensure_ascii=False), encoding="utf-8")
    done = qilijia(tmp_path, demo_db_url, "import", str(path))
    assert done.returncode == 0, done.stderr
    rows = await fetch(
        demo_db_url,
        "SELECT c.key, s.name AS street, d.name AS district FROM community c JOIN street s ON s.id = c.street_id"
        " JOIN district d ON d.id = s.district_id ORDER BY c.key",
    )
    assert [tuple(r) for r in rows] == [("jiulong", "文龙街道", "綦江区"), ("tonghui", "古南街道", "綦江区")]
    assert await fetchval(demo_db_url, "SELECT count(*) FROM district") == 1
    assert await fetchval(demo_db_url, "SELECT count(*) FROM street") == 3
