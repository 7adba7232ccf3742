"""The README's tour is true: every GraphQL example in `README.md` runs, in the README's order,
against a real server on the demo world (its story told), as the person its `# as …` comment
names, with the variables that comment says where to take from; and each sentence of the README
that says who sees what is checked against what those people are answered.

An example reads, in its comment, `# as PHONE (who)` or `# as anyone` or `# as an API key`, then
`· $name: where the value comes from` for each variable and `→ STATUS` for the status a task step
leaves. A sentence below that is no longer in the README fails, so a changed claim gets a changed
check."""

from __future__ import annotations

import asyncio
import io
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
import websockets
from graphql import GraphQLObjectType, OperationDefinitionNode, get_named_type, parse
from PIL import Image

from app.database import create_engine, sessionmaker
from app.demo import story
from auth import apikeys
from schema import schema
from tests.conftest import _clone, fetch, fetchval, make_settings
from tests.servers import Server

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.slow]

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()
MARK = re.compile(r"^#\s*as\s+(?P<who>anyone|an API key|1\d{10})(?P<rest>.*)$", re.MULTILINE)

SCREEN = re.search(r"(query Screen\(.*?\n\})\n```", README, re.S).group(1)  # the compound screen
PARTY = """{ compounds { edges { node { name team { position building { name }
  person { name party { registered workUnit registeredOn } } } } } } }"""
TALLY = "query($id: ID!) { node(id: $id) { ... on Vote { tally { participatingHeadcount } } } }"
NOT_VOTED = (
    "query($id: ID!) { node(id: $id) { ... on Vote { notVoted(first: 50) { edges { node { number } } } } } }"
)
MY_BALLOT = "query($id: ID!) { node(id: $id) { ... on Vote { myBallot { number choice } } } }"
FIRST_EVENT = (
    "query($id: ID!) { node(id: $id) { ... on Task { timeline(first: 1) { edges { node { id } } } } } }"
)

RESIDENT, CONVENER, CHIEF, GRID, COMMITTEE, PROPERTY, OWNERS = (
    "13800000007",
    "13800000002",
    "13800000001",
    "13800000003",
    "13800000004",
    "13800000005",
    "13800000006",
)
ADMIN, TENANT, DEPUTY, MEMBER = "13800000000", "13800000008", "13800000009", "13800000010"


@dataclass
class Example:
    """One operation of a README block, with what its comment says."""

    who: str  # a phone, "anyone" or "an API key"
    name: str  # the operation's name, or `{ field }` of an unnamed one
    text: str
    kind: str  # query, mutation or subscription
    sources: dict[str, str]  # variable → where the README says its value comes from
    leaves: str | None  # the status a task step leaves (`→ ACCEPTED`)


def examples() -> list[Example]:
    found = []
    for block in re.findall(r"```graphql\n(.*?)```", README, re.S):
        operations = [d for d in parse(block).definitions if isinstance(d, OperationDefinitionNode)]
        start, named = 0, {}  # a variable's source, once named, holds for the rest of its block
        for operation in operations:
            assert operation.loc is not None
            marks = list(MARK.finditer(block, start, operation.loc.start))
            assert marks, (
                f"no `# as …` before this example:\n{block[operation.loc.start : operation.loc.end]}"
            )
            mark = marks[-1]
            rest = mark.group("rest")
            leaves = re.search(r"→\s*([A-Z_]+)", rest)
            named.update(
                (name, where.strip())
                for name, where in re.findall(r"·\s*\$(\w+):\s*([^·→]+)", rest.split("→")[0] + " ")
            )
            declared = [v.variable.name.value for v in operation.variable_definitions or ()]
            missing = [v for v in declared if v not in named]
            assert not missing, f"the README does not say where ${missing[0]} comes from in {block!r}"
            sources = {v: named[v] for v in declared}
            found.append(
                Example(
                    who=mark.group("who"),
                    name=operation.name.value
                    if operation.name
                    else f"{{ {operation.selection_set.selections[0].name.value} }}",
                    text=block[operation.loc.start : operation.loc.end],
                    kind=operation.operation.value,
                    sources=sources,
                    leaves=leaves.group(1) if leaves else None,
                )
            )
            start = operation.loc.end
    return found


@dataclass
class Tour:
    """The demo server, who is logged in, and what the examples so far have answered."""

    server: Server
    url: str
    api_key: str
    tokens: dict[str, str] = field(default_factory=dict)
    compounds: dict[str, str] = field(default_factory=dict)
    answers: dict[str, dict[str, Any]] = field(default_factory=dict)
    task: str | None = None
    vote: str | None = None
    receipt: str | None = None
    communities: dict[str, str] = field(default_factory=dict)
    export_code: str | None = None
    notice: str | None = None

    def headers(self, who: str) -> dict[str, str]:
        if who == "anyone":
            return {}
        if who == "an API key":
            return {"X-API-Key": self.api_key}
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    async def login(self, phone: str) -> None:
        """As the README says anyone does in development: `devLogin`."""
        if phone in self.tokens:
            return
        body = await self.post(
            "anyone", "mutation($p: String!) { devLogin(phone: $p) { token } }", {"p": phone}
        )
        assert "errors" not in body, body
        self.tokens[phone] = body["data"]["devLogin"]["token"]

    async def post(self, who: str, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        if who not in ("anyone", "an API key"):
            await self.login(who)
        async with httpx.AsyncClient(base_url=self.server.base, timeout=30) as client:
            response = await client.post(
                "/graphql", json={"query": query, "variables": variables or {}}, headers=self.headers(who)
            )
        return response.json()

    async def upload(self, who: str) -> str:
        """A photo uploaded as the README shows (`POST /uploads`, multipart), its id."""
        await self.login(who)
        picture = io.BytesIO()
        Image.new("RGB", (64, 48), (90, 90, 90)).save(picture, "JPEG")
        async with httpx.AsyncClient(base_url=self.server.base, timeout=30) as client:
            response = await client.post(
                "/uploads", files={"file": ("manhole.jpg", picture.getvalue())}, headers=self.headers(who)
            )
        assert response.status_code == 201, response.text
        return response.json()["id"]

    async def data(self, who: str, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        body = await self.post(who, query, variables)
        assert "errors" not in body, (who, body)
        return body["data"]

    async def code(self, who: str, query: str, variables: dict[str, Any] | None = None) -> str | None:
        """The error code of the answer, None when it has none."""
        body = await self.post(who, query, variables)
        return body["errors"][0]["extensions"]["code"] if body.get("errors") else None

    async def value(self, where: str) -> Any:
        """A variable's value, from where the README says it comes."""
        if where.endswith("'s id") and where[: -len("'s id")] in self.compounds:
            return self.compounds[where[: -len("'s id")]]
        if where.endswith("'s id") and where[: -len("'s id")] in self.communities:
            return self.communities[where[: -len("'s id")]]
        if where.startswith("the reported task's id"):
            return self.task
        if where == "the id of its first event":
            found = await self.data(RESIDENT, FIRST_EVENT, {"id": self.task})
            return found["node"]["timeline"]["edges"][0]["node"]["id"]
        if where == "the vote's id":
            return self.vote
        if where == "the receipt":
            return self.receipt
        if where == "the export's code":
            return self.export_code
        if where == "the notice's id":
            return self.notice
        if where == "the uploaded photo's id":
            return await self.upload(RESIDENT)
        raise AssertionError(f"the README takes a value from {where!r}, which this test does not know")

    def remember(self, answer: dict[str, Any]) -> None:
        for edge in (answer.get("compounds") or {}).get("edges", []):
            node = edge["node"]
            if "id" in node:
                self.compounds[node["name"]] = node["id"]
            for vote in (node.get("votes") or {}).get("edges", []):
                self.vote = vote["node"]["id"]
        if "reportTask" in answer:
            self.task = answer["reportTask"]["id"]
        if "publishNotice" in answer:
            self.notice = answer["publishNotice"]["id"]
        if "castBallot" in answer:
            self.receipt = answer["castBallot"]["receipt"]
        community = (answer.get("node") or {}).get("community")
        if community:
            self.communities[community["name"]] = community["id"]
        for edge in (answer.get("evaluationExports") or {}).get("edges", []):
            self.export_code = edge["node"]["code"]


def statuses(answer: Any) -> list[str]:
    if isinstance(answer, dict):
        return [v for k, v in answer.items() if k == "status"] + [
            s for v in answer.values() for s in statuses(v)
        ]
    if isinstance(answer, list):
        return [s for v in answer for s in statuses(v)]
    return []


async def subscribe(tour: Tour, example: Example, variables: dict[str, Any]) -> dict[str, Any]:
    """The first message of a subscription, over `graphql-transport-ws` as the README says."""
    if example.who not in ("anyone", "an API key"):
        await tour.login(example.who)
    async with websockets.connect(tour.server.ws, subprotocols=["graphql-transport-ws"]) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": tour.headers(example.who)}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "connection_ack"
        payload = {"query": example.text, "variables": variables}
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))
        message = json.loads(await asyncio.wait_for(ws.recv(), 15))
    assert message["type"] == "next" and "errors" not in message["payload"], message
    return message["payload"]["data"]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def tour(pg_url: str, demo_template_db: str) -> AsyncIterator[Tour]:
    clone = _clone(pg_url, demo_template_db)
    url = next(clone)
    server = None
    try:
        engine = create_engine(url, make_settings(url), pool_size=2, max_overflow=0)
        assert await story.tell(sessionmaker(engine))
        await engine.dispose()
        key = apikeys.generate()
        await fetch(
            url,
            "INSERT INTO api_client (name, key_prefix, key_hash) VALUES ('区大数据中心', $1, $2)",
            key.prefix,
            key.key_hash,
        )
        server = await asyncio.to_thread(Server(url="", database_url=url).start)
        tour = Tour(server=server, url=url, api_key=key.key)
        for example in examples():  # the README's order: later examples use what earlier ones answered
            variables = {name: await tour.value(where) for name, where in example.sources.items()}
            if example.kind == "subscription":
                answer = await subscribe(tour, example, variables)
            else:
                answer = await tour.data(example.who, example.text, variables)
            if example.leaves:
                assert example.leaves in statuses(answer), (example.text, answer)
            tour.answers[example.name] = answer
            tour.remember(answer)
        yield tour
    finally:
        if server is not None:
            server.stop()
        next(clone, None)


async def test_every_example_runs_in_order_as_the_person_it_names(tour: Tour) -> None:
    found = examples()
    assert len(found) >= 14
    assert {e.kind for e in found} == {"query", "mutation", "subscription"}
    assert all(e.text in README for e in found)
    assert len(tour.answers) == len(found)  # each answered without errors, by the fixture
    assert tour.compounds.keys() >= {"千山美林"}  # the first query gives the compound's id
    assert "startTask" in README and any("startTask" in e.text for e in found)


async def test_the_task_steps_are_done_by_who_the_readme_says() -> None:
    steps = [(e.who, e.leaves) for e in examples() if e.kind == "mutation" and e.leaves]
    assert steps == [
        (RESIDENT, "SUBMITTED"),
        (GRID, "ACCEPTED"),
        (GRID, "ACCEPTED"),
        (PROPERTY, "IN_PROGRESS"),
        (PROPERTY, "RESOLVED"),
        (RESIDENT, "CLOSED"),
    ]


async def test_the_timeline_replays_what_came_after_the_event_named(tour: Tour) -> None:
    assert tour.answers["Timeline"]["taskEvents"]["toStatus"] == "ACCEPTED"


# --- the sentences about who sees what ----------------------------------------------------------


def screen_households(answer: dict[str, Any]) -> list[tuple[str, str, list[dict[str, Any]]]]:
    return [
        (b["node"]["name"], h["node"]["number"], h["node"]["owners"])
        for b in answer["compound"]["buildings"]["edges"]
        for h in b["node"]["households"]["edges"]
    ]


def masked_name(name: str) -> bool:
    return re.fullmatch(r".\*+", name) is not None


async def screen(tour: Tour, who: str) -> list[tuple[str, str, list[dict[str, Any]]]]:
    return screen_households(await tour.data(who, SCREEN, {"id": tour.compounds["千山美林"]}))


async def first_pages(tour: Tour) -> dict[str, int]:
    """How many households of each building of 千山美林 the screen's first page of 50 holds."""
    rows = await fetch(
        tour.url,
        """SELECT b.name, least(count(*), 50) AS n FROM household h JOIN building b ON b.id = h.building_id
           JOIN compound c ON c.id = b.compound_id WHERE c.name = '千山美林' GROUP BY b.name""",
    )
    return {r["name"]: r["n"] for r in rows}


def count_by_building(households: list[tuple[str, str, list[dict[str, Any]]]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for building, _, _ in households:
        counts[building] = counts.get(building, 0) + 1
    return counts


async def resident_sees_own_household(tour: Tour) -> None:
    households = await screen(tour, RESIDENT)
    assert [number for _, number, _ in households] == ["6-1-302"]
    (_, _, owners) = households[0]
    me = [o for o in owners if o["phone"] == RESIDENT]
    others = [o for o in owners if o["phone"] != RESIDENT]
    assert me and not masked_name(me[0]["name"])
    assert others and all(masked_name(o["name"]) and o["phone"] is None for o in others)


async def convener_sees_building(tour: Tour) -> None:
    households = await screen(tour, CONVENER)
    assert count_by_building(households) == {"6栋": (await first_pages(tour))["6栋"]}
    others = [o for _, _, owners in households for o in owners if o["phone"] != CONVENER]
    comrades = {
        r["name"]
        for r in await fetch(
            tour.url,
            """SELECT p.name FROM role_assignment r JOIN person p ON p.id = r.person_id
               JOIN compound c ON c.id = r.compound_id WHERE r.role = 'PARTY_MEMBER' AND c.name = '千山美林'""",
        )
    }
    assert others and all(o["phone"] is None for o in others)
    shown = {o["name"] for o in others if not masked_name(o["name"])}
    assert shown and shown <= comrades  # masked, but for fellow Party members
    assert any(masked_name(o["name"]) for o in others)


async def staff_see_everything(tour: Tour) -> None:
    pages = await first_pages(tour)
    for who in (GRID, COMMITTEE, PROPERTY):
        households = await screen(tour, who)
        assert count_by_building(households) == pages, who
        owners = [o for _, _, os in households for o in os]
        assert all(not masked_name(o["name"]) and re.fullmatch(r"1\d{10}", o["phone"]) for o in owners), who


async def owners_committee_sees_masked_phones(tour: Tour) -> None:
    households = await screen(tour, OWNERS)
    assert count_by_building(households) == await first_pages(tour)
    owners = [o for _, _, os in households for o in os if o["phone"] != OWNERS]
    assert all(not masked_name(o["name"]) and re.fullmatch(r"1\d{2}\*{4}\d{4}", o["phone"]) for o in owners)
    assert {"name": "张德明", "phone": "138****0007"} in owners


async def party_data(tour: Tour) -> None:
    """Seen on the building-6 convener (a registered Party member) in the compound's team."""

    async def party_of_convener(who: str) -> dict[str, Any] | None:
        answer = await tour.data(who, PARTY)
        (person,) = [
            t["person"]
            for c in answer["compounds"]["edges"]
            if c["node"]["name"] == "千山美林"
            for t in c["node"]["team"]
            if t["position"] == "BUILDING_CONVENER" and t["building"]["name"] == "6栋"
        ]
        return person["party"]

    for who in (CONVENER, COMMITTEE):  # the member, the community committee: in full
        party = await party_of_convener(who)
        assert party["registered"] is True and party["workUnit"] and party["registeredOn"], who
    for who in (GRID, ADMIN):  # the registration status only
        assert await party_of_convener(who) == {"registered": True, "workUnit": None, "registeredOn": None}, (
            who
        )
    for who in (CHIEF, OWNERS, PROPERTY, RESIDENT):  # everyone else
        assert await party_of_convener(who) is None, who


async def demo_vote_stands_below_three_quarters(tour: Tour) -> None:
    (vote,) = [
        v["node"] for c in tour.answers["Votes"]["compounds"]["edges"] for v in c["node"]["votes"]["edges"]
    ]
    tally = vote["tally"]
    assert vote["rule"] == "SPECIAL" and vote["status"] == "OPEN"
    assert tally["participationMet"] and not tally["approvalMet"]
    assert (
        Fraction(2, 3) < Fraction(tally["agreeHeadcount"], tally["participatingHeadcount"]) < Fraction(3, 4)
    )
    assert vote["myBallot"] == [{"number": "6-1-302", "choice": None}]  # 13800000007 had not voted
    assert tour.answers["Cast"]["castBallot"]["households"] == ["6-1-302"]
    assert tour.answers["Verify"]["verifyReceipt"] == {
        "choice": "AGREE",
        "households": ["6-1-302"],
        "counted": True,
    }


async def who_sees_an_open_vote(tour: Tour) -> None:
    for who in (RESIDENT, CHIEF, DEPUTY, MEMBER, CONVENER, GRID, COMMITTEE, OWNERS):
        answer = await tour.data(who, TALLY, {"id": tour.vote})
        assert answer["node"]["tally"]["participatingHeadcount"] > 0, who
    for who in (TENANT, PROPERTY, ADMIN, "an API key"):
        assert await tour.code(who, TALLY, {"id": tour.vote}) == "FORBIDDEN", who


async def who_sees_not_voted(tour: Tour) -> None:
    for who in (CONVENER, GRID, COMMITTEE, OWNERS):
        answer = await tour.data(who, NOT_VOTED, {"id": tour.vote})
        numbers = [e["node"]["number"] for e in answer["node"]["notVoted"]["edges"]]
        assert numbers and "6-1-302" not in numbers, who  # 13800000007 voted in the tour
    for who in (CHIEF, DEPUTY, MEMBER, RESIDENT):
        assert await tour.code(who, NOT_VOTED, {"id": tour.vote}) == "FORBIDDEN", who
    # a convener of another building is not the building's own convener
    other = await fetchval(
        tour.url,
        """SELECT p.phone FROM team_position t JOIN person p ON p.id = t.person_id
           JOIN building b ON b.id = t.building_id JOIN compound c ON c.id = t.compound_id
           WHERE t.position = 'BUILDING_CONVENER' AND b.name = '1栋' AND c.name = '千山美林'""",
    )
    answer = await tour.post(other, NOT_VOTED, {"id": tour.vote})
    assert answer.get("errors") or not answer["data"]["node"]["notVoted"]["edges"]


async def nobody_else_sees_a_choice(tour: Tour) -> None:
    mine = await tour.data(RESIDENT, MY_BALLOT, {"id": tour.vote})
    assert mine["node"]["myBallot"] == [{"number": "6-1-302", "choice": "AGREE"}]
    for who in (CONVENER, CHIEF, GRID, COMMITTEE, OWNERS):
        answer = await tour.data(who, MY_BALLOT, {"id": tour.vote})
        assert all(h["number"] != "6-1-302" for h in answer["node"]["myBallot"]), who
    # and no other type of the schema carries a choice: one's households, one's ballot as cast, and
    # what one's receipt verifies
    carrying = {
        name
        for name, t in schema._schema.type_map.items()
        if isinstance(t, GraphQLObjectType) and not name.startswith("__")
        for f in t.fields.values()
        if get_named_type(f.type).name == "Choice"
    }
    # and, for its owners only, a household's ballot history
    assert carrying == {"MyHouseholdVote", "Ballot", "ReceiptVerification", "BallotRecord"}


async def api_keys_read_public_data_only(tour: Tour) -> None:
    public = tour.answers["{ compounds }"]["compounds"]["edges"]
    assert public and all(c["node"]["stats"]["householdCount"] > 0 for c in public)
    answer = await tour.post("an API key", PARTY.replace("workUnit registeredOn", ""))
    people = [
        t for c in (answer.get("data") or {}).get("compounds", {}).get("edges", []) for t in c["node"]["team"]
    ]
    assert answer.get("errors") or not people  # no people
    households = await tour.post("an API key", SCREEN, {"id": tour.compounds["千山美林"]})
    assert households.get("errors") or not screen_households(households["data"])  # no households
    counts = await tour.data("an API key", "{ compounds { edges { node { stats { partyMemberCount } } } } }")
    assert all(c["node"]["stats"]["partyMemberCount"] is None for c in counts["compounds"]["edges"])


CLAIMS: dict[str, Callable[[Tour], Awaitable[None]]] = {
    "A resident sees their own household only, others' names masked (`张*`) and no phones.": (
        resident_sees_own_household
    ),
    "Log in as 13800000002 (building-6 convener) and the compound screen below shows all of 6栋, names "
    "masked (but for fellow Party members of the compound) and no phones": convener_sees_building,
    "as 13800000003 (grid worker), 13800000004 (community committee) or 13800000005 (property staff) "
    "every household of the compound, with full names and phones": staff_see_everything,
    "as 13800000006 (owners' committee) owners' full names with masked phones (`138****0007`)": (
        owners_committee_sees_masked_phones
    ),
    "Party data (`person { party { registered workUnit registeredOn } }`) is shown in full only to the "
    "member and the community committee; the grid worker and the platform admin see the registration "
    "status only (`registered`); everyone else sees `null`.": party_data,
    "with agreement just below ¾; 13800000007 has not voted yet": demo_vote_stands_below_three_quarters,
    "`verifyReceipt(code:)` says whether that ballot is the one counted": demo_vote_stands_below_three_quarters,
    "While a vote is open, its eligible owners, the compound's team, the grid worker, the community "
    "committee and the owners' committee see it and its live tally.": who_sees_an_open_vote,
    "Who has not voted yet (`notVoted`, for door-knocking; never a choice) is for the building's own "
    "convener, the grid worker, the community committee and the owners' committee; the chief convener "
    "and the rest of the team do not see it.": who_sees_not_voted,
    "Nobody but a household's own owners sees how it voted.": nobody_else_sees_a_choice,
    "read public profiles and aggregates only: no households, no people, no Party head counts.": (
        api_keys_read_public_data_only
    ),
}


@pytest.mark.parametrize("sentence", list(CLAIMS), ids=[s[:40] for s in CLAIMS])
async def test_what_the_readme_says_about_who_sees_what_holds(tour: Tour, sentence: str) -> None:
    assert " ".join(sentence.split()) in " ".join(README.split()), "the README no longer says this"
    await CLAIMS[sentence](tour)


async def test_the_reported_photo_is_shown_with_its_report(tour: Tour) -> None:
    photos = tour.answers["Report"]["reportTask"]["photos"]
    assert len(photos) == 1
    async with httpx.AsyncClient(timeout=30) as client:
        thumbnail = await client.get(photos[0]["thumbnailUrl"])
    assert thumbnail.status_code == 200 and thumbnail.headers["content-type"] == "image/jpeg"
