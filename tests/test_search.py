"""Search on the demo world: people, households and tasks each caller may see, found by the part of
their text the caller sees, never by what a mask hides; bad input refused; trigram indexes where
PostgreSQL offers pg_trgm."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from tests.conftest import Api, fetch, fetchval
from tests.test_task_api import Desk

RESIDENT, BUILDING6, GRID, OWNERS_COMMITTEE, OUTSIDER = (
    "13800000007",  # 张德明, owner of 6-1-302
    "13800000002",  # 陈秀兰, convener of 6栋: residents' names masked, no phones
    "13800000003",  # grid worker: every name and phone in full
    "13800000006",  # owners' committee: owners' names in full, phones masked
    "13800000011",  # lives in 东方新天地
)

SEARCH = """query($text: String!) { search(text: $text) {
  people(first: 50) { edges { node { name phone } } pageInfo { hasNextPage } }
  households(first: 50) { edges { node { number } } }
  tasks(first: 50) { edges { node { title } } } } }"""


@pytest_asyncio.fixture
async def desk(api: Api, demo_db_url: str) -> AsyncIterator[Desk]:
    yield Desk(api, demo_db_url)


async def found(desk: Desk, phone: str, text: str) -> dict[str, list]:
    body = await desk.as_(phone, SEARCH, {"text": text})
    assert "errors" not in body, body
    results = body["data"]["search"]
    return {
        "people": [(e["node"]["name"], e["node"]["phone"]) for e in results["people"]["edges"]],
        "households": [e["node"]["number"] for e in results["households"]["edges"]],
        "tasks": [e["node"]["title"] for e in results["tasks"]["edges"]],
    }


async def test_a_name_is_found_only_where_it_is_shown_in_full(desk: Desk) -> None:
    assert (await found(desk, GRID, "张德明"))["people"] == [("张德明", RESIDENT)]
    assert (await found(desk, OWNERS_COMMITTEE, "张德明"))["people"] == [("张德明", "138****0007")]
    assert (await found(desk, RESIDENT, "张德明"))["people"] == [("张德明", RESIDENT)]  # themself
    # the convener sees 张** for this resident: the hidden part of the name finds nobody
    assert (await found(desk, BUILDING6, "德明"))["people"] == []
    assert (await found(desk, BUILDING6, "张*"))["people"] == []
    # and someone else's household and name are nothing to a person from another compound
    assert await found(desk, OUTSIDER, "张德明") == {"people": [], "households": [], "tasks": []}


async def test_a_phone_is_found_by_the_digits_the_caller_sees(desk: Desk) -> None:
    assert (await found(desk, GRID, "13800000007"))["people"] == [("张德明", RESIDENT)]
    # the owners' committee sees 138****0007: the last four find the owner, the hidden ones do not
    assert ("张德明", "138****0007") in (await found(desk, OWNERS_COMMITTEE, "0007"))["people"]
    assert (await found(desk, OWNERS_COMMITTEE, "13800000007"))["people"] == []
    # the convener sees no phones of residents at all
    assert (await found(desk, BUILDING6, "0007"))["people"] == []


async def test_households_by_number_and_tasks_by_their_text(desk: Desk) -> None:
    assert (await found(desk, GRID, "6-1-302"))["households"] == ["6-1-302"]
    assert (await found(desk, RESIDENT, "6-1-302"))["households"] == ["6-1-302"]  # their own home
    assert (await found(desk, RESIDENT, "6-1-301"))["households"] == []  # a neighbour's is not theirs
    await desk.new_task(RESIDENT, title="6栋门口井盖松动", description="踩上去会晃")
    await desk.new_task(RESIDENT, title="路灯不亮", description="6栋门口的井盖旁边路灯坏了")
    assert sorted((await found(desk, GRID, "井盖"))["tasks"]) == ["6栋门口井盖松动", "路灯不亮"]
    assert (await found(desk, RESIDENT, "会晃"))["tasks"] == ["6栋门口井盖松动"]
    assert (await found(desk, OUTSIDER, "井盖"))["tasks"] == []


async def test_a_dispute_is_found_only_by_those_who_may_read_it(desk: Desk) -> None:
    from resolvers.ids import encode
    from tests.conftest import person_id

    party = encode("Person", await person_id(desk.url, "13800000012"))
    await desk.new_task(
        RESIDENT,
        kind="DISPUTE",
        category="NEIGHBOUR_RELATIONS",
        title="楼上漏水纠纷",
        description="楼上漏水到我家",
        partyIds=[party],
    )
    assert (await found(desk, RESIDENT, "漏水"))["tasks"] == ["楼上漏水纠纷"]
    assert (await found(desk, GRID, "漏水"))["tasks"] == ["楼上漏水纠纷"]
    assert (await found(desk, OWNERS_COMMITTEE, "漏水"))["tasks"] == []
    assert (await found(desk, BUILDING6, "漏水"))["tasks"] == []


async def test_wildcards_are_taken_literally(desk: Desk) -> None:
    assert await found(desk, GRID, "%%") == {"people": [], "households": [], "tasks": []}
    assert await found(desk, GRID, "__") == {"people": [], "households": [], "tasks": []}
    assert (await found(desk, GRID, "6\\1"))["households"] == []


@pytest.mark.parametrize("text", ["", " ", "张", "  张  ", "搜" * 51])
async def test_too_short_or_too_long_is_refused(desk: Desk, text: str) -> None:
    body = await desk.as_(GRID, SEARCH, {"text": text})
    assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "text"}, body
    assert body["data"] is None


async def test_search_needs_a_caller(api: Api) -> None:
    body = await api.gql(SEARCH, {"text": "张德明"})
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_trigram_indexes_where_the_database_offers_them(demo_db_url: str) -> None:
    """With pg_trgm (the PostgreSQL service) the indexes exist and serve the search's condition;
    without it (the embedded server) they are absent and search answers all the same (above)."""
    available = await fetchval(
        demo_db_url, "SELECT count(*) FROM pg_available_extensions WHERE name = 'pg_trgm'"
    )
    indexes = {
        r["indexname"]
        for r in await fetch(demo_db_url, "SELECT indexname FROM pg_indexes WHERE indexname LIKE '%\\_trgm'")
    }
    if not available:
        assert indexes == set()
        return
    assert indexes == {
        "person_name_trgm",
        "person_phone_trgm",
        "household_number_trgm",
        "task_title_trgm",
        "task_description_trgm",
    }
    rows = await _explain(demo_db_url, "SELECT id FROM person WHERE name ILIKE '%德明%'")
    assert any("person_name_trgm" in line for line in rows), rows


async def _explain(url: str, sql: str) -> list[str]:
    import asyncpg

    from tests.conftest import _asyncpg_dsn

    connection = await asyncpg.connect(**_asyncpg_dsn(url))
    try:
        await connection.execute("SET enable_seqscan = off")
        return [r[0] for r in await connection.fetch(f"EXPLAIN {sql}")]
    finally:
        await connection.close()


async def test_two_characters_find_names_through_their_characters_and_no_phones(desk: Desk) -> None:
    """A given name is two characters, which no trigram serves: names are found through the index
    of their characters (on every server), and two digits, in almost every phone, find no phone."""
    assert (await found(desk, GRID, "德明"))["people"] == [("张德明", RESIDENT)]
    # both characters, not in a row: not 张德明 (朱明德 has them in a row)
    assert (await found(desk, GRID, "明德"))["people"] == [("朱明德", "15834560490")]
    assert ("张德明", RESIDENT) not in (await found(desk, GRID, "07"))["people"]
    assert ("张德明", RESIDENT) in (await found(desk, GRID, "007"))["people"]
    # nor household numbers: two characters of a number are in most numbers of a compound
    assert (await found(desk, GRID, "30"))["households"] == []
    assert "6-1-302" in (await found(desk, GRID, "302"))["households"]
    rows = await _explain(
        desk.url,
        "SELECT id FROM person WHERE string_to_array(lower(name), NULL) @> string_to_array('德明', NULL)",
    )
    assert any("person_name_chars" in line for line in rows), rows


async def test_compiled_plans_answer_short_and_long_texts_as_strawberry_does(desk: Desk) -> None:
    """A search document has a plan for texts too short for a trigram and one for the others, each
    serving every such text: short and long searches, in any order, give what strawberry gives."""
    from schema.compiled import ANSWERS
    from tests.conftest import make_settings, running_api, unpriced

    token = await desk.token(GRID)
    async with running_api(desk.url, make_settings(desk.url, QILIJIA_COMPILED_READS=False)) as off:
        for text in ("德明", "德明", "13800000007", "07", "张德明"):
            before = ANSWERS.labels("sql")._value.get()
            compiled = unpriced(await desk.api.gql(SEARCH, {"text": text}, token=token))
            expected = unpriced(await off.gql(SEARCH, {"text": text}, token=token))
            assert compiled == expected, text
        assert ANSWERS.labels("sql")._value.get() == before + 1  # the last ones came from the plan
