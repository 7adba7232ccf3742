"""Slow and idle clients cannot hold connections (`app.protocol`, the request deadline): a real
`qilijia serve`, driven byte by byte over raw sockets as a slowloris attack would."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator

import pytest

from tests.conftest import _clone
from tests.servers import Server

HEADER_TIMEOUT = 1.0
DEADLINE = 2.0


@pytest.fixture(scope="module")
def server(pg_url: str, demo_template_db: str) -> Iterator[Server]:
    clone = _clone(pg_url, demo_template_db)
    running = Server(
        url="",
        database_url=next(clone),
        env={
            "QILIJIA_HEADER_TIMEOUT_SECONDS": str(HEADER_TIMEOUT),
            "QILIJIA_REQUEST_DEADLINE_SECONDS": str(DEADLINE),
        },
    ).start()
    try:
        yield running
    finally:
        running.stop()
        next(clone, None)


def connect(server: Server) -> socket.socket:
    conn = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    conn.settimeout(10)
    return conn


def closed_after(conn: socket.socket, started: float) -> float:
    """Seconds from `started` until the server closed the connection (it sends nothing first)."""
    assert conn.recv(4096) == b""
    return time.monotonic() - started


def request(body: bytes) -> bytes:
    return (
        b"POST /graphql HTTP/1.1\r\nHost: qilijia\r\nContent-Type: application/json\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )


def response(conn: socket.socket, data: bytes = b"") -> tuple[int, dict]:
    """The status and JSON body of the next response (`data`: what of it was read already)."""
    while b"\r\n\r\n" not in data:
        data += conn.recv(4096)
    head, _, rest = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")
    )
    while len(rest) < length:
        rest += conn.recv(4096)
    return int(head.split(b" ")[1]), json.loads(rest[:length])


def test_a_connection_that_sends_nothing_is_closed(server: Server) -> None:
    with connect(server) as conn:
        assert HEADER_TIMEOUT * 0.8 < closed_after(conn, time.monotonic()) < HEADER_TIMEOUT + 2


def test_headers_trickled_a_byte_at_a_time_are_cut_off(server: Server) -> None:
    with connect(server) as conn:
        started = time.monotonic()
        conn.sendall(b"POST /graphql HTTP/1.1\r\nHost: qilijia\r\n")
        with pytest.raises((BrokenPipeError, ConnectionResetError)):
            for _ in range(40):  # 8 s of one byte every 0.2 s, were it allowed
                conn.sendall(b"X")
                time.sleep(0.2)
        assert time.monotonic() - started < HEADER_TIMEOUT + 2


def test_a_body_trickled_a_byte_at_a_time_meets_the_deadline(server: Server) -> None:
    body = b'{"query": "{ __typename }"}'
    head = request(body)[: -len(body)]
    with connect(server) as conn:
        started = time.monotonic()
        conn.sendall(head)
        conn.settimeout(0.01)
        answer = b""
        for byte in body[:-1]:  # never completes: the last byte is held back
            conn.sendall(bytes([byte]))
            try:
                answer += conn.recv(4096)
            except TimeoutError:
                pass
            if answer:
                break
            time.sleep(0.2)
        conn.settimeout(10)
        status, answered = response(conn, answer)
        assert (status, answered["errors"][0]["extensions"]["code"]) == (503, "UNAVAILABLE")
        assert DEADLINE * 0.8 < time.monotonic() - started < DEADLINE + 2


def test_a_keep_alive_connection_idles_between_requests_and_serves_the_next(server: Server) -> None:
    """The head's deadline runs from a request's first byte, not across the idle time before it."""
    body = b'{"query": "{ __typename }"}'
    with connect(server) as conn:
        conn.sendall(request(body))
        status, answered = response(conn)
        assert (status, answered["data"]) == (200, {"__typename": "Query"})
        time.sleep(HEADER_TIMEOUT * 2)  # longer than the head's deadline, shorter than keep-alive (5 s)
        conn.sendall(request(body))
        status, answered = response(conn)
        assert (status, answered["data"]) == (200, {"__typename": "Query"})
