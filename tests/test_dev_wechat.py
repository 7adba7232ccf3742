"""`qilijia dev wechat`: an integrator logs in as the mini-program would, against a real
`qilijia serve`, with the loopback stand-in for WeChat the tests use. Development only."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.servers import QILIJIA, Server, free_port

LOGIN = "mutation($c: String!) { wechatLogin(code: $c) { token me { person { name phone } } } }"
BIND = "mutation($c: String!) { bindPhone(code: $c) { token me { person { name phone } } } }"


@pytest.fixture
def fake_wechat(tmp_path: Path) -> Iterator[tuple[str, dict[str, str], Path]]:
    """The running command: its base URL, the settings it printed for `serve`, its output file."""
    port = free_port()
    out = tmp_path / "wechat.out"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QILIJIA_", "WECHAT_"))}
    process = subprocess.Popen(
        [str(QILIJIA), "dev", "wechat", "--port", str(port)],
        env={**env, "COLUMNS": "300"},
        stdout=out.open("w"),
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while "按 Ctrl-C 停止" not in out.read_text():
            assert process.poll() is None and time.monotonic() < deadline, out.read_text()
            time.sleep(0.1)
        export = next(line for line in out.read_text().splitlines() if "export WECHAT_API_BASE=" in line)
        settings = dict(pair.split("=", 1) for pair in export.split("export", 1)[1].split())
        yield f"http://127.0.0.1:{port}", settings, out
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_an_integrator_logs_in_and_binds_a_phone_through_the_stand_in(
    fake_wechat: tuple[str, dict[str, str], Path], demo_db_url: str
) -> None:
    base, settings, out = fake_wechat
    assert settings["WECHAT_API_BASE"] == base and settings["WECHAT_APPID"] and settings["WECHAT_SECRET"]
    server = Server(url="", database_url=demo_db_url, env=settings).start()
    try:
        graphql = f"{server.base}/graphql"
        first = httpx.post(graphql, json={"query": LOGIN, "variables": {"c": "login-alice"}}).json()
        assert "errors" not in first, first
        assert first["data"]["wechatLogin"]["me"]["person"]["phone"] is None  # nobody known yet
        again = httpx.post(graphql, json={"query": LOGIN, "variables": {"c": "login-alice"}}).json()
        token = again["data"]["wechatLogin"]["token"]  # the same openid: the same person
        bound = httpx.post(
            graphql,
            json={"query": BIND, "variables": {"c": "phone-13800000007"}},
            headers={"Authorization": f"Bearer {token}"},
        ).json()
        assert "errors" not in bound, bound
        person = bound["data"]["bindPhone"]["me"]["person"]
        assert person["phone"] == "13800000007" and "*" not in person["name"]  # the demo resident
        # the next login with the same code is that resident at once
        later = httpx.post(graphql, json={"query": LOGIN, "variables": {"c": "login-alice"}}).json()
        assert later["data"]["wechatLogin"]["me"]["person"]["phone"] == "13800000007"
    finally:
        server.stop()
    printed = out.read_text()
    assert "/sns/jscode2session" in printed and "/wxa/business/getuserphonenumber" in printed
    assert settings["WECHAT_SECRET"] not in printed.split("export", 1)[1].split("\n", 1)[1]  # never echoed


def test_the_stand_in_is_for_development_only(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QILIJIA_", "WECHAT_"))}
    result = subprocess.run(
        [str(QILIJIA), "dev", "wechat", "--port", str(free_port())],
        env={**env, "QILIJIA_ENV": "prod"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2 and "只用于开发" in result.stderr


async def test_the_stand_in_takes_subscription_messages_as_wechat_does() -> None:
    from app.dev_wechat import STABLE_TOKEN, SUBSCRIBE_SEND, FakeWeChat, run_fake_wechat

    fake = FakeWeChat(forgiving=True)
    async with run_fake_wechat(fake) as base, httpx.AsyncClient(base_url=base) as client:
        token = (
            await client.post(
                STABLE_TOKEN,
                json={"grant_type": "client_credential", "appid": fake.appid, "secret": fake.secret},
            )
        ).json()["access_token"]
        message = {"touser": "dev-alice", "template_id": "tpl-1", "data": {"thing1": {"value": "井盖已修好"}}}
        sent = await client.post(SUBSCRIBE_SEND, params={"access_token": token}, json=message)
        assert sent.json()["errcode"] == 0 and fake.messages == [message]
        stale = await client.post(SUBSCRIBE_SEND, params={"access_token": "old"}, json=message)
        assert stale.json()["errcode"] == 40001
        malformed = await client.post(SUBSCRIBE_SEND, params={"access_token": token}, json={"touser": "x"})
        assert malformed.json()["errcode"] == 47001 and len(fake.messages) == 1
