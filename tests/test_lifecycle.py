"""`qilijia serve` on the embedded database, as a newcomer runs it: the embedded PostgreSQL stops
with it however it ends (Ctrl-C, SIGTERM, killed outright), a second `serve` on the same data
directory says that one is running, and a normal run prints no warnings."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import psutil

from tests.conftest import SECRET
from tests.servers import QILIJIA, free_port


def postgres_on(pgdata: Path) -> list[psutil.Process]:
    """The postmaster serving `pgdata` (its command line names the directory)."""
    found = []
    for process in psutil.process_iter(["name", "cmdline"]):
        cmdline = process.info["cmdline"] or []
        if process.info["name"] == "postgres" and "-D" in cmdline and str(pgdata) in cmdline:
            found.append(process)
    return found


def eventually(check: object, seconds: float = 15.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


class Serving:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.env = {
            k: v for k, v in os.environ.items() if not k.startswith(("QILIJIA_", "DATABASE_URL", "WECHAT_"))
        }
        self.env.update(QILIJIA_DATA_DIR=str(data_dir), QILIJIA_SECRET_KEY=SECRET, COLUMNS="200")
        self.env.pop("XDG_RUNTIME_DIR", None)  # as in a container or CI

    def start(self) -> tuple[subprocess.Popen[str], Path]:
        """A running `serve`, and the file its standard error goes to."""
        port = free_port()
        log = self.data_dir.parent / f"serve-{port}.log"
        process = subprocess.Popen(
            [str(QILIJIA), "serve", "--port", str(port)],
            env=self.env,
            cwd=self.data_dir.parent,
            stdout=subprocess.DEVNULL,
            stderr=log.open("w"),
            text=True,
        )

        def ready() -> bool:
            assert process.poll() is None, log.read_text()
            try:
                return client.get(f"http://127.0.0.1:{port}/readyz").status_code == 200
            except httpx.HTTPError:
                return False

        # one client for every look: `httpx.get` makes a client, and an SSL context (~30 ms of
        # CPU), each time, which the starting `serve` would be waiting for
        with httpx.Client(timeout=1) as client:
            assert eventually(ready, 90), "serve did not become ready"
        return process, log


def test_the_embedded_database_stops_with_serve_however_it_ends(tmp_path: Path) -> None:
    serving = Serving(tmp_path / "data")
    pgdata = (tmp_path / "data" / "pg").resolve()

    first, first_log = serving.start()
    assert len(postgres_on(pgdata)) == 1
    second = subprocess.run(
        [str(QILIJIA), "serve", "--port", str(free_port())],
        env=serving.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert second.returncode == 2
    assert f"进程 {first.pid}" in second.stderr and "已有一个 qilijia serve" in second.stderr
    assert "QILIJIA_DATA_DIR" in second.stderr

    first.send_signal(signal.SIGTERM)  # as systemd, docker stop or kill do
    first.wait(timeout=30)
    assert eventually(lambda: not postgres_on(pgdata)), "SIGTERM left the embedded PostgreSQL running"
    lines = first_log.read_text().splitlines()
    warnings = [line for line in lines if "Warning" in line or "XDG_RUNTIME_DIR" in line]
    assert warnings == [], warnings

    crashed, _ = serving.start()  # the same data, served again
    crashed.kill()  # killed outright: no handler runs in it
    crashed.wait(timeout=10)
    assert eventually(lambda: not postgres_on(pgdata)), "a killed serve left the embedded PostgreSQL running"
    third, _ = serving.start()  # and the data directory is free for the next one
    third.send_signal(signal.SIGINT)  # Ctrl-C
    third.wait(timeout=30)
    assert eventually(lambda: not postgres_on(pgdata)), "Ctrl-C left the embedded PostgreSQL running"
