"""Operations: health and readiness, Prometheus metrics, request ids and JSON logs."""

from __future__ import annotations

import contextlib
import json
import logging
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

import resolvers.place
import schema.compiled
from app import logging as app_logging
from tests.conftest import Api, fetchval, make_settings, running_api, token_for

DOWN_URL = "postgresql://postgres@127.0.0.1:1/nothing"
ADMIN = "13800000000"
COMPOUND_LIST = "query CompoundList { compounds(first: 5) { edges { node { name } } } }"
REQUEST_ID = re.compile(r"^[0-9a-f]{32}$")


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample of a Prometheus exposition (0 when it is not there yet)."""
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and s.labels == labels:
                return s.value
    return 0.0


async def metrics_text(api: Api) -> str:
    response = await api.client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


# --- health and readiness -----------------------------------------------------------------------


async def test_healthz(api: Api) -> None:
    response = await api.client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_with_database_up(api: Api) -> None:
    response = await api.client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "up"}


async def test_readyz_with_database_down() -> None:
    # the lifespan starts although nothing listens: engines connect lazily
    async with running_api(DOWN_URL, make_settings(DOWN_URL)) as api:
        ready = await api.client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json() == {"status": "unavailable", "database": "down"}
        assert "127.0.0.1" not in ready.text
        # the process itself is alive
        health = await api.client.get("/healthz")
        assert health.status_code == 200
        assert health.json() == {"status": "ok"}


# --- metrics ------------------------------------------------------------------------------------


async def register(api: Api, url: str, *documents: str) -> None:
    """Documents registered as `qilijia documents add` does, and loaded into the running app."""
    from app.http import load_documents
    from schema.documents import operation_names, sha256

    for text in documents:
        await fetchval(
            url,
            "INSERT INTO trusted_document (sha256, body, operations) VALUES ($1, $2, $3) RETURNING sha256",
            sha256(text),
            text,
            " ".join(operation_names(text)),
        )
    await load_documents(api.app.state.services.sessions)


@pytest.fixture
def registry() -> Iterator[None]:
    from schema import PLANS
    from schema.documents import DOCUMENTS

    yield
    DOCUMENTS.load([])
    PLANS.trusted = set()


async def test_metrics_count_named_operations(api: Api, demo_db_url: str, registry: None) -> None:
    token = await token_for(demo_db_url, ADMIN)
    profile = "query MyProfile { me { person { name } } }"
    await register(api, demo_db_url, COMPOUND_LIST, profile)
    before = await metrics_text(api)

    data = await api.data(COMPOUND_LIST, token=token, operation_name="CompoundList")
    assert data["compounds"]["edges"]
    failed = await api.gql(profile, operation_name="MyProfile")
    assert failed["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"

    after = await metrics_text(api)
    assert 'qilijia_graphql_requests_total{operation="CompoundList"' in after
    ok = ("qilijia_graphql_requests_total", {"operation": "CompoundList", "outcome": "ok"})
    assert sample(after, ok[0], **ok[1]) == sample(before, ok[0], **ok[1]) + 1
    err = ("qilijia_graphql_requests_total", {"operation": "MyProfile", "outcome": "error"})
    assert sample(after, err[0], **err[1]) == sample(before, err[0], **err[1]) + 1

    # the latency histogram, with buckets, for the same operation
    assert "# TYPE qilijia_graphql_request_seconds histogram" in after
    count = ("qilijia_graphql_request_seconds_count", {"operation": "CompoundList"})
    assert sample(after, count[0], **count[1]) == sample(before, count[0], **count[1]) + 1
    assert sample(after, "qilijia_graphql_request_seconds_bucket", operation="CompoundList", le="+Inf") >= 1
    assert sample(after, "qilijia_graphql_request_seconds_sum", operation="CompoundList") > 0

    # HTTP metrics by route and status
    http_ok = ("qilijia_http_requests_total", {"path": "/graphql", "status": "200"})
    assert sample(after, http_ok[0], **http_ok[1]) >= sample(before, http_ok[0], **http_ok[1]) + 2
    assert "# TYPE qilijia_http_request_seconds histogram" in after


async def test_metrics_operation_label_is_bounded(api: Api) -> None:
    """Client-chosen operation names cannot blow up label cardinality: an operation that is not
    registered (`qilijia documents add`) is `other`, however it is called."""
    long_name = "Q" + "x" * 200
    await api.data(f"query {long_name} {{ __typename }}", operation_name=long_name)
    text = await metrics_text(api)
    assert long_name[:20] not in text
    assert 'operation="other"' in text


# --- request ids --------------------------------------------------------------------------------


async def test_every_response_carries_a_request_id(api: Api) -> None:
    responses = [
        await api.client.get("/healthz"),
        await api.client.get("/readyz"),
        await api.client.get("/metrics"),
        await api.client.get("/nowhere"),
        await api.post("{ __typename }"),
        await api.post("{ me { person { name } } }"),
        await api.client.post(
            "/graphql", json={"query": "{ __typename }"}, headers={"Authorization": "Basic x"}
        ),
        await api.client.post(
            "/graphql", content=b"x" * 100_001, headers={"Content-Type": "application/json"}
        ),
    ]
    assert [r.status_code for r in responses] == [200, 200, 200, 404, 200, 200, 200, 413]
    ids = [r.headers["x-request-id"] for r in responses]
    assert all(REQUEST_ID.match(i) for i in ids), ids
    assert len(set(ids)) == len(ids)


async def test_incoming_request_id_is_echoed(api: Api) -> None:
    for given in ("3f6b1c2e-8d4a-4e55-9b0e-1a2b3c4d5e6f", "abc123", "A" * 64):
        response = await api.client.get("/healthz", headers={"X-Request-ID": given})
        assert response.headers["x-request-id"] == given
    response = await api.post("{ __typename }")
    assert REQUEST_ID.match(response.headers["x-request-id"])


async def test_unsafe_incoming_request_id_is_replaced(api: Api) -> None:
    for given in ("has space", "A" * 65, "semi;colon", 'quote"', "new\\nline", "ünïcode"):
        response = await api.client.get("/healthz", headers={"X-Request-ID": given.encode("utf-8")})
        assert REQUEST_ID.match(response.headers["x-request-id"]), (given, response.headers["x-request-id"])


# --- JSON logs ----------------------------------------------------------------------------------


@contextlib.contextmanager
def json_logging() -> Iterator[None]:
    """`app.logging.configure()` for the duration, then the logging setup as it was."""
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    noisy = {name: logging.getLogger(name).level for name in ("httpx", "httpcore", "uvicorn.access")}
    app_logging.configure()
    try:
        yield
    finally:
        for handler in root.handlers:
            if handler not in saved_handlers:
                handler.flush()
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
        for name, level in noisy.items():
            logging.getLogger(name).setLevel(level)


def log_entries(captured: str) -> list[dict[str, Any]]:
    lines = [line for line in captured.splitlines() if line.strip()]
    assert lines, "no log lines captured"
    return [json.loads(line) for line in lines]  # every line is one JSON object


async def test_json_request_logs_without_secrets(
    api: Api, demo_db_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    token = await token_for(demo_db_url, ADMIN)
    capsys.readouterr()

    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("boom")

    with json_logging():
        ok = await api.post(COMPOUND_LIST, token=token, operation_name="CompoundList")
        assert ok.status_code == 200
        assert "errors" not in ok.json()
        mine = await api.client.post(
            "/graphql",
            json={"query": "{ me { person { name } } }"},
            headers={"Authorization": f"Bearer {token}", "X-Request-ID": "log-test-0001"},
        )
        assert mine.status_code == 200
        # a refused token and an internal error (logged with its traceback) must not leak either
        refused = await api.client.post(
            "/graphql", json={"query": "{ __typename }"}, headers={"Authorization": f"Bearer {token}x"}
        )
        assert refused.status_code == 200
        monkeypatch.setattr(resolvers.place, "compounds", broken)  # the strawberry path
        monkeypatch.setattr(schema.compiled.Reads, "answer", broken)  # the compiled path
        failed = await api.post(COMPOUND_LIST, token=token)
        assert failed.json()["errors"][0]["extensions"]["code"] == "INTERNAL"

    captured = capsys.readouterr().err
    entries = log_entries(captured)
    requests = [e for e in entries if e["logger"] == "qilijia.http" and e["message"] == "request"]
    assert len(requests) == 4, requests

    by_id = {e["request_id"]: e for e in requests}
    assert by_id[ok.headers["x-request-id"]]["status"] == 200
    entry = by_id["log-test-0001"]
    assert entry["method"] == "POST"
    assert entry["path"] == "/graphql"
    assert entry["status"] == 200
    assert entry["level"] == "info"
    assert isinstance(entry["duration_ms"], int | float)
    assert by_id[refused.headers["x-request-id"]]["status"] == 200
    assert by_id[failed.headers["x-request-id"]]["status"] == 200

    # the internal error is logged, with its traceback, under the request's id
    errors = [e for e in entries if e["logger"] == "qilijia.errors"]
    assert len(errors) == 1
    assert errors[0]["level"] == "error"
    assert errors[0]["request_id"] == failed.headers["x-request-id"]
    assert "RuntimeError: boom" in errors[0]["exception"]

    # no token, no signature, no header value anywhere in the logs
    assert token not in captured
    assert token.split(".")[2] not in captured
    assert "Bearer" not in captured
    assert "authorization" not in captured.lower()


# --- metrics in production and across workers -----------------------------------------------------


async def test_metrics_are_for_operators_in_prod(demo_db_url: str) -> None:
    import httpx

    from app.http import create_app

    async def scrape(settings, client_host: str, **headers: str) -> int:
        app = create_app(settings, database_url=demo_db_url)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app, client=(client_host, 40000))
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
                response = await client.get("/metrics", headers=headers)
                if response.status_code == 403:
                    assert response.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
                if response.status_code == 200:  # the metrics themselves, not an error in a 200
                    assert response.text.startswith("# HELP")
                return response.status_code

    prod = make_settings(demo_db_url, QILIJIA_ENV="prod")
    assert await scrape(prod, "203.0.113.7") == 403  # the public
    assert await scrape(prod, "127.0.0.1") == 200  # a scraper on the same machine
    token = make_settings(demo_db_url, QILIJIA_ENV="prod", QILIJIA_METRICS_TOKEN="scrape-" + "x" * 30)
    assert await scrape(token, "203.0.113.7") == 403
    assert await scrape(token, "127.0.0.1") == 403  # once a token is set, it is what counts
    assert await scrape(token, "203.0.113.7", Authorization="Bearer scrape-" + "x" * 30) == 200
    assert await scrape(make_settings(demo_db_url), "203.0.113.7") == 200  # dev


def started_workers(log: Path) -> set[int]:
    """The processes whose app has started, by the server's JSON log lines."""
    pids = set()
    for line in log.read_text().splitlines():
        with contextlib.suppress(ValueError):  # a line being written
            entry = json.loads(line)
            if entry.get("message") == "Application startup complete.":
                pids.add(entry["pid"])
    return pids


def test_two_workers_add_up_their_metrics_and_both_log_json(demo_db_url: str, tmp_path) -> None:
    import httpx

    from tests.servers import Server

    log = tmp_path / "server.log"
    server = Server(url="", database_url=demo_db_url, args=("--workers", "2"), log=str(log)).start(timeout=60)
    try:
        # the server answers once one worker is up: wait for the other one too
        deadline = time.monotonic() + 60
        while len(started_workers(log)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(started_workers(log)) == 2, log.read_text()
        # fresh connections (none kept alive): the kernel spreads them over both workers
        fresh = httpx.Limits(max_keepalive_connections=0)
        with httpx.Client(base_url=server.base, timeout=10, limits=fresh) as each:
            for _ in range(40):
                each.post("/graphql", json={"query": "{ __typename }"})
        with httpx.Client(base_url=server.base, timeout=10) as client:
            totals = []
            for _ in range(5):
                text = client.get("/metrics").text
                totals.append(sample(text, "qilijia_http_requests_total", path="/graphql", status="200"))
    finally:
        server.stop()
    assert all(total >= 40 for total in totals), totals  # every scrape sees both workers' counts
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    access = [line for line in lines if line.get("message") == "request" and line.get("path") == "/graphql"]
    assert len(access) >= 40
    assert len({line["pid"] for line in access}) == 2, "both workers write JSON access lines"
    assert all(not line.strip() or line.startswith("{") for line in log.read_text().splitlines()[-50:])


def test_logs_mask_phones_and_drop_statement_values() -> None:
    from app.logging import JsonFormatter

    try:
        raise RuntimeError(
            "duplicate key\nDETAIL:  Key (phone)=(13800000007) already exists.\n"
            "[SQL: INSERT INTO person (name, phone) VALUES ($1, $2)]\n[parameters: ('张三家的事', '13800000007')]\n"
            "(Background on this error at: https://sqlalche.me/e/20/gkpj)"
        )
    except RuntimeError:
        import sys

        record = logging.LogRecord(
            "qilijia.test", logging.ERROR, __file__, 1, "for %s", ("+8613912345678",), sys.exc_info()
        )
    record.phone = "13800000012"
    line = JsonFormatter().format(record)
    entry = json.loads(line)
    assert entry["message"] == "for 139****5678"
    assert entry["phone"] == "138****0012"
    for leaked in ("13800000007", "13912345678", "张三家的事", "13800000012"):
        assert leaked not in line, leaked
    assert "[parameters: …]" in entry["exception"] and "INSERT INTO person" in entry["exception"]


async def test_metrics_show_database_pools_and_open_websockets(demo_db_url: str) -> None:
    import asyncio

    import httpx
    import websockets

    from tests.servers import Server

    server = await asyncio.to_thread(Server(url="", database_url=demo_db_url).start)
    try:
        async with httpx.AsyncClient(base_url=server.base, timeout=10) as client:
            await client.post("/graphql", json={"query": "{ __typename }"})
            before = (await client.get("/metrics")).text
            assert sample(before, "qilijia_db_connections", pool="engine", state="idle") >= 1
            assert sample(before, "qilijia_websockets_open") == 0
            async with websockets.connect(server.ws, subprotocols=["graphql-transport-ws"]) as ws:
                await ws.send(json.dumps({"type": "connection_init"}))
                assert json.loads(await ws.recv())["type"] == "connection_ack"
                assert sample((await client.get("/metrics")).text, "qilijia_websockets_open") == 1
            for _ in range(50):
                if sample((await client.get("/metrics")).text, "qilijia_websockets_open") == 0:
                    break
                await asyncio.sleep(0.1)
            assert sample((await client.get("/metrics")).text, "qilijia_websockets_open") == 0
    finally:
        server.stop()


def test_a_settled_worker_leaves_its_start_up_to_no_collection() -> None:
    """`app.heap.settle`, in a process of its own (it changes the collector for the process's life):
    what exists is frozen, and the youngest generation is collected less often."""
    import subprocess
    import sys

    probe = (
        "import gc, app.heap\n"
        "before = gc.get_freeze_count()\n"
        "app.heap.settle()\n"
        "print(before, gc.get_freeze_count(), *gc.get_threshold())"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).parent.parent,
    )
    before, frozen, *threshold = map(int, done.stdout.split())
    assert before == 0 and frozen > 1_000
    from app import heap

    assert threshold == [heap.YOUNG, heap.MIDDLE, heap.OLD]


async def test_a_serve_worker_settles_its_heap_once_started(
    demo_db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker of `qilijia serve` settles once its start-up is done (the app built elsewhere, as
    the tests build it, does not: freezing is for a process that serves until it ends)."""
    from app import heap

    settled: list[bool] = []
    monkeypatch.setattr(heap, "settle", lambda: settled.append(True))
    monkeypatch.setattr(app_logging, "configure", lambda: None)
    async with running_api(demo_db_url):
        assert settled == []
    monkeypatch.setenv(app_logging.JSON_LOGS, "1")
    async with running_api(demo_db_url) as api:
        assert settled == [True]
        assert (await api.client.get("/healthz")).status_code == 200
