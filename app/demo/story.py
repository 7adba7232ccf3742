"""The demo's living story, told through the same resolvers a client would call.

In the pilot, building 6's elevator replacement stalled just below the ¾ line until a building
convener won over the last households door by door. The demo tells that project — six meetings,
a cost disclosure at 200–300 yuan per household after subsidy — and opens its vote with the
ballots that leave it there: most of 6栋 has voted, agreement stands just under ¾ by head, and a
few households (6-1-302 among them, 13800000007's) have not voted yet. Around it: 东方新天地's
back-hill clearing with a call for 10 volunteers and its unregistrable parking spaces, 君鼎疆上's
e-bike charging, and 山予城's property-fee dispute under mediation. Three owners of 千山美林 have
applied to register (报到) as Party members and wait for the community committee; the Party members
who came to the elevator meetings have this quarter's evaluations, all but one confirmed. On the
notice boards: the community committee's winter safety notice to all of 九龙社区, the property
staff's notice to 6栋 of the elevator works, pinned, and a notice of theirs withdrawn.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from auth.backend import load_person_principal
from models.enums import Role
from models.evaluation import Grade, PartyEvaluation, PeriodKind, period_name
from models.notice import Notice
from models.party import (
    Participation,
    ParticipationKind,
    PartyProfile,
    PartyRegistration,
    RegistrationStatus,
    ServiceKind,
)
from models.person import Home, Person, RoleAssignment, TeamPosition
from models.place import Building, Compound
from models.task import Task
from models.task_rules import TaskAction, TaskCategory, TaskKind
from models.terms import in_force, today
from models.vote import Vote, VoteElector, VoteOwner
from models.vote_rules import Choice, VoteMatter
from resolvers import disclosure, evaluation_export, party
from resolvers import dispute as disputes
from resolvers import evaluation as evaluations
from resolvers import meeting as meetings
from resolvers import notice as notices
from resolvers import task as tasks
from resolvers import volunteer as volunteers
from resolvers import vote as votes
from resolvers.context import Context, Services

COMPOUND = "qianshan-meilin"
TITLE = "6栋加装电梯（既有住宅增设电梯）"
OPENER = "13800000006"  # the owners' committee member
HOLDOUT = "6-1-302"  # left for the newcomer to cast
AGREE, DISAGREE, ABSTAIN = 17, 4, 3  # of 27 heads: 24 take part, 17/24 ≈ 70.8 % agree


async def _context(sessions: async_sessionmaker[AsyncSession], phone: str) -> Context:
    async with sessions() as session:
        person_id = (await session.execute(sa.select(Person.id).where(Person.phone == phone))).scalar_one()
        principal = await load_person_principal(session, person_id)
    assert principal is not None
    services = Services(sessions=sessions, secret="", token_ttl_seconds=0, is_dev=True)
    return Context(principal=principal, services=services)


async def tell(sessions: async_sessionmaker[AsyncSession]) -> bool:
    """Tell the whole story once: the tasks, the building-6 vote with its ballots, and residents'
    applications to register as Party members."""
    if not await tell_tasks(sessions):
        return False
    told = await tell_vote(sessions)
    await tell_party(sessions)
    await tell_evaluations(sessions)
    await tell_notices(sessions)
    return told


async def tell_vote(sessions: async_sessionmaker[AsyncSession]) -> bool:
    """Open the building-6 vote with its ballots, unless the compound already has a vote."""
    async with sessions() as session:
        compound = (await session.execute(sa.select(Compound).where(Compound.key == COMPOUND))).scalar()
        if compound is None:
            return False
        if (
            await session.execute(sa.select(Vote.id).where(Vote.compound_id == compound.id).limit(1))
        ).first():
            return False
        building = (
            await session.execute(
                sa.select(Building.id).where(Building.compound_id == compound.id, Building.name == "6栋")
            )
        ).scalar_one()
    opener = await _context(sessions, OPENER)
    vote = await votes.open_vote(
        opener,
        compound_id=compound.id,
        building_ids=[building],
        title=TITLE,
        description=(
            "6栋为1998年建成的7层住宅，申请加装电梯。总造价约62万元，财政补贴后由6栋业主按专有部分面积分摊，"
            "每户约200–300元。改建建筑物及其附属设施（民法典第二百七十八条第一款第七项），"
            "须经参与表决的专有部分面积和人数均四分之三以上同意。"
        ),
        matter=VoteMatter.RENOVATE_OR_REBUILD,
        rule=None,
        closes_at=datetime.now(UTC) + timedelta(days=14),
        task_id=await _task_id(sessions, ELEVATOR_TITLE),
    )
    async with sessions() as session:
        voters = (
            await session.execute(
                sa.select(Person.phone, sa.func.min(VoteElector.number).label("first"))
                .join(VoteOwner, VoteOwner.person_id == Person.id)
                .join(
                    VoteElector,
                    sa.and_(
                        VoteElector.vote_id == VoteOwner.vote_id,
                        VoteElector.household_id == VoteOwner.household_id,
                    ),
                )
                .where(VoteOwner.vote_id == vote.id, VoteElector.number != HOLDOUT)
                .group_by(Person.phone, VoteElector.head)
                .order_by("first", Person.phone)
            )
        ).all()
    # one voter per head: the first owner (by phone) of each head's first household
    seen_first: set[str] = set()
    plan = [Choice.AGREE] * AGREE + [Choice.DISAGREE] * DISAGREE + [Choice.ABSTAIN] * ABSTAIN
    for phone, first in voters:
        if first in seen_first or not plan:
            continue
        seen_first.add(first)
        await votes.cast_ballot(await _context(sessions, phone), vote_id=vote.id, choice=plan.pop(0))
    return True


# --- the tasks ------------------------------------------------------------------------------------

ELEVATOR_TITLE = "6栋加装电梯"
CHIEF = "13800000001"
MEETINGS = [
    ("加装电梯意向摸底", ["成立6栋加装电梯工作专班，由楼栋召集人牵头", "逐户征求意见，两周内完成摸底"]),
    ("设计方案与报价比选", ["比选三家电梯公司报价", "采用不占用消防通道的北侧方案"]),
    ("低层住户顾虑协调", ["一、二层住户不分摊费用，另行协商采光补偿", "邀请反对意见住户参加监督小组"]),
    ("费用分摊办法", ["扣除财政补贴后按专有部分面积分摊", "每户约200–300元，结果公示七日"]),
    ("施工与安全方案", ["施工期间每日公示进度", "监督小组每周巡查一次"]),
    ("表决动员", ["召开6栋业主表决，按四分之三以上同意执行", "楼栋召集人负责未表态住户的上门沟通"]),
]


async def _person_id(sessions: async_sessionmaker[AsyncSession], phone: str) -> Any:
    async with sessions() as session:
        return (await session.execute(sa.select(Person.id).where(Person.phone == phone))).scalar_one()


async def _task_id(sessions: async_sessionmaker[AsyncSession], title: str) -> Any:
    async with sessions() as session:
        return (await session.execute(sa.select(Task.id).where(Task.title == title))).scalar()


async def _holder(
    sessions: async_sessionmaker[AsyncSession],
    compound: Compound,
    *,
    role: str | None = None,
    position: str | None = None,
) -> str:
    """The phone of someone holding a role (or position) in a compound, its grid or community."""
    async with sessions() as session:
        if position is not None:
            statement = (
                sa.select(Person.phone)
                .join(TeamPosition, TeamPosition.person_id == Person.id)
                .where(TeamPosition.compound_id == compound.id, TeamPosition.position == position)
            )
        else:
            scope = {
                "GRID_WORKER": RoleAssignment.grid_id == compound.grid_id,
                "COMMUNITY_COMMITTEE": RoleAssignment.community_id == compound.community_id,
            }.get(role or "", RoleAssignment.compound_id == compound.id)
            statement = (
                sa.select(Person.phone)
                .join(RoleAssignment, RoleAssignment.person_id == Person.id)
                .where(RoleAssignment.role == role, scope)
            )
        return (await session.execute(statement.order_by(Person.phone).limit(1))).scalar_one()


async def _residents(sessions: async_sessionmaker[AsyncSession], compound: Compound, count: int) -> list[str]:
    async with sessions() as session:
        rows = await session.execute(
            sa.select(Person.phone)
            .join(Home, Home.person_id == Person.id)
            .where(Home.compound_id == compound.id, Home.relation == "OWNER")
            .group_by(Person.phone)
            .order_by(Person.phone)
            .limit(count)
        )
        return list(rows.scalars())


async def tell_tasks(sessions: async_sessionmaker[AsyncSession]) -> bool:
    """The seed's tasks in their states; told once (nothing happens when any task exists)."""
    async with sessions() as session:
        if (await session.execute(sa.select(Task.id).limit(1))).first():
            return False
        compounds = {c.key: c for c in (await session.execute(sa.select(Compound))).scalars()}
    if not {COMPOUND, "dongfang-xintiandi", "junding-jiangshang", "shanyu-cheng"} <= set(compounds):
        return False
    now = datetime.now(UTC)
    qianshan = compounds[COMPOUND]
    async with sessions() as session:
        building6 = (
            await session.execute(
                sa.select(Building.id).where(Building.compound_id == qianshan.id, Building.name == "6栋")
            )
        ).scalar_one()

    # 千山美林: the elevator project
    chief = await _context(sessions, CHIEF)
    elevator = await tasks.report(
        chief,
        tasks.NewTask(
            compound_id=qianshan.id,
            building_id=building6,
            kind=TaskKind.PROJECT,
            category=TaskCategory.ELEVATOR,
            title=ELEVATOR_TITLE,
            description="6栋为7层老旧住宅，老人多、上下楼难。申请既有住宅增设电梯，争取财政补贴，"
            "剩余费用由6栋业主按面积分摊，费用和合同全部公示。",
            photo_urls=[],
            internal=False,
            party_ids=[],
        ),
    )
    await tasks.change_status(chief, task_id=elevator.id, action=TaskAction.ACCEPT)
    await tasks.change_status(chief, task_id=elevator.id, action=TaskAction.START)
    convener, deputy, member = [
        await _person_id(sessions, p) for p in ("13800000002", "13800000009", "13800000010")
    ]
    await tasks.assign(
        chief,
        task_id=elevator.id,
        assignee_id=convener,
        role=None,
        member_ids=[deputy, member],
    )
    attendees = [
        await _person_id(sessions, p) for p in ("13800000002", "13800000010", "13800000006", "13800000007")
    ]
    for week, (topic, decisions) in enumerate(MEETINGS):
        held = now - timedelta(days=7 * (len(MEETINGS) - week) + 3)
        meeting = await meetings.schedule(
            chief,
            task_id=elevator.id,
            topic=topic,
            held_at=held,
            location="千山美林党群服务站",
            attendee_ids=attendees,
        )
        await meetings.record_decisions(
            chief, meeting_id=meeting.id, decisions=decisions, attendee_ids=attendees
        )
    await disclosure.publish(
        chief,
        task_id=elevator.id,
        title="6栋加装电梯费用公示",
        line_items=[("电梯设备及安装", "480000.00"), ("土建、管线迁改及监理", "140000.00")],
        subsidy="613000.00",
        split="AREA",
        building_ids=None,
        attachment_urls=[
            "https://qianshan.example.cn/6/contract.pdf",
            "https://qianshan.example.cn/6/quotes.pdf",
        ],
        note="财政补贴61.3万元，剩余7000元由6栋28户按专有部分面积分摊。",
    )

    # 东方新天地: the back-hill clearing, and the parking spaces that cannot be registered
    dongfang = compounds["dongfang-xintiandi"]
    dongfang_chief = await _context(sessions, "13800000016")
    hill = await tasks.report(
        dongfang_chief,
        tasks.NewTask(
            compound_id=dongfang.id,
            building_id=None,
            kind=TaskKind.ISSUE,
            category=TaskCategory.ENVIRONMENT,
            title="后山树枝清理",
            description="后山步道两侧树枝疯长，挡住路灯，老人晚上散步不安全。",
            photo_urls=[],
            internal=False,
            party_ids=[],
        ),
    )
    await tasks.change_status(dongfang_chief, task_id=hill.id, action=TaskAction.ACCEPT)
    saturday = (now + timedelta(days=(5 - now.weekday()) % 7 or 7)).replace(
        hour=1, minute=0, second=0, microsecond=0
    )
    call = await volunteers.open_call(
        dongfang_chief,
        task_id=hill.id,
        title="周六上午清理后山树枝",
        needed=10,
        starts_at=saturday,
        ends_at=saturday + timedelta(hours=3),
    )
    for phone in await _residents(sessions, dongfang, 7):
        await volunteers.sign_up(await _context(sessions, phone), call_id=call.id)
    await tasks.report(
        await _context(sessions, "13800000011"),
        tasks.NewTask(
            compound_id=dongfang.id,
            building_id=None,
            kind=TaskKind.ISSUE,
            category=TaskCategory.PROPERTY_RIGHTS,
            title="地下车位无法办理产权证",
            description="买了车位多年，一直办不了产权证，希望社区协调开发商和不动产登记中心。",
            photo_urls=[],
            internal=False,
            party_ids=[],
        ),
    )

    # 君鼎疆上: e-bike charging, with the property company
    junding = compounds["junding-jiangshang"]
    reporter = (await _residents(sessions, junding, 1))[0]
    charging = await tasks.report(
        await _context(sessions, reporter),
        tasks.NewTask(
            compound_id=junding.id,
            building_id=None,
            kind=TaskKind.ISSUE,
            category=TaskCategory.EBIKE_CHARGING,
            title="电动车飞线充电隐患",
            description="不少住户从楼上拉线给电动车充电，楼道里也停满了车，存在火灾隐患。",
            photo_urls=[],
            internal=False,
            party_ids=[],
        ),
    )
    grid = await _context(sessions, await _holder(sessions, junding, role="GRID_WORKER"))
    await tasks.change_status(grid, task_id=charging.id, action=TaskAction.ACCEPT)
    await tasks.assign(grid, task_id=charging.id, assignee_id=None, role=Role.PROPERTY_STAFF)
    staff = await _context(sessions, await _holder(sessions, junding, role="PROPERTY_STAFF"))
    await tasks.change_status(staff, task_id=charging.id, action=TaskAction.START)

    # 山予城: the property-fee dispute, under mediation
    shanyu = compounds["shanyu-cheng"]
    first, second = await _residents(sessions, shanyu, 2)
    fee = await tasks.report(
        await _context(sessions, first),
        tasks.NewTask(
            compound_id=shanyu.id,
            building_id=None,
            kind=TaskKind.DISPUTE,
            category=TaskCategory.PROPERTY_SERVICE,
            title="物业费收费标准争议",
            description="物业公司上调物业费，部分业主认为服务没有改善，拒绝缴费，双方僵持。",
            photo_urls=[],
            internal=False,
            party_ids=[await _person_id(sessions, second)],
        ),
    )
    shanyu_grid = await _context(sessions, await _holder(sessions, shanyu, role="GRID_WORKER"))
    await tasks.change_status(shanyu_grid, task_id=fee.id, action=TaskAction.ACCEPT)
    mediator = await _person_id(sessions, await _holder(sessions, shanyu, role="OWNERS_COMMITTEE"))
    await disputes.add_mediator(shanyu_grid, task_id=fee.id, person_id=mediator)
    return True


#: the employers (and their Party organisations) of the residents who apply to register
APPLICANTS = (
    ("綦江区人民医院", "綦江区人民医院党委", "刘书记 023-48620001", ServiceKind.CARE),
    ("国家税务总局重庆市綦江区税务局", "綦江区税务局机关党委", "陈书记 023-48620002", ServiceKind.PUBLICITY),
    ("重庆市綦江中学", "綦江中学党总支", "赵书记 023-48620003", ServiceKind.VOLUNTEERING),
)


async def tell_party(sessions: async_sessionmaker[AsyncSession]) -> bool:
    """Three owners of 千山美林 apply to register (报到) as Party members, so that the community
    committee has applications to decide; told once (nothing happens while one waits)."""
    async with sessions() as session:
        waiting = sa.select(PartyRegistration.id).where(
            PartyRegistration.status == RegistrationStatus.PENDING
        )
        if (await session.execute(waiting.limit(1))).first():
            return False
        home = Home.__table__
        applicants = (
            await session.execute(
                sa.select(Person.phone, sa.func.min(sa.cast(home.c.household_id, sa.Text)).label("household"))
                .join(home, home.c.person_id == Person.id)
                .join(Compound, Compound.id == home.c.compound_id)
                .where(
                    Compound.key == COMPOUND,
                    home.c.relation == "OWNER",
                    in_force(home),
                    ~Person.phone.like("1380000%"),  # not one of the tour's people
                    ~sa.exists().where(PartyProfile.person_id == Person.id),
                )
                .group_by(Person.phone)
                .having(sa.func.count() == 1)  # a family's flat, not the developer's unsold ones
                .order_by(Person.phone)
                .limit(len(APPLICANTS))
            )
        ).all()
    for (phone, household), (employer, org, contact, service) in zip(applicants, APPLICANTS, strict=False):
        given = party.details(
            employer=employer,
            party_org=org,
            party_org_contact=contact,
            member_since=date(2012, 7, 1),
            skills=None,
            services=[service],
        )
        await party.apply(await _context(sessions, phone), household_id=uuid.UUID(household), given=given)
    return bool(applicants)


COMMITTEE = "13800000004"  # 九龙社区's community committee member


async def tell_evaluations(sessions: async_sessionmaker[AsyncSession]) -> bool:
    """This quarter's evaluations of the Party members who attended the elevator meetings, drafted
    by the chief convener from their participation records; the committee has confirmed all but
    the last, which waits, and exported those confirmed to the members' employers' Party
    organisations. Told once (nothing happens when an evaluation exists)."""
    async with sessions() as session:
        if (await session.execute(sa.select(PartyEvaluation.id).limit(1))).first():
            return False
        chief_id = (await session.execute(sa.select(Person.id).where(Person.phone == CHIEF))).scalar_one()
        attended = list(
            (
                await session.execute(
                    sa.select(Participation.person_id)
                    .where(
                        Participation.kind == ParticipationKind.MEETING, Participation.person_id != chief_id
                    )
                    .group_by(Participation.person_id)
                    .order_by(sa.func.count().desc(), Participation.person_id)
                )
            ).scalars()
        )
    if not attended:
        return False
    chief, committee = await _context(sessions, CHIEF), await _context(sessions, COMMITTEE)
    period = period_name(today(), PeriodKind.QUARTER)
    for i, person_id in enumerate(attended):
        made = await evaluations.draft(
            chief,
            person_id=person_id,
            period=period,
            grade=Grade.EXCELLENT if i == 0 else Grade.QUALIFIED,
            comment="积极参加6栋加装电梯专题会议，带头做邻居工作。"
            if i == 0
            else "按时参加专题会议，履行党员义务。",
        )
        if i < len(attended) - 1:
            await evaluations.confirm(committee, evaluation_id=made.id)
    if len(attended) > 1:
        async with sessions() as session:
            community_id = (
                await session.execute(
                    sa.select(Compound.community_id)
                    .join(PartyEvaluation, PartyEvaluation.compound_id == Compound.id)
                    .limit(1)
                )
            ).scalar_one()
        await evaluation_export.export(committee, community_id=community_id, period=period)
    return True


STAFF = "13800000005"  # 千山美林's property staff


async def tell_notices(sessions: async_sessionmaker[AsyncSession]) -> bool:
    """The notice boards: one notice to the community, one to 6栋 (pinned), one withdrawn. Told
    once (nothing happens when a notice exists)."""
    async with sessions() as session:
        if (await session.execute(sa.select(Notice.id).limit(1))).first():
            return False
        compound = (await session.execute(sa.select(Compound).where(Compound.key == COMPOUND))).scalar_one()
        six = (
            await session.execute(
                sa.select(Building.id).where(Building.compound_id == compound.id, Building.name == "6栋")
            )
        ).scalar_one()
    committee, staff = await _context(sessions, COMMITTEE), await _context(sessions, STAFF)
    common = {"urgent": False, "publish_at": None, "expires_at": None, "building_ids": []}
    await notices.publish(
        committee,
        **common,
        community_id=compound.community_id,
        compound_id=None,
        title="冬季用电用气安全提示",
        body="入冬以来电动自行车、取暖器使用增多。请勿将电动自行车推入楼道、入户充电，离家时关闭燃气阀门。",
        pinned=False,
    )
    await notices.publish(
        staff,
        **{**common, "building_ids": [six]},
        community_id=None,
        compound_id=compound.id,
        title="6栋电梯施工期间出行提示",
        body="6栋加装电梯施工期间，一单元入口改由北侧临时通道进出，请注意安全，照看好老人和孩子。",
        pinned=True,
    )
    wrong = await notices.publish(
        staff,
        **common,
        community_id=None,
        compound_id=compound.id,
        title="物业费收缴通知",
        body="2027年度物业费即日起开始收缴。",
        pinned=False,
    )
    await notices.withdraw(staff, notice_id=wrong.id, reason="收费标准待业主大会确认，另行通知。")
    return True
