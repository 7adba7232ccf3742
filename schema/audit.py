"""The audit trail (DESIGN §5): who did what, in which role, on which object, when, from where."""

from __future__ import annotations

import datetime
from typing import Annotated

import orjson
import strawberry
from strawberry.types import Info

from models.audit import AuditRecord as AuditRow
from resolvers import audit
from resolvers.context import Context
from resolvers.ids import decode, encode
from schema.relay import Connection

FIRST = "每页条数，最多 100。"
AFTER = "上一页最后一条的游标。"


@strawberry.type(
    description="一条审计记录：特权操作的经办人、身份、内容、对象、时间与来源；记录按哈希链相连，不可改动。"
)
class AuditEntry:
    seq: int = strawberry.field(description="序号：从 1 起连续编号。")
    at: datetime.datetime = strawberry.field(description="发生时间。")
    action: str = strawberry.field(description="操作，例如 ACCEPT、ASSIGN、OPEN_VOTE、CLOSE、LOGIN、IMPORT。")
    actor_kind: str = strawberry.field(description="经办方：person（人员）、operator（运维命令行）。")
    actor_name: str | None = strawberry.field(description="经办人当时的姓名（或运维账号）。")
    actor_id: strawberry.ID | None = strawberry.field(description="经办人员的全局编号。")
    actor_role: str | None = strawberry.field(description="以何种身份经办。")
    object_type: str | None = strawberry.field(description="对象的种类，例如 TASK、VOTE、COMPOUND。")
    object_id: str | None = strawberry.field(description="对象的编号。")
    address: str | None = strawberry.field(description="请求来源地址。")
    detail: str = strawberry.field(description="补充内容（JSON）。")
    hash: str = strawberry.field(description="本条记录的哈希（链接前一条）。")

    @classmethod
    def from_row(cls, row: AuditRow) -> AuditEntry:
        entry = orjson.loads(row.payload)
        actor = entry.get("actor") or {}
        person = actor.get("id") if actor.get("kind") == "person" else None
        return cls(
            seq=row.seq,
            at=row.at,
            action=entry.get("action", ""),
            actor_kind=actor.get("kind", ""),
            actor_name=actor.get("name"),
            actor_id=strawberry.ID(encode("Person", person)) if person else None,
            actor_role=actor.get("role"),
            object_type=entry.get("object_type"),
            object_id=entry.get("object_id"),
            address=entry.get("address"),
            detail=orjson.dumps(entry.get("detail") or {}).decode(),
            hash=row.hash,
        )


@strawberry.type
class Query:
    @strawberry.field(
        description="审计记录，最新的在前：社区“两委”查看本社区的；管理员不指定社区时查看全部。"
    )
    async def audit_trail(
        self,
        info: Info[Context, None],
        community_id: Annotated[
            strawberry.ID | None, strawberry.argument(description="社区的全局编号。")
        ] = None,
        first: Annotated[int | None, strawberry.argument(description=FIRST)] = 20,
        after: Annotated[str | None, strawberry.argument(description=AFTER)] = None,
    ) -> Connection[AuditEntry]:
        community = decode(community_id, "Community")[1] if community_id is not None else None
        page = await audit.trail(info.context, community, first=first, after=after)
        return Connection.from_page(page, AuditEntry.from_row)
