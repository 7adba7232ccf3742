"""Tasks (事项) as GraphQL types, their root fields, mutations and live timeline (names from API.md)."""

from __future__ import annotations

import datetime
from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING, Annotated, Any

import sqlalchemy as sa
import strawberry
from graphql import FieldNode
from strawberry.types import Info

from auth.bindings import alias
from auth.policy import Action, Resource, held_comment, require_authenticated, shown_events, where
from models.errors import BadUserInputError, UpstreamError
from models.person import Person as PersonRow
from models.photos import AttachedTo
from models.place import Building as BuildingRow
from models.place import Compound as CompoundRow
from models.task import ModerationDecision as ModerationDecisionRow
from models.task import Task as TaskRow
from models.task import TaskEvent as TaskEventRow
from models.task import TaskMember
from models.task_rules import (
    HELD,
    REMOVED,
    WORKING_ROLES,
    EventKind,
    MemberRole,
    Moderation,
    TaskAction,
    TaskVisibility,
)
from models.task_rules import TaskCategory as TaskCategoryEnum
from models.task_rules import TaskKind as TaskKindEnum
from models.task_rules import TaskStatus as TaskStatusEnum
from resolvers import moderation as moderation_resolvers
from resolvers import person as person_resolvers
from resolvers import photos as photo_resolvers
from resolvers import place as place_resolvers
from resolvers import task as task_resolvers
from resolvers.context import Context
from resolvers.ids import decode, encode
from schema import compiler, docs
from schema.person import Person, Role, people_sql
from schema.photos import Photo, Photos, photos_of
from schema.relay import Connection, Node, Nodes, node

if TYPE_CHECKING:
    from schema.disclosure import CostDisclosure
    from schema.dispute import DisputeOutcome
    from schema.meeting import Meeting
    from schema.place import Building, Compound
    from schema.volunteer import VolunteerCall

TaskKind = docs.enum(
    TaskKindEnum,
    "事项类型：问题、项目、矛盾纠纷。",
    {
        "ISSUE": "问题（居民随手拍反映的）。",
        "PROJECT": "项目（如加装电梯，分阶段推进）。",
        "DISPUTE": "矛盾纠纷（当事人保密）。",
    },
)
TaskStatus = docs.enum(
    TaskStatusEnum,
    "事项状态：待受理 → 已立项 | 不予受理 | 已撤回 → 办理中 → 已办结 → 已关闭。",
    {
        "SUBMITTED": "待受理。",
        "ACCEPTED": "已立项。",
        "REJECTED": "不予受理（附理由）。",
        "IN_PROGRESS": "办理中。",
        "RESOLVED": "已办结（附办理结果），等待反映人评价。",
        "CLOSED": "已关闭（反映人评价后，或办结 7 天后自动关闭）。",
        "WITHDRAWN": "已撤回（反映人在立项前撤回）。",
    },
)
TaskCategory = docs.enum(
    TaskCategoryEnum,
    "事项分类。",
    {
        "ELEVATOR": "电梯。",
        "PARKING": "停车。",
        "EBIKE_CHARGING": "电动车充电。",
        "ENVIRONMENT": "环境绿化。",
        "SAFETY": "安全。",
        "PROPERTY_SERVICE": "物业服务与收费。",
        "PROPERTY_RIGHTS": "产权。",
        "FACILITIES_REPAIR": "设施维修。",
        "NEIGHBOUR_RELATIONS": "邻里关系。",
        "OTHER": "其他。",
    },
)

FIRST = "每页数量，最多 100。"
AFTER = "从这个游标之后开始（上一页的 `pageInfo.endCursor`）。"


@strawberry.type(description="事项时间线上的一条记录（只增不改）。")
class TaskEvent(Node):
    _row: strawberry.Private[TaskEventRow]
    kind: str = strawberry.field(description="记录的类型：" + "、".join(k.value for k in EventKind) + "。")
    actor_role: str = strawberry.field(
        description="操作时的身份：REPORTER 反映人、TEAM 班子、ASSIGNEE 承办人、MEDIATOR 调解员、RESIDENT 居民、SYSTEM 系统。"
    )
    created_at: datetime.datetime = strawberry.field(description="发生时间。")
    text: str | None = strawberry.field(description="评论、理由、办理结果或说明。")
    from_status: TaskStatus | None = strawberry.field(description="状态变更前的状态。")
    to_status: TaskStatus | None = strawberry.field(description="状态变更后的状态。")
    stars: int | None = strawberry.field(description="评价的星数。")

    @classmethod
    def from_row(cls, row: TaskEventRow) -> TaskEvent:
        payload = row.payload or {}
        return cls(
            _row=row,
            id=strawberry.ID(encode("TaskEvent", row.id)),
            kind=row.kind,
            actor_role=row.actor_role,
            created_at=row.created_at,
            text=payload.get("text") or payload.get("reason") or payload.get("resolution"),
            from_status=TaskStatusEnum(payload["from"]) if payload.get("from") else None,
            to_status=TaskStatusEnum(payload["to"]) if payload.get("to") else None,
            stars=payload.get("stars"),
        )

    @strawberry.field(description="评论等待人工审核：审核通过前只有评论人和小区班子可见。")
    async def held_for_review(self, info: Info[Context, None]) -> bool:
        if not moderation_resolvers.is_held_comment(self._row):
            return False
        return await moderation_resolvers.decisions(info.context).load(self._row.id) is None

    @strawberry.field(description="评论经审核已删除的理由（只有评论人和小区班子可见）；未删除为空。")
    async def removal_reason(self, info: Info[Context, None]) -> str | None:
        if not moderation_resolvers.is_held_comment(self._row):
            return None
        found = await moderation_resolvers.decisions(info.context).load(self._row.id)
        return found[1] if found is not None and found[0] == Moderation.REMOVED else None

    @strawberry.field(description="评论或办理结果所附的照片，按上传顺序；其他记录为空列表。")
    async def photos(self, info: Info[Context, None]) -> list[Photo]:
        return await photos_of(info, AttachedTo.TASK_EVENT, self._row.id)

    @strawberry.field(description="操作人（按您的权限脱敏）；系统操作时为空。")
    async def actor(self, info: Info[Context, None]) -> Person | None:
        if self._row.actor_id is None:
            return None
        view = await person_resolvers.person_loader(info.context).load(self._row.actor_id)
        return Person.from_view(view) if view else None


@strawberry.type(description="反映人的评价。")
class Rating:
    stars: int = strawberry.field(description="1–5 星。")
    comment: str | None = strawberry.field(description="评价内容。")


@strawberry.type(description="事项：居民反映的问题、班子推进的项目或调解的矛盾纠纷。")
class Task(Node):
    _row: strawberry.Private[TaskRow]
    kind: TaskKind = strawberry.field(description="类型。")
    category: TaskCategory = strawberry.field(description="分类。")
    title: str = strawberry.field(description="标题。")
    description: str = strawberry.field(description="描述。")
    photo_urls: list[str] = strawberry.field(
        description="以链接提交的照片（最多 9 张）；上传的照片和云文件见 `photos`。"
    )
    status: TaskStatus = strawberry.field(description="状态。")
    internal: bool = strawberry.field(description="是否仅班子可见。")
    resolution: str | None = strawberry.field(description="办理结果。")
    created_at: datetime.datetime = strawberry.field(description="反映时间。")
    updated_at: datetime.datetime = strawberry.field(description="最近一次变更时间。")
    resolved_at: datetime.datetime | None = strawberry.field(description="办结时间。")
    closed_at: datetime.datetime | None = strawberry.field(description="关闭时间。")
    held_for_review: bool = strawberry.field(
        description="内容等待人工审核（内容安全检查未通过或暂时无法完成）；审核通过前只有反映人和小区班子可见。"
    )
    removed: bool = strawberry.field(description="内容经审核已删除；只有反映人和小区班子可见，附删除理由。")

    @classmethod
    def from_row(cls, row: TaskRow) -> Task:
        return cls(
            _row=row,
            id=strawberry.ID(encode("Task", row.id)),
            kind=TaskKindEnum(row.kind),
            category=TaskCategoryEnum(row.category),
            title=row.title,
            description=row.description,
            photo_urls=list(row.photo_urls),
            status=TaskStatusEnum(row.status),
            internal=row.visibility == TaskVisibility.INTERNAL,
            resolution=row.resolution,
            created_at=row.created_at,
            updated_at=row.updated_at,
            resolved_at=row.resolved_at,
            closed_at=row.closed_at,
            held_for_review=row.review_hold == HELD,
            removed=row.review_hold == REMOVED,
        )

    @strawberry.field(description="内容经审核删除的理由（只有反映人和小区班子可见）；未删除为空。")
    async def removal_reason(self, info: Info[Context, None]) -> str | None:
        if self._row.review_hold != REMOVED:
            return None
        found = await moderation_resolvers.task_decisions(info.context).load(self._row.id)
        return found[1] if found is not None else None

    @strawberry.field(
        description="反映时附的全部照片：先是以链接提交的，再是上传的照片和云文件，共最多 9 张。"
    )
    async def photos(self, info: Info[Context, None]) -> list[Photo]:
        attached = await photos_of(info, AttachedTo.TASK, self._row.id)
        return [*map(Photo.from_view, photo_resolvers.link_photos(self._row.photo_urls)), *attached]

    @strawberry.field(description="反映人的评价；尚未评价时为空。")
    def rating(self) -> Rating | None:
        if self._row.rating_stars is None:
            return None
        return Rating(stars=self._row.rating_stars, comment=self._row.rating_comment)

    @strawberry.field(description="所在小区；您无权查看该小区时为空（例如已搬离的反映人）。")
    async def compound(
        self, info: Info[Context, None]
    ) -> Annotated[Compound, strawberry.lazy("schema.place")] | None:
        from schema.place import Compound

        row = await place_resolvers.compound_loader(info.context).load(self._row.compound_id)
        return Compound.from_row(row) if row else None

    @strawberry.field(description="涉及的楼栋；不涉及某栋楼或无权查看时为空。")
    async def building(
        self, info: Info[Context, None]
    ) -> Annotated[Building, strawberry.lazy("schema.place")] | None:
        from schema.place import Building

        if self._row.building_id is None:
            return None
        row = await place_resolvers.building_loader(info.context).load(self._row.building_id)
        return Building.from_row(row) if row else None

    @strawberry.field(description="反映人（按您的权限脱敏）。")
    async def reporter(self, info: Info[Context, None]) -> Person:
        return Person.from_view(await person_resolvers.person(info.context, person_id=self._row.reporter_id))

    @strawberry.field(description="承办人与工作专班（牵头人在前）。")
    async def assignees(self, info: Info[Context, None]) -> list[Person]:
        ids = await task_resolvers.members(info.context, self._row, WORKING_ROLES)
        return [Person.from_view(v) for v in await person_resolvers.people(info.context, ids)]

    @strawberry.field(description="承办角色，例如 PROPERTY_STAFF（本小区物业）。")
    def assigned_role(self) -> str | None:
        return self._row.assigned_role

    @strawberry.field(
        description="时间线，按发生先后：`first`/`after` 向后读，`last`/`before` 从最新的往前读（向上滚动时）；"
        "都不填时为最早的 20 条。"
    )
    async def timeline(
        self,
        info: Info[Context, None],
        first: Annotated[int | None, strawberry.argument(description=FIRST)] = None,
        after: Annotated[str | None, strawberry.argument(description=AFTER)] = None,
        last: Annotated[
            int | None, strawberry.argument(description="最后几条，最多 100；不能与 first 同用。")
        ] = None,
        before: Annotated[
            str | None,
            strawberry.argument(description="到这个游标之前为止（上一页的 `pageInfo.startCursor`）。"),
        ] = None,
    ) -> Connection[TaskEvent]:
        page = await task_resolvers.timeline(
            info.context, self._row, first=first, after=after, last=last, before=before
        )
        return Connection.from_page(page, TaskEvent.from_row)

    @strawberry.field(description="最近一条时间线记录。")
    async def last_event(self, info: Info[Context, None]) -> TaskEvent | None:
        row = await task_resolvers.last_event(info.context, self._row)
        return TaskEvent.from_row(row) if row else None

    @strawberry.field(description="志愿者接龙，最新的在前。")
    async def volunteer_calls(
        self, info: Info[Context, None]
    ) -> list[Annotated[VolunteerCall, strawberry.lazy("schema.volunteer")]]:
        from schema.volunteer import task_calls

        return await task_calls(info, self._row)

    @strawberry.field(description="专题会议，按会议时间先后。")
    async def meetings(
        self, info: Info[Context, None]
    ) -> list[Annotated[Meeting, strawberry.lazy("schema.meeting")]]:
        from schema.meeting import task_meetings

        return await task_meetings(info, self._row)

    @strawberry.field(description="矛盾纠纷的当事人（反映人在前，按您的权限脱敏）；其他事项为空。")
    async def parties(self, info: Info[Context, None]) -> list[Person] | None:
        from schema.dispute import task_members

        return await task_members(info, self._row, MemberRole.PARTY)

    @strawberry.field(description="矛盾纠纷的调解员（按您的权限脱敏）；其他事项为空。")
    async def mediators(self, info: Info[Context, None]) -> list[Person] | None:
        from schema.dispute import task_members

        return await task_members(info, self._row, MemberRole.MEDIATOR)

    @strawberry.field(description="矛盾纠纷的调解结果；尚未记录或不是矛盾纠纷时为空。")
    async def dispute_outcome(
        self, info: Info[Context, None]
    ) -> Annotated[DisputeOutcome, strawberry.lazy("schema.dispute")] | None:
        from schema.dispute import task_dispute_outcome

        return await task_dispute_outcome(info, self._row)

    @strawberry.field(description="费用公示的各个版本，最新的在前；旧版本保留可见。")
    async def disclosures(
        self, info: Info[Context, None]
    ) -> list[Annotated[CostDisclosure, strawberry.lazy("schema.disclosure")]]:
        from schema.disclosure import task_disclosures

        return await task_disclosures(info, self._row)


@strawberry.input(description="筛选事项列表；不填的条件不限，各条件同时满足。")
class TaskFilter:
    status: TaskStatus | None = strawberry.field(default=None, description="状态。")
    category: TaskCategory | None = strawberry.field(default=None, description="分类。")
    kind: TaskKind | None = strawberry.field(default=None, description="类型。")
    building_id: strawberry.ID | None = strawberry.field(default=None, description="涉及的楼栋。")
    assignee_id: strawberry.ID | None = strawberry.field(
        default=None, description="承办人（或工作小组成员）的人员编号。"
    )
    reported_since: datetime.datetime | None = strawberry.field(
        default=None, description="在这一时间（含）之后反映的。"
    )
    reported_before: datetime.datetime | None = strawberry.field(
        default=None, description="在这一时间之前反映的。"
    )


def task_filter(given: TaskFilter | None, status: TaskStatusEnum | None = None) -> task_resolvers.TaskFilter:
    """The resolvers' filter of a `filter` argument (and a list's own `status`, which it narrows too)."""
    given = given or TaskFilter()
    if status is not None and given.status is not None and status != given.status:
        raise BadUserInputError("status 与 filter.status 不一致，请只填一处。", field="status")
    return task_resolvers.TaskFilter(
        status=status if status is not None else given.status,
        category=given.category,
        kind=given.kind,
        building_id=_filter_id(given.building_id, "Building", "filter.buildingId"),
        assignee_id=_filter_id(given.assignee_id, "Person", "filter.assigneeId"),
        since=_zoned(given.reported_since, "filter.reportedSince"),
        before=_zoned(given.reported_before, "filter.reportedBefore"),
    )


def _zoned(value: datetime.datetime | None, field: str) -> datetime.datetime | None:
    if value is not None and value.utcoffset() is None:
        raise BadUserInputError("时间必须带时区，例如 2026-12-01T00:00:00+08:00。", field=field)
    return value


def _filter_id(value: strawberry.ID | None, type_name: str, field: str) -> Any:
    if value is None:
        return None
    try:
        return decode(value, type_name)[1]
    except BadUserInputError:
        raise BadUserInputError("编号格式不正确。", field=field) from None


@strawberry.input(description="反映一个事项。")
class ReportTaskInput:
    compound_id: strawberry.ID = strawberry.field(description="小区的全局编号。")
    building_id: strawberry.ID | None = strawberry.field(default=None, description="涉及的楼栋（可选）。")
    kind: TaskKind = strawberry.field(
        default=TaskKindEnum.ISSUE, description="类型；项目和内部事项由班子发起。"
    )
    category: TaskCategory = strawberry.field(description="分类。")
    title: str = strawberry.field(description="标题（最多 60 字）。")
    description: str = strawberry.field(description="描述（最多 2000 字）。")
    photo_urls: list[str] | None = strawberry.field(
        default=None, description="照片链接（https://）；与 `photos` 合计最多 9 张。"
    )
    photos: list[str] | None = strawberry.field(
        default=None,
        description="照片：上传照片（`POST /uploads`）得到的编号，或 `cloud://` 开头的微信云存储文件 ID；"
        "与 `photoUrls` 合计最多 9 张。只能使用自己上传的照片。",
    )
    internal: bool = strawberry.field(default=False, description="仅班子可见（班子发起时可选）。")
    party_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="矛盾纠纷的其他当事人。"
    )


_TASK_ID = Annotated[strawberry.ID, strawberry.argument(description="事项的全局编号。")]


@strawberry.type
class Query:
    @strawberry.field(description="一个事项；无权查看与不存在的回答相同。")
    async def task(self, info: Info[Context, None], id: _TASK_ID) -> Task | None:
        require_authenticated(info.context.principal)
        _, ident = decode(id, "Task")
        return Task.from_row(await task_resolvers.get(info.context, task_id=ident))


async def _transition(
    info: Info[Context, None],
    id: strawberry.ID,
    action: TaskAction,
    *,
    text: str | None = None,
    stars: int | None = None,
    photos: list[str] | None = None,
) -> Task:
    row = await task_resolvers.change_status(
        info.context, task_id=decode(id, "Task")[1], action=action, text=text, stars=stars, photos=photos
    )
    return Task.from_row(row)


@strawberry.type
class Mutation:
    @strawberry.mutation(description="反映一个事项（随手拍）：问题、矛盾纠纷；班子可发起项目。")
    async def report_task(
        self,
        info: Info[Context, None],
        input: Annotated[ReportTaskInput, strawberry.argument(description="事项内容。")],
    ) -> Task:
        new = task_resolvers.NewTask(
            compound_id=decode(input.compound_id, "Compound")[1],
            building_id=decode(input.building_id, "Building")[1] if input.building_id else None,
            kind=input.kind,
            category=input.category,
            title=input.title,
            description=input.description,
            photo_urls=input.photo_urls or [],
            photos=input.photos or [],
            internal=input.internal,
            party_ids=[decode(p, "Person")[1] for p in input.party_ids or []],
        )
        return Task.from_row(await task_resolvers.report(info.context, new))

    @strawberry.mutation(description="立项（小区班子、网格员、社区“两委”）。")
    async def accept_task(self, info: Info[Context, None], id: _TASK_ID) -> Task:
        return await _transition(info, id, TaskAction.ACCEPT)

    @strawberry.mutation(description="不予受理，须说明理由。")
    async def reject_task(
        self,
        info: Info[Context, None],
        id: _TASK_ID,
        reason: Annotated[str, strawberry.argument(description="不予受理的理由。")],
    ) -> Task:
        return await _transition(info, id, TaskAction.REJECT, text=reason)

    @strawberry.mutation(description="撤回自己的反映（反映人本人，立项之前）；撤回后不再办理。")
    async def withdraw_task(
        self,
        info: Info[Context, None],
        id: _TASK_ID,
        reason: Annotated[str | None, strawberry.argument(description="撤回理由（可不填）。")] = None,
    ) -> Task:
        return await _transition(info, id, TaskAction.WITHDRAW, text=reason)

    @strawberry.mutation(
        description="修改事项的标题、描述或分类（反映人在立项前，班子在办结前）；原文保留在时间线上。"
    )
    async def edit_task(
        self,
        info: Info[Context, None],
        id: _TASK_ID,
        title: Annotated[
            str | None, strawberry.argument(description="新标题（最多 60 字）；不改则不填。")
        ] = None,
        description: Annotated[
            str | None, strawberry.argument(description="新描述（最多 2000 字）；不改则不填。")
        ] = None,
        category: Annotated[
            TaskCategory | None, strawberry.argument(description="新分类；不改则不填。")
        ] = None,
    ) -> Task:
        row = await task_resolvers.edit(
            info.context,
            task_id=decode(id, "Task")[1],
            title=title,
            description=description,
            category=category,
        )
        return Task.from_row(row)

    @strawberry.mutation(description="开始办理（班子或承办人）。")
    async def start_task(self, info: Info[Context, None], id: _TASK_ID) -> Task:
        return await _transition(info, id, TaskAction.START)

    @strawberry.mutation(
        description="分派给承办人和/或角色（如本小区物业）；memberIds 组成工作专班，承办人牵头。"
    )
    async def assign_task(
        self,
        info: Info[Context, None],
        id: _TASK_ID,
        assignee_id: Annotated[
            strawberry.ID | None, strawberry.argument(description="承办人（牵头人）。")
        ] = None,
        role: Annotated[
            Role | None, strawberry.argument(description="承办角色，例如 PROPERTY_STAFF。")
        ] = None,
        member_ids: Annotated[
            list[strawberry.ID] | None, strawberry.argument(description="工作专班的其他成员。")
        ] = None,
    ) -> Task:
        row = await task_resolvers.assign(
            info.context,
            task_id=decode(id, "Task")[1],
            assignee_id=decode(assignee_id, "Person")[1] if assignee_id else None,
            role=role,
            member_ids=[decode(m, "Person")[1] for m in member_ids or []],
        )
        return Task.from_row(row)

    @strawberry.mutation(description="办结，须填写办理结果。")
    async def resolve_task(
        self,
        info: Info[Context, None],
        id: _TASK_ID,
        resolution: Annotated[str, strawberry.argument(description="办理结果。")],
        photos: Photos = None,
    ) -> Task:
        return await _transition(info, id, TaskAction.RESOLVE, text=resolution, photos=photos)

    @strawberry.mutation(description="反映人对办结结果不满意时重新打开（仅一次），须说明理由。")
    async def reopen_task(
        self,
        info: Info[Context, None],
        id: _TASK_ID,
        reason: Annotated[str, strawberry.argument(description="重新打开的理由。")],
    ) -> Task:
        return await _transition(info, id, TaskAction.REOPEN, text=reason)

    @strawberry.mutation(description="反映人评价（1–5 星）并关闭事项。")
    async def rate_task(
        self,
        info: Info[Context, None],
        id: _TASK_ID,
        stars: Annotated[int, strawberry.argument(description="1–5 星。")],
        comment: Annotated[str | None, strawberry.argument(description="评价内容（可选）。")] = None,
    ) -> Task:
        return await _transition(info, id, TaskAction.RATE, text=comment, stars=stars)

    @strawberry.mutation(description="评论。")
    async def comment_task(
        self,
        info: Info[Context, None],
        id: _TASK_ID,
        text: Annotated[str, strawberry.argument(description="评论内容。")],
        photos: Photos = None,
    ) -> TaskEvent:
        return TaskEvent.from_row(
            await task_resolvers.comment(
                info.context, task_id=decode(id, "Task")[1], text=text, photos=photos
            )
        )


@strawberry.type
class Subscription:
    @strawberry.subscription(description="事项时间线上的新记录：订阅之后发生的每一条，按先后推送。")
    async def task_events(
        self,
        info: Info[Context, None],
        task_id: _TASK_ID,
        after_event_id: Annotated[
            strawberry.ID | None,
            strawberry.argument(description="客户端已有的最后一条记录；先补发它之后的记录。"),
        ] = None,
    ) -> AsyncGenerator[TaskEvent, None]:
        """With `afterEventId` (the last timeline event the client has), events after it are sent
        first, so nothing made between reading the timeline and subscribing is missed."""
        ctx = info.context
        require_authenticated(ctx.principal)
        _, ident = decode(task_id, "Task")
        task = await task_resolvers.get(ctx, task_id=ident)
        broker = ctx.services.broker
        if broker is None:
            raise UpstreamError("实时推送暂时不可用，请稍后再试。")
        if after_event_id is not None:
            last = await task_resolvers.seq_of(ctx, task, decode(after_event_id, "TaskEvent")[1])
        else:
            last = task_resolvers.last_seq(await task_resolvers.last_event(ctx, task))
        async with broker.subscribe(task_resolvers.topic(ident)) as events:
            while True:
                # catch up first: anything committed before the listener was in place
                for event in await task_resolvers.events_after(ctx, task, last):
                    last = event.seq or last
                    yield TaskEvent.from_row(event)
                await events.get()
                task_resolvers.forget(ctx, ident)
                task = await task_resolvers.get(ctx, task_id=ident)  # still allowed to see it?


NODES: Nodes = {
    "Task": node(Task.from_row, lambda ctx, i: task_resolvers.get(ctx, task_id=i)),
    "TaskEvent": node(TaskEvent.from_row, lambda ctx, i: task_resolvers.event(ctx, event_id=i)),
}


# --- the compiled read path (schema.compiler) ------------------------------------------------------

_T, _E = TaskRow.__table__, TaskEventRow.__table__
_MEMBERS = TaskMember.__table__


def _people_attached(roles: frozenset[MemberRole], *, disputes_only: bool) -> compiler.FieldSQL:
    def write(c: compiler.Compiler, r: compiler.Row, n: list[FieldNode]) -> Any:
        t = r.t
        m, p = _MEMBERS.alias(), alias(PersonRow)
        people = c.many(
            "Person",
            m.join(p, p.c.id == m.c.person_id),
            compiler.Row(t=p),
            n,
            [
                m.c.task_id == t.c.id,
                m.c.role.in_(sorted(roles)),
            ],
            [
                m.c.role.not_in([MemberRole.LEAD, MemberRole.ASSIGNEE]),
                m.c.person_id != t.c.reporter_id,
                m.c.created_at,
                m.c.person_id,
            ],
        )
        if not disputes_only:
            return people
        return sa.case((t.c.kind == TaskKindEnum.DISPUTE, people), else_=sa.null())

    return write


def _payload(r: compiler.Row, key: str) -> Any:
    return sa.func.nullif(r.t.c.payload[key].astext, "")


def _rating(c: compiler.Compiler, r: compiler.Row, n: list[FieldNode]) -> Any:
    rating = c.object("Rating", r, n)
    return sa.case((r.t.c.rating_stars.is_(None), sa.null()), else_=rating)


def _timeline(c: compiler.Compiler, r: compiler.Row, n: list[FieldNode]) -> Any:
    return c.connection(
        "TaskEvent",
        _E,
        n,
        lambda e: [e.c.task_id == r.t.c.id, shown_events(c.who, e)],
        task_resolvers.TIMELINE,
    )


def _comment_held(r: compiler.Row) -> Any:
    """A comment held for review with no decision yet, in SQL."""
    d = ModerationDecisionRow.__table__.alias()
    undecided = ~sa.exists().where(d.c.event_id == r.t.c.id)
    return sa.func.coalesce(sa.and_(held_comment(r.t), undecided), False)


def _removal_reason(r: compiler.Row, ident: Any, column: str) -> Any:
    """Why a task's text (`task_id`, its own text) or a comment (`event_id`) was removed, in SQL."""
    d = ModerationDecisionRow.__table__.alias()
    conditions = [d.c[column] == ident, d.c.decision == Moderation.REMOVED.value]
    if column == "task_id":
        conditions.append(d.c.event_id.is_(None))
    return sa.select(d.c.reason).where(*conditions).order_by(d.c.decided_at.desc()).limit(1).scalar_subquery()


def _last_event(c: compiler.Compiler, r: compiler.Row, n: list[FieldNode]) -> Any:
    e = _E.alias()
    return (
        sa.select(c.object("TaskEvent", compiler.Row(t=e), n))
        .where(e.c.task_id == r.t.c.id, shown_events(c.who, e))
        .order_by(e.c.seq.desc())
        .limit(1)
        .scalar_subquery()
    )


def _root_task(c: compiler.Compiler, r: compiler.Row, n: list[FieldNode]) -> Any:
    if not c.who.is_authenticated:
        raise compiler.Fallback("anonymous")
    type_name, ident = c.node_type(n)
    if type_name != "Task":
        raise compiler.Fallback("not a task id")
    return c.one(
        "Task",
        _T,
        n,
        lambda t: t.c.id == ident,
        allowed=lambda t: where(c.who, Resource.TASK, Action.READ, t),
        nullable=False,
    )


def filter_values(c: compiler.Compiler, n: list[FieldNode]) -> dict[str, Any]:
    """The parameters of a task list's `filter` (and its own `status`, where it has one) for
    `resolvers.task.narrowed`."""
    given = {a.name.value for a in n[0].arguments or ()}
    if {"status", "filter"} <= given:
        raise compiler.Fallback("both status and filter: strawberry checks that they agree")
    return {
        "status": c.argument(n, "status", _enum(TaskStatusEnum))
        if "status" in given
        else c.input_field(n, "filter", "status", _enum(TaskStatusEnum)),
        "category": c.input_field(n, "filter", "category", _enum(TaskCategoryEnum)),
        "kind": c.input_field(n, "filter", "kind", _enum(TaskKindEnum)),
        "building": c.input_field(n, "filter", "buildingId", _global("Building")),
        "assignee": c.input_field(n, "filter", "assigneeId", _global("Person")),
        "since": c.input_field(n, "filter", "reportedSince", _moment),
        "before": c.input_field(n, "filter", "reportedBefore", _moment),
    }


def _enum(values: type[Any]) -> Any:
    def convert(value: Any) -> str | None:
        if value is None:
            return None
        value = getattr(value, "value", value)
        if value not in {v.value for v in values}:
            raise compiler.Fallback(f"an unknown {values.__name__}")
        return str(value)

    return convert


def _global(type_name: str) -> Any:
    def convert(value: Any) -> Any:
        if value is None:
            return None
        try:
            return decode(value, type_name)[1]
        except (BadUserInputError, TypeError, AttributeError):
            raise compiler.Fallback(f"a malformed {type_name} id") from None

    return convert


def _moment(value: Any) -> datetime.datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.datetime.fromisoformat(value)
        except ValueError:
            raise compiler.Fallback("a malformed date") from None
    if not isinstance(value, datetime.datetime) or value.utcoffset() is None:
        raise compiler.Fallback("a date without a time zone")
    return value


def visible_with_its_task(c: compiler.Compiler, row: Any) -> Any:
    """A task's child (event, meeting, call, disclosure) is visible with its task, or not at all."""
    t = _T.alias()
    return row.c.task_id.in_(sa.select(t.c.id).where(where(c.who, Resource.TASK, Action.READ, t)))


SQL = {
    # the volunteer, meeting and dispute slices add their own fields of Task
    "Task": compiler.TypeSQL(
        {
            "id": compiler.column(lambda r: compiler.global_id("Task", r.t.c.id)),
            "kind": compiler.column(lambda r: r.t.c.kind),
            "category": compiler.column(lambda r: r.t.c.category),
            "title": compiler.column(lambda r: r.t.c.title),
            "description": compiler.column(lambda r: r.t.c.description),
            "photoUrls": compiler.column(lambda r: compiler.json_array(r.t.c.photo_urls)),
            "status": compiler.column(lambda r: r.t.c.status),
            "internal": compiler.column(lambda r: r.t.c.visibility == TaskVisibility.INTERNAL),
            "resolution": compiler.column(lambda r: r.t.c.resolution),
            "createdAt": compiler.column(lambda r: compiler.iso(r.t.c.created_at)),
            "updatedAt": compiler.column(lambda r: compiler.iso(r.t.c.updated_at)),
            "resolvedAt": compiler.column(lambda r: compiler.iso(r.t.c.resolved_at)),
            "closedAt": compiler.column(lambda r: compiler.iso(r.t.c.closed_at)),
            "heldForReview": compiler.column(lambda r: sa.func.coalesce(r.t.c.review_hold == HELD, False)),
            "removed": compiler.column(lambda r: sa.func.coalesce(r.t.c.review_hold == REMOVED, False)),
            "removalReason": compiler.column(
                lambda r: sa.case((r.t.c.review_hold == REMOVED, _removal_reason(r, r.t.c.id, "task_id")))
            ),
            "rating": _rating,
            "compound": lambda c, r, n: c.one(
                "Compound",
                CompoundRow.__table__,
                n,
                lambda t: t.c.id == r.t.c.compound_id,
                allowed=lambda t: where(c.who, Resource.COMPOUND, Action.READ, t),
            ),
            "building": lambda c, r, n: c.one(
                "Building",
                BuildingRow.__table__,
                n,
                lambda t: t.c.id == r.t.c.building_id,
                allowed=lambda t: where(c.who, Resource.BUILDING, Action.READ, t),
            ),
            "reporter": lambda c, r, n: people_sql(c, n, r.t.c.reporter_id, nullable=False),
            "assignees": _people_attached(WORKING_ROLES, disputes_only=False),
            "parties": _people_attached(frozenset({MemberRole.PARTY}), disputes_only=True),
            "mediators": _people_attached(frozenset({MemberRole.MEDIATOR}), disputes_only=True),
            "assignedRole": compiler.column(lambda r: r.t.c.assigned_role),
            "timeline": _timeline,
            "lastEvent": _last_event,
        }
    ),
    "Rating": compiler.TypeSQL(
        {
            "stars": compiler.column(lambda r: r.t.c.rating_stars),
            "comment": compiler.column(lambda r: r.t.c.rating_comment),
        }
    ),
    "TaskEvent": compiler.TypeSQL(
        {
            "id": compiler.column(lambda r: compiler.global_id("TaskEvent", r.t.c.id)),
            "kind": compiler.column(lambda r: r.t.c.kind),
            "actorRole": compiler.column(lambda r: r.t.c.actor_role),
            "createdAt": compiler.column(lambda r: compiler.iso(r.t.c.created_at)),
            "text": compiler.column(
                lambda r: sa.func.coalesce(
                    _payload(r, "text"), _payload(r, "reason"), r.t.c.payload["resolution"].astext
                )
            ),
            "fromStatus": compiler.column(lambda r: _payload(r, "from")),
            "toStatus": compiler.column(lambda r: _payload(r, "to")),
            "stars": compiler.column(lambda r: sa.cast(r.t.c.payload["stars"].astext, sa.Integer)),
            "actor": lambda c, r, n: people_sql(c, n, r.t.c.actor_id),
            "heldForReview": compiler.column(lambda r: _comment_held(r)),
            "removalReason": compiler.column(lambda r: _removal_reason(r, r.t.c.id, "event_id")),
        }
    ),
}
ROOTS = {"task": _root_task}
SQL_NODES = {
    "Task": (_T, lambda c, t: where(c.who, Resource.TASK, Action.READ, t)),
    "TaskEvent": (_E, lambda c, e: sa.and_(visible_with_its_task(c, e), shown_events(c.who, e))),
}
