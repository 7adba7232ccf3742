"""Task statistics of a place (compound, grid, community) as GraphQL types: counts only."""

from __future__ import annotations

import datetime
from decimal import Decimal

import strawberry

from models.task_rules import TaskCategory as TaskCategoryEnum
from models.task_rules import TaskStatus as TaskStatusEnum
from resolvers.party_stats import PartyStatsView
from resolvers.stats import TaskStatsView
from schema.task import TaskCategory, TaskStatus


@strawberry.type(description="某一状态的事项数。")
class TaskStatusCount:
    status: TaskStatus = strawberry.field(description="状态。")
    count: int = strawberry.field(description="事项数。")


@strawberry.type(description="某一分类的事项数。")
class TaskCategoryCount:
    category: TaskCategory = strawberry.field(description="分类。")
    count: int = strawberry.field(description="事项数。")


@strawberry.type(description="事项统计（公开的汇总数字，不含任何事项内容）：统计该地所有事项。")
class TaskStats:
    by_status: list[TaskStatusCount] = strawberry.field(
        description="按状态计数，只列出出现的状态，按状态顺序排列。"
    )
    by_category: list[TaskCategoryCount] = strawberry.field(
        description="按分类计数，只列出出现的分类，按分类顺序排列。"
    )
    resolved_count: int = strawberry.field(description="已办结的事项数（已办结或办结后关闭）。")
    disputes_mediated: int = strawberry.field(description="已记录调解结果的矛盾纠纷数。")
    median_hours_to_resolution: Decimal | None = strawberry.field(
        description="从反映到办结的时长中位数（小时，一位小数）；尚无办结事项时为空。"
    )
    volunteer_hours: Decimal = strawberry.field(description="志愿服务总时长（小时，两位小数）。")

    @classmethod
    def from_view(cls, view: TaskStatsView) -> TaskStats:
        return cls(
            by_status=[
                TaskStatusCount(status=TaskStatusEnum(status), count=n) for status, n in view.by_status
            ],
            by_category=[
                TaskCategoryCount(category=TaskCategoryEnum(category), count=n)
                for category, n in view.by_category
            ],
            resolved_count=view.resolved_count,
            disputes_mediated=view.disputes_mediated,
            median_hours_to_resolution=view.median_hours_to_resolution,
            volunteer_hours=view.volunteer_hours,
        )


@strawberry.type(
    description="党员报到与参与统计（某一期间）：比例公开（第三方接口只看到报到率）；人数和时长只给与本地党员工作相关的人员看，其他人为空；不含任何人的姓名。"
)
class PartyStats:
    period: str = strawberry.field(description="期间，例如 2026Q4 或 2026。")
    starts_on: datetime.date = strawberry.field(description="期间的第一天。")
    ends_on: datetime.date = strawberry.field(description="期间结束后的第一天。")
    members: int | None = strawberry.field(description="在职党员人数（今天）；无权查看时为空。")
    registered: int | None = strawberry.field(description="已报到人数（今天）；无权查看时为空。")
    active: int | None = strawberry.field(description="期间内有参与记录的已报到党员人数；无权查看时为空。")
    hours: Decimal | None = strawberry.field(
        description="期间内已报到党员的志愿服务时长合计；无权查看时为空。"
    )
    registration_rate: Decimal | None = strawberry.field(description="报到率（0–1，四位小数），公开。")
    active_rate: Decimal | None = strawberry.field(
        description="期间内参与率：有参与记录的已报到党员所占比例（第三方接口只看到报到率）。"
    )
    hours_per_member: Decimal | None = strawberry.field(
        description="期间内人均志愿服务时长（小时）（第三方接口只看到报到率）。"
    )

    @classmethod
    def from_view(cls, view: PartyStatsView) -> PartyStats:
        return cls(**{name: getattr(view, name) for name in PartyStatsView.__dataclass_fields__})


PERIOD = "期间：2026Q4（季度）或 2026（年度）；不填为本季度。"
