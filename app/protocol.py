"""uvicorn's httptools protocol with a deadline for a request's head.

uvicorn closes a keep-alive connection that stays idle between requests, and the request deadline
(`app.http`) bounds a request once its head has arrived, body included; but a client that opens a
connection and sends nothing, or sends its request line and headers a byte at a time, holds the
connection for ever. Here the request line and headers must arrive within
`QILIJIA_HEADER_TIMEOUT_SECONDS` of the connection opening or of the request's first byte;
otherwise the connection is closed.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from app.settings import get_settings

log = logging.getLogger("qilijia.http")


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """`serve`'s HTTP protocol (`uvicorn.run(http=...)`): the same, plus the head's deadline."""

    #: seconds; read from the settings at the first connection (each worker process reads its own)
    header_timeout: float | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._await_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._head_arrived()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._await_head()

    def on_headers_complete(self) -> None:
        self._head_arrived()
        super().on_headers_complete()

    def _await_head(self) -> None:
        if self._head_timer is None:
            cls = type(self)
            if cls.header_timeout is None:
                cls.header_timeout = get_settings().header_timeout_seconds
            self._head_timer = self.loop.call_later(cls.header_timeout, self._too_slow)

    def _head_arrived(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _too_slow(self) -> None:
        self._head_timer = None
        client = "{}:{}".format(*self.client) if self.client else "?"
        log.info("closed a connection whose request head did not arrive in time (%s)", client)
        self.transport.close()
