"""Every edge obeys the object check: walked generically from the schema, for every persona.

For each persona of the demo world (with its story told, and a former tenant who once reported a
task) and of a generated world, the test crawls the graph as that persona: from `me` and
`compounds`, through every field of every node type that leads to another node (directly, in a
list, in a connection, or inside a wrapper such as `Occupant`). Every node an edge returns must be
the node `node(id:)` returns for the same caller — visible there too, with every scalar field
(masked names and phones, Party data) the same. Probes of objects the persona may not see must be
refused by `node(id:)`, and none of them may turn up through an edge.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import pytest_asyncio
from graphql import (
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
)

from app.database import create_engine, sessionmaker
from app.demo import story
from auth import apikeys
from resolvers.ids import encode
from schema import PLANS, schema
from tests.conftest import (
    Api,
    _clone,
    fetch,
    fetchval,
    make_settings,
    running_api,
    token_for,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

GRAPHQL = schema._schema
NODE = GRAPHQL.get_type("Node")
#: How many nodes of each type a crawl visits per persona, and how many children an edge lists
PER_TYPE = 4
FIRST = 5
CHUNK = 8  # parents per request (the alias limit is 30)


def _unwrap(kind: GraphQLOutputType) -> Any:
    """The named type under any list and non-null wrappers."""
    while isinstance(kind, GraphQLNonNull | GraphQLList):
        kind = kind.of_type
    return kind


def _is_node(kind: Any) -> bool:
    return isinstance(kind, GraphQLObjectType) and NODE in kind.interfaces


def _connection_node(kind: Any) -> Any:
    """The node type of a Relay connection type, or None."""
    if not isinstance(kind, GraphQLObjectType) or "edges" not in kind.fields or "pageInfo" not in kind.fields:
        return None
    edge = _unwrap(kind.fields["edges"].type)
    node = _unwrap(edge.fields["node"].type)
    return node


def _callable_without_args(f: GraphQLField) -> bool:
    return all(not isinstance(a.type, GraphQLNonNull) or a.default_value is not None for a in f.args.values())


def snapshot(kind: GraphQLObjectType, depth: int = 0) -> str:
    """A node's own fields: scalars and enums, and (one level) the scalars of nullable plain objects
    such as `Person.party` (a non-null one a caller may be refused, like `Compound.stats`, would
    null the whole node and hide it from the comparison)."""
    parts = ["__typename"]
    for name, f in sorted(kind.fields.items()):
        inner = _unwrap(f.type)
        if f.args:
            continue
        if isinstance(inner, GraphQLObjectType | GraphQLInterfaceType):
            plain = not _is_node(inner) and _connection_node(inner) is None and not _leads_to_nodes(inner)
            if depth == 0 and plain and not isinstance(f.type, GraphQLNonNull):
                parts.append(f"{name} {{ {snapshot(inner, depth + 1)} }}")
            continue
        parts.append(name)
    return " ".join(parts)


def _leads_to_nodes(kind: Any, depth: int = 0) -> bool:
    if depth > 2 or not isinstance(kind, GraphQLObjectType):
        return False
    for f in kind.fields.values():
        inner = _unwrap(f.type)
        if _is_node(inner) or _connection_node(inner) is not None or _leads_to_nodes(inner, depth + 1):
            return True
    return False


def edges(kind: GraphQLObjectType, depth: int = 0) -> Iterator[str]:
    """A selection of every field of `kind` that leads to nodes, each node selected by its snapshot."""
    for name, f in sorted(kind.fields.items()):
        if not _callable_without_args(f):
            continue
        inner = _unwrap(f.type)
        args = f"(first: {FIRST})" if "first" in f.args else ""
        if _is_node(inner):
            yield f"{name} {{ {snapshot(inner)} id }}"
        elif (node := _connection_node(inner)) is not None and _is_node(node):
            yield f"{name}{args} {{ edges {{ node {{ {snapshot(node)} id }} }} }}"
        elif depth < 2 and _leads_to_nodes(inner):
            inner_edges = " ".join(edges(inner, depth + 1))
            if inner_edges:
                yield f"{name}{args} {{ __typename {inner_edges} }}"


NODE_TYPES = sorted(name for name, t in GRAPHQL.type_map.items() if _is_node(t))
EDGES = {name: list(edges(GRAPHQL.get_type(name))) for name in NODE_TYPES}


def found_nodes(value: Any) -> Iterator[dict[str, Any]]:
    """Every node object (one with an `id` and a node `__typename`) inside a response value."""
    if isinstance(value, dict):
        if value.get("__typename") in NODE_TYPES and "id" in value:
            yield value
        for inner in value.values():
            yield from found_nodes(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from found_nodes(inner)


DENIED_FIELD: Any = object()


@dataclass
class Crawl:
    api: Api
    headers: dict[str, str]
    seen: dict[str, dict[str, Any]] = field(default_factory=dict)  # id → snapshot as an edge showed it
    visited: set[str] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)

    async def ask(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        response = await self.api.client.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=self.headers
        )
        return response.json()

    async def nodes(self, ids: list[str], selection: Any) -> dict[str, Any]:
        """`node(id:)` for each id (in chunks); id → the node's data, or None when refused. A node
        nulled only by a field the caller may not read (a roster, a turnout list) is the error
        `(id, "denied field")`. The ids are variables, so that chunks asking the same selections
        are one document, compiled once for the persona, as a client's screen is; a short last
        chunk asks its last id again, to be that document too."""
        out: dict[str, Any] = {}
        for start in range(0, len(ids), CHUNK):
            chunk = ids[start : start + CHUNK]
            chunk += chunk[-1:] * (min(CHUNK, len(ids)) - len(chunk))
            parts = [
                f"n{i}: node(id: $i{i}) {{ __typename id {selection(ident)} }}"
                for i, ident in enumerate(chunk)
            ]
            arguments = ", ".join(f"$i{i}: ID!" for i in range(len(chunk)))
            body = await self.ask(
                f"query({arguments}) {{ " + " ".join(parts) + " }",
                {f"i{i}": ident for i, ident in enumerate(chunk)},
            )
            deeper: set[str] = set()
            for error in body.get("errors") or []:
                code = error.get("extensions", {}).get("code")
                if code not in ("FORBIDDEN", "NOT_FOUND", "UNAUTHENTICATED"):
                    self.problems.append(f"node() error {code}: {error['message']} at {error.get('path')}")
                path = error.get("path") or []
                if len(path) > 1:
                    deeper.add(path[0])
            data = body.get("data") or {}
            for i, ident in enumerate(chunk):
                found = data.get(f"n{i}")
                out[ident] = DENIED_FIELD if found is None and f"n{i}" in deeper else found
        return out

    async def edges_of(self, ident: str, kind: str) -> dict[str, Any] | None:
        """A node's edges; when a field it may not read nulls the node, each field on its own. One
        node per request: the document is then the same for every node of a kind."""
        if not EDGES[kind]:
            return {}
        found = (await self.nodes([ident], lambda _: f"... on {kind} {{ {' '.join(EDGES[kind])} }}"))[ident]
        if found is not DENIED_FIELD:
            return found
        merged: dict[str, Any] = {}
        for selection in EDGES[kind]:
            one = (await self.nodes([ident], lambda _, s=selection: f"... on {kind} {{ {s} }}"))[ident]
            if one is None:
                return None
            if one is not DENIED_FIELD:
                merged.update(one)
        return merged

    async def walk(self, start: list[dict[str, Any]]) -> None:
        frontier = list(start)
        per_type: dict[str, int] = {}
        while frontier:
            batch = []
            for node in frontier:
                kind = node["__typename"]
                if node["id"] in self.visited or per_type.get(kind, 0) >= PER_TYPE:
                    continue
                self.visited.add(node["id"])
                per_type[kind] = per_type.get(kind, 0) + 1
                batch.append(node)
            frontier = []
            for node in batch:
                data = await self.edges_of(node["id"], node["__typename"])
                if data is None:
                    self.problems.append(
                        f"{node['__typename']} {node['id']} came through an edge but node() refuses it"
                    )
                    continue
                for child in found_nodes({k: v for k, v in data.items() if k not in ("__typename", "id")}):
                    self.seen.setdefault(child["id"], child)
                    frontier.append(child)

    async def compare(self) -> None:
        """Every node an edge showed, as `node(id:)` shows it to the same caller."""
        kinds = {ident: snap["__typename"] for ident, snap in self.seen.items()}
        shown: dict[str, Any] = {}
        for kind in sorted(set(kinds.values())):  # chunks of one kind: documents that repeat
            ids = sorted(i for i, k in kinds.items() if k == kind)
            shown |= await self.nodes(
                ids, lambda _, k=kind: f"... on {k} {{ {snapshot(GRAPHQL.get_type(k))} }}"
            )
        for ident, via_edge in self.seen.items():
            via_node = shown[ident]
            if via_node is None:
                self.problems.append(f"{kinds[ident]} {ident} came through an edge but node() refuses it")
                continue
            expected = {k: v for k, v in via_edge.items() if k in via_node}
            if expected != {k: via_node[k] for k in expected}:
                self.problems.append(
                    f"{kinds[ident]} {ident}: edge {json.dumps(expected)} node {json.dumps(via_node)}"
                )


ROOTS = f"""{{ me {{ person {{ {snapshot(GRAPHQL.get_type("Person"))} id }}
  households {{ household {{ {snapshot(GRAPHQL.get_type("Household"))} id }} }} }}
  compounds(first: 100) {{ edges {{ node {{ {snapshot(GRAPHQL.get_type("Compound"))} id }} }} }} }}"""


async def crawl(api: Api, headers: dict[str, str], probes: list[str]) -> list[str]:
    """Walk from the roots and from every probe `node(id:)` lets the persona see."""
    walker = Crawl(api, headers)
    answered = await walker.nodes(probes, lambda i: "")
    visible = [d for d in answered.values() if d is not None]
    refused = [i for i, d in answered.items() if d is None]
    body = await walker.ask(ROOTS)
    await walker.walk([*found_nodes(body.get("data") or {}), *visible])
    await walker.compare()
    walker.problems += [
        f"{i} is refused by node() but came through an edge" for i in refused if i in walker.seen
    ]
    return walker.problems


@dataclass
class World:
    api: Api
    url: str
    personas: dict[str, dict[str, str]]
    probes: list[str]


async def _probes(url: str) -> list[str]:
    """A few objects of every kind of node, visible or not to any one persona."""
    tables = {
        "District": "district",
        "Street": "street",
        "Community": "community",
        "Grid": "grid",
        "Compound": "compound",
        "Building": "building",
        "Household": "household",
        "Person": "person",
        "Task": "task",
        "TaskEvent": "task_event",
        "Meeting": "meeting",
        "VolunteerCall": "volunteer_call",
        "CostDisclosure": "cost_disclosure",
        "Vote": "vote",
        "HomeRecord": "home",
        "TeamPositionRecord": "team_position",
        "RoleRecord": "role_assignment",
        "HomeClaim": "home_claim",
        "PartyRegistration": "party_registration",
        "PartyGroup": "party_group",
        "ParticipationEntry": "participation",
        "PartyEvaluation": "party_evaluation",
        "EvaluationExport": "evaluation_export",
        "Notice": "notice",
    }
    assert set(tables) == set(NODE_TYPES), "a new node type needs probes here"
    out = []
    for kind, table in tables.items():
        # every task-side object (few), a sample of the place tree and of people (many)
        limit = (
            6
            if table
            in (
                "building",
                "household",
                "person",
                "home",
                "team_position",
                "role_assignment",
                "party_registration",
            )
            else 40
        )
        for row in await fetch(url, f"SELECT id FROM {table} ORDER BY id LIMIT {limit}"):
            out.append(encode(kind, row["id"]))
    return out


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def demo(pg_url: str, demo_template_db: str) -> AsyncIterator[World]:
    clone = _clone(pg_url, demo_template_db)
    url = next(clone)
    try:
        engine = create_engine(url, make_settings(url), pool_size=2, max_overflow=0)
        assert await story.tell(sessionmaker(engine))
        await engine.dispose()
        personas = {phone: {"Authorization": f"Bearer {await token_for(url, phone)}"} for phone in PHONES}
        key = apikeys.generate()
        await fetch(
            url,
            "INSERT INTO api_client (name, key_prefix, key_hash) VALUES ('d', $1, $2)",
            key.prefix,
            key.key_hash,
        )
        personas["api_client"] = {"X-API-Key": key.key}
        async with running_api(url) as api:
            await _former_tenant(api, url, personas[FORMER_TENANT])
            yield World(api, url, personas, await _probes(url))
    finally:
        next(clone, None)


#: The demo's personas (README), and the tenant of 1栋 who reports a task and then moves out.
PHONES = [f"138000000{n:02d}" for n in range(19)]
FORMER_TENANT = "13800000008"


async def _former_tenant(api: Api, url: str, headers: dict[str, str]) -> None:
    compound = encode(
        "Compound", await fetchval(url, "SELECT id FROM compound WHERE key = 'qianshan-meilin'")
    )
    response = await api.client.post(
        "/graphql",
        json={
            "query": 'mutation($c: ID!) { reportTask(input: {compoundId: $c, category: OTHER, title: "楼道灯坏了",'
            ' description: "1栋2单元楼道灯不亮。"}) { id } }',
            "variables": {"c": compound},
        },
        headers=headers,
    )
    assert "errors" not in response.json(), response.json()
    await fetch(
        url, "DELETE FROM home WHERE person_id = (SELECT id FROM person WHERE phone = $1)", FORMER_TENANT
    )
    # and asks to be registered in another flat, which nobody has confirmed yet
    claimed = await api.client.post(
        "/graphql",
        json={
            "query": 'mutation($c: ID!) { claimHome(input: {compoundId: $c, number: "1-1-101",'
            ' relation: TENANT, name: "周租户"}) { id } }',
            "variables": {"c": compound},
        },
        headers=headers,
    )
    assert "errors" not in claimed.json(), claimed.json()


@pytest.fixture
def compile_everything(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every document through the compiled read path at once (the crawl's documents are one-offs,
    which it would otherwise leave to strawberry): the demo's crawl checks the compiled edges."""
    monkeypatch.setattr(PLANS, "compile_after", 1)


@pytest.mark.parametrize("persona", [*PHONES, "api_client"])
async def test_demo_edges_answer_what_node_answers(
    demo: World, persona: str, compile_everything: None
) -> None:
    assert await crawl(demo.api, demo.personas[persona], demo.probes) == []


async def test_the_former_tenant_keeps_their_report_but_not_the_compound(
    demo: World, compile_everything: None
) -> None:
    headers = demo.personas[FORMER_TENANT]
    query = "{ me { person { id } } }"
    assert (await demo.api.client.post("/graphql", json={"query": query}, headers=headers)).json()["data"]
    tasks = await fetch(
        demo.url,
        "SELECT t.id, t.compound_id FROM task t JOIN person p ON p.id = t.reporter_id WHERE p.phone = $1",
        FORMER_TENANT,
    )
    [mine] = tasks
    body = (
        await demo.api.client.post(
            "/graphql",
            json={
                "query": "query($t: ID!, $c: ID!) { task(id: $t) { title compound { name propertyCompany } }"
                " node(id: $c) { id } }",
                "variables": {"t": encode("Task", mine["id"]), "c": encode("Compound", mine["compound_id"])},
            },
            headers=headers,
        )
    ).json()
    assert body["data"]["task"] == {"title": "楼道灯坏了", "compound": None}
    assert body["data"]["node"] is None
    assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"]
