"""Production refuses to guess: `serve` (and every command that would reach a database) stops,
saying what to set, rather than start an embedded database whose data dies with the container, sign
with a weak secret, or talk to a development stand-in."""

from __future__ import annotations

import os
import secrets
import subprocess
from pathlib import Path

import pytest

from app.settings import Settings
from tests.servers import QILIJIA

STRONG = secrets.token_urlsafe(48)


def run(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("QILIJIA_", "DATABASE_URL", "WECHAT_"))}
    clean.update(QILIJIA_DATA_DIR=str(tmp_path / "data"), COLUMNS="200", **env)
    return subprocess.run(
        [str(QILIJIA), *args], env=clean, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize("command", [("serve",), ("migrate",), ("migrate", "--status"), ("import", "--demo")])
def test_prod_without_a_database_url_refuses_and_starts_no_embedded_database(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    result = run(tmp_path, *command, QILIJIA_ENV="prod", QILIJIA_SECRET_KEY=STRONG)
    assert result.returncode == 2, result
    assert "DATABASE_URL" in result.stderr and "内嵌数据库只用于开发和测试" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "data" / "pg").exists()  # no embedded PostgreSQL was started


def test_prod_lists_every_problem_at_once(tmp_path: Path) -> None:
    result = run(tmp_path, "serve", QILIJIA_ENV="prod", WECHAT_API_BASE="http://127.0.0.1:9999")
    assert result.returncode == 2
    for setting in ("DATABASE_URL", "QILIJIA_SECRET_KEY", "WECHAT_API_BASE"):
        assert setting in result.stderr, setting
    assert not (tmp_path / "data").exists()


def test_prod_refuses_the_demo_world(tmp_path: Path, db_url: str) -> None:
    result = run(
        tmp_path, "serve", "--demo", QILIJIA_ENV="prod", QILIJIA_SECRET_KEY=STRONG, DATABASE_URL=db_url
    )
    assert result.returncode == 2 and "--demo 只用于开发" in result.stderr


def test_the_rules_as_a_table() -> None:
    good = {"QILIJIA_ENV": "prod", "QILIJIA_SECRET_KEY": STRONG, "DATABASE_URL": "postgresql://db/q"}
    assert Settings(_env_file=None, **good).production_problems() == []
    assert Settings(_env_file=None, QILIJIA_ENV="dev").production_problems() == []  # dev guesses
    for missing, named in (("DATABASE_URL", "DATABASE_URL"), ("QILIJIA_SECRET_KEY", "QILIJIA_SECRET_KEY")):
        settings = Settings(_env_file=None, **{k: v for k, v in good.items() if k != missing})
        assert [named in p for p in settings.production_problems()] == [True], missing
    fake = Settings(_env_file=None, **good, WECHAT_API_BASE="http://127.0.0.1:8001")
    assert ["WECHAT_API_BASE" in p for p in fake.production_problems()] == [True]
    # with WeChat, the address WeChat's image check fetches photos from is the server's own
    wechat = {**good, "WECHAT_APPID": "wx0123456789abcdef", "WECHAT_SECRET": "s" * 32}
    assert ["QILIJIA_PUBLIC_URL" in p for p in Settings(_env_file=None, **wechat).production_problems()] == [
        True
    ]
    addressed = Settings(_env_file=None, **wechat, QILIJIA_PUBLIC_URL="https://api.example.cn")
    assert addressed.production_problems() == []
