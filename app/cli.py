"""The `qilijia` command line (API.md): serve, migrate, import, token, apikey, documents, schema."""

from __future__ import annotations

import asyncio
import importlib.resources
import os
import signal
import sys
import tempfile
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import sqlalchemy as sa
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession

from app import migrate as migrations
from app.database import create_engine, resolve_database_url, sessionmaker
from app.settings import LOOPBACK, Settings, SettingsError, get_settings

if TYPE_CHECKING:  # the world file's models load only for the commands that read one
    from app.world_file import World
    from app.world_import import ImportSummary

T = TypeVar("T")

cli = typer.Typer(
    name="qilijia",
    help="綦理家：五员共治小区治理服务。未设置 DATABASE_URL 时使用内嵌 PostgreSQL（数据在 ./.qilijia/）。",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
apikey_cli = typer.Typer(help="管理第三方接口密钥（X-API-Key）。", no_args_is_help=True)
cli.add_typer(apikey_cli, name="apikey")
documents_cli = typer.Typer(
    help="登记可信查询（小程序的各个操作）：按 sha256 保存，服务启动时载入；生产环境中第三方客户端只能运行这些查询。",
    no_args_is_help=True,
)
cli.add_typer(documents_cli, name="documents")
dev_cli = typer.Typer(help="开发用工具（只在 QILIJIA_ENV=dev 下可用）。", no_args_is_help=True)
cli.add_typer(dev_cli, name="dev")
audit_cli = typer.Typer(help="审计记录：特权操作的哈希链。", no_args_is_help=True)
cli.add_typer(audit_cli, name="audit")
export_cli = typer.Typer(help="导出文件：党员评价鉴定反馈至所在单位党组织。", no_args_is_help=True)
cli.add_typer(export_cli, name="export")

out = Console()
err = Console(stderr=True)


def _settings() -> Settings:
    """The settings of a command that serves or signs: in `prod`, refused with every problem
    listed (no database, a weak secret, a development stand-in)."""
    settings = get_settings()
    problems = settings.production_problems()
    if not problems:
        try:
            settings.signing_key()
        except SettingsError as exc:
            problems = [str(exc)]
    if problems:
        err.print("[red]无法启动：[/red]" + "\n".join(f"- {escape(p)}" for p in problems))
        raise typer.Exit(2)
    return settings


def _prepare_database(settings: Settings) -> str:
    url = resolve_database_url(settings)
    migrations.upgrade(
        url,
        owner_role=settings.db_owner_role,
        service_role=settings.db_service_role,
        service_password=settings.service_password(),
    )
    return url


def _with_session(settings: Settings, url: str, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    async def run() -> T:
        engine = create_engine(url, settings, pool_size=1, max_overflow=0)
        try:
            async with sessionmaker(engine)() as session, session.begin():
                return await work(session)
        finally:
            await engine.dispose()

    return asyncio.run(run())


async def _audit(session: AsyncSession, action: str, **facts: Any) -> None:
    """An operator's action, on the audit trail: the operator is the account running the command."""
    from resolvers import audit

    actor, address = audit.operator()
    object_type, object_id = facts.pop("object_type", None), facts.pop("object_id", None)
    await audit.append(
        session,
        action=action,
        actor=actor,
        object_type=object_type,
        object_id=object_id,
        address=address,
        detail=facts,
    )


def demo_world_path() -> Path:
    return Path(str(importlib.resources.files("app.demo").joinpath("world.yaml")))


def _run_import(settings: Settings, url: str, world: World, *, quiet: bool = False) -> ImportSummary:
    from app.world_import import import_world

    progress = Progress(
        TextColumn("{task.description:<6}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        disable=quiet or not err.is_terminal,
    )
    tasks: dict[str, Any] = {}

    def report(stage: str, done: int, total: int) -> None:
        if stage not in tasks:
            tasks[stage] = progress.add_task(stage, total=total or 1)
        progress.advance(tasks[stage], done or 1)

    with progress:
        return _with_session(settings, url, lambda session: import_world(session, world, report))


def _print_summary(summary: ImportSummary) -> None:
    from app.world_import import STAGES, TERM_STAGES

    table = Table(title="导入结果", show_edge=False)
    table.add_column("类别")
    table.add_column("新建", justify="right")
    table.add_column("更新", justify="right")
    table.add_column("结束", justify="right")
    for stage in STAGES:
        ended = str(summary.ended[stage]) if stage in TERM_STAGES else ""
        table.add_row(stage, str(summary.created[stage]), str(summary.updated[stage]), ended)
    out.print(table)
    if +summary.ended:
        out.print(
            "已结束："
            + "，".join(f"{stage} {count} 条" for stage, count in summary.ended.items() if count)
            + "（历史记录保留，不再生效）。"
        )
    if +summary.reopened:
        err.print(
            "[yellow]注意：[/yellow]文件列出的 "
            + "，".join(f"{stage} {count} 条" for stage, count in summary.reopened.items() if count)
            + "此前已经结束（通过接口办理，或由更早的文件结束），这次导入使它们重新开始生效。"
            "如果这不是您的本意，请在文件中为它们写上 ends_on 后再导入一次，或通过接口结束它们。"
        )
    if not summary.changed:
        out.print("没有任何变化：数据库已与文件一致。")


def _tell_demo_story(settings: Settings, url: str) -> None:
    from app.demo import story

    async def run() -> bool:
        engine = create_engine(url, settings, pool_size=2, max_overflow=0)
        try:
            return await story.tell(sessionmaker(engine))
        finally:
            await engine.dispose()

    if asyncio.run(run()):
        out.print(
            "已写入演示故事：千山美林6栋加装电梯（6次专题会议、费用公示、同意票略低于四分之三的业主表决）、"
            "东方新天地后山清理接龙、君鼎疆上电动车充电、山予城物业费纠纷，以及千山美林三位业主的党员报到申请、本季度的党员评价和反馈给所在单位党组织的导出。"
        )


def _has_compound(settings: Settings, url: str) -> bool:
    async def check(session: AsyncSession) -> bool:
        return (await session.execute(sa.text("SELECT EXISTS (SELECT 1 FROM compound)"))).scalar_one()

    return _with_session(settings, url, check)


@cli.command()
def serve(
    host: Annotated[str, typer.Option(help="监听地址")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="监听端口")] = 8000,
    workers: Annotated[int, typer.Option(help="工作进程数")] = 1,
    demo: Annotated[bool, typer.Option("--demo", help="数据库里还没有小区时，先导入内置的演示数据")] = False,
) -> None:
    """应用数据库迁移，然后在 HOST:PORT 上提供 HTTP 和 WebSocket 服务（/graphql）。"""
    import uvicorn

    from app import logging as app_logging
    from app.protocol import BoundedHttpToolsProtocol

    settings = _settings()
    if demo and settings.env == "prod":
        err.print(
            "[red]无法启动：[/red]--demo 只用于开发（QILIJIA_ENV=dev）：生产环境请用 qilijia import 导入真实数据。"
        )
        raise typer.Exit(2)
    if host not in LOOPBACK and "env" not in settings.model_fields_set:
        err.print(
            f"[red]无法启动：[/red]监听 {escape(host)} 时必须明确设置 QILIJIA_ENV（prod 用于生产；"
            "确需在网络上运行开发模式，请设置 QILIJIA_ENV=dev）。"
        )
        raise typer.Exit(2)
    if not settings.database_url:  # the embedded database: one server per data directory
        from app import embedded

        try:
            embedded.claim_for_serving(settings.data_dir)
        except embedded.AlreadyServing as exc:
            err.print(f"[red]无法启动：[/red]{escape(str(exc))}")
            raise typer.Exit(2) from None
    # SIGTERM, as SIGINT already does, ends the process through Python's exit (uvicorn re-raises
    # the signal once it has shut down), so that the embedded database is stopped on the way out
    signal.signal(signal.SIGTERM, _exit_on_signal)
    url = _prepare_database(settings)
    if demo and not _has_compound(settings, url):
        from app.world_file import load

        err.print("正在导入演示数据（綦江区的四个小区）…")
        _print_summary(_run_import(settings, url, load(demo_world_path())))
        _tell_demo_story(settings, url)
    app_logging.configure()
    os.environ[app_logging.JSON_LOGS] = "1"  # each worker logs JSON lines too (`app.http.create_app`)
    if workers > 1 and "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        # every worker writes its metrics here and /metrics adds them up, whichever worker answers
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="qilijia-metrics-")
    err.print(f"綦理家已启动：http://{host}:{port}/graphql")
    uvicorn.run(
        "app.http:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=None,
        access_log=False,  # app.http.Edge writes the access line, with the request id
        loop="uvloop",
        http=BoundedHttpToolsProtocol,  # a client must send its request's head in time
        proxy_headers=True,
        timeout_keep_alive=5,  # an idle keep-alive connection is closed after 5 s
        ws_max_size=settings.max_body_bytes,  # a WebSocket message is no larger than a request body
        ws_ping_interval=20,  # a WebSocket whose peer is gone is closed within 40 s
        ws_ping_timeout=20,
    )


@cli.command()
def migrate(
    status: Annotated[
        bool, typer.Option("--status", help="只显示数据库所在的版本、最新版本和待应用的迁移，不做改动。")
    ] = False,
    to: Annotated[
        str | None,
        typer.Option(
            "--to",
            metavar="REV",
            help="迁移到指定版本：版本号、head（最新）、base（空库）、-1（回退一步）、+1（前进一步）。可以回退。",
            show_default=False,
        ),
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="回退时不再确认。")] = False,
) -> None:
    """把数据库迁移到最新结构（或 --to 指定的版本）后退出，并列出应用或回退了哪些迁移。"""
    settings = get_settings()
    url = resolve_database_url(settings)
    before = migrations.applied(url)
    if status:
        _print_status(url, before)
        return
    try:
        target = migrations.resolve(url, to or "head")
    except ValueError as exc:
        err.print(
            f"[red]没有这个版本：[/red]{escape(str(exc))}。用 [bold]qilijia migrate --status[/bold] 查看现有版本。"
        )
        raise typer.Exit(2) from None
    if target == before:
        out.print(f"没有待应用的迁移，数据库已在版本 {before or 'base（空库）'}。")
        return
    undone = list(reversed(migrations.between(url, target, before)))
    if undone:
        out.print("将回退以下迁移（它们建立的表和列连同数据会被删除）：")
        _print_revisions(undone)
        if not yes and not _confirmed("确定回退吗？"):
            err.print("已取消，数据库没有改动。（不经确认回退：加 --yes）")
            raise typer.Exit(1)
        migrations.downgrade(url, target or "base", owner_role=settings.db_owner_role)
        out.print(f"已回退 {len(undone)} 个迁移，数据库现在的版本：{target or 'base（空库）'}。")
        return
    migrations.upgrade(
        url,
        target or "head",
        owner_role=settings.db_owner_role,
        service_role=settings.db_service_role,
        service_password=settings.service_password(),
    )
    done = migrations.between(url, before, migrations.applied(url))
    if done:
        out.print(f"已应用 {len(done)} 个迁移：")
        _print_revisions(done)
    else:
        out.print(f"没有待应用的迁移，数据库已在版本 {before or 'base（空库）'}。")


def _exit_on_signal(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def _confirmed(question: str) -> bool:
    """Yes only when someone at a terminal says so (no input at all is a no)."""
    try:
        return typer.confirm(question, default=False)
    except typer.Abort:
        return False


def _print_revisions(revisions: list[migrations.Revision]) -> None:
    for r in revisions:
        out.print(f"  {r.id}  {escape(r.title)}")


def _print_status(url: str, current: str | None) -> None:
    heads = sorted(migrations.current_heads(url))
    pending = migrations.between(url, current, heads[0]) if len(heads) == 1 else []
    out.print(f"数据库当前版本：{current or 'base（尚未迁移）'}")
    out.print(f"代码的最新版本：{', '.join(heads)}")
    if pending:
        out.print(f"待应用的迁移（{len(pending)} 个，运行 [bold]qilijia migrate[/bold] 应用）：")
        _print_revisions(pending)
    else:
        out.print("没有待应用的迁移。")


@cli.command(name="import")
def import_(
    path: Annotated[
        Path | None, typer.Argument(help="世界文件（.yaml、.yml 或 .json）", show_default=False)
    ] = None,
    demo: Annotated[bool, typer.Option("--demo", help="导入内置的演示数据")] = False,
) -> None:
    """在一个事务里导入世界文件：要么全部成功，要么什么都不写；重复导入同一文件不会有变化。"""
    from app.world_file import WorldFileError, load

    if (path is None) == (not demo):
        err.print("请给出一个文件路径，或者使用 --demo（二选一）。")
        raise typer.Exit(2)
    source = demo_world_path() if demo else path
    assert source is not None
    try:
        world = load(source)
        settings = get_settings()
        url = _prepare_database(settings)
        summary = _run_import(settings, url, world)
    except WorldFileError as exc:
        # escaped: paths, keys and names come from the file and must not be read as rich markup
        err.print(f"[red]无法导入 {escape(str(source))}，没有写入任何数据：[/red]")
        for problem in exc.problems:
            err.print(f"  {escape(problem.path)}: {escape(problem.message)}")
        raise typer.Exit(1) from None
    _print_summary(summary)
    if demo:
        _tell_demo_story(settings, url)


@cli.command()
def token(
    phone: Annotated[
        str, typer.Argument(help="人员的手机号；或 revoke，后接手机号", metavar="PHONE | revoke PHONE")
    ],
    revoked: Annotated[
        str | None, typer.Argument(help="revoke 时：要结束其所有登录的手机号", show_default=False)
    ] = None,
    ttl: Annotated[int | None, typer.Option(help="有效期（秒），默认取 QILIJIA_TOKEN_TTL")] = None,
) -> None:
    """为该手机号的人员签发一个访问令牌（运维代人操作、测试使用）；`token revoke PHONE` 立即结束该人员的所有登录（HTTP 和实时连接）。"""
    from auth import tokens

    revoking = phone == "revoke"
    if revoking and not revoked:
        err.print("用法：qilijia token revoke PHONE")
        raise typer.Exit(2)
    if not revoking and revoked:
        err.print(f"多余的参数：{escape(revoked)}。吊销请用：qilijia token revoke PHONE")
        raise typer.Exit(2)
    target = revoked if revoking else phone
    settings = _settings()
    url = _prepare_database(settings)

    async def find(session: AsyncSession) -> Any:
        person_id = (
            await session.execute(sa.text("SELECT id FROM person WHERE phone = :p"), {"p": target})
        ).scalar()
        if person_id is not None and revoking:
            from resolvers.sessions import end_all

            await end_all(session, person_id)
            await _audit(session, "END_SESSIONS", object_type="PERSON", object_id=person_id)
        return person_id

    person_id = _with_session(settings, url, find)
    if person_id is None:
        err.print(f"没有手机号为 {escape(str(target))} 的人员。")
        raise typer.Exit(1)
    if revoking:
        out.print(f"已结束 {escape(str(target))} 的所有登录：此前签发的令牌不再有效，实时连接随即断开。")
        return
    value, _ = tokens.mint(
        person_id, secret=settings.signing_key(), ttl_seconds=ttl or settings.token_ttl_seconds
    )
    sys.stdout.write(value + "\n")


@export_cli.command("evaluations")
def export_evaluations(
    community: Annotated[
        str, typer.Option("--community", help="社区的键（世界文件里的 key）", show_default=False)
    ],
    period: Annotated[
        str, typer.Option("--period", help="期间：2026Q4 这样的季度或 2026 这样的年份", show_default=False)
    ],
    out_dir: Annotated[Path, typer.Option("--out", help="写入文件的目录（没有则创建）", show_default=False)],
) -> None:
    """导出一个期间已确认的党员评价：按所在单位党组织各写一份 Excel 和 PDF，印有校验码；导出记入审计。"""
    from models.errors import BadUserInputError
    from models.evaluation_export import EvaluationExport, file_stem
    from models.place import Community
    from resolvers import audit, evaluation_export

    settings = get_settings()
    url = _prepare_database(settings)
    actor, _ = audit.operator()

    async def make(session: AsyncSession) -> list[EvaluationExport] | None:
        found = (await session.execute(sa.select(Community).where(Community.key == community))).scalar()
        if found is None:
            return None
        made = await evaluation_export.make(
            session,
            community_id=found.id,
            period=period,
            made_by=None,
            made_by_name=f"{actor['name']}（命令行）",
        )
        rows = [await session.get(EvaluationExport, ident) for ident in made]
        await _audit(
            session,
            "EXPORT",
            object_type="COMMUNITY",
            object_id=found.id,
            period=period.strip().upper(),
            exports=[str(ident) for ident in made],
        )
        return [row for row in rows if row is not None]

    try:
        made = _with_session(settings, url, make)
    except BadUserInputError as refused:
        err.print(refused.message)
        raise typer.Exit(1) from None
    if made is None:
        err.print(f"没有键为 {escape(community)} 的社区：键见世界文件中社区的 key。")
        raise typer.Exit(1)
    out_dir.mkdir(parents=True, exist_ok=True)
    table = Table(show_edge=False)
    for column in ("所在单位党组织", "人数", "校验码", "文件"):
        table.add_column(column)
    used: set[str] = set()
    for row in made:
        stem = file_stem(row.period, row.party_org)
        # two organisations whose names differ only in what a file name cannot hold
        stem = next(
            s for n in range(1, len(made) + 2) if (s := stem if n == 1 else f"{stem}-{n}") not in used
        )
        used.add(stem)
        (out_dir / f"{stem}.xlsx").write_bytes(row.workbook)
        (out_dir / f"{stem}.pdf").write_bytes(row.pdf)
        table.add_row(escape(row.party_org), str(row.members), row.code, escape(f"{stem}.xlsx, {stem}.pdf"))
    out.print(table)
    err.print(f"已写入 {escape(str(out_dir))}：对方可凭校验码用 verifyEvaluationExport 查验。")


@apikey_cli.command("create")
def apikey_create(name: Annotated[str, typer.Argument(help="客户端名称，例如 区大数据中心")]) -> None:
    """创建密钥并只显示这一次；数据库只保存它的哈希。"""
    from auth import apikeys

    settings = get_settings()
    url = _prepare_database(settings)
    new = apikeys.generate()

    async def create(session: AsyncSession) -> bool:
        result = await session.execute(
            sa.text(
                "INSERT INTO api_client (name, key_prefix, key_hash) VALUES (:n, :p, :h) "
                "ON CONFLICT (name) DO NOTHING RETURNING id"
            ),
            {"n": name, "p": new.prefix, "h": new.key_hash},
        )
        created = result.first()
        if created is not None:
            await _audit(session, "CREATE_API_KEY", object_type="API_CLIENT", object_id=created.id, name=name)
        return created is not None

    if not _with_session(settings, url, create):
        err.print(f"已有名为 {escape(name)} 的客户端；如需换新密钥，请先 revoke 再 create。")
        raise typer.Exit(1)
    sys.stdout.write(new.key + "\n")
    err.print("请妥善保存：这是密钥唯一一次显示。请求时放在 X-API-Key 头中。")


@apikey_cli.command("list")
def apikey_list() -> None:
    """列出所有客户端（不显示密钥）。"""
    settings = get_settings()
    url = _prepare_database(settings)

    async def rows(session: AsyncSession) -> list[Any]:
        result = await session.execute(
            sa.text("SELECT name, key_prefix, created_at, revoked_at FROM api_client ORDER BY name")
        )
        return list(result.all())

    table = Table(show_edge=False)
    for column in ("名称", "前缀", "创建时间", "状态"):
        table.add_column(column)
    for row in _with_session(settings, url, rows):
        status = f"已吊销 {row.revoked_at:%Y-%m-%d %H:%M}" if row.revoked_at else "有效"
        table.add_row(escape(row.name), f"qlj_{row.key_prefix}_…", f"{row.created_at:%Y-%m-%d %H:%M}", status)
    out.print(table)


@apikey_cli.command("revoke")
def apikey_revoke(name: Annotated[str, typer.Argument(help="客户端名称")]) -> None:
    """吊销该客户端的密钥；所有服务进程随即不再接受它。"""
    settings = get_settings()
    url = _prepare_database(settings)

    async def revoke(session: AsyncSession) -> bool:
        result = await session.execute(
            sa.text(
                "UPDATE api_client SET revoked_at = :now WHERE name = :n AND revoked_at IS NULL RETURNING id"
            ),
            {"n": name, "now": datetime.now(UTC)},
        )
        revoked = result.first()
        if revoked is not None:
            from auth.apikeys import APIKEYS_TOPIC
            from resolvers.events import notify

            await _audit(session, "REVOKE_API_KEY", object_type="API_CLIENT", object_id=revoked.id, name=name)
            await notify(session, APIKEYS_TOPIC)  # every server process forgets its verified keys
        return revoked is not None

    if not _with_session(settings, url, revoke):
        err.print(f"没有名为 {escape(name)} 的有效客户端。")
        raise typer.Exit(1)
    out.print(f"已吊销 {escape(name)}。")


@documents_cli.command("add")
def documents_add(
    files: Annotated[
        list[Path], typer.Argument(help="GraphQL 文件（.graphql），每个文件是客户端原样发送的一份查询")
    ],
) -> None:
    """登记查询文件：先逐个校验（语法、限制、与接口结构一致），全部通过才写入；已登记的不重复写入。"""
    from schema import schema as graphql_schema
    from schema.documents import operation_names, problems, sha256

    found: list[tuple[str, str, list[str], Path]] = []
    failed = False
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            err.print(f"[red]{escape(str(path))}[/red]：无法读取（{escape(str(exc))}）。")
            failed = True
            continue
        wrong = problems(graphql_schema._schema, text)
        if wrong:
            failed = True
            for message in wrong:
                err.print(f"[red]{escape(str(path))}[/red]：{escape(message)}")
            continue
        found.append((sha256(text), text, operation_names(text), path))
    if failed:
        err.print("没有登记任何查询：请先修正上面的文件。")
        raise typer.Exit(1)
    settings = get_settings()
    url = _prepare_database(settings)

    async def add(session: AsyncSession) -> list[bool]:
        added = []
        for digest, text, names, _ in found:
            result = await session.execute(
                sa.text(
                    "INSERT INTO trusted_document (sha256, body, operations) VALUES (:d, :b, :o) "
                    "ON CONFLICT (sha256) DO NOTHING RETURNING sha256"
                ),
                {"d": digest, "b": text, "o": " ".join(names)},
            )
            added.append(result.first() is not None)
        return added

    for (digest, _, names, path), new in zip(found, _with_session(settings, url, add), strict=True):
        state = "已登记" if new else "此前已登记"
        out.print(f"{state} {digest}  {escape(' '.join(names) or '（未命名操作）')}  {escape(str(path))}")
    err.print("正在运行的服务重启后载入新登记的查询。")


@documents_cli.command("list")
def documents_list() -> None:
    """列出已登记的查询：sha256、操作名、登记时间。"""
    settings = get_settings()
    url = _prepare_database(settings)

    async def rows(session: AsyncSession) -> list[Any]:
        result = await session.execute(
            sa.text("SELECT sha256, operations, added_at FROM trusted_document ORDER BY added_at, sha256")
        )
        return list(result.all())

    table = Table(show_edge=False)
    for column in ("sha256", "操作", "登记时间"):
        table.add_column(column, overflow="fold")
    for row in _with_session(settings, url, rows):
        table.add_row(
            row.sha256, escape(row.operations or "（未命名操作）"), f"{row.added_at:%Y-%m-%d %H:%M}"
        )
    out.print(table)


@audit_cli.command("verify")
def audit_verify() -> None:
    """逐条核对审计记录的哈希链；有记录被改动、删除或调换时，指出第一条有问题的记录并以非零状态退出。"""
    from resolvers import audit

    settings = get_settings()
    url = _prepare_database(settings)
    checked, newest, broken = _with_session(settings, url, audit.verify)
    if broken is not None:
        seq, why = broken
        err.print(f"[red]审计记录第 {seq} 条有问题：[/red]{why}。此前的 {checked} 条完好。")
        raise typer.Exit(1)
    out.print(f"审计记录完好：共 {checked} 条。")
    if newest is not None:
        out.print(f"最新一条的哈希：{newest}（请另行保存，用来发现末尾的记录被删除）")


@cli.command()
def jobs() -> None:
    """运行一次定时任务（到期自动结束表决、办结7天未评价的事项自动关闭、党员本期任职计入参与记录、到时提醒、告知定时的紧急公告、发送到期的订阅消息、重新送检未能送微信检查的照片、清理一天内未使用的上传文件）后退出；多个进程同时运行也是安全的。"""
    import httpx

    from app.http import tls_context
    from app.jobs import Outside, run_once
    from app.storage import storage_from
    from auth.wechat import WeChatClient
    from resolvers.photos import PhotoLinks

    settings = get_settings()
    url = _prepare_database(settings)

    async def run() -> dict[str, int]:
        engine = create_engine(url, settings, pool_size=2, max_overflow=0)
        try:
            async with httpx.AsyncClient(timeout=httpx.Timeout(5.0), verify=tls_context()) as http:
                wechat = None
                if settings.wechat_configured and settings.wechat_secret is not None:
                    wechat = WeChatClient(
                        base_url=settings.wechat_api_base,
                        appid=settings.wechat_appid or "",
                        secret=settings.wechat_secret.get_secret_value(),
                        http=http,
                    )
                # without WeChat, every message stays in the app (no consent is spent on it)
                templates = settings.templates() if wechat is not None else {}
                outside = Outside(
                    wechat=wechat,
                    links=PhotoLinks(
                        settings.file_url_key(), settings.file_url_ttl_seconds, settings.public_url
                    ),
                    storage=storage_from(settings),
                )
                return await run_once(sessionmaker(engine), templates, outside)
        finally:
            await engine.dispose()

    done = asyncio.run(run())
    out.print(f"到期结束的表决：{done['close_due_votes']} 个。")
    out.print(f"自动关闭的事项：{done['auto_close_resolved_tasks']} 个。")
    out.print(f"计入参与记录的本期任职：{done['credit_positions']} 条。")
    out.print(f"写下的提醒：{done['remind']} 条。")
    out.print(f"发出的订阅消息：{done['send_messages']} 条。")
    out.print(f"告知的紧急公告：{done['tell_urgent_notices']} 条。")
    out.print(f"重新送微信检查的照片：{done['recheck_photos']} 张。")
    out.print(f"清理的一天内未使用的上传文件：{done['forget_unattached_uploads']} 个。")


@cli.command(name="schema")
def print_schema() -> None:
    """打印 GraphQL SDL（仓库中的 schema.graphql 应与它一致）。"""
    from schema import schema as graphql_schema

    sys.stdout.write(graphql_schema.as_str() + "\n")


@dev_cli.command("wechat")
def dev_wechat(
    port: Annotated[int, typer.Option(help="模拟微信的监听端口（只监听 127.0.0.1）")] = 8001,
    push_to: Annotated[
        str, typer.Option(help="图片安全检查的结果推送到这里（qilijia serve 的 /wechat/push）")
    ] = "http://127.0.0.1:8000/wechat/push",
    push_token: Annotated[
        str, typer.Option(help="推送签名用的 Token（serve 的 WECHAT_PUSH_TOKEN 须与它相同）")
    ] = "dev-push-token",
) -> None:
    """启动本机的模拟微信服务器（登录、手机号、内容安全、订阅消息），让 serve 像小程序那样登录。"""
    import httpx

    from app.dev_wechat import LOGIN_PREFIX, PHONE_PREFIX, FakeWeChat, passing_pusher, run_fake_wechat

    settings = get_settings()
    if settings.env != "dev":
        err.print("[red]无法启动：[/red]模拟微信只用于开发（QILIJIA_ENV=dev）。")
        raise typer.Exit(2)
    fake = FakeWeChat(
        forgiving=True,
        verdicts={"违规": "risky", "待审": "review"},
        on_call=lambda path, params: out.print(f"[dim]微信[/dim] {path} {escape(_shown_call(params))}"),
    )
    base = f"http://127.0.0.1:{port}"
    out.print(f"模拟微信已启动：{base}")
    out.print("在另一个终端让 qilijia serve 使用它：")
    out.print(
        f"  export WECHAT_API_BASE={base} WECHAT_APPID={fake.appid} WECHAT_SECRET={fake.secret}"
        f" WECHAT_PUSH_TOKEN={push_token}",
        soft_wrap=True,
    )
    out.print("它接受：")
    out.print(
        f"  wechatLogin(code)：任意 code；{LOGIN_PREFIX}NAME（如 {LOGIN_PREFIX}alice）每次得到同一个 openid"
    )
    out.print(
        f"  bindPhone(code)：{PHONE_PREFIX}手机号（如 {PHONE_PREFIX}13800000007，演示数据里的住户），绑定到已登记的人"
    )
    out.print("  内容安全：含「违规」的文字判为 risky（拒绝），含「待审」的判为 review（待审核），其余通过")
    out.print("  订阅消息：/cgi-bin/message/subscribe/send 全部接受，打印在这里")
    out.print(f"  图片安全检查：全部通过，一秒后把结果推送到 {push_to}")
    out.print("按 Ctrl-C 停止。")

    async def run() -> None:
        async with httpx.AsyncClient(timeout=10, trust_env=False) as client:
            fake.on_media_check = passing_pusher(fake, push_to, push_token, client)
            async with run_fake_wechat(fake, port=port):
                await asyncio.Event().wait()

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        out.print("模拟微信已停止。")


def _shown_call(params: dict[str, Any]) -> str:
    """A call as the terminal shows it: never the secret or the access token."""
    hidden = {"secret", "access_token"}
    return " ".join(f"{k}={'…' if k in hidden else v}" for k, v in params.items())


def main() -> None:
    try:
        cli()
    except SettingsError as exc:  # a command that reached the database without one in prod
        err.print(f"[red]无法启动：[/red]{escape(str(exc))}")
        raise SystemExit(2) from None
