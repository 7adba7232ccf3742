"""Tasks (事项) as GraphQL types and inputs (names from API.md)."""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.types import Info

from models import Task as TaskRow
from models import TaskEvent as TaskEventRow
from models.task_rules import TaskCategory as TaskCategoryEnum
from models.task_rules import TaskKind as TaskKindEnum
from models.task_rules import TaskStatus as TaskStatusEnum
from resolvers import person as person_resolvers
from resolvers import task as task_resolvers
from resolvers.context import Context
from resolvers.ids import decode_cursor, encode
from schema.person import Person
from schema.relay import Connection, Node

if TYPE_CHECKING:
    from schema.disclosure import CostDisclosure
    from schema.meeting import DisputeOutcome, Meeting
    from schema.place import Building, Compound
    from schema.volunteer import VolunteerCall

TaskKind = strawberry.enum(TaskKindEnum, description="事项类型：问题、项目、矛盾纠纷。")
TaskStatus = strawberry.enum(TaskStatusEnum, description="事项状态。")
TaskCategory = strawberry.enum(
    TaskCategoryEnum,
    description="分类：电梯、停车、电动车充电、环境绿化、安全、物业服务与收费、产权、设施维修、邻里关系、其他。",
)


@strawberry.type(description="事项时间线上的一条记录（只增不改）。")
class TaskEvent(Node):
    _row: strawberry.Private[TaskEventRow]
    kind: str = strawberry.field(
        description="REPORTED、STATUS_CHANGED、ASSIGNED、COMMENTED、REOPENED、RATED、MEETING、VOLUNTEER_CALL、DISCLOSURE、DISPUTE_OUTCOME 等。"
    )
    actor_role: str = strawberry.field(
        description="操作时的身份：REPORTER、TEAM、ASSIGNEE、RESIDENT、SYSTEM。"
    )
    created_at: datetime.datetime
    text: str | None = strawberry.field(description="评论、理由或办理结果。")
    from_status: TaskStatus | None
    to_status: TaskStatus | None
    stars: int | None

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

    @strawberry.field(description="操作人（按您的权限脱敏）；系统操作时为空。")
    async def actor(self, info: Info[Context, None]) -> Person | None:
        if self._row.actor_id is None:
            return None
        ctx = info.context
        person = await ctx.loaders.person.load(self._row.actor_id)
        compound = await ctx.loaders.compound.load(self._row.compound_id)
        if person is None or compound is None:
            return None
        from resolvers.place import compound_place

        return Person.from_view(await person_resolvers.view_at(ctx, person, compound_place(compound)))


@strawberry.type(description="评价。")
class Rating:
    stars: int
    comment: str | None


@strawberry.type(description="事项：居民反映的问题、班子推进的项目或调解的矛盾纠纷。")
class Task(Node):
    _row: strawberry.Private[TaskRow]
    kind: TaskKind
    category: TaskCategory
    title: str
    description: str
    photo_urls: list[str]
    status: TaskStatus
    internal: bool = strawberry.field(description="是否仅班子可见。")
    resolution: str | None
    created_at: datetime.datetime
    updated_at: datetime.datetime
    resolved_at: datetime.datetime | None
    closed_at: datetime.datetime | None
    held_for_review: bool = strawberry.field(description="内容安全检查暂时无法完成，等待人工复核。")

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
            internal=row.visibility == "INTERNAL",
            resolution=row.resolution,
            created_at=row.created_at,
            updated_at=row.updated_at,
            resolved_at=row.resolved_at,
            closed_at=row.closed_at,
            held_for_review=row.review_hold is not None,
        )

    @strawberry.field
    def rating(self) -> Rating | None:
        if self._row.rating_stars is None:
            return None
        return Rating(stars=self._row.rating_stars, comment=self._row.rating_comment)

    @strawberry.field
    async def compound(
        self, info: Info[Context, None]
    ) -> Annotated[Compound, strawberry.lazy("schema.place")]:
        from schema.place import Compound

        row = await info.context.loaders.compound.load(self._row.compound_id)
        assert row is not None
        return Compound.from_row(row)

    @strawberry.field
    async def building(
        self, info: Info[Context, None]
    ) -> Annotated[Building, strawberry.lazy("schema.place")] | None:
        from schema.place import Building

        if self._row.building_id is None:
            return None
        row = await info.context.loaders.building.load(self._row.building_id)
        return Building.from_row(row) if row else None

    @strawberry.field(description="反映人（按您的权限脱敏）。")
    async def reporter(self, info: Info[Context, None]) -> Person:
        ctx = info.context
        person = await ctx.loaders.person.load(self._row.reporter_id)
        assert person is not None
        return Person.from_view(
            await person_resolvers.view_at(ctx, person, await task_resolvers.place_of(ctx, self._row))
        )

    @strawberry.field(description="承办人与工作专班（牵头人在前）。")
    async def assignees(self, info: Info[Context, None]) -> list[Person]:
        ctx = info.context
        members = [
            m
            for m in await ctx.loaders.task_members.load(self._row.id)
            if m.role in task_resolvers.WORKING_ROLES
        ]
        members.sort(key=lambda m: m.role != "LEAD" and m.role != "ASSIGNEE")
        place = await task_resolvers.place_of(ctx, self._row)
        people = await ctx.loaders.person.load_many([m.person_id for m in members])
        views = await person_resolvers.views_at(ctx, [p for p in people if p is not None], place)
        return [Person.from_view(v) for v in views]

    @strawberry.field(description="承办角色，例如 PROPERTY_STAFF（本小区物业）。")
    def assigned_role(self) -> str | None:
        return self._row.assigned_role

    @strawberry.field(description="时间线，按发生先后。")
    async def timeline(
        self, info: Info[Context, None], first: int | None = 20, after: str | None = None
    ) -> Connection[TaskEvent]:
        page = await task_resolvers.timeline(
            info.context, self._row, first=first, offset=decode_cursor(after)
        )
        return Connection.from_page(page, TaskEvent.from_row)

    @strawberry.field(description="最近一条时间线记录。")
    async def last_event(self, info: Info[Context, None]) -> TaskEvent | None:
        row = await info.context.loaders.last_event.load(self._row.id)
        return TaskEvent.from_row(row) if row else None

    @strawberry.field(description="志愿者接龙。")
    async def volunteer_calls(
        self, info: Info[Context, None]
    ) -> list[Annotated[VolunteerCall, strawberry.lazy("schema.volunteer")]]:
        from schema.volunteer import VolunteerCall

        return [
            VolunteerCall.from_row(r) for r in await info.context.loaders.volunteer_calls.load(self._row.id)
        ]

    @strawberry.field(description="专题会议，按会议时间先后。")
    async def meetings(
        self, info: Info[Context, None]
    ) -> list[Annotated[Meeting, strawberry.lazy("schema.meeting")]]:
        from schema.meeting import task_meetings

        return await task_meetings(info, self._row)

    @strawberry.field(description="矛盾纠纷的当事人（反映人在前，按您的权限脱敏）；其他事项为空。")
    async def parties(self, info: Info[Context, None]) -> list[Person] | None:
        from schema.meeting import task_members

        return await task_members(info, self._row, "PARTY")

    @strawberry.field(description="矛盾纠纷的调解员（按您的权限脱敏）；其他事项为空。")
    async def mediators(self, info: Info[Context, None]) -> list[Person] | None:
        from schema.meeting import task_members

        return await task_members(info, self._row, "MEDIATOR")

    @strawberry.field(description="矛盾纠纷的调解结果；尚未记录或不是矛盾纠纷时为空。")
    async def dispute_outcome(
        self, info: Info[Context, None]
    ) -> Annotated[DisputeOutcome, strawberry.lazy("schema.meeting")] | None:
        from schema.meeting import task_dispute_outcome

        return await task_dispute_outcome(info, self._row)

    @strawberry.field(description="费用公示的各个版本，最新的在前；旧版本保留可见。")
    async def disclosures(
        self, info: Info[Context, None]
    ) -> list[Annotated[CostDisclosure, strawberry.lazy("schema.disclosure")]]:
        from schema.disclosure import task_disclosures

        return await task_disclosures(info, self._row)


@strawberry.input(description="反映一个事项。")
class ReportTaskInput:
    compound_id: strawberry.ID
    building_id: strawberry.ID | None = None
    kind: TaskKind = TaskKindEnum.ISSUE
    category: TaskCategory
    title: str
    description: str
    photo_urls: list[str] | None = None
    internal: bool = False
    party_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="矛盾纠纷的其他当事人。"
    )
