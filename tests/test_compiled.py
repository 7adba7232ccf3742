"""The compiled read path answers exactly as strawberry does, in one statement besides the caller.

For every persona of the demo world (its story told) and every screen of the mini-program, the
response with compiled reads on equals the response with them off, byte for byte once parsed; where
strawberry's answer carries no error the compiled path must be the one that answered, and it costs
two SQL statements: the caller, and the screen.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
import pytest_asyncio

from app.database import create_engine, sessionmaker
from app.demo import story
from auth import apikeys
from resolvers.ids import encode
from schema.compiled import ANSWERS
from tests.conftest import (
    Api,
    _clone,
    counting_statements,
    fetch,
    fetchval,
    make_settings,
    priced,
    running_api,
    token_for,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

PHONES = [f"138000000{n:02d}" for n in range(19)]
TALLY = """eligibleArea eligibleHeadcount participatingArea participatingHeadcount agreeArea agreeHeadcount
  disagreeArea disagreeHeadcount abstainArea abstainHeadcount participationMet approvalMet ballotsCast"""
SCREENS = {
    "home": """query Home { me { person { id name phone } households { relation household { number } } }
      compounds(first: 20) { edges { node { id name propertyCompany
        buildings(first: 20) { edges { node { id name
          households(first: 20) { edges { node { id number floor area owners { id name phone } } }
            pageInfo { hasNextPage endCursor } } } } } } }
        pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }""",
    "tasks": """query Tasks($compound: ID!, $after: String) { compound(id: $compound) { name
      tasks(first: 20, after: $after) { edges { cursor node { id title status kind category internal
        createdAt reporter { id name phone } assignees { id name } assignedRole
        lastEvent { id kind actorRole createdAt text fromStatus toStatus actor { id name } }
        timeline(first: 3) { edges { node { kind text } } pageInfo { hasNextPage } }
        volunteerCalls { id title needed signedCount waitlistCount myStatus startsAt endsAt }
        meetings { topic heldAt decisions attendees { name } }
        parties { name } mediators { name } disputeOutcome { agreed agreement }
        rating { stars comment } compound { name } building { name } } }
        pageInfo { hasNextPage endCursor } } } }""",
    "household": """query Household($household: ID!) { node(id: $household) { __typename id
      ... on Household { number floor area building { id name compound { name } } occupants { relation
        person { name phone party { registered workUnit registeredOn } } } } } }""",
    "vote": f"""query Vote($vote: ID!) {{ vote(id: $vote) {{ id title description matter rule status closesAt
      createdAt closedAt result digest task {{ title }} tally {{ {TALLY} }} myBallot {{ number area choice }} }} }}""",
    "team": """query Team($compound: ID!) { compound(id: $compound) { team { position
      person { name phone party { registered } } building { name } } } }""",
    "me": """{ me { person { name phone party { registered workUnit registeredOn } }
      roles { role compound { name } grid { name } community { name } }
      positions { position compound { name } building { name } } } }""",
    "mine": """query Mine($filter: TaskFilter) { me {
      reportedTasks(first: 5) { edges { cursor node { id title status reporter { name } } }
        pageInfo { hasNextPage endCursor } }
      assignedTasks(first: 5, filter: $filter) { edges { node { id title assignedRole } } }
      myVotes { edges { node { id title closesAt myBallot { number choice } } } }
      myCalls { edges { node { id title myStatus cancelledAt startsAt signedCount } } } } }""",
    "filtered": """query Filtered($compound: ID!, $filter: TaskFilter) { compound(id: $compound) {
      chosen: tasks(first: 50, filter: $filter) { edges { node { id category kind status building { name } } } }
      projects: tasks(filter: {kind: PROJECT, reportedSince: "2020-01-01T00:00:00+08:00"}) {
        edges { node { title } } }
      submitted: tasks(status: SUBMITTED) { edges { node { title } } } } }""",
    "search": """query Search($text: String!) {
      phones: search(text: $text) { people(first: 10) { edges { node { id name phone } } pageInfo { hasNextPage } } }
      numbers: search(text: "6-1") { households(first: 5) { edges { cursor node { number area } } } }
      words: search(text: "电梯") { tasks(first: 5) { edges { node { title status } } }
        people { edges { node { name } } } } }""",
    "fragments": """query Fragments($compound: ID!, $withBuildings: Boolean!) {
      mine: compound(id: $compound) { ...Profile b: buildings(first: 2) @include(if: $withBuildings) {
        edges { node { __typename ... on Building { name } } } } }
      again: compound(id: $compound) { ...Profile } }
      fragment Profile on Compound { __typename id name grid { name community { name } } }""",
}


@dataclass
class Demo:
    api: Api
    off: Api
    url: str
    headers: dict[str, dict[str, str]]
    variables: dict[str, Any]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def demo(pg_url: str, demo_template_db: str) -> AsyncIterator[Demo]:
    clone = _clone(pg_url, demo_template_db)
    url = next(clone)
    try:
        engine = create_engine(url, make_settings(url), pool_size=2, max_overflow=0)
        assert await story.tell(sessionmaker(engine))
        await engine.dispose()
        headers = {phone: {"Authorization": f"Bearer {await token_for(url, phone)}"} for phone in PHONES}
        key = apikeys.generate()
        await fetch(
            url,
            "INSERT INTO api_client (name, key_prefix, key_hash) VALUES ('d', $1, $2)",
            key.prefix,
            key.key_hash,
        )
        headers["api_client"] = {"X-API-Key": key.key}
        headers["anonymous"] = {}
        compound = await fetchval(url, "SELECT id FROM compound WHERE key = 'qianshan-meilin'")
        household = await fetchval(
            url, "SELECT id FROM household WHERE number = '6-1-302' AND compound_id = $1", compound
        )
        vote = await fetchval(url, "SELECT id FROM vote LIMIT 1")
        variables = {
            "compound": encode("Compound", compound),
            "household": encode("Household", household),
            "vote": encode("Vote", vote),
            "withBuildings": True,
            "filter": {"category": "ELEVATOR", "reportedBefore": "2100-01-01T00:00:00+08:00"},
            "text": "13800000",
        }
        async with (
            running_api(url) as api,
            running_api(url, make_settings(url, QILIJIA_COMPILED_READS=False)) as off,
        ):
            yield Demo(api, off, url, headers, variables)
    finally:
        next(clone, None)


async def ask(api: Api, headers: dict[str, str], query: str, variables: dict[str, Any]) -> dict[str, Any]:
    response = await api.client.post(
        "/graphql", json={"query": query, "variables": variables}, headers=headers
    )
    return priced(response.json())


def _answered_by_sql() -> float:
    return ANSWERS.labels("sql")._value.get()


async def test_a_one_off_query_is_not_compiled_a_repeated_one_is(demo: Demo) -> None:
    query = "query OneOff { compounds(first: 1) { edges { node { name } } } }"
    headers = demo.headers["13800000004"]
    before = _answered_by_sql()
    first = await ask(demo.api, headers, query, {})
    assert _answered_by_sql() == before
    second = await ask(demo.api, headers, query, {})
    assert _answered_by_sql() == before + 1
    assert first == second


@pytest.mark.parametrize("screen", sorted(SCREENS))
@pytest.mark.parametrize("persona", [*PHONES, "api_client", "anonymous"])
async def test_compiled_answers_as_strawberry_does(demo: Demo, screen: str, persona: str) -> None:
    query, headers = SCREENS[screen], demo.headers[persona]
    await ask(demo.api, headers, query, demo.variables)  # a screen compiles the second time it is asked
    before = _answered_by_sql()
    compiled = await ask(demo.api, headers, query, demo.variables)
    answered = _answered_by_sql() - before
    expected = await ask(demo.off, headers, query, demo.variables)
    assert compiled == expected
    assert answered == (0 if expected.get("errors") else 1)


async def test_a_repeated_screen_costs_one_statement(demo: Demo) -> None:
    """The caller comes from the principal cache (its epoch checked inside the screen's statement)."""
    for screen in ("home", "tasks", "household", "vote", "fragments", "mine", "filtered", "search"):
        await ask(demo.api, demo.headers["13800000004"], SCREENS[screen], demo.variables)
        await ask(demo.api, demo.headers["13800000004"], SCREENS[screen], demo.variables)
        with counting_statements(demo.api.app) as counted:
            body = await ask(demo.api, demo.headers["13800000004"], SCREENS[screen], demo.variables)
        assert "errors" not in body, body
        assert counted.count == 1, (screen, counted.count)


async def test_the_second_page_follows_the_first(demo: Demo) -> None:
    first = await ask(demo.api, demo.headers["13800000004"], SCREENS["home"], {})
    page = first["data"]["compounds"]["edges"][0]["node"]["buildings"]["edges"][0]["node"]["households"]
    assert page["pageInfo"]["hasNextPage"]
    query = """query($b: ID!, $after: String) { node(id: $b) { ... on Building { households(first: 20, after: $after) {
      edges { cursor node { number } } pageInfo { hasPreviousPage startCursor endCursor } } } } }"""
    building = first["data"]["compounds"]["edges"][0]["node"]["buildings"]["edges"][0]["node"]["id"]
    variables = {"b": building, "after": page["pageInfo"]["endCursor"]}
    await ask(demo.api, demo.headers["13800000004"], query, variables)
    compiled = await ask(demo.api, demo.headers["13800000004"], query, variables)
    assert compiled == await ask(demo.off, demo.headers["13800000004"], query, variables)
    second = compiled["data"]["node"]["households"]
    assert second["pageInfo"]["hasPreviousPage"]
    shown = [e["node"]["number"] for e in page["edges"]]
    assert not {e["node"]["number"] for e in second["edges"]} & set(shown)


@pytest.mark.parametrize(
    "variables",
    [
        {"compound": "nonsense"},
        {"compound": encode("Household", __import__("uuid").uuid4())},
        {"compound": encode("Compound", __import__("uuid").uuid4())},
        {"after": "bad-cursor"},
    ],
)
async def test_bad_arguments_get_strawberry_errors(demo: Demo, variables: dict[str, Any]) -> None:
    merged = {**demo.variables, **variables}
    headers = demo.headers["13800000004"]
    await ask(demo.api, headers, SCREENS["tasks"], merged)
    compiled = await ask(demo.api, headers, SCREENS["tasks"], merged)
    assert compiled == await ask(demo.off, headers, SCREENS["tasks"], merged)
    assert compiled["errors"]


@pytest.mark.parametrize(
    ("query", "variables"),
    [
        ("query($n: Int = 1) { compounds(first: $n) { edges { node { name } } } }", {}),
        ("query($n: Int = 1) { compounds(first: $n) { edges { node { name } } } }", {"n": 2}),
        ("query($n: Int = 1) { compounds(first: $n) { edges { node { name } } } }", {"n": None}),
        ("query($n: Int = 1) { compounds(first: $n) { edges { node { name } } } }", {"n": "two"}),
        ("query($n: Int) { compounds(first: $n) { edges { node { name } } } }", {}),
        ("query($id: ID!) { compound(id: $id) { name } }", {}),
        ("query($id: ID!) { compound(id: $id) { name } }", {"id": 7}),
        (
            "query($b: Boolean = false) { compounds(first: 1) { edges { node { name "
            "buildings(first: 1) @include(if: $b) { edges { node { name } } } } } } }",
            {},
        ),
    ],
)
async def test_variables_are_coerced_as_graphql_does(
    demo: Demo, query: str, variables: dict[str, Any]
) -> None:
    """Defaults of variable definitions apply, wrong types get strawberry's error, on every path."""
    headers = demo.headers["13800000004"]
    expected = await ask(demo.off, headers, query, variables)
    for _ in range(3):  # strawberry, compiled inside strawberry, answered before strawberry
        assert await ask(demo.api, headers, query, variables) == expected


async def test_large_answers_are_gzipped_for_clients_that_accept_it(demo: Demo) -> None:
    headers = demo.headers["13800000004"]
    for _ in range(3):  # on every path
        body = {"query": SCREENS["home"], "variables": demo.variables}
        zipped = await demo.api.client.post(
            "/graphql", json=body, headers={**headers, "Accept-Encoding": "gzip"}
        )
        assert zipped.headers["content-encoding"] == "gzip"
        assert int(zipped.headers["content-length"]) * 2 < len(zipped.content)  # httpx unzipped it
        plain = await demo.api.client.post(
            "/graphql", json=body, headers={**headers, "Accept-Encoding": "identity"}
        )
        assert "content-encoding" not in plain.headers
        assert priced(plain.json()) == priced(zipped.json())
    small = await demo.api.client.post(
        "/graphql", json={"query": "{ __typename }"}, headers={"Accept-Encoding": "gzip"}
    )
    assert "content-encoding" not in small.headers


OWNERS = """query($c: ID!) { compound(id: $c) { buildings(first: 8) { edges { node {
  households(first: 20) { edges { node { owners { name phone } } } } } } } } }"""


async def test_a_person_shown_under_one_condition_asks_it_once(
    demo: Demo, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Staff whose view of a name and of a phone is the same condition ask it once per person (the
    person written as two objects); a caller whose conditions differ asks each: the same answers
    as strawberry either way."""
    from schema import compiled

    statements: list[str] = []
    answer = compiled.Reads.answer

    async def captured(self: Any, plan: Any, variables: Any, who: Any) -> Any:
        statements.append(plan.sql)
        return await answer(self, plan, variables, who)

    monkeypatch.setattr(compiled.Reads, "answer", captured)
    variables = {"c": demo.variables["compound"]}
    for phone, conditions in (("13800000004", 1), ("13800000003", 1), ("13800000006", 2)):
        statements.clear()
        for _ in range(3):
            body = await ask(demo.api, demo.headers[phone], OWNERS, variables)
        assert body == await ask(demo.off, demo.headers[phone], OWNERS, variables), phone
        assert statements, phone
        assert statements[-1].count("EXISTS (") == conditions, phone
