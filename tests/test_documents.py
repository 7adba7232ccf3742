"""Trusted documents and automatic persisted queries (API.md): a client sends a hash instead of
the text; the registered documents (`qilijia documents add`) are what a third-party client may
run in `prod`, and the only operation names the metrics carry."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio

from schema import PLANS
from schema.documents import DOCUMENTS, sha256
from tests.conftest import Api, fetch, make_settings, running_api, token_for, unpriced
from tests.test_cli import aqilijia
from tests.test_hardening import create_api_key
from tests.test_ops import metrics_text, sample

ADMIN = "13800000000"
NAMES = "query CompoundNames { compounds(first: 5) { edges { node { name } } } }"
PROFILE = "query MyName { me { person { name } } }"


def persisted(digest: str, query: str | None = None) -> dict:
    body: dict = {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": digest}}}
    if query is not None:
        body["query"] = query
    return body


async def send(api: Api, body: dict, **headers: str) -> dict:
    response = await api.client.post("/graphql", json=body, headers=headers)
    assert response.status_code == 200
    return response.json()


@pytest_asyncio.fixture
async def registered(demo_db_url: str) -> AsyncIterator[str]:
    """NAMES registered in the database; an app started now loads it."""
    await fetch(
        demo_db_url,
        "INSERT INTO trusted_document (sha256, body, operations) VALUES ($1, $2, 'CompoundNames')",
        sha256(NAMES),
        NAMES,
    )
    yield sha256(NAMES)
    DOCUMENTS.load([])
    PLANS.trusted = set()


async def test_an_unknown_hash_asks_for_the_text_and_then_is_known(api: Api, demo_db_url: str) -> None:
    bearer = {"Authorization": f"Bearer {await token_for(demo_db_url, ADMIN)}"}
    digest = sha256(PROFILE)
    unknown = await send(api, persisted(digest), **bearer)
    assert unknown["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    assert unknown["data"] is None

    with_text = await send(api, persisted(digest, PROFILE), **bearer)
    assert "errors" not in with_text
    for _ in range(3):  # strawberry, then compiled: the hash alone, on every path
        by_hash = await send(api, persisted(digest), **bearer)
        assert unpriced(by_hash) == unpriced(with_text)
    assert by_hash["data"]["me"]["person"]["name"]


async def test_a_text_that_is_not_its_hash_is_refused(api: Api) -> None:
    wrong = await send(api, persisted(sha256("{ __typename }"), PROFILE))
    assert wrong["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "sha256Hash" in wrong["errors"][0]["message"]
    for bad in ({"version": 2, "sha256Hash": sha256(PROFILE)}, {"version": 1}, "x"):
        body = await send(api, {"extensions": {"persistedQuery": bad}})
        assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_a_registered_document_is_known_by_its_hash_from_the_start(
    registered: str, demo_db_url: str
) -> None:
    async with running_api(demo_db_url) as api:
        bearer = {"Authorization": f"Bearer {await token_for(demo_db_url, ADMIN)}"}
        assert DOCUMENTS.trusted == {registered: NAMES}
        assert NAMES in PLANS.trusted  # compiled on its first request, not its second
        body = await send(api, {**persisted(registered), "operationName": "CompoundNames"}, **bearer)
        assert [e["node"]["name"] for e in body["data"]["compounds"]["edges"]]


async def test_in_prod_a_third_party_client_runs_registered_documents_only(
    registered: str, demo_db_url: str
) -> None:
    key = await create_api_key(demo_db_url, "区大数据中心")
    async with running_api(demo_db_url, make_settings(demo_db_url, QILIJIA_ENV="prod")) as api:
        for body in (persisted(registered), {"query": NAMES}):
            answered = await send(api, body, **{"X-API-Key": key})
            assert "errors" not in answered, answered
        adhoc = await send(
            api, {"query": "{ compounds(first: 1) { edges { node { name } } } }"}, **{"X-API-Key": key}
        )
        [error] = adhoc["errors"]
        assert error["extensions"]["code"] == "FORBIDDEN"
        assert "已登记" in error["message"]
        assert adhoc["data"] is None
        # people run any document: the restriction is the third-party client's
        bearer = {"Authorization": f"Bearer {await token_for(demo_db_url, ADMIN)}"}
        assert "errors" not in await send(api, {"query": PROFILE}, **bearer)
    async with running_api(demo_db_url) as dev:  # in dev a client explores freely
        explored = await send(
            dev, {"query": "{ compounds(first: 1) { edges { node { name } } } }"}, **{"X-API-Key": key}
        )
        assert explored["data"] is not None
        assert not [e for e in explored.get("errors", []) if "已登记" in e["message"]]


async def test_metrics_name_registered_operations_only(registered: str, demo_db_url: str) -> None:
    async with running_api(demo_db_url) as api:
        bearer = {"Authorization": f"Bearer {await token_for(demo_db_url, ADMIN)}"}
        before = await metrics_text(api)
        for name in ("CompoundNames", *(f"Junk{i}" for i in range(20))):
            query = NAMES.replace("CompoundNames", name)
            await send(api, {"query": query, "operationName": name}, **bearer)
        after = await metrics_text(api)
        assert 'operation="CompoundNames"' in after
        assert "Junk" not in after
        ok = ("qilijia_graphql_requests_total", {"operation": "other", "outcome": "ok"})
        assert sample(after, ok[0], **ok[1]) == sample(before, ok[0], **ok[1]) + 20


async def test_documents_are_registered_from_files_after_checking_each(
    tmp_path: Path, demo_db_url: str
) -> None:
    good, other, bad = tmp_path / "names.graphql", tmp_path / "me.graphql", tmp_path / "bad.graphql"
    good.write_text(NAMES, encoding="utf-8")
    other.write_text(PROFILE, encoding="utf-8")
    bad.write_text("query Broken { compounds { edges { node { nope } } } }", encoding="utf-8")

    refused = await aqilijia(tmp_path, demo_db_url, "documents", "add", str(good), str(bad))
    assert refused.returncode == 1
    assert "bad.graphql" in refused.stderr and "没有登记任何查询" in refused.stderr
    assert await fetch(demo_db_url, "SELECT sha256 FROM trusted_document") == []  # all or nothing

    added = await aqilijia(tmp_path, demo_db_url, "documents", "add", str(good), str(other))
    assert added.returncode == 0, added.stderr
    assert sha256(NAMES) in added.stdout and "CompoundNames" in added.stdout
    again = await aqilijia(tmp_path, demo_db_url, "documents", "add", str(good))
    assert again.returncode == 0 and "此前已登记" in again.stdout
    rows = await fetch(
        demo_db_url, "SELECT sha256, body, operations FROM trusted_document ORDER BY operations"
    )
    assert [tuple(r) for r in rows] == [
        (sha256(NAMES), NAMES, "CompoundNames"),
        (sha256(PROFILE), PROFILE, "MyName"),
    ]
    listed = await aqilijia(tmp_path, demo_db_url, "documents", "list")
    assert listed.returncode == 0, listed.stderr
    assert sha256(NAMES) in listed.stdout and "MyName" in listed.stdout
