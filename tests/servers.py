"""Real server processes for end-to-end tests: `qilijia serve` on a free loopback port."""

from __future__ import annotations

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
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}")
            try:
                if httpx.get(f"{self.base}/readyz", timeout=1.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("server did not become ready")

    def kill(self) -> None:
        """SIGKILL: no shutdown handlers, no flushing — as a crash or an OOM kill would."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
