"""Messages to people as GraphQL: the inbox (`me { notifications }`), marking read, and the consent
the mini-program obtains with `wx.requestSubscribeMessage`."""

from __future__ import annotations

import datetime
from typing import Annotated

import strawberry
from strawberry.types import Info

from models.message import ConsentChoice as ConsentChoiceEnum
from models.message import Delivery as DeliveryEnum
from models.message import MessageKind as MessageKindEnum
from models.message import Notification as NotificationRow
from resolvers import messages
from resolvers.context import Context
from resolvers.ids import decode, encode
from schema import docs

MessageKind = docs.enum(
    MessageKindEnum,
    "消息的种类。",
    {
        "REPORT_STATUS": "我反映的事项已受理、未予受理或已办结。",
        "REGISTRATION_APPROVED": "我的党员报到已通过。",
        "TASK_ASSIGNED": "有事项分派给我办理（承办、牵头或参加工作专班）。",
        "VOTE_ANNOUNCED": "我将参加的业主表决已发布，业主名册正在公示：请核对我家的登记。",
        "VOTE_OPENED": "我可以投票的业主表决开始了。",
        "VOTE_CLOSING": "我家还没有投票的业主表决将在一天内截止。",
        "VOTE_RESULT": "我可以投票的业主表决已结束：通过、未通过或已撤销。",
        "MEETING_TOMORROW": "我受邀参加的专题会议明天召开。",
        "SHIFT_TOMORROW": "我报名的志愿服务明天开始。",
        "TASK_OVERDUE": "我办理的事项已超过社区规定的办理时限。",
        "EVALUATION_CLOSING": "本社区本期党员评价将在一周内截止。",
        "NOTICE_URGENT": "紧急公告。",
    },
    name="MessageKind",
)
Delivery = docs.enum(
    DeliveryEnum,
    "消息经微信订阅消息送达的情况（小程序内的消息列表总能看到它）。",
    {
        "IN_APP": "只在小程序内：没有绑定微信、没有订阅这类消息，或没有配置模板。",
        "PENDING": "等待发送（失败后会按间隔重试）。",
        "SENDING": "正在发送。",
        "SENT": "微信已接收。",
        "FAILED": "微信拒绝（例如用户已不再订阅）或多次重试仍失败。",
        "UNCONFIRMED": "发送时中断或超时未获答复，无法确认微信是否送达；为免重复，不再重发。",
    },
    name="MessageDelivery",
)
ConsentChoice = docs.enum(
    ConsentChoiceEnum,
    "wx.requestSubscribeMessage 对一个模板的回答。",
    {
        "ACCEPT": "同意：可以发送一条这类消息。",
        "REJECT": "拒绝：不再发送，直到再次同意。",
        "BAN": "已被后台封禁：不再发送。",
        "FILTER": "模板被过滤，未向用户询问：不变。",
    },
    name="SubscriptionChoice",
)


@strawberry.type(description="给我的一条消息。")
class Notification:
    id: strawberry.ID = strawberry.field(description="消息的编号（标记已读时用）。")
    kind: MessageKind = strawberry.field(description="种类。")
    title: str = strawberry.field(description="标题。")
    body: str = strawberry.field(description="正文。")
    subject_id: strawberry.ID = strawberry.field(
        description="消息所说的对象（事项、报到申请、表决、会议、接龙、社区）的全局编号。"
    )
    created_at: datetime.datetime = strawberry.field(description="时间。")
    read_at: datetime.datetime | None = strawberry.field(description="读过的时间；未读时为空。")
    delivery: Delivery = strawberry.field(description="经微信订阅消息送达的情况。")

    @classmethod
    def from_row(cls, row: NotificationRow) -> Notification:
        return cls(
            id=strawberry.ID(encode("Notification", row.id)),
            kind=MessageKindEnum(row.kind),
            title=row.title,
            body=row.body,
            subject_id=strawberry.ID(encode(row.ref_type, row.ref_id)),
            created_at=row.created_at,
            read_at=row.read_at,
            delivery=DeliveryEnum(row.delivery),
        )


@strawberry.input(description="wx.requestSubscribeMessage 对一个模板的回答。")
class SubscriptionResultInput:
    template_id: str = strawberry.field(description="模板编号。")
    choice: ConsentChoice = strawberry.field(description="回答：accept、reject、ban 或 filter。")


@strawberry.type(description="我对一个模板还剩几次订阅（每次同意可发送一条）。")
class SubscriptionConsent:
    template_id: str = strawberry.field(description="模板编号。")
    remaining: int = strawberry.field(description="还可发送的条数。")


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description="记录 wx.requestSubscribeMessage 的结果：每次同意可发送一条该模板的订阅消息，拒绝则不再发送。"
    )
    async def record_subscription_consent(
        self,
        info: Info[Context, None],
        results: Annotated[
            list[SubscriptionResultInput], strawberry.argument(description="每个模板的回答（最多 20 个）。")
        ],
    ) -> list[SubscriptionConsent]:
        left = await messages.record_consent(
            info.context,
            results=[(r.template_id, ConsentChoiceEnum(r.choice)) for r in results],
            templates=info.context.services.templates,
        )
        return [SubscriptionConsent(template_id=t, remaining=n) for t, n in sorted(left.items())]

    @strawberry.mutation(description="把我的消息标记为已读：给出编号的，或不给编号时全部；返回标记的条数。")
    async def mark_notifications_read(
        self,
        info: Info[Context, None],
        ids: Annotated[
            list[strawberry.ID] | None,
            strawberry.argument(description="消息的编号（最多 200 个）；不填为全部。"),
        ] = None,
    ) -> int:
        chosen = None if ids is None else [decode(i, "Notification", field="ids")[1] for i in ids]
        return await messages.mark_read(info.context, ids=chosen)
