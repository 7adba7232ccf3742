"""The `qilijia` command line against a test database (API.md).

Commands run in this process (`qilijia`): the entry point `app.cli.main` itself, called with the
command's arguments, environment and working directory as the installed script would get them, its
exit status, stdout and stderr taken as a process's. Starting a Python process and importing the
app costs a second or two per command, and most tests are about what a command does. The tests
about the process itself (the installed script, its exit status seen by a shell, a notification
crossing to another process, `serve`) run the real executable (`qilijia_process`)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import os
import re
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
import yaml
from click.testing import CliRunner
from rich.console import Console

from app.migrate import current_heads, history
from app.world_file import World
from auth import apikeys, tokens
from tests.conftest import SECRET, admin, fetch, fetchval, helpers, running_api, with_database
from tests.worlds import WORLDGEN

ROOT = Path(__file__).resolve().parent.parent
QILIJIA = Path(sys.executable).parent / "qilijia"

STAGES = (
    "区",
    "街道",
    "社区",
    "网格",
    "小区",
    "楼栋",
    "住户",
    "人员",
    "党员信息",
    "房屋关系",
    "角色",
    "团队职务",
    "党员报到",
)
DATA_TABLES = (
    "community",
    "grid",
    "compound",
    "building",
    "household",
    "person",
    "party_profile",
    "home",
    "role_assignment",
    "team_position",
    "party_registration",
    "party_group",
    "api_client",
)
COMPOUNDS_QUERY = "{ compounds(first: 5) { edges { node { name } } } }"

assert len(SECRET) >= 48


#: the environment a command sees: none of the test process's own settings
CLEARED = ("QILIJIA_", "DATABASE_URL", "WECHAT_")


def command_env(tmp_path: Path, url: str) -> dict[str, str]:
    """The settings a command runs with, besides the test process's environment without
    `CLEARED`."""
    return {
        "DATABASE_URL": url,
        "QILIJIA_ENV": "dev",
        "QILIJIA_SECRET_KEY": SECRET,
        "QILIJIA_DATA_DIR": str(tmp_path),
        "COLUMNS": "200",  # keep rich from wrapping paths and table rows
    }


def qilijia_process(tmp_path: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the installed CLI as a process with a clean environment pointing at `url`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(CLEARED)}
    env.update(command_env(tmp_path, url))
    return subprocess.run(
        [str(QILIJIA), *args], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300
    )


#: one command at a time in this process: each takes over the environment, the working directory
#: and the standard streams while it runs
_COMMAND = threading.Lock()


def _run_main(tmp_path: Path, url: str, args: tuple[str, ...]) -> subprocess.CompletedProcess[str]:
    from app import cli
    from app.settings import get_settings

    env: dict[str, str | None] = {k: None for k in os.environ if k.startswith(CLEARED)}
    env.update(command_env(tmp_path, url))
    argv, consoles = sys.argv, (cli.out, cli.err)
    with _COMMAND, contextlib.chdir(tmp_path), CliRunner().isolation(env=env) as (stdout, stderr, _):
        # what a new process reads from its environment when it starts: the settings, and the
        # width of app.cli's consoles (`COLUMNS`)
        get_settings.cache_clear()
        cli.out, cli.err = Console(), Console(stderr=True)
        sys.argv = ["qilijia", *args]
        try:
            cli.main()
            code: Any = 0
        except SystemExit as stopped:
            code = stopped.code
        finally:
            sys.argv = argv
            cli.out, cli.err = consoles
            get_settings.cache_clear()
            sys.stdout.flush()
            sys.stderr.flush()
        out, err = stdout.getvalue().decode(), stderr.getvalue().decode()
    if code is None:
        code = 0
    elif not isinstance(code, int):  # `sys.exit("message")`: the message on stderr, status 1
        err, code = err + f"{code}\n", 1
    return subprocess.CompletedProcess(["qilijia", *args], code, out, err)


def qilijia(tmp_path: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the command line's entry point in this process, with the environment, working
    directory and (empty) stdin the installed CLI gets from `qilijia_process`; on a thread of its
    own, so that the command's event loop is not the caller's."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(_run_main, tmp_path, url, args).result(timeout=300)


async def aqilijia(tmp_path: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(qilijia, tmp_path, url, *args)


async def aqilijia_process(tmp_path: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(qilijia_process, tmp_path, url, *args)


def summary_rows(stdout: str) -> dict[str, tuple[int, int]]:
    """The summary table: stage → (created, updated)."""
    rows = {}
    for stage in STAGES:
        match = re.search(rf"(?m)^\s*{stage}\s*│\s*(\d+)\s*│\s*(\d+)\s*│\s*\d*\s*$", stdout)
        assert match, f"no summary row for {stage} in:\n{stdout}"
        rows[stage] = (int(match[1]), int(match[2]))
    return rows


def counts(url: str) -> dict[str, int]:
    async def run() -> dict[str, int]:
        return {t: await fetchval(url, f'SELECT count(*) FROM "{t}"') for t in DATA_TABLES}

    return asyncio.run(run())


def public_tables(url: str) -> set[str]:
    rows = asyncio.run(
        fetch(
            url,
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
        )
    )
    return {r["table_name"] for r in rows}


EMPTY = dict.fromkeys(DATA_TABLES, 0)


@pytest.fixture
def bare_url(pg_url: str) -> Iterator[str]:
    """A database with no tables at all (created plainly, not from the migrated template)."""
    name = f"qlj_cli_{uuid.uuid4().hex[:12]}"
    admin(pg_url, f"CREATE DATABASE {name}")
    url = with_database(pg_url, name)
    try:
        yield url
    finally:
        helpers().forget(url)
        admin(pg_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(scope="module")
def world_json(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("world") / "world.json"
    subprocess.run(
        [sys.executable, str(WORLDGEN), "--compounds", "2", "--seed", "7", "--out", str(out)], check=True
    )
    return out


def small_world() -> dict[str, Any]:
    """One compound whose first building has 13 households, so that `households[12]` exists."""
    return {
        "version": 1,
        "communities": [{"key": "jiulong", "name": "九龙社区", "street": "文龙街道", "district": "綦江区"}],
        "grids": [{"key": "jiulong-g3", "name": "九龙社区第三网格", "community": "jiulong"}],
        "compounds": [
            {
                "key": "qianshan-meilin",
                "name": "千山美林",
                "community": "jiulong",
                "grid": "jiulong-g3",
                "buildings": [
                    {
                        "name": "6栋",
                        "households": [
                            {
                                "number": f"6-1-{100 * (i // 2 + 1) + i % 2 + 1}",
                                "floor": i // 2 + 1,
                                "area": "89.50",
                            }
                            for i in range(13)
                        ],
                    }
                ],
            }
        ],
        "people": [
            {
                "phone": "13800000001",
                "name": "邵锐",
                "homes": [{"compound": "qianshan-meilin", "household": "6-1-101", "relation": "OWNER"}],
            }
        ],
        "positions": [
            {
                "phone": "13800000001",
                "compound": "qianshan-meilin",
                "position": "BUILDING_CONVENER",
                "building": "6栋",
            }
        ],
    }


# --------------------------------------------------------------------------------------------------
# help, migrate, schema


def test_help_lists_every_command(tmp_path: Path, db_url: str) -> None:
    result = qilijia_process(tmp_path, db_url, "--help")  # the installed script
    assert result.returncode == 0, result.stderr
    listed = set(re.findall(r"(?m)^│ (\w+)\s{2,}", result.stdout))
    assert {"serve", "migrate", "import", "token", "apikey", "schema"} <= listed, result.stdout


def test_apikey_help_lists_its_subcommands(tmp_path: Path, db_url: str) -> None:
    result = qilijia(tmp_path, db_url, "apikey", "--help")
    assert result.returncode == 0, result.stderr
    assert set(re.findall(r"(?m)^│ (\w+)\s{2,}", result.stdout)) >= {"create", "list", "revoke"}


def test_migrate_creates_the_tables_and_is_idempotent(tmp_path: Path, bare_url: str) -> None:
    assert public_tables(bare_url) == set()

    first = qilijia(tmp_path, bare_url, "migrate")

    assert first.returncode == 0, first.stderr
    revisions = history(bare_url)
    assert f"已应用 {len(revisions)} 个迁移：" in first.stdout
    for revision in revisions:  # each named, with its title
        assert f"{revision.id}  {revision.title}" in first.stdout
    tables = public_tables(bare_url)
    assert set(DATA_TABLES) | {"alembic_version"} <= tables
    version = asyncio.run(fetch(bare_url, "SELECT version_num FROM alembic_version"))
    assert {r["version_num"] for r in version} == current_heads(bare_url)

    second = qilijia(tmp_path, bare_url, "migrate")

    assert second.returncode == 0, second.stderr
    assert f"没有待应用的迁移，数据库已在版本 {revisions[-1].id}。" in second.stdout
    assert public_tables(bare_url) == tables
    again = asyncio.run(fetch(bare_url, "SELECT version_num FROM alembic_version"))
    assert [tuple(r) for r in again] == [tuple(r) for r in version]
    assert counts(bare_url) == EMPTY


def test_migrate_shows_its_status_and_moves_to_a_revision_both_ways(tmp_path: Path, demo_db_url: str) -> None:
    revisions = history(demo_db_url)
    head, previous = revisions[-1], revisions[-2]
    status = qilijia(tmp_path, demo_db_url, "migrate", "--status")
    assert status.returncode == 0, status.stderr
    assert f"数据库当前版本：{head.id}" in status.stdout and "没有待应用的迁移。" in status.stdout

    refused = qilijia(tmp_path, demo_db_url, "migrate", "--to", "-1")  # no --yes, no terminal: "no"
    assert refused.returncode == 1 and "已取消，数据库没有改动。" in refused.stderr
    assert asyncio.run(fetchval(demo_db_url, "SELECT version_num FROM alembic_version")) == head.id

    down = qilijia(tmp_path, demo_db_url, "migrate", "--to", "-1", "--yes")
    assert down.returncode == 0, down.stderr
    assert f"{head.id}  {head.title}" in down.stdout and f"数据库现在的版本：{previous.id}" in down.stdout
    behind = qilijia(tmp_path, demo_db_url, "migrate", "--status")
    assert f"数据库当前版本：{previous.id}" in behind.stdout and f"{head.id}  {head.title}" in behind.stdout

    up = qilijia(tmp_path, demo_db_url, "migrate", "--to", "head")
    assert up.returncode == 0, up.stderr
    assert "已应用 1 个迁移：" in up.stdout and f"{head.id}  {head.title}" in up.stdout
    assert counts(demo_db_url)["person"] > 0  # the world is still there

    unknown = qilijia(tmp_path, demo_db_url, "migrate", "--to", "9999")
    assert unknown.returncode == 2 and "qilijia migrate --status" in unknown.stderr


def test_schema_prints_the_repository_schema_exactly(tmp_path: Path, db_url: str) -> None:
    result = qilijia(tmp_path, db_url, "schema")
    assert result.returncode == 0, result.stderr
    assert result.stdout == (ROOT / "schema.graphql").read_text(encoding="utf-8")


# --------------------------------------------------------------------------------------------------
# import


def test_import_prints_a_summary_and_a_second_run_changes_nothing(
    tmp_path: Path, db_url: str, world_json: Path
) -> None:
    doc = json.loads(world_json.read_text(encoding="utf-8"))
    households = sum(len(b["households"]) for c in doc["compounds"] for b in c["buildings"])

    first = qilijia(tmp_path, db_url, "import", str(world_json))

    assert first.returncode == 0, first.stderr
    assert "导入结果" in first.stdout
    assert "没有任何变化" not in first.stdout
    rows = summary_rows(first.stdout)
    assert rows["小区"] == (len(doc["compounds"]), 0)
    assert rows["住户"] == (households, 0)
    assert rows["人员"] == (len(doc["people"]), 0)
    assert rows["角色"] == (len(doc["roles"]), 0)
    assert rows["团队职务"] == (len(doc["positions"]), 0)
    after_first = counts(db_url)
    assert after_first["household"] == households
    assert after_first["person"] == len(doc["people"])

    second = qilijia(tmp_path, db_url, "import", str(world_json))

    assert second.returncode == 0, second.stderr
    assert summary_rows(second.stdout) == dict.fromkeys(STAGES, (0, 0))
    assert "没有任何变化：数据库已与文件一致。" in second.stdout
    assert "重新开始生效" not in second.stderr
    assert counts(db_url) == after_first

    # a home ended since (through the API): the same file begins it again, and says what to do
    asyncio.run(
        fetch(db_url, "UPDATE home SET ends_on = starts_on WHERE id = (SELECT min(id::text)::uuid FROM home)")
    )
    third = qilijia(tmp_path, db_url, "import", str(world_json))
    assert third.returncode == 0, third.stderr
    assert "房屋关系 1 条此前已经结束" in third.stderr and "ends_on" in third.stderr


def test_import_of_a_bad_yaml_exits_1_names_the_path_and_writes_nothing(tmp_path: Path, db_url: str) -> None:
    doc = small_world()
    doc["compounds"][0]["buildings"][0]["households"][12]["area"] = "89.505"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")

    result = qilijia(tmp_path, db_url, "import", str(bad))

    assert result.returncode == 1
    assert result.stdout == ""
    assert f"无法导入 {bad}，没有写入任何数据：" in result.stderr
    assert "  compounds[0].buildings[0].households[12].area: 面积最多保留两位小数\n" in result.stderr
    assert counts(db_url) == EMPTY


def test_import_error_found_mid_import_writes_nothing_and_is_printed_verbatim(
    tmp_path: Path, db_url: str
) -> None:
    """A reference error surfaces after the places were upserted: the transaction rolls back. Text
    from the file (here with square brackets) is printed as it is, not read as terminal markup."""
    doc = small_world()
    doc["positions"][0]["building"] = "[b]栋"
    bad = tmp_path / "world[draft].yaml"
    bad.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")

    result = qilijia(tmp_path, db_url, "import", str(bad))

    assert result.returncode == 1
    assert f"无法导入 {bad}，没有写入任何数据：" in result.stderr
    assert "  positions[0].building: 小区 qianshan-meilin 没有 [b]栋\n" in result.stderr
    assert counts(db_url) == EMPTY


def test_import_of_a_file_that_does_not_exist_exits_1(tmp_path: Path, db_url: str) -> None:
    missing = tmp_path / "missing.yaml"
    result = qilijia_process(tmp_path, db_url, "import", str(missing))  # the status a shell sees
    assert result.returncode == 1
    assert f"  {missing}: 文件不存在\n" in result.stderr


def test_import_demo_loads_four_compounds(tmp_path: Path, db_url: str, demo_world: World) -> None:
    result = qilijia(tmp_path, db_url, "import", "--demo")

    assert result.returncode == 0, result.stderr
    assert summary_rows(result.stdout)["小区"] == (4, 0)
    assert summary_rows(result.stdout)["住户"] == (demo_world.household_count, 0)
    names = asyncio.run(fetch(db_url, "SELECT name FROM compound ORDER BY name"))
    assert [r["name"] for r in names] == sorted(c.name for c in demo_world.compounds)
    assert len(names) == 4


@pytest.mark.parametrize("args", [(), ("--demo", "world.yaml")], ids=["neither", "both"])
def test_import_wants_exactly_one_of_path_and_demo(
    tmp_path: Path, db_url: str, args: tuple[str, ...]
) -> None:
    (tmp_path / "world.yaml").write_text("version: 1\n", encoding="utf-8")
    result = qilijia(tmp_path, db_url, "import", *args)
    assert result.returncode == 2
    assert "请给出一个文件路径，或者使用 --demo（二选一）。" in result.stderr
    assert result.stdout == ""
    assert counts(db_url) == EMPTY


# --------------------------------------------------------------------------------------------------
# token


def test_token_names_the_person_with_that_phone(tmp_path: Path, demo_db_url: str) -> None:
    result = qilijia(tmp_path, demo_db_url, "token", "13800000007")

    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    assert result.stdout == token + "\n"
    assert re.fullmatch(r"[\w-]+\.[\w-]+\.[\w-]+", token)
    person_id = tokens.verify(token, secret=SECRET)
    row = asyncio.run(fetch(demo_db_url, "SELECT id, name FROM person WHERE phone = '13800000007'"))
    assert [(r["id"], r["name"]) for r in row] == [(person_id, "张德明")]


def test_token_ttl_option_sets_the_lifetime(tmp_path: Path, demo_db_url: str) -> None:
    result = qilijia(tmp_path, demo_db_url, "token", "13800000007", "--ttl", "120")
    assert result.returncode == 0, result.stderr
    claims = jwt.decode(result.stdout.strip(), SECRET, algorithms=["HS256"], issuer="qilijia")
    assert 119 < claims["exp"] - claims["iat"] <= 120  # iat carries the fraction of its second


def test_token_for_an_unknown_phone_exits_1(tmp_path: Path, demo_db_url: str) -> None:
    result = qilijia_process(tmp_path, demo_db_url, "token", "13999999999")  # the status a shell sees
    assert result.returncode == 1
    assert result.stdout == ""
    assert "没有手机号为 13999999999 的人员。" in result.stderr


# --------------------------------------------------------------------------------------------------
# apikey


async def test_apikey_lifecycle(tmp_path: Path, demo_db_url: str, demo_world: World) -> None:
    name = "区大数据中心"
    created = await aqilijia(tmp_path, demo_db_url, "apikey", "create", name)

    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    assert created.stdout == key + "\n"
    match = re.fullmatch(r"qlj_([0-9a-f]{12})_([\w-]{43})", key)
    assert match, key
    prefix, secret_part = match[1], match[2]
    assert "唯一一次显示" in created.stderr

    # only a hash is stored: neither the key nor its secret part is in any column
    rows = [dict(r) for r in await fetch(demo_db_url, "SELECT * FROM api_client")]
    assert len(rows) == 1
    row = rows[0]
    assert (row["name"], row["key_prefix"], row["revoked_at"]) == (name, prefix, None)
    assert row["key_hash"].startswith("$argon2id$")
    assert apikeys.matches(key, row["key_hash"])
    assert not [column for column, value in row.items() if key in str(value) or secret_part in str(value)]

    again = await aqilijia(tmp_path, demo_db_url, "apikey", "create", name)
    assert again.returncode == 1
    assert again.stdout == ""
    assert f"已有名为 {name} 的客户端" in again.stderr
    assert [dict(r) for r in await fetch(demo_db_url, "SELECT * FROM api_client")] == rows

    listed = await aqilijia(tmp_path, demo_db_url, "apikey", "list")
    assert listed.returncode == 0, listed.stderr
    line = next(line for line in listed.stdout.splitlines() if name in line)
    assert "有效" in line
    assert key not in listed.stdout + listed.stderr
    assert secret_part not in listed.stdout + listed.stderr

    async with running_api(demo_db_url) as api:
        response = await api.post(COMPOUNDS_QUERY, api_key=key)
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    names = [edge["node"]["name"] for edge in body["data"]["compounds"]["edges"]]
    assert sorted(names) == sorted(c.name for c in demo_world.compounds)
    assert len(names) == 4

    revoked = await aqilijia(tmp_path, demo_db_url, "apikey", "revoke", name)
    assert revoked.returncode == 0, revoked.stderr
    assert f"已吊销 {name}。" in revoked.stdout
    assert await fetchval(demo_db_url, "SELECT revoked_at IS NOT NULL FROM api_client WHERE name = $1", name)

    listed = await aqilijia(tmp_path, demo_db_url, "apikey", "list")
    line = next(line for line in listed.stdout.splitlines() if name in line)
    assert "已吊销" in line

    # a server process that has not verified the key recently refuses it at once
    async with running_api(demo_db_url) as api:
        response = await api.post(COMPOUNDS_QUERY, api_key=key)
    assert response.status_code == 200
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert "data" not in response.json() or response.json()["data"] is None

    twice = await aqilijia(tmp_path, demo_db_url, "apikey", "revoke", name)
    assert twice.returncode == 1
    assert f"没有名为 {name} 的有效客户端。" in twice.stderr


def test_apikey_names_are_printed_verbatim(tmp_path: Path, db_url: str) -> None:
    name = "[ops]平台"
    assert qilijia(tmp_path, db_url, "apikey", "create", name).returncode == 0
    listed = qilijia(tmp_path, db_url, "apikey", "list")
    assert any(line.split("┃")[0].split("│")[0].strip() == name for line in listed.stdout.splitlines())
    revoked = qilijia(tmp_path, db_url, "apikey", "revoke", name)
    assert f"已吊销 {name}。" in revoked.stdout
    assert asyncio.run(fetchval(db_url, "SELECT name FROM api_client")) == name


def test_serve_on_a_network_address_wants_an_explicit_environment(tmp_path: Path, demo_db_url: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QILIJIA_", "DATABASE_URL", "WECHAT_"))}
    env.update(DATABASE_URL=demo_db_url, QILIJIA_DATA_DIR=str(tmp_path), COLUMNS="200")
    result = subprocess.run(
        [str(QILIJIA), "serve", "--host", "0.0.0.0", "--port", "1"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "QILIJIA_ENV" in result.stderr and "0.0.0.0" in result.stderr


async def test_a_revoked_key_stops_working_at_once_where_it_was_verified(
    tmp_path: Path, demo_db_url: str
) -> None:
    created = await aqilijia(tmp_path, demo_db_url, "apikey", "create", "区网格化中心")
    key = created.stdout.strip()
    async with running_api(demo_db_url) as api:
        for _ in range(2):  # verified, then remembered
            assert "errors" not in (await api.post(COMPOUNDS_QUERY, api_key=key)).json()
        revoked = await aqilijia_process(tmp_path, demo_db_url, "apikey", "revoke", "区网格化中心")
        assert revoked.returncode == 0, revoked.stderr
        for _ in range(50):  # the notification crosses from the command to this process
            body = (await api.post(COMPOUNDS_QUERY, api_key=key)).json()
            if "errors" in body:
                break
            await asyncio.sleep(0.1)
        assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    audit = [
        json.loads(r["payload"])["action"]
        for r in await fetch(demo_db_url, "SELECT payload FROM audit_record")
    ]
    assert {"CREATE_API_KEY", "REVOKE_API_KEY"} <= set(audit)
