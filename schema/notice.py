"""Notices (公告) as GraphQL: posted by those who run a community or a compound, read by the people
they reach."""

from __future__ import annotations

import datetime
import uuid
from typing import Annotated

import strawberry
from strawberry.types import Info

from models.notice import Notice as NoticeRow
from models.notice import NoticeKind as NoticeKindEnum
from models.notice import NoticeStatus as NoticeStatusEnum
from models.notice import NoticeVersion as NoticeVersionRow
from models.notice import status
from models.photos import AttachedTo
from resolvers import notice as notice_resolvers
from resolvers import person as person_resolvers
from resolvers import place as place_resolvers
from resolvers.context import Context
from resolvers.ids import decode, encode
from schema import docs
from schema.person import Person
from schema.photos import PHOTOS_ARGUMENT, AttachedFile, Photo, files_of, photos_of
from schema.place import AFTER, FIRST, Building, Community, Compound
from schema.register import seen_person
from schema.relay import Connection, Node, Nodes, node

NoticeKind = docs.enum(
    NoticeKindEnum,
    "公告的类别。",
    {"NORMAL": "普通公告。", "URGENT": "紧急公告：发布时以消息通知公告范围内的每一位居民。"},
    name="NoticeKind",
)
NoticeStatus = docs.enum(
    NoticeStatusEnum,
    "公告现在的状态（由发布、到期和撤回时间得出）。",
    {
        "SCHEDULED": "定时发布，尚未到发布时间（只有发布人和社区“两委”看得到）。",
        "PUBLISHED": "已发布。",
        "EXPIRED": "已过期：不再出现在公告栏，记录保留。",
        "WITHDRAWN": "已撤回：只有发布人和社区“两委”还能查看，记录、各版本和阅读情况保留。",
    },
    name="NoticeStatus",
)
#: in which capacity a notice was posted, as its readers are told
PUBLISHED_AS = {
    "COMMUNITY_COMMITTEE": "社区“两委”",
    "OWNERS_COMMITTEE": "业主委员会",
    "PROPERTY_STAFF": "物业服务中心",
    "TEAM": "小区党员班子",
    "ADMIN": "平台管理员",
}
_FIRST = Annotated[int | None, strawberry.argument(description=FIRST)]
_AFTER = Annotated[str | None, strawberry.argument(description=AFTER)]
_ID = strawberry.argument(description="公告的全局编号。")


@strawberry.type(description="公告的一个版本：更正不覆盖原文，每次更正是一个新版本。")
class NoticeVersion:
    version: int = strawberry.field(description="版本号，从 1 开始。")
    title: str = strawberry.field(description="这一版的标题。")
    body: str = strawberry.field(description="这一版的正文。")
    note: str | None = strawberry.field(description="更正说明（第一版为空）。")
    written_at: datetime.datetime = strawberry.field(description="这一版发布的时间。")
    _written_by: strawberry.Private[uuid.UUID]

    @classmethod
    def from_row(cls, row: NoticeVersionRow) -> NoticeVersion:
        return cls(
            version=row.version,
            title=row.title,
            body=row.body,
            note=row.note,
            written_at=row.created_at,
            _written_by=row.written_by,
        )

    @strawberry.field(
        description="写这一版的人（按您的权限显示）：社区“两委”更正了别人发布的公告时，这里是更正的人。"
    )
    async def written_by(self, info: Info[Context, None]) -> Person | None:
        return await seen_person(info, self._written_by)


@strawberry.type(description="一位读过公告的人。")
class NoticeReader:
    person: Person = strawberry.field(description="读者（按您的权限显示姓名）。")
    read_at: datetime.datetime = strawberry.field(description="最后一次阅读的时间。")
    version: int = strawberry.field(description="读到的版本：小于公告现在的版本，说明更正后还没有再读。")


@strawberry.type(
    description="公告的阅读情况（发布人和社区“两委”可见）：人数是公告范围内全部住户；名单只列您有权查看的人。"
)
class NoticeReceipts:
    reached: int = strawberry.field(description="公告范围内的住户人数（业主和租户）。")
    read: int = strawberry.field(description="其中已读的人数。")
    unread: int = strawberry.field(description="其中未读的人数。")
    readers: list[NoticeReader] = strawberry.field(description="已读的人，最近读的在前。")
    not_yet_read: list[Person] = strawberry.field(description="还没有读的人，按姓名排列。")


@strawberry.type(
    description="一条公告：社区“两委”发到全社区，小区班子、业委会、物业或“两委”发到一个小区或其中几栋楼；可置顶、定时发布、设到期时间；紧急公告会以消息通知每一位住户。"
)
class Notice(Node):
    _row: strawberry.Private[NoticeRow]
    kind: NoticeKind = strawberry.field(description="普通或紧急。")
    title: str = strawberry.field(description="标题（最新版本）。")
    body: str = strawberry.field(description="正文（最新版本）。")
    version: int = strawberry.field(description="现在的版本号；大于 1 说明更正过。")
    pinned: bool = strawberry.field(description="是否置顶。")
    publish_at: datetime.datetime = strawberry.field(description="发布时间（定时发布时为将来的时间）。")
    expires_at: datetime.datetime | None = strawberry.field(description="到期时间；为空表示一直展示。")
    published_as: str = strawberry.field(description="以什么身份发布，例如 社区“两委”、物业服务中心。")
    withdrawn_at: datetime.datetime | None = strawberry.field(description="撤回时间。")
    withdraw_reason: str | None = strawberry.field(description="撤回理由。")

    @classmethod
    def from_row(cls, row: NoticeRow) -> Notice:
        return cls(
            _row=row,
            id=strawberry.ID(encode("Notice", row.id)),
            kind=NoticeKindEnum(row.kind),
            title=row.title,
            body=row.body,
            version=row.version,
            pinned=row.pinned,
            publish_at=row.publish_at,
            expires_at=row.expires_at,
            published_as=PUBLISHED_AS[row.author_role],
            withdrawn_at=row.withdrawn_at,
            withdraw_reason=row.withdraw_reason,
        )

    @strawberry.field(description="现在的状态：定时、已发布、已过期或已撤回。")
    def status(self) -> NoticeStatus:
        r = self._row
        return status(r.publish_at, r.expires_at, r.withdrawn_at, datetime.datetime.now(datetime.UTC))

    @strawberry.field(description="发布人（按您的权限显示）。")
    async def author(self, info: Info[Context, None]) -> Person | None:
        return await seen_person(info, self._row.author_id)

    @strawberry.field(description="所属社区。")
    async def community(self, info: Info[Context, None]) -> Community | None:
        row = await place_resolvers.community_loader(info.context).load(self._row.community_id)
        return Community.from_row(row) if row else None

    @strawberry.field(description="发布到的小区；发到全社区时为空。")
    async def compound(self, info: Info[Context, None]) -> Compound | None:
        if self._row.compound_id is None:
            return None
        row = await place_resolvers.compound_loader(info.context).load(self._row.compound_id)
        return Compound.from_row(row) if row else None

    @strawberry.field(description="发布到的楼栋；发到整个小区或社区时为空。")
    async def buildings(self, info: Info[Context, None]) -> list[Building]:
        rows = await place_resolvers.building_loader(info.context).load_many(list(self._row.building_ids))
        return [Building.from_row(r) for r in rows if r is not None]

    @strawberry.field(description="照片（按顺序）：能看到这条公告的人都能看到。")
    async def photos(self, info: Info[Context, None]) -> list[Photo]:
        return await photos_of(info, AttachedTo.NOTICE, self._row.id)

    @strawberry.field(description="附件文件（PDF，按顺序）：能看到这条公告的人都能看到。")
    async def files(self, info: Info[Context, None]) -> list[AttachedFile]:
        return await files_of(info, AttachedTo.NOTICE, self._row.id)

    @strawberry.field(
        description="各个版本，从第一版起：更正不覆盖原文。发布人和社区“两委”看到全部版本，其他人只看到现在的版本。"
    )
    async def versions(self, info: Info[Context, None]) -> list[NoticeVersion]:
        rows = await notice_resolvers.versions_loader(info.context).load(self._row.id)
        return [NoticeVersion.from_row(r) for r in rows]

    @strawberry.field(description="我是否读过（更正后读过旧版本的，也算读过；见 readVersion）。")
    async def read_by_me(self, info: Info[Context, None]) -> bool:
        return await notice_resolvers.read_by_me_loader(info.context).load(self._row.id) is not None

    @strawberry.field(description="我读到的版本；没读过为空。")
    async def read_version(self, info: Info[Context, None]) -> int | None:
        return await notice_resolvers.read_by_me_loader(info.context).load(self._row.id)

    @strawberry.field(description="阅读情况：只有发布人和社区“两委”可以查看，其他人查询会得到 FORBIDDEN。")
    async def receipts(
        self,
        info: Info[Context, None],
        first: Annotated[int, strawberry.argument(description="名单最多列出多少人（不超过 100）。")] = 20,
    ) -> NoticeReceipts:
        found = await notice_resolvers.receipts(info.context, self._row, first=first)
        viewed = await _people(info, [r[0] for r in found.readers] + found.not_yet)
        readers = [
            NoticeReader(person=viewed[p], read_at=at, version=v) for p, at, v in found.readers if p in viewed
        ]
        return NoticeReceipts(
            reached=found.reached,
            read=found.read,
            unread=found.reached - found.read,
            readers=readers,
            not_yet_read=[viewed[p] for p in found.not_yet if p in viewed],
        )


async def _people(info: Info[Context, None], ids: list[uuid.UUID]) -> dict[uuid.UUID, Person]:
    return {v.id: Person.from_view(v) for v in await person_resolvers.people(info.context, ids)}


@strawberry.input(
    description="发布一条公告：发到一个社区（communityId），或一个小区（compoundId，可再指定其中几栋楼）。"
)
class PublishNoticeInput:
    community_id: strawberry.ID | None = strawberry.field(
        default=None, description="发到全社区时：社区的全局编号（只有本社区“两委”可以）。"
    )
    compound_id: strawberry.ID | None = strawberry.field(
        default=None, description="发到一个小区时：小区的全局编号。"
    )
    building_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="只发到小区的这几栋楼时：楼栋的全局编号。"
    )
    title: str = strawberry.field(description="标题，最多 60 字。")
    body: str = strawberry.field(description="正文，最多 5000 字。")
    urgent: bool = strawberry.field(
        default=False, description="紧急公告：发布时以消息通知范围内的每一位住户。"
    )
    pinned: bool = strawberry.field(default=False, description="置顶。")
    publish_at: datetime.datetime | None = strawberry.field(
        default=None, description="定时发布的时间（带时区，最多提前 90 天，不能早于现在）；不填为立即发布。"
    )
    expires_at: datetime.datetime | None = strawberry.field(
        default=None, description="到期时间（带时区，最长一年）；不填为一直展示。"
    )
    photos: list[str] | None = strawberry.field(default=None, description=PHOTOS_ARGUMENT)
    files: list[str] | None = strawberry.field(
        default=None,
        description="附件文件：上传 PDF（`POST /uploads`）得到的编号；与照片合计最多 9 个。只能使用自己上传的文件。",
    )


@strawberry.type
class Query:
    @strawberry.field(
        description="公告栏：一个小区的公告（本小区的、您所在楼栋的、所属社区的），或一个社区的全部公告；置顶的在前，其余最新的在前。默认只列正在展示的。"
    )
    async def notices(
        self,
        info: Info[Context, None],
        compound_id: Annotated[
            strawberry.ID | None, strawberry.argument(description="小区的全局编号（与 communityId 二选一）。")
        ] = None,
        community_id: Annotated[
            strawberry.ID | None, strawberry.argument(description="社区的全局编号（与 compoundId 二选一）。")
        ] = None,
        include_ended: Annotated[
            bool, strawberry.argument(description="也列出定时、已过期和已撤回的（按您的权限）。")
        ] = False,
        first: _FIRST = 20,
        after: _AFTER = None,
    ) -> Connection[Notice]:
        page = await notice_resolvers.feed(
            info.context,
            compound_id=decode(compound_id, "Compound", field="compoundId")[1] if compound_id else None,
            community_id=decode(community_id, "Community", field="communityId")[1] if community_id else None,
            include_ended=include_ended,
            first=first,
            after=after,
        )
        return Connection.from_page(page, Notice.from_row)


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description="发布公告：社区“两委”可发到全社区；小区班子、业委会、物业和“两委”可发到本小区或其中几栋楼。"
    )
    async def publish_notice(
        self,
        info: Info[Context, None],
        input: Annotated[PublishNoticeInput, strawberry.argument(description="公告。")],
    ) -> Notice:
        row = await notice_resolvers.publish(
            info.context,
            community_id=decode(input.community_id, "Community", field="communityId")[1]
            if input.community_id
            else None,
            compound_id=decode(input.compound_id, "Compound", field="compoundId")[1]
            if input.compound_id
            else None,
            building_ids=[decode(b, "Building", field="buildingIds")[1] for b in input.building_ids or []],
            title=input.title,
            body=input.body,
            urgent=input.urgent,
            pinned=input.pinned,
            publish_at=input.publish_at,
            expires_at=input.expires_at,
            photo_refs=input.photos or [],
            file_refs=input.files or [],
        )
        return Notice.from_row(row)

    @strawberry.mutation(
        description="更正公告：成为新版本，原文保留；紧急公告已通知过的，再通知一次更正后的内容。"
    )
    async def correct_notice(
        self,
        info: Info[Context, None],
        id: Annotated[strawberry.ID, _ID],
        note: Annotated[str, strawberry.argument(description="更正说明（读者可见，最多 200 字）。")],
        title: Annotated[str | None, strawberry.argument(description="新标题；不改不填。")] = None,
        body: Annotated[str | None, strawberry.argument(description="新正文；不改不填。")] = None,
        photos: Annotated[
            list[str] | None,
            strawberry.argument(description="新的照片（取代原来的照片；空列表为撤下全部照片）；不改不填。"),
        ] = None,
        files: Annotated[
            list[str] | None,
            strawberry.argument(
                description="新的附件文件（取代原来的文件；空列表为撤下全部文件）；不改不填。"
            ),
        ] = None,
    ) -> Notice:
        row = await notice_resolvers.correct(
            info.context,
            notice_id=_notice_id(id),
            title=title,
            body=body,
            note=note,
            photo_refs=photos,
            file_refs=files,
        )
        return Notice.from_row(row)

    @strawberry.mutation(description="撤回公告：不再展示，公告、各版本和阅读情况保留。")
    async def withdraw_notice(
        self,
        info: Info[Context, None],
        id: Annotated[strawberry.ID, _ID],
        reason: Annotated[str, strawberry.argument(description="撤回理由（读者可见，最多 200 字）。")],
    ) -> Notice:
        return Notice.from_row(
            await notice_resolvers.withdraw(info.context, notice_id=_notice_id(id), reason=reason)
        )

    @strawberry.mutation(description="置顶或取消置顶。")
    async def pin_notice(
        self,
        info: Info[Context, None],
        id: Annotated[strawberry.ID, _ID],
        pinned: Annotated[bool, strawberry.argument(description="true 置顶，false 取消。")],
    ) -> Notice:
        return Notice.from_row(
            await notice_resolvers.pin(info.context, notice_id=_notice_id(id), pinned=pinned)
        )

    @strawberry.mutation(description="标记我已读这条公告（读到现在的版本）。")
    async def mark_notice_read(self, info: Info[Context, None], id: Annotated[strawberry.ID, _ID]) -> Notice:
        return Notice.from_row(await notice_resolvers.mark_read(info.context, notice_id=_notice_id(id)))


def _notice_id(value: str) -> uuid.UUID:
    return decode(value, "Notice")[1]


NODES: Nodes = {"Notice": node(Notice.from_row, lambda ctx, i: notice_resolvers.notice(ctx, notice_id=i))}
