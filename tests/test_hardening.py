"""Hardening over HTTP: query limits, introspection, GET, body size, pagination, error masking.

Every error a client sees must carry a Chinese `message` and an `extensions.code` from API.md, and
never a stack trace, SQL, an internal name or GraphQL's "Did you mean" field suggestions.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest

import resolvers.place
import schema.compiled
from auth import apikeys
from schema.errors import INTERNAL_MESSAGE
from tests.conftest import Api, fetchval, make_settings, running_api, token_for, unpriced

CODES = {
    "UNAUTHENTICATED",
    "FORBIDDEN",
    "NOT_FOUND",
    "BAD_USER_INPUT",
    "CONFLICT",
    "RATE_LIMITED",
    "QUERY_TOO_COMPLEX",
    "UNAVAILABLE",
    "INTERNAL",
}
CJK = re.compile(r"[\u4e00-\u9fff]")
ADMIN = "13800000000"
RESIDENT = "13800000007"
COMPOUND_LIST = (
    "query CompoundList($first: Int, $after: String) { compounds(first: $first, after: $after) "
    "{ edges { cursor node { name } } pageInfo { hasNextPage endCursor } } }"
)
INTROSPECTION = "{ __schema { types { name } } }"


def check_error(error: dict[str, Any], code: str) -> None:
    """One error as the contract wants it: the expected code, a Chinese message, no suggestions."""
    assert error["extensions"]["code"] == code, error
    assert error["extensions"]["code"] in CODES
    assert CJK.search(error["message"]), error
    assert "Did you mean" not in json.dumps(error, ensure_ascii=False)


def only_error(body: dict[str, Any], code: str) -> dict[str, Any]:
    """The single error of a refused request, which must return no data at all."""
    assert body["data"] is None, body
    assert len(body["errors"]) == 1, body
    check_error(body["errors"][0], code)
    return body["errors"][0]


def nested(depth: int) -> str:
    """A valid query whose selections nest `depth` fields deep (plus a `__typename` leaf)."""
    cycle = ["buildings(first: 1)", "edges", "node", "compound"]
    fields = ["compounds(first: 1)", "edges", "node"] + [cycle[i % 4] for i in range(depth - 3)]
    query = "__typename"
    for field in reversed(fields):
        query = f"{field} {{ {query} }}"
    return "{ " + query + " }"


def cursor(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


async def create_api_key(url: str, name: str) -> str:
    new = apikeys.generate()
    await fetchval(
        url,
        "INSERT INTO api_client (name, key_prefix, key_hash) VALUES ($1, $2, $3) RETURNING id",
        name,
        new.prefix,
        new.key_hash,
    )
    return new.key


@pytest.fixture
async def prod_api(demo_db_url: str) -> AsyncIterator[Api]:
    async with running_api(demo_db_url, make_settings(demo_db_url, QILIJIA_ENV="prod")) as client:
        yield client


@pytest.fixture
async def admin_token(demo_db_url: str) -> str:
    return await token_for(demo_db_url, ADMIN)


# --- query limits -------------------------------------------------------------------------------


async def test_query_depth_at_limit_runs_and_over_limit_is_too_complex(api: Api, admin_token: str) -> None:
    ok = await api.post(nested(12), token=admin_token)
    assert ok.status_code == 200
    assert "errors" not in ok.json(), ok.json()
    assert ok.json()["data"]["compounds"]["edges"][0]["node"]["buildings"]["edges"]

    for depth in (13, 30):
        response = await api.post(nested(depth), token=admin_token)
        assert response.status_code == 200
        error = only_error(response.json(), "QUERY_TOO_COMPLEX")
        assert "data" not in error


async def test_too_many_aliases_is_too_complex(api: Api) -> None:
    thirty = "{ " + " ".join(f"a{i}: __typename" for i in range(30)) + " }"
    assert await api.data(thirty) == {f"a{i}": "Query" for i in range(30)}

    thirty_one = "{ " + " ".join(f"a{i}: __typename" for i in range(31)) + " }"
    only_error(await api.gql(thirty_one), "QUERY_TOO_COMPLEX")


async def test_query_over_token_limit_is_too_complex(api: Api) -> None:
    # `{` + 1998 fields + `}` = 2000 tokens: parsed; one more is over the limit
    only_error(await api.gql("{ " + " __typename" * 1999 + " }"), "QUERY_TOO_COMPLEX")
    only_error(await api.gql("{ " + " __typename" * 5000 + " }"), "QUERY_TOO_COMPLEX")


async def test_query_exhausting_validation_budget_is_too_complex(api: Api) -> None:
    # under the token limit, but too many overlapping fields for the validator to compare
    only_error(await api.gql("{ " + " __typename" * 1500 + " }"), "QUERY_TOO_COMPLEX")


async def test_misspelled_field_is_bad_input_without_suggestions(api: Api, admin_token: str) -> None:
    for query in (
        "{ compoundz { edges { node { name } } } }",
        "{ compounds { edges { node { nam } } } }",
        "{ me { persn { name } } }",
    ):
        body = await api.gql(query, token=admin_token)
        error = only_error(body, "BAD_USER_INPUT")
        assert "Did you mean" not in error["message"]
        assert "Did you mean" not in json.dumps(error["extensions"])


async def test_syntax_error_is_bad_input(api: Api) -> None:
    only_error(await api.gql("{ compounds { edges "), "BAD_USER_INPUT")


# --- introspection ------------------------------------------------------------------------------


async def test_introspection_works_in_dev(api: Api) -> None:
    data = await api.data(INTROSPECTION)
    names = {t["name"] for t in data["__schema"]["types"]}
    assert {"Query", "Mutation", "Compound", "Household"} <= names


async def test_introspection_refused_in_prod_for_anonymous_resident_and_api_client(
    prod_api: Api, demo_db_url: str
) -> None:
    resident = await token_for(demo_db_url, RESIDENT)
    api_key = await create_api_key(demo_db_url, "区大数据中心")
    queries = (
        INTROSPECTION,
        '{ __type(name: "Query") { name fields { name } } }',
        '{ ... on Query { __type(name: "Compound") { name } } }',
        # hidden in a named fragment
        "query { ...Intro } fragment Intro on Query { __schema { types { name } } }",
    )
    for query in queries:
        for credentials in ({}, {"token": resident}, {"api_key": api_key}):
            response = await prod_api.post(query, **credentials)
            assert response.status_code == 200
            only_error(response.json(), "FORBIDDEN")


async def test_introspection_works_in_prod_for_admin(prod_api: Api, demo_db_url: str) -> None:
    admin = await token_for(demo_db_url, ADMIN)
    data = await prod_api.data(INTROSPECTION, token=admin)
    assert "Compound" in {t["name"] for t in data["__schema"]["types"]}


async def test_typename_works_without_credentials(api: Api, prod_api: Api) -> None:
    assert await api.data("{ __typename }") == {"__typename": "Query"}
    assert await prod_api.data("{ __typename }") == {"__typename": "Query"}


# --- HTTP: GraphiQL, GET ------------------------------------------------------------------------


async def test_graphiql_served_in_dev_only(api: Api, prod_api: Api) -> None:
    dev = await api.client.get("/graphql", headers={"Accept": "text/html"})
    assert dev.status_code == 200
    assert dev.headers["content-type"].startswith("text/html")
    assert "graphiql" in dev.text.lower()

    prod = await prod_api.client.get("/graphql", headers={"Accept": "text/html"})
    assert prod.status_code == 404
    assert not prod.headers["content-type"].startswith("text/html")
    assert "graphiql" not in prod.text.lower()
    only_error(prod.json(), "NOT_FOUND")


async def test_get_runs_queries_but_never_mutations(api: Api, demo_db_url: str) -> None:
    query = await api.client.get("/graphql", params={"query": "{ __typename }"})
    assert query.status_code == 200
    assert unpriced(query.json()) == {"data": {"__typename": "Query"}}

    for mutation in (
        f'mutation {{ devLogin(phone: "{RESIDENT}") {{ token }} }}',
        f'mutation Login {{ devLogin(phone: "{RESIDENT}") {{ token }} }}',
    ):
        response = await api.client.get("/graphql", params={"query": mutation})
        assert response.status_code == 400
        assert response.headers["content-type"].startswith("application/json")
        only_error(response.json(), "BAD_USER_INPUT")

    # the same mutation over POST works (so GET was refused for its method, not its content)
    data = await api.data(f'mutation {{ devLogin(phone: "{RESIDENT}") {{ token }} }}')
    assert data["devLogin"]["token"]


async def test_body_that_is_not_json_is_bad_input(api: Api) -> None:
    response = await api.client.post(
        "/graphql", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    only_error(response.json(), "BAD_USER_INPUT")


# --- body size ----------------------------------------------------------------------------------


def big_body(size: int) -> bytes:
    body = json.dumps({"query": "{ __typename }", "variables": {"pad": ""}})
    return body.replace('"pad": ""', '"pad": "' + "x" * (size - len(body)) + '"').encode()


async def test_body_just_under_limit_is_accepted(api: Api) -> None:
    body = big_body(99_000)
    assert len(body) == 99_000
    response = await api.client.post("/graphql", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 200
    assert unpriced(response.json()) == {"data": {"__typename": "Query"}}


async def test_body_over_limit_with_content_length_is_413(api: Api) -> None:
    body = big_body(100_001)
    response = await api.client.post("/graphql", content=body, headers={"Content-Type": "application/json"})
    assert response.request.headers["content-length"] == "100001"
    assert response.status_code == 413
    assert response.headers["content-type"].startswith("application/json")
    only_error(response.json(), "BAD_USER_INPUT")


async def test_body_over_limit_streamed_without_content_length_is_413(api: Api) -> None:
    body = big_body(300_000)

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 8192):
            yield body[start : start + 8192]

    response = await api.client.post(
        "/graphql", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert "content-length" not in response.request.headers
    assert response.request.headers["transfer-encoding"] == "chunked"
    assert response.status_code == 413
    only_error(response.json(), "BAD_USER_INPUT")


async def test_body_over_limit_with_understated_content_length_is_413(api: Api) -> None:
    """A client that lies about Content-Length is still counted byte by byte."""
    body = big_body(200_000)

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 8192):
            yield body[start : start + 8192]

    response = await api.client.post(
        "/graphql", content=chunks(), headers={"Content-Type": "application/json", "Content-Length": "10"}
    )
    assert response.status_code == 413
    only_error(response.json(), "BAD_USER_INPUT")


# --- pagination ---------------------------------------------------------------------------------


async def test_first_at_most_100(api: Api, admin_token: str) -> None:
    data = await api.data(COMPOUND_LIST, {"first": 100}, token=admin_token)
    assert len(data["compounds"]["edges"]) >= 1
    assert data["compounds"]["pageInfo"]["hasNextPage"] is False

    for first in (101, 1000, -1):
        body = await api.gql(COMPOUND_LIST, {"first": first}, token=admin_token)
        error = only_error(body, "BAD_USER_INPUT")
        assert error["extensions"]["field"] == "first"


async def test_malformed_after_cursor_is_bad_input(api: Api, admin_token: str) -> None:
    for after in ("!!!not-a-cursor!!!", "bm9wZQ", cursor("x:1"), cursor("o:-5"), cursor("o:abc"), "%%%"):
        body = await api.gql(COMPOUND_LIST, {"first": 1, "after": after}, token=admin_token)
        error = only_error(body, "BAD_USER_INPUT")
        assert error["extensions"]["field"] == "after"


async def test_valid_cursor_pages_on(api: Api, admin_token: str) -> None:
    first = (await api.data(COMPOUND_LIST, {"first": 1}, token=admin_token))["compounds"]
    assert first["pageInfo"]["hasNextPage"] is True
    second = (
        await api.data(
            COMPOUND_LIST, {"first": 1, "after": first["pageInfo"]["endCursor"]}, token=admin_token
        )
    )["compounds"]
    assert second["edges"][0]["node"]["name"] != first["edges"][0]["node"]["name"]


# --- unexpected errors --------------------------------------------------------------------------


async def test_unexpected_exception_is_masked_as_internal(
    api: Api, admin_token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("secret internals SELECT password FROM person WHERE 1=1")

    monkeypatch.setattr(resolvers.place, "compounds", broken)  # the strawberry path
    monkeypatch.setattr(schema.compiled.Reads, "answer", broken)  # the compiled path
    response = await api.post(COMPOUND_LIST, {"first": 5}, token=admin_token)
    assert response.status_code == 200
    error = only_error(response.json(), "INTERNAL")
    assert error["message"] == INTERNAL_MESSAGE
    assert set(error["extensions"]) == {"code"}
    text = response.text
    for leak in ("secret internals", "SELECT", "password", "RuntimeError", "Traceback", "resolvers", ".py"):
        assert leak not in text, leak


# --- no credentials -----------------------------------------------------------------------------


async def test_without_credentials_only_typename_and_login_work(api: Api) -> None:
    for query in (
        "{ me { person { name } } }",
        "{ compounds { edges { node { name } } } }",
        COMPOUND_LIST,
    ):
        response = await api.post(query)
        assert response.status_code == 200
        only_error(response.json(), "UNAUTHENTICATED")

    assert await api.data("{ __typename }") == {"__typename": "Query"}
    login = await api.data(
        f'mutation {{ devLogin(phone: "{RESIDENT}") {{ token me {{ person {{ phone }} }} }} }}'
    )
    assert login["devLogin"]["me"]["person"]["phone"] == RESIDENT
    me = await api.data("{ me { person { phone } } }", token=login["devLogin"]["token"])
    assert me["me"]["person"]["phone"] == RESIDENT


async def test_dev_login_refused_in_prod(prod_api: Api) -> None:
    body = await prod_api.gql(f'mutation {{ devLogin(phone: "{ADMIN}") {{ token }} }}')
    only_error(body, "FORBIDDEN")
