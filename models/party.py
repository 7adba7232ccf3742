"""Party members (在职党员): their profile and what they did for the compound.

Both are sensitive (DESIGN §5) and read only through the policy's Party-data rules.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.base import created_at, fk, uuid_pk
from models.enums import check_in


class ParticipationKind(StrEnum):
    VOLUNTEER = "VOLUNTEER"  # a served volunteer shift
    MEETING = "MEETING"  # a topical meeting attended
    TASK = "TASK"  # a task handled: assigned to them, or resolved by them, and resolved
    DISPUTE = "DISPUTE"  # a dispute mediated to its outcome
    #: a team position held during a period (the community's quarter or year): one entry each
    POSITION = "POSITION"


class PartyProfile(SQLModel, table=True):
    """Sensitive (DESIGN §5): read only through the policy's Party-data rules."""

    __tablename__ = "party_profile"
    person_id: uuid.UUID = Field(
        sa_column=sa.Column(sa.Uuid, sa.ForeignKey("person.id", ondelete="CASCADE"), primary_key=True)
    )
    work_unit: str
    registered_on: date | None = None
    created_at: datetime = created_at()


class Participation(SQLModel, table=True):
    """One entry of the participation record (参与记录): what a person did for the compound (a
    served shift, a meeting attended, a task handled, a dispute mediated, a team position held in
    a period), written by the system
    from what happened, with the hours and the count it contributes. Append-only (a trigger
    refuses changes): a correction is a new entry reversing an old one, with a reason."""

    __tablename__ = "participation"
    __table_args__ = (
        # an entry is reversed at most once
        sa.Index(
            "participation_reversed_once",
            "reverses_id",
            unique=True,
            postgresql_where=sa.text("reverses_id IS NOT NULL"),
        ),
        sa.Index("participation_source", "ref_id", "kind", "person_id"),
        # a position earns one entry per term and period, whichever process writes it
        sa.Index(
            "participation_position_once",
            "ref_id",
            "occurred_at",
            unique=True,
            postgresql_where=sa.text("kind = 'POSITION' AND reverses_id IS NULL"),
        ),
        sa.CheckConstraint(check_in("kind", ParticipationKind), name="participation_kind"),
        sa.CheckConstraint(
            "(reverses_id IS NULL AND count = 1) OR (reverses_id IS NOT NULL AND count = -1)",
            name="participation_count_sign",
        ),
    )
    id: uuid.UUID = uuid_pk()
    person_id: uuid.UUID = fk("person.id")
    compound_id: uuid.UUID = fk("compound.id", index=False)
    kind: ParticipationKind = Field(sa_type=sa.Text)
    #: what it came from: the meeting, the volunteer call, the task
    ref_id: uuid.UUID = Field(sa_type=sa.Uuid)
    hours: Decimal = Field(default=Decimal(0), sa_type=sa.Numeric(6, 2))
    #: 1, or -1 for an entry that reverses another
    count: int = Field(default=1, sa_column_kwargs={"server_default": "1"})
    occurred_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    reverses_id: uuid.UUID | None = fk("participation.id", nullable=True, index=False, ondelete="CASCADE")
    #: why an entry was reversed
    reason: str | None = None
    #: who reversed it by hand (NULL: the system, from what happened)
    recorded_by: uuid.UUID | None = fk("person.id", nullable=True, index=False, ondelete="SET NULL")
    created_at: datetime = created_at()


# --- registration (报到) and building groups ------------------------------------------------------

#: the longest employer, Party organisation, contact and skills a member writes
TEXT_MAX = 100
SKILLS_MAX = 200
REASON_MAX = 200
#: the Communist Party of China was founded on 1 July 1921: no one joined it earlier
PARTY_FOUNDED = date(1921, 7, 1)


class RegistrationStatus(StrEnum):
    PENDING = "PENDING"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"
    #: taken back while it waited
    WITHDRAWN = "WITHDRAWN"
    #: the member left (registered no more); the record stays
    ENDED = "ENDED"
    #: replaced by a registration at the member's new home, approved
    TRANSFERRED = "TRANSFERRED"


class ServiceKind(StrEnum):
    """The kinds of service a member offers their compound."""

    MEDIATION = "MEDIATION"  # 矛盾调解
    PATROL = "PATROL"  # 巡逻
    ENVIRONMENT = "ENVIRONMENT"  # 环境整治
    VOLUNTEERING = "VOLUNTEERING"  # 志愿服务
    PUBLICITY = "PUBLICITY"  # 政策宣传
    CARE = "CARE"  # 关爱帮扶


_STATUS_NAMES = {
    RegistrationStatus.PENDING: "正在等待审核",
    RegistrationStatus.APPROVED: "已通过",
    RegistrationStatus.REJECTED: "已驳回",
    RegistrationStatus.WITHDRAWN: "已撤回",
    RegistrationStatus.ENDED: "已结束",
    RegistrationStatus.TRANSFERRED: "已转移到新住址",
}


def pending_problem(status: RegistrationStatus) -> str | None:
    """Why a registration in `status` can no longer be approved, rejected or withdrawn as an
    application, or None."""
    if status == RegistrationStatus.PENDING:
        return None
    return f"这份报到申请{_STATUS_NAMES[status]}，不能再处理。"


def leave_problem(status: RegistrationStatus) -> str | None:
    """Why a registration in `status` cannot be ended or transferred, or None: only an approved one
    can (an application still waiting is withdrawn)."""
    if status == RegistrationStatus.APPROVED:
        return None
    if status == RegistrationStatus.PENDING:
        return "这份报到申请还在等待审核：可以直接撤回。"
    return f"这份报到{_STATUS_NAMES[status]}，不能再结束或转移。"


def member_since_problem(member_since: date, *, today: date) -> str | None:
    """What is wrong with the day someone says they joined the Party, or None."""
    if member_since < PARTY_FOUNDED:
        return "入党时间不能早于 1921 年 7 月 1 日。"
    if member_since > today:
        return "入党时间不能晚于今天。"
    return None


#: what a building group is called after its building (6栋 → 6栋党员楼栋小组)
GROUP_SUFFIX = "党员楼栋小组"


def group_name(building_name: str) -> str:
    """The name a building group is given when the first member of its building is approved."""
    return f"{building_name}{GROUP_SUFFIX}"


class PartyRegistration(SQLModel, table=True):
    """A Party member's registration (报到) with the compound they live in: applied for in the
    mini-program, approved or rejected by the community committee, withdrawn, ended or transferred
    by the member. Kept whatever became of it; sensitive (DESIGN §5)."""

    __tablename__ = "party_registration"
    __table_args__ = (
        # one application waiting and one registration in force per member at a time
        sa.Index(
            "party_registration_one_pending",
            "person_id",
            unique=True,
            postgresql_where=sa.text("status = 'PENDING'"),
        ),
        sa.Index(
            "party_registration_one_approved",
            "person_id",
            unique=True,
            postgresql_where=sa.text("status = 'APPROVED'"),
        ),
        # a compound's queue, oldest first
        sa.Index("party_registration_queue", "compound_id", "created_at", "id"),
        sa.CheckConstraint(check_in("status", RegistrationStatus), name="party_registration_status_valid"),
        sa.CheckConstraint(
            "(status = 'PENDING') = (decided_at IS NULL)", name="party_registration_decided_unless_pending"
        ),
        sa.CheckConstraint(
            "(status IN ('APPROVED', 'ENDED', 'TRANSFERRED')) = (approved_on IS NOT NULL)",
            name="party_registration_approved_on",
        ),
        sa.CheckConstraint(
            "(status IN ('ENDED', 'TRANSFERRED')) = (ended_on IS NOT NULL)",
            name="party_registration_ended_on",
        ),
    )
    id: uuid.UUID = uuid_pk()
    person_id: uuid.UUID = fk("person.id")
    compound_id: uuid.UUID = fk("compound.id", index=False)
    #: the member's home it was made for (an imported registration may name none)
    building_id: uuid.UUID | None = fk("building.id", nullable=True, index=False)
    household_id: uuid.UUID | None = fk("household.id", nullable=True, index=False)
    #: 工作单位 (an imported registration names only the Party organisation)
    employer: str | None = None
    #: 所在单位党组织
    party_org: str
    #: 党组织联系人及电话
    party_org_contact: str | None = None
    #: 入党时间
    member_since: date | None = None
    skills: str | None = None
    services: list[str] = Field(
        default_factory=list,
        sa_column=sa.Column(sa.ARRAY(sa.Text), nullable=False, server_default=sa.text("'{}'")),
    )
    status: RegistrationStatus = Field(
        default=RegistrationStatus.PENDING,
        sa_column_kwargs={"server_default": RegistrationStatus.PENDING.value},
        sa_type=sa.Text,
    )
    #: why it was rejected, or why the member left
    reason: str | None = None
    decided_by: uuid.UUID | None = fk("person.id", nullable=True, index=False, ondelete="SET NULL")
    decided_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    #: the Beijing day it took effect, and the day it no longer held
    approved_on: date | None = None
    ended_on: date | None = None
    #: the registration this one replaces when approved (the member moved)
    transferred_from: uuid.UUID | None = fk(
        "party_registration.id", nullable=True, index=False, ondelete="SET NULL"
    )
    created_at: datetime = created_at()


class PartyGroup(SQLModel, table=True):
    """A building group (党员楼栋小组): the registered members living in its buildings, with a leader
    the community committee appoints. Membership follows from where members live, so a member
    who moves, or a building given to another group, needs no other change."""

    __tablename__ = "party_group"
    __table_args__ = (sa.UniqueConstraint("compound_id", "name", name="party_group_name_unique"),)
    id: uuid.UUID = uuid_pk()
    compound_id: uuid.UUID = fk("compound.id")
    name: str
    leader_id: uuid.UUID | None = fk("person.id", nullable=True, index=False, ondelete="SET NULL")
    created_at: datetime = created_at()


class PartyGroupBuilding(SQLModel, table=True):
    """Which group a building belongs to: one group per building."""

    __tablename__ = "party_group_building"
    building_id: uuid.UUID = Field(
        sa_column=sa.Column(sa.Uuid, sa.ForeignKey("building.id", ondelete="CASCADE"), primary_key=True)
    )
    group_id: uuid.UUID = fk("party_group.id")
