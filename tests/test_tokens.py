"""Access tokens over HTTP (every bad credential is refused as UNAUTHENTICATED, with the status the
client's media type asks for), `auth.tokens` itself, and the secret key."""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import subprocess
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from app.settings import MIN_SECRET_LENGTH, Settings, SettingsError
from auth import tokens
from models.errors import UnauthenticatedError
from tests.conftest import SECRET, Api, person_id, token_for, unpriced

CJK = re.compile(r"[\u4e00-\u9fff]")
RESIDENT = "13800000007"
ME = "{ me { person { phone } } }"
REPO = Path(__file__).resolve().parents[1]


def assert_unauthenticated(response: httpx.Response) -> dict[str, Any]:
    """Refused as a client of `application/json` is told (the tests' default): 200, the error in
    the body (`test_auth_failures_follow_the_media_type_the_client_accepts` has the 401)."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["data"] is None
    assert len(body["errors"]) == 1
    error = body["errors"][0]
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    assert CJK.search(error["message"]), error
    return error


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def unb64(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def encode(claims: dict[str, Any], secret: str = SECRET, algorithm: str = "HS256") -> str:
    return jwt.encode(claims, secret, algorithm=algorithm)


def claims_for(pid: uuid.UUID, **overrides: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    claims: dict[str, Any] = {
        "sub": str(pid),
        "iss": "qilijia",
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(hours=1)).timestamp()),
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


# --- over HTTP ----------------------------------------------------------------------------------


async def test_valid_token_works(api: Api, demo_db_url: str) -> None:
    token = await token_for(demo_db_url, RESIDENT)
    assert await api.data(ME, token=token) == {"me": {"person": {"phone": RESIDENT}}}
    # the scheme name is case-insensitive
    response = await api.client.post(
        "/graphql", json={"query": ME}, headers={"Authorization": f"bearer {token}"}
    )
    assert response.status_code == 200
    assert unpriced(response.json()) == {"data": {"me": {"person": {"phone": RESIDENT}}}}


async def test_expired_token_is_401(api: Api, demo_db_url: str) -> None:
    pid = await person_id(demo_db_url, RESIDENT)
    negative_ttl, _ = tokens.mint(pid, secret=SECRET, ttl_seconds=-60)
    past, expires = tokens.mint(
        pid, secret=SECRET, ttl_seconds=3600, now=datetime.now(UTC) - timedelta(hours=2)
    )
    assert expires < datetime.now(UTC)
    for token in (negative_ttl, past):
        error = assert_unauthenticated(await api.post(ME, token=token))
        assert "过期" in error["message"]


async def test_tampered_token_is_401(api: Api, demo_db_url: str) -> None:
    token = await token_for(demo_db_url, RESIDENT)
    header, payload, signature = token.split(".")
    # one character of the payload flipped
    i = len(payload) // 2
    flipped = payload[:i] + ("A" if payload[i] != "A" else "B") + payload[i + 1 :]
    assert flipped != payload
    assert_unauthenticated(await api.post(ME, token=f"{header}.{flipped}.{signature}"))

    # the payload rewritten to name the administrator, the signature kept
    claims = json.loads(unb64(payload))
    claims["sub"] = str(await person_id(demo_db_url, "13800000000"))
    forged = b64(json.dumps(claims).encode())
    assert_unauthenticated(await api.post(ME, token=f"{header}.{forged}.{signature}"))

    # the signature altered
    bad_signature = signature[:-4] + ("AAAA" if signature[-4:] != "AAAA" else "BBBB")
    assert_unauthenticated(await api.post(ME, token=f"{header}.{payload}.{bad_signature}"))


async def test_token_signed_with_another_secret_is_401(api: Api, demo_db_url: str) -> None:
    pid = await person_id(demo_db_url, RESIDENT)
    other, _ = tokens.mint(pid, secret="another-secret-that-is-also-long-enough-0123456789", ttl_seconds=3600)
    assert_unauthenticated(await api.post(ME, token=other))


async def test_unsigned_token_is_401(api: Api, demo_db_url: str) -> None:
    pid = await person_id(demo_db_url, RESIDENT)
    header = b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    payload = b64(json.dumps(claims_for(pid)).encode())
    assert_unauthenticated(await api.post(ME, token=f"{header}.{payload}."))


async def test_token_for_unknown_person_is_401(api: Api) -> None:
    token, _ = tokens.mint(uuid.uuid4(), secret=SECRET, ttl_seconds=3600)
    assert_unauthenticated(await api.post(ME, token=token))


async def test_malformed_authorization_header_is_401(api: Api, demo_db_url: str) -> None:
    token = await token_for(demo_db_url, RESIDENT)
    for header in ("Basic x", "Bearer ", "Bearer", "Token " + token, "Basic " + token, "Bearer not-a-jwt"):
        response = await api.client.post("/graphql", json={"query": ME}, headers={"Authorization": header})
        assert_unauthenticated(response)


async def test_bad_credentials_are_refused_even_for_public_operations(api: Api) -> None:
    """A bad token is not downgraded to anonymous: `__typename` with it is a 401 too."""
    response = await api.client.post(
        "/graphql", json={"query": "{ __typename }"}, headers={"Authorization": "Bearer garbage"}
    )
    assert_unauthenticated(response)


async def test_unknown_api_key_is_401(api: Api) -> None:
    for key in ("qlj_abcdef123456_nope", "not-a-key"):
        response = await api.client.post(
            "/graphql", json={"query": "{ __typename }"}, headers={"X-API-Key": key}
        )
        assert_unauthenticated(response)


# --- auth.tokens --------------------------------------------------------------------------------


def test_round_trip() -> None:
    pid = uuid.uuid4()
    now = datetime.now(UTC)
    token, expires = tokens.mint(pid, secret=SECRET, ttl_seconds=600, now=now)
    assert expires == now + timedelta(seconds=600)
    assert tokens.verify(token, secret=SECRET) == pid
    claims = jwt.decode(token, SECRET, algorithms=["HS256"], issuer="qilijia")
    assert claims["sub"] == str(pid)
    assert 599 < claims["exp"] - claims["iat"] <= 600  # iat carries the fraction of its second
    assert set(claims) == {"sub", "iss", "iat", "exp", "jti"}


def test_each_token_is_unique() -> None:
    pid = uuid.uuid4()
    now = datetime.now(UTC)
    first, _ = tokens.mint(pid, secret=SECRET, ttl_seconds=600, now=now)
    second, _ = tokens.mint(pid, secret=SECRET, ttl_seconds=600, now=now)
    assert first != second


def test_expired_token_refused() -> None:
    pid = uuid.uuid4()
    token, _ = tokens.mint(pid, secret=SECRET, ttl_seconds=-1)
    with pytest.raises(UnauthenticatedError) as raised:
        tokens.verify(token, secret=SECRET)
    assert raised.value.code == "UNAUTHENTICATED"
    assert "过期" in raised.value.message

    old, _ = tokens.mint(pid, secret=SECRET, ttl_seconds=60, now=datetime.now(UTC) - timedelta(days=1))
    with pytest.raises(UnauthenticatedError):
        tokens.verify(old, secret=SECRET)


def test_wrong_secret_refused() -> None:
    token, _ = tokens.mint(uuid.uuid4(), secret=SECRET, ttl_seconds=600)
    with pytest.raises(UnauthenticatedError) as raised:
        tokens.verify(token, secret=SECRET + "x")
    assert CJK.search(raised.value.message)


@pytest.mark.parametrize("missing", ["exp", "sub", "iss"])
def test_missing_claim_refused(missing: str) -> None:
    token = encode(claims_for(uuid.uuid4(), **{missing: None}))
    with pytest.raises(UnauthenticatedError):
        tokens.verify(token, secret=SECRET)


@pytest.mark.parametrize(
    ("overrides", "algorithm"),
    [
        ({"iss": "someone-else"}, "HS256"),
        ({"sub": "not-a-uuid"}, "HS256"),
        ({"sub": 12345}, "HS256"),
        ({}, "HS512"),
    ],
    ids=["wrong-issuer", "sub-not-uuid", "sub-not-string", "other-algorithm"],
)
# HS512 would like a longer key; the point is only that the right key under another algorithm fails
@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
def test_bad_claims_refused(overrides: dict[str, Any], algorithm: str) -> None:
    token = encode(claims_for(uuid.uuid4(), **overrides), algorithm=algorithm)
    with pytest.raises(UnauthenticatedError):
        tokens.verify(token, secret=SECRET)


@pytest.mark.parametrize("garbage", ["", "abc", "a.b.c", "....", "Bearer x"])
def test_garbage_refused(garbage: str) -> None:
    with pytest.raises(UnauthenticatedError):
        tokens.verify(garbage, secret=SECRET)


def test_unsigned_token_refused() -> None:
    header = b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    payload = b64(json.dumps(claims_for(uuid.uuid4())).encode())
    with pytest.raises(UnauthenticatedError):
        tokens.verify(f"{header}.{payload}.", secret=SECRET)


# --- the secret key -----------------------------------------------------------------------------


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in ("QILIJIA_SECRET_KEY", "QILIJIA_ENV", "QILIJIA_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no `.env` here
    return tmp_path


def test_prod_without_secret_refuses(clean_env: Path) -> None:
    settings = Settings(_env_file=None, QILIJIA_ENV="prod", QILIJIA_DATA_DIR=str(clean_env))
    with pytest.raises(SettingsError, match="QILIJIA_SECRET_KEY"):
        settings.signing_key()
    assert not (clean_env / "secret_key").exists()


def test_prod_with_short_secret_refuses(clean_env: Path) -> None:
    for short in ("x", "changeme", "a" * (MIN_SECRET_LENGTH - 1)):
        settings = Settings(_env_file=None, QILIJIA_ENV="prod", QILIJIA_SECRET_KEY=short)
        with pytest.raises(SettingsError, match="QILIJIA_SECRET_KEY"):
            settings.signing_key()


def test_prod_with_long_secret_works(clean_env: Path) -> None:
    secret = secrets.token_urlsafe(48)
    settings = Settings(_env_file=None, QILIJIA_ENV="prod", QILIJIA_SECRET_KEY=secret)
    assert settings.signing_key() == secret
    exact = secrets.token_hex(MIN_SECRET_LENGTH // 2)  # 32 hex characters: 128 bits
    assert len(exact) == MIN_SECRET_LENGTH
    assert Settings(_env_file=None, QILIJIA_ENV="prod", QILIJIA_SECRET_KEY=exact).signing_key() == exact


def test_prod_refuses_a_long_secret_that_is_not_random(clean_env: Path) -> None:
    for guessable in ("a" * 32, "k" * 48, "password1234" * 3, "qilijia-" * 5, "0123456789" * 4):
        settings = Settings(_env_file=None, QILIJIA_ENV="prod", QILIJIA_SECRET_KEY=guessable)
        with pytest.raises(SettingsError, match="不够随机"):
            settings.signing_key()
    # dev takes any key: it is for trying things
    assert Settings(_env_file=None, QILIJIA_ENV="dev", QILIJIA_SECRET_KEY="a" * 32).signing_key() == "a" * 32


def test_prod_secret_from_environment(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = secrets.token_urlsafe(48)
    monkeypatch.setenv("QILIJIA_ENV", "prod")
    monkeypatch.setenv("QILIJIA_SECRET_KEY", secret)
    assert Settings(_env_file=None).signing_key() == secret


def test_dev_without_secret_keeps_a_generated_one(clean_env: Path) -> None:
    data_dir = clean_env / "data"
    first = Settings(_env_file=None, QILIJIA_DATA_DIR=str(data_dir)).signing_key()
    assert len(first) >= MIN_SECRET_LENGTH
    assert Settings(_env_file=None, QILIJIA_DATA_DIR=str(data_dir)).signing_key() == first
    assert (data_dir / "secret_key").stat().st_mode & 0o777 == 0o600


def _serve_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QILIJIA_")}
    env.update(
        {
            "QILIJIA_ENV": "prod",
            "QILIJIA_DATA_DIR": str(tmp_path / "data"),
            # harmless: nothing listens on port 1, and `serve` must not get that far
            "DATABASE_URL": "postgresql://postgres@127.0.0.1:1/nothing",
            "COLUMNS": "300",
        }
    )
    env.update(extra)
    return env


@pytest.mark.parametrize("secret", [None, "too-short"], ids=["unset", "short"])
def test_serve_in_prod_without_good_secret_exits(tmp_path: Path, secret: str | None) -> None:
    env = _serve_env(tmp_path, **({"QILIJIA_SECRET_KEY": secret} if secret else {}))
    result = subprocess.run(
        [str(REPO / ".venv" / "bin" / "qilijia"), "serve", "--port", "0"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "QILIJIA_SECRET_KEY" in result.stderr
    # it stopped before touching the database (which would have failed with a connection error)
    assert "Traceback" not in result.stderr
    assert "Connect" not in result.stderr
    assert not (tmp_path / "data" / "pg").exists()
    assert not (tmp_path / "data" / "secret_key").exists()


def test_a_verified_token_is_remembered_until_it_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    verified = tokens.VerifiedTokens("s" * 40)
    person = uuid.uuid4()
    token, expires = tokens.mint(person, secret="s" * 40, ttl_seconds=60)
    assert verified.verify(token).person_id == person
    monkeypatch.setattr(jwt, "decode", lambda *a, **k: pytest.fail("checked twice"))
    assert verified.verify(token).person_id == person  # from memory
    monkeypatch.setattr(tokens.time, "time", lambda: expires.timestamp())
    with pytest.raises(UnauthenticatedError, match="过期"):
        verified.verify(token)


def test_remembered_tokens_do_not_vouch_for_others() -> None:
    verified = tokens.VerifiedTokens("s" * 40)
    token, _ = tokens.mint(uuid.uuid4(), secret="s" * 40, ttl_seconds=60)
    verified.verify(token)
    for bad in (
        token[:-2] + ("AA" if not token.endswith("AA") else "BB"),
        tokens.mint(uuid.uuid4(), secret="t" * 40, ttl_seconds=60)[0],
    ):
        with pytest.raises(UnauthenticatedError):
            verified.verify(bad)


async def test_auth_failures_follow_the_media_type_the_client_accepts(api: Api, demo_db_url: str) -> None:
    """GraphQL over HTTP: a client of `application/graphql-response+json` gets 401 for a refused
    token, one of `application/json` (or of anything) 200; the body is the same error."""
    expired, _ = tokens.mint(await person_id(demo_db_url, RESIDENT), secret=SECRET, ttl_seconds=-60)
    cases = {
        "application/graphql-response+json": 401,
        "application/graphql-response+json, application/json;q=0.9": 401,
        "application/json": 200,
        "application/json, application/graphql-response+json;q=0.5": 200,
        "*/*": 200,
        "": 200,
    }
    for accept, status in cases.items():
        response = await api.client.post(
            "/graphql",
            json={"query": ME},
            headers={"Authorization": f"Bearer {expired}", "Accept": accept},
        )
        assert response.status_code == status, accept
        expected_type = "application/graphql-response+json" if status == 401 else "application/json"
        assert response.headers["content-type"].startswith(expected_type), accept
        [error] = response.json()["errors"]
        assert error["extensions"]["code"] == "UNAUTHENTICATED" and "过期" in error["message"]
