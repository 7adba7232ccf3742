"""Real server processes for end-to-end tests: `qilijia serve` on a free loopback port."""

from __future__ import annotations

import concurrent.futures
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.conftest import SECRET

QILIJIA = Path(sys.executable).parent / "qilijia"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    url: str
    database_url: str
    process: subprocess.Popen | None = None
    port: int = 0
    #: settings of this server beyond the defaults below (`REDIS_URL`, …)
    env: dict[str, str] = field(default_factory=dict)
    #: more arguments for `qilijia serve` (`--workers 2`)
    args: tuple[str, ...] = ()
    #: where the server's log lines go
    log: str = "/tmp/e2e-server.log"

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}/graphql"

    def start(self, timeout: float = 30.0) -> Server:
        self.port = self.port or free_port()
        env = {
            **os.environ,
            "DATABASE_URL": self.database_url,
            "QILIJIA_SECRET_KEY": SECRET,
            "QILIJIA_ENV": "dev",
            "QILIJIA_DATA_DIR": tempfile.mkdtemp(prefix="qilijia-e2e-"),
            "QILIJIA_JOB_INTERVAL_SECONDS": "1",
            **self.env,
        }
        self.process = subprocess.Popen(
            [str(QILIJIA), "serve", "--port", str(self.port), *self.args],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=open(self.log, "a"),
        )
        deadline = time.monotonic() + timeout
        # one client for every look: `httpx.get` makes a client, and with it an SSL context
        # (~30 ms of CPU), each time, which the starting server would be waiting for
        with httpx.Client(timeout=1.0) as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"server exited with {self.process.returncode}")
                try:
                    if client.get(f"{self.base}/readyz").status_code == 200:
                        return self
                except httpx.HTTPError:
                    pass
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("server did not become ready")

    def kill(self) -> None:
        """SIGKILL: no shutdown handlers, no flushing — as a crash or an OOM kill would."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        stop_all([self])


def start_all(servers: list[Server]) -> list[Server]:
    """Start servers side by side; should one fail, none is left running."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(servers)) as pool:
        started = [pool.submit(server.start) for server in servers]
    try:
        for future in started:
            future.result()
    except BaseException:
        stop_all(servers)
        raise
    return servers


def stop_all(servers: list[Server]) -> None:
    """Stop servers together: each is told at once, then each is waited for (they shut down side
    by side rather than one after the other)."""
    running = [s.process for s in servers if s.process is not None and s.process.poll() is None]
    for process in running:
        process.terminate()
    for process in running:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
