"""Cost disclosures (公示) as GraphQL types.

Amounts in yuan go in as strings (`"1234.50"`, never floats) and come out as the `Decimal` scalar,
which is also a string with two places.
"""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Annotated

import strawberry
from strawberry.types import Info

from models.cost_split import FEN
from models.cost_split import SplitMethod as SplitMethodEnum
from models.disclosure import CostDisclosure as CostDisclosureRow
from models.disclosure import CostShare as CostShareRow
from models.errors import BadUserInputError
from models.task import Task as TaskRow
from resolvers import disclosure as disclosure_resolvers
from resolvers.context import Context
from resolvers.ids import decode, encode
from schema import docs
from schema.relay import Connection, Node, Nodes, node

CostSplit = docs.enum(
    SplitMethodEnum,
    "分摊方式。",
    {"EQUAL": "每户平均分摊。", "AREA": "按专有部分面积分摊。"},
    name="CostSplit",
)


def _yuan(value: Decimal | str) -> Decimal:
    return Decimal(value).quantize(FEN)


@strawberry.type(description="费用明细中的一项。")
class LineItem:
    description: str = strawberry.field(description="费用名称，例如 电梯设备。")
    amount: Decimal = strawberry.field(description="金额（元，两位小数），以字符串传输。")


@strawberry.type(description="一户应分摊的费用。")
class CostShare:
    number: str = strawberry.field(description="户号，例如 6-1-302。")
    area: Decimal = strawberry.field(description="建筑面积（平方米，两位小数）。")
    share: Decimal = strawberry.field(description="应分摊金额（元，精确到分）。")

    @classmethod
    def from_row(cls, row: CostShareRow) -> CostShare:
        return cls(number=row.number, area=_yuan(row.area), share=_yuan(row.share))


@strawberry.type(
    description="费用公示：明细、补贴、每户分摊。发布后不可修改；更正即发布新版本，旧版本仍然可见。"
)
class CostDisclosure(Node):
    _row: strawberry.Private[CostDisclosureRow]
    version: int = strawberry.field(description="版本号，从 1 开始；更正时递增。")
    title: str = strawberry.field(description="标题。")
    line_items: list[LineItem] = strawberry.field(description="费用明细。")
    total: Decimal = strawberry.field(description="总额（元）：各项明细之和。")
    subsidy: Decimal = strawberry.field(description="补贴（元）。")
    payable: Decimal = strawberry.field(description="由住户分摊的金额（元）：总额减补贴，等于各户分摊之和。")
    split: CostSplit = strawberry.field(description="分摊方式。")
    attachment_urls: list[str] = strawberry.field(description="附件（合同、报价单等）的链接。")
    note: str | None = strawberry.field(description="说明。")
    published_at: datetime.datetime = strawberry.field(description="发布时间。")

    @classmethod
    def from_row(cls, row: CostDisclosureRow) -> CostDisclosure:
        total, subsidy = _yuan(row.total), _yuan(row.subsidy)
        return cls(
            _row=row,
            id=strawberry.ID(encode("CostDisclosure", row.id)),
            version=row.version,
            title=row.title,
            line_items=[
                LineItem(description=i["description"], amount=_yuan(i["amount"])) for i in row.line_items
            ],
            total=total,
            subsidy=subsidy,
            payable=total - subsidy,
            split=SplitMethodEnum(row.split),
            attachment_urls=list(row.attachment_urls),
            note=row.note,
            published_at=row.published_at,
        )

    @strawberry.field(description="每户分摊，按户号排列。")
    async def shares(
        self,
        info: Info[Context, None],
        first: Annotated[int | None, strawberry.argument(description="每页数量，最多 100。")] = 20,
        after: Annotated[str | None, strawberry.argument(description="从这个游标之后开始。")] = None,
    ) -> Connection[CostShare]:
        page = await disclosure_resolvers.shares(info.context, self._row, first=first, after=after)
        return Connection.from_page(page, CostShare.from_row)

    @strawberry.field(description="我家（我居住或拥有的住户）在本次公示中的分摊；不在范围内时为空。")
    async def my_shares(self, info: Info[Context, None]) -> list[CostShare]:
        return [CostShare.from_row(r) for r in await disclosure_resolvers.my_shares(info.context, self._row)]


@strawberry.input(description='费用明细中的一项；金额以字符串填写，例如 "480000.00"。')
class LineItemInput:
    description: str = strawberry.field(description="费用名称（最多 100 字）。")
    amount: str = strawberry.field(description='金额（元），以字符串填写，例如 "480000.00"。')


@strawberry.input(description="发布费用公示（或更正：发布新版本）。")
class PublishCostDisclosureInput:
    task_id: strawberry.ID = strawberry.field(description="事项的全局编号。")
    title: str = strawberry.field(description="标题（最多 60 字）。")
    line_items: list[LineItemInput] = strawberry.field(description="费用明细（1–100 项）。")
    subsidy: str = strawberry.field(description='补贴（元），以字符串填写，没有补贴填 "0"。')
    split: CostSplit = strawberry.field(description="分摊方式。")
    building_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="分摊范围的楼栋；不填则为事项所在楼栋，事项不属于某栋楼时为全小区。"
    )
    attachment_urls: list[str] | None = strawberry.field(
        default=None, description="附件链接（https://，最多 20 个）。"
    )
    note: str | None = strawberry.field(default=None, description="说明（可选）。")


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description="发布费用公示（小区班子）：明细、补贴、每户分摊（精确到分，合计等于总额减补贴）。"
        "公示发布后不可修改；更正请再次发布，生成新版本。"
    )
    async def publish_cost_disclosure(
        self,
        info: Info[Context, None],
        input: Annotated[PublishCostDisclosureInput, strawberry.argument(description="公示内容。")],
    ) -> CostDisclosure:
        building_ids = None
        if input.building_ids is not None:
            try:
                building_ids = [decode(b, "Building")[1] for b in input.building_ids]
            except BadUserInputError:
                raise BadUserInputError("楼栋编号格式不正确。", field="buildingIds") from None
        row = await disclosure_resolvers.publish(
            info.context,
            task_id=decode(input.task_id, "Task")[1],
            title=input.title,
            line_items=[(item.description, item.amount) for item in input.line_items],
            subsidy=input.subsidy,
            split=SplitMethodEnum(input.split).value,
            building_ids=building_ids,
            attachment_urls=input.attachment_urls,
            note=input.note,
        )
        return CostDisclosure.from_row(row)


async def task_disclosures(info: Info[Context, None], task: TaskRow) -> list[CostDisclosure]:
    """Every published version of the task's cost disclosure, newest first."""
    return [CostDisclosure.from_row(r) for r in await disclosure_resolvers.disclosures(info.context, task)]


NODES: Nodes = {
    "CostDisclosure": node(
        CostDisclosure.from_row, lambda ctx, i: disclosure_resolvers.get(ctx, disclosure_id=i)
    )
}
