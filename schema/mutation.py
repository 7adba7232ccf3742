"""The root mutation."""

from __future__ import annotations

from decimal import Decimal

import strawberry
from strawberry.types import Info

from models.task_rules import Action
from resolvers import login
from resolvers import task as task_resolvers
from resolvers import volunteer as volunteer_resolvers
from resolvers import vote as vote_resolvers
from resolvers.context import Context
from resolvers.ids import decode
from schema.disclosure import DisclosureMutations
from schema.me import AuthPayload, Role
from schema.meeting import MeetingMutations
from schema.task import ReportTaskInput, Task, TaskEvent
from schema.volunteer import OpenVolunteerCallInput, VolunteerCall
from schema.vote import Ballot, Choice, OpenVoteInput, Vote


@strawberry.type
class Mutation(DisclosureMutations, MeetingMutations):
    @strawberry.mutation(
        description="微信小程序登录：用 wx.login 得到的 code 换取访问令牌；首次登录会创建账号。"
    )
    async def wechat_login(self, info: Info[Context, None], code: str) -> AuthPayload:
        return AuthPayload.from_result(await login.wechat_login(info.context, code=code))

    @strawberry.mutation(
        description="绑定手机号：用 getPhoneNumber 得到的 code；若社区已登记该手机号，账号并入登记的人员。"
    )
    async def bind_phone(self, info: Info[Context, None], code: str) -> AuthPayload:
        return AuthPayload.from_result(await login.bind_phone(info.context, code=code))

    @strawberry.mutation(description="开发环境专用：按手机号直接登录。")
    async def dev_login(self, info: Info[Context, None], phone: str) -> AuthPayload:
        return AuthPayload.from_result(await login.dev_login(info.context, phone=phone))

    @strawberry.mutation(
        description="发起业主表决（业委会成员、社区“两委”成员）。发起时冻结表决范围内的住户、面积和业主。"
    )
    async def open_vote(self, info: Info[Context, None], input: OpenVoteInput) -> Vote:
        _, compound_id = decode(input.compound_id, "Compound")
        building_ids = [decode(b, "Building")[1] for b in input.building_ids or []]
        row = await vote_resolvers.open_vote(
            info.context,
            compound_id=compound_id,
            building_ids=building_ids,
            title=input.title,
            description=input.description,
            matter=input.matter,
            rule=input.rule,
            closes_at=input.closes_at,
            task_id=decode(input.task_id, "Task")[1] if input.task_id else None,
        )
        return Vote.from_row(row)

    @strawberry.mutation(description="投票：适用于您在表决范围内的每一户；截止前可以改票，以最后一次为准。")
    async def cast_ballot(self, info: Info[Context, None], vote_id: strawberry.ID, choice: Choice) -> Ballot:
        _, ident = decode(vote_id, "Vote")
        return Ballot.from_result(
            await vote_resolvers.cast_ballot(info.context, vote_id=ident, choice=choice)
        )

    @strawberry.mutation(description="结束表决并公布结果（业委会成员、社区“两委”成员）；结果不可更改。")
    async def close_vote(self, info: Info[Context, None], id: strawberry.ID) -> Vote:
        _, ident = decode(id, "Vote")
        return Vote.from_row(await vote_resolvers.close_vote(info.context, vote_id=ident))

    @strawberry.mutation(description="反映一个事项（随手拍）：问题、矛盾纠纷；班子可发起项目。")
    async def report_task(self, info: Info[Context, None], input: ReportTaskInput) -> Task:
        new = task_resolvers.NewTask(
            compound_id=decode(input.compound_id, "Compound")[1],
            building_id=decode(input.building_id, "Building")[1] if input.building_id else None,
            kind=input.kind,
            category=input.category,
            title=input.title,
            description=input.description,
            photo_urls=input.photo_urls or [],
            internal=input.internal,
            party_ids=[decode(p, "Person")[1] for p in input.party_ids or []],
        )
        return Task.from_row(await task_resolvers.report(info.context, new))

    @strawberry.mutation(description="立项。")
    async def accept_task(self, info: Info[Context, None], id: strawberry.ID) -> Task:
        return await _transition(info, id, Action.ACCEPT)

    @strawberry.mutation(description="不予受理，须说明理由。")
    async def reject_task(self, info: Info[Context, None], id: strawberry.ID, reason: str) -> Task:
        return await _transition(info, id, Action.REJECT, text=reason)

    @strawberry.mutation(description="开始办理。")
    async def start_task(self, info: Info[Context, None], id: strawberry.ID) -> Task:
        return await _transition(info, id, Action.START)

    @strawberry.mutation(
        description="分派给承办人和/或角色（如本小区物业）；memberIds 组成工作专班，承办人牵头。"
    )
    async def assign_task(
        self,
        info: Info[Context, None],
        id: strawberry.ID,
        assignee_id: strawberry.ID | None = None,
        role: Role | None = None,
        member_ids: list[strawberry.ID] | None = None,
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
    async def resolve_task(self, info: Info[Context, None], id: strawberry.ID, resolution: str) -> Task:
        return await _transition(info, id, Action.RESOLVE, text=resolution)

    @strawberry.mutation(description="反映人对办结结果不满意时重新打开（仅一次），须说明理由。")
    async def reopen_task(self, info: Info[Context, None], id: strawberry.ID, reason: str) -> Task:
        return await _transition(info, id, Action.REOPEN, text=reason)

    @strawberry.mutation(description="反映人评价（1–5 星）并关闭事项。")
    async def rate_task(
        self, info: Info[Context, None], id: strawberry.ID, stars: int, comment: str | None = None
    ) -> Task:
        return await _transition(info, id, Action.RATE, text=comment, stars=stars)

    @strawberry.mutation(description="评论。")
    async def comment_task(self, info: Info[Context, None], id: strawberry.ID, text: str) -> TaskEvent:
        return TaskEvent.from_row(
            await task_resolvers.comment(info.context, task_id=decode(id, "Task")[1], text=text)
        )

    @strawberry.mutation(description="发起志愿者接龙。")
    async def open_volunteer_call(
        self, info: Info[Context, None], input: OpenVolunteerCallInput
    ) -> VolunteerCall:
        row = await volunteer_resolvers.open_call(
            info.context,
            task_id=decode(input.task_id, "Task")[1],
            title=input.title,
            needed=input.needed,
            starts_at=input.starts_at,
            ends_at=input.ends_at,
        )
        return VolunteerCall.from_row(row)

    @strawberry.mutation(description="报名志愿者接龙；报满后进入候补。")
    async def sign_up(self, info: Info[Context, None], call_id: strawberry.ID) -> VolunteerCall:
        row = await volunteer_resolvers.sign_up(info.context, call_id=decode(call_id, "VolunteerCall")[1])
        return VolunteerCall.from_row(row)

    @strawberry.mutation(description="取消报名；候补的第一位自动递补。")
    async def withdraw(self, info: Info[Context, None], call_id: strawberry.ID) -> VolunteerCall:
        row = await volunteer_resolvers.withdraw(info.context, call_id=decode(call_id, "VolunteerCall")[1])
        return VolunteerCall.from_row(row)

    @strawberry.mutation(description="组织者为志愿者签到；服务时长记入其参与记录。")
    async def check_in(
        self,
        info: Info[Context, None],
        call_id: strawberry.ID,
        person_id: strawberry.ID,
        hours: Decimal | None = None,
    ) -> VolunteerCall:
        row = await volunteer_resolvers.check_in(
            info.context,
            call_id=decode(call_id, "VolunteerCall")[1],
            person_id=decode(person_id, "Person")[1],
            hours=hours,
        )
        return VolunteerCall.from_row(row)


async def _transition(
    info: Info[Context, None],
    id: strawberry.ID,
    action: Action,
    *,
    text: str | None = None,
    stars: int | None = None,
) -> Task:
    row = await task_resolvers.change_status(
        info.context, task_id=decode(id, "Task")[1], action=action, text=text, stars=stars
    )
    return Task.from_row(row)
