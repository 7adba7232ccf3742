"""Settings from the environment (and a `.env` file), named as API.md names them."""

from __future__ import annotations

import hmac
import math
import secrets
import zlib
from collections import Counter
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from models.message import MessageKind, Template, template_problem

MIN_SECRET_LENGTH = 32


class SettingsError(RuntimeError):
    """A setting makes the process unsafe or unable to start; the message says what to set."""


class TemplateSetting(BaseModel):
    """One subscription-message template: `{"id": "…", "fields": {"thing1": "title"}, "page": "…"}`."""

    id: str
    fields: dict[str, str]
    page: str | None = None


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    database_url: str | None = Field(default=None, alias="DATABASE_URL")
    env: Literal["dev", "prod"] = Field(default="dev", alias="QILIJIA_ENV")
    secret_key: SecretStr | None = Field(default=None, alias="QILIJIA_SECRET_KEY")
    data_dir: Path = Field(default=Path(".qilijia"), alias="QILIJIA_DATA_DIR")
    wechat_appid: str | None = Field(default=None, alias="WECHAT_APPID")
    wechat_secret: SecretStr | None = Field(default=None, alias="WECHAT_SECRET")
    wechat_api_base: str = Field(default="https://api.weixin.qq.com", alias="WECHAT_API_BASE")
    #: the subscription-message templates by kind of message, as JSON: which template id each kind
    #: is sent with and which value fills each of its fields; a kind without one is shown in the
    #: app's inbox only
    wechat_templates: dict[MessageKind, TemplateSetting] = Field(
        default_factory=dict, alias="QILIJIA_WECHAT_TEMPLATES"
    )
    #: rate windows shared by every process (`auth.budget`); unset, each process keeps its own
    redis_url: str | None = Field(default=None, alias="REDIS_URL")
    #: the prefix of every key Qilijia writes to Redis: one per deployment sharing a Redis
    redis_prefix: str = Field(default="qilijia", alias="QILIJIA_REDIS_PREFIX")
    #: every rate window multiplied by this (`auth.budget`): more for a deployment whose callers
    #: share an address, less to tighten
    rate_limit_scale: float = Field(default=1.0, gt=0, alias="QILIJIA_RATE_LIMIT_SCALE")

    #: access tokens are short-lived; the mini-program renews them with its refresh token
    token_ttl_seconds: int = Field(default=2 * 3600, alias="QILIJIA_TOKEN_TTL")
    statement_timeout_ms: int = Field(default=15_000, alias="QILIJIA_STATEMENT_TIMEOUT_MS")
    idle_in_transaction_timeout_ms: int = Field(default=30_000, alias="QILIJIA_IDLE_TX_TIMEOUT_MS")
    #: each worker's connections for the compiled reads; its engine keeps twice as many
    #: (`app.database.create_engine`)
    pool_size: int = Field(default=10, alias="QILIJIA_DB_POOL_SIZE")
    #: the role that owns tables and functions, made by `qilijia migrate` (`app.migrate.OWNER_ROLE`);
    #: empty: DATABASE_URL's user owns them
    db_owner_role: str = Field(default="qilijia_owner", alias="QILIJIA_DB_OWNER_ROLE")
    #: the role the service connects as, made by `qilijia migrate` (`app.migrate.SERVICE_ROLE`);
    #: empty: the service connects as DATABASE_URL's user (then it warns when that user owns tables)
    db_service_role: str = Field(default="qilijia_app", alias="QILIJIA_DB_SERVICE_ROLE")
    #: in `prod`, `/metrics` answers a scraper sending `Authorization: Bearer <this>`, or, unset, only
    #: scrapers on loopback
    metrics_token: SecretStr | None = Field(default=None, alias="QILIJIA_METRICS_TOKEN")
    #: the whole of one HTTP request, body included: past it the client gets a JSON error and the
    #: request's SQL is cancelled
    request_deadline_seconds: float = Field(default=10.0, gt=0, alias="QILIJIA_REQUEST_DEADLINE_SECONDS")
    #: a request's line and headers must arrive within this of the connection opening (or of the
    #: request's first byte); a slower client is disconnected (`app.protocol`)
    header_timeout_seconds: float = Field(default=10.0, gt=0, alias="QILIJIA_HEADER_TIMEOUT_SECONDS")
    job_interval_seconds: float = Field(default=30.0, alias="QILIJIA_JOB_INTERVAL_SECONDS")
    #: answer queries with one compiled SQL statement where possible (off: strawberry resolves all)
    compiled_reads: bool = Field(default=True, alias="QILIJIA_COMPILED_READS")
    max_body_bytes: int = 100_000

    #: the largest photo `POST /uploads` takes, in bytes (10 MB)
    upload_max_bytes: int = Field(default=10_000_000, gt=0, alias="QILIJIA_UPLOAD_MAX_BYTES")
    #: how many files one person may upload in an hour: each costs a decode, a re-encode and storage
    uploads_per_hour: int = Field(default=60, gt=0, alias="QILIJIA_UPLOADS_PER_HOUR")
    #: how long a photo's signed URL works (`/files/…`), in seconds; it is minted afresh with every read
    file_url_ttl_seconds: int = Field(default=3600, gt=0, alias="QILIJIA_FILE_URL_TTL")
    #: the address the mini-program reaches this server at (https://api.example.cn), for the photo
    #: URLs handed out and fetched by WeChat's image check; unset, the address of each request
    public_url: str | None = Field(default=None, alias="QILIJIA_PUBLIC_URL")
    #: photos in an S3-compatible bucket instead of `<QILIJIA_DATA_DIR>/files`
    s3_bucket: str | None = Field(default=None, alias="QILIJIA_S3_BUCKET")
    #: the bucket's service (https://cos.ap-chongqing.myqcloud.com, a MinIO …); unset, AWS's
    s3_endpoint: str | None = Field(default=None, alias="QILIJIA_S3_ENDPOINT")
    s3_region: str | None = Field(default=None, alias="QILIJIA_S3_REGION")
    s3_prefix: str = Field(default="", alias="QILIJIA_S3_PREFIX")
    #: the bucket's credentials; unset, boto3's own (environment, instance role)
    s3_access_key_id: str | None = Field(default=None, alias="QILIJIA_S3_ACCESS_KEY_ID")
    s3_secret_access_key: SecretStr | None = Field(default=None, alias="QILIJIA_S3_SECRET_ACCESS_KEY")
    #: the token of WeChat's message push (消息推送, plain-text mode), which signs the image check's
    #: verdicts sent to `POST /wechat/push`; without it those pushes are refused
    wechat_push_token: SecretStr | None = Field(default=None, alias="WECHAT_PUSH_TOKEN")

    @field_validator("wechat_templates")
    @classmethod
    def _templates_fit(cls, value: dict[MessageKind, TemplateSetting]) -> dict[MessageKind, TemplateSetting]:
        for kind, setting in value.items():
            problem = template_problem(kind, Template(setting.id, setting.fields, setting.page))
            if problem is not None:
                raise ValueError(f"QILIJIA_WECHAT_TEMPLATES {problem}")
        return value

    def templates(self) -> dict[MessageKind, Template]:
        """The templates as the resolvers use them."""
        return {k: Template(s.id, dict(s.fields), s.page) for k, s in self.wechat_templates.items()}

    def file_url_key(self) -> bytes:
        """The key that signs photo URLs: derived from the signing key, apart from the tokens'."""
        return hmac.new(self.signing_key().encode(), b"qilijia file urls", "sha256").digest()

    def service_password(self) -> str:
        """The service role's password: derived from the signing key, so that `migrate` and `serve`
        agree on it without another secret to keep."""
        return hmac.new(self.signing_key().encode(), b"qilijia database service role", "sha256").hexdigest()

    @property
    def is_dev(self) -> bool:
        return self.env == "dev"

    @property
    def wechat_configured(self) -> bool:
        return bool(self.wechat_appid and self.wechat_secret)

    def signing_key(self) -> str:
        """The token signing key. `prod` demands a strong one from the environment; `dev` keeps a
        generated one in the data directory so that `qilijia token` and `qilijia serve` agree."""
        if self.secret_key is not None:
            value = self.secret_key.get_secret_value()
            if self.env == "prod" and len(value) < MIN_SECRET_LENGTH:
                raise SettingsError(
                    f"QILIJIA_SECRET_KEY 太短：生产环境至少需要 {MIN_SECRET_LENGTH} 个字符"
                    "（可用 `python -c 'import secrets; print(secrets.token_urlsafe(48))'` 生成）。"
                )
            if self.env == "prod" and not looks_random(value):
                raise SettingsError(
                    "QILIJIA_SECRET_KEY 不够随机（重复或可猜的字符）：请用 "
                    "`python -c 'import secrets; print(secrets.token_urlsafe(48))'` 生成。"
                )
            return value
        if self.env == "prod":
            raise SettingsError(
                f"生产环境（QILIJIA_ENV=prod）必须设置 QILIJIA_SECRET_KEY，至少 {MIN_SECRET_LENGTH} 个字符。"
            )
        path = self.data_dir / "secret_key"
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(48), encoding="utf-8")
            path.chmod(0o600)
        return path.read_text(encoding="utf-8").strip()

    def production_problems(self) -> list[str]:
        """What makes these settings unfit for `prod`, each saying what to set (empty in `dev`)."""
        if self.env != "prod":
            return []
        problems = []
        if not self.database_url:
            problems.append(
                "生产环境必须设置 DATABASE_URL（例如 postgresql://user:password@db:5432/qilijia）："
                "内嵌数据库只用于开发和测试，它的数据会随容器一起消失。"
            )
        try:
            self.signing_key()
        except SettingsError as exc:
            problems.append(str(exc))
        if not self.wechat_api_base.startswith("https://"):
            problems.append(
                f"WECHAT_API_BASE={self.wechat_api_base} 不是 https 地址：模拟微信（qilijia dev wechat）只用于开发，"
                "生产环境请删除该设置（默认 https://api.weixin.qq.com）。"
            )
        if self.wechat_configured and not self.public_url:
            problems.append(
                "配置了微信时，生产环境必须设置 QILIJIA_PUBLIC_URL（例如 https://api.example.cn）："
                "微信图片安全检查按这个地址取照片，不能取自请求的 Host 头。"
            )
        return problems


def looks_random(key: str) -> bool:
    """A key drawn at random, as far as its own characters tell: varied characters (at least 10
    different ones, 96 bits by their frequencies: a random 32-character hex key has about 115) and
    no repetition that compresses (`"a" * 32`, a password written three times)."""
    counts = Counter(key)
    bits = -sum(n * math.log2(n / len(key)) for n in counts.values())
    compressed = len(zlib.compress(key.encode(), 9))
    return len(counts) >= 10 and bits >= 96 and compressed >= 0.9 * len(key.encode())


LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})


@lru_cache
def get_settings() -> Settings:
    return Settings()
