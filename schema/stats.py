"""Task statistics of a place (compound, grid, community) as GraphQL types: counts only."""

from __future__ import annotations

from decimal import Decimal

import strawberry

from models.task_rules import TaskCategory as TaskCategoryEnum
from models.task_rules import TaskStatus as TaskStatusEnum
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
