"""The embedded PostgreSQL of development and the tests (`pgserver`), whose data lives in
`QILIJIA_DATA_DIR/pg`: started by the first process that needs it, shared by those that follow, and
stopped when the last of them ends — also when it is killed outright.

pgserver keeps a list of the processes using a server and stops it when the last one exits
normally; a process killed outright never leaves that list, and the server would then run for ever,
holding the data directory. So each process forgets the dead ones before joining, and leaves a
small watcher (`python -m app.embedded PID PGDATA`, in a session of its own) that waits for it to
end and stops the server if no live process is left on it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

#: pgserver's list of the processes using a server, in its data directory
HANDLES = ".handle_pids.json"


def _pgserver() -> Any:
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI) and then uses
        # /tmp/runtime-UID, which is what pgserver's lock needs: nothing for a user to do
        warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
        import pgserver

        return pgserver


def start(data_dir: Path) -> Any:
    """The server for `data_dir/pg`, started if it is not running; watched for this process."""
    pgserver = _pgserver()
    pgdata = (data_dir / "pg").resolve()
    pgdata.mkdir(parents=True, exist_ok=True)
    forget_dead(pgdata)
    server = pgserver.get_server(pgdata, cleanup_mode="stop")
    subprocess.Popen(
        [sys.executable, "-m", "app.embedded", str(os.getpid()), str(pgdata)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # a Ctrl-C to this process's group does not reach it
        close_fds=True,
    )
    return server


class AlreadyServing(RuntimeError):
    def __init__(self, data_dir: Path, pid: str) -> None:
        super().__init__(
            f"已有一个 qilijia serve（进程 {pid or '未知'}）在使用数据目录 {data_dir}。"
            "请先停止它（在它的终端按 Ctrl-C），或用 QILIJIA_DATA_DIR 指定另一个目录。"
        )


_claimed: list[Any] = []


def claim_for_serving(data_dir: Path) -> None:
    """Make this process the one `serve` of `data_dir` (AlreadyServing when another one is): an
    exclusive lock on `data_dir/serve.lock`, which the system releases when the process ends, in
    whatever way it ends."""
    import fcntl

    data_dir.mkdir(parents=True, exist_ok=True)
    handle = open(data_dir / "serve.lock", "a+", encoding="utf-8")  # held while the process lives
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip()
        handle.close()
        raise AlreadyServing(data_dir.resolve(), holder) from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    _claimed.append(handle)


def alive(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def forget_dead(pgdata: Path) -> list[int]:
    """Drop the processes that ended from the server's list; the live ones left."""
    with _pgserver().postgres_server.PostgresServer._lock:
        return _forget(pgdata, None)


def _forget(pgdata: Path, also: int | None) -> list[int]:
    """`forget_dead` (and `also`), under pgserver's lock, which the caller holds."""
    from pgserver.utils import DiskList

    if not (pgdata / HANDLES).exists():  # never started (initdb wants the directory empty)
        return []
    handles = DiskList(pgdata / HANDLES)
    living = [pid for pid in handles.get() if pid != also and alive(pid)]
    handles.put(living)
    return living


def stop_if_unused(pgdata: Path, ended: int) -> bool:
    """After `ended` ended: stop the server when no live process uses it. Whether it stopped."""
    pgserver = _pgserver()
    from pgserver._commands import pg_ctl

    with pgserver.postgres_server.PostgresServer._lock:
        if _forget(pgdata, ended) or not (pgdata / "postmaster.pid").exists():
            return False
        user = "pgserver" if os.geteuid() == 0 else None  # as pgserver runs it under root
        try:
            pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=user)
        except subprocess.CalledProcessError:
            return False  # it stopped meanwhile
        return True


def watch(parent: int, pgdata: Path, interval: float = 0.5) -> None:
    while alive(parent):
        time.sleep(interval)
    stop_if_unused(pgdata, parent)


if __name__ == "__main__":
    watch(int(sys.argv[1]), Path(sys.argv[2]))
