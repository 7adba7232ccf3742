"""A resident's claim to a home (住户自助登记): someone who logged in through the mini-program says
which flat they own or rent, and the staff who keep the register confirm or reject it.

A claim grants nothing while it waits: only its confirmation makes a home (`models.person.Home`),
so a claim can never open a compound, a household or a vote to its claimant. Claims are kept,
decided or not, as the record of who asked and who answered.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.base import created_at, fk, uuid_pk
from models.enums import HomeRelation, check_in

#: claims one person may have waiting at once: enough for a family's flats, not for a crawler
PENDING_MAX = 3
#: the longest name a claim is made under (the person's name is at most as long)
CLAIM_NAME_MAX = 50
#: the longest reason a claim is rejected with
REASON_MAX = 200


class ClaimStatus(StrEnum):
    PENDING = "PENDING"
    CONFIRMED = "CONFIRMED"
    REJECTED = "REJECTED"
    WITHDRAWN = "WITHDRAWN"


DECIDED = {
    ClaimStatus.CONFIRMED: "已确认",
    ClaimStatus.REJECTED: "已驳回",
    ClaimStatus.WITHDRAWN: "已撤回",
}


def decided_problem(status: ClaimStatus) -> str | None:
    """Why a claim in `status` can no longer be confirmed, rejected or withdrawn, or None."""
    if status == ClaimStatus.PENDING:
        return None
    return f"这条住户登记申请{DECIDED[status]}，不能再处理；如有变化，请重新申请。"


class HomeClaim(SQLModel, table=True):
    __tablename__ = "home_claim"
    __table_args__ = (
        # one waiting claim per person and household: a second tap is not a second claim
        sa.Index(
            "home_claim_one_pending",
            "household_id",
            "person_id",
            unique=True,
            postgresql_where=sa.text("status = 'PENDING'"),
        ),
        # the queue of a compound, oldest first
        sa.Index("home_claim_queue", "compound_id", "created_at", "id"),
        sa.CheckConstraint(check_in("status", ClaimStatus), name="home_claim_status_valid"),
        sa.CheckConstraint(check_in("relation", HomeRelation), name="home_claim_relation_valid"),
        sa.CheckConstraint(
            "(status = 'PENDING') = (decided_at IS NULL)", name="home_claim_decided_unless_pending"
        ),
    )
    id: uuid.UUID = uuid_pk()
    compound_id: uuid.UUID = fk("compound.id", index=False)
    building_id: uuid.UUID = fk("building.id", index=False)
    household_id: uuid.UUID = fk("household.id", index=False)
    #: who claims: the person logged in
    person_id: uuid.UUID = fk("person.id")
    relation: HomeRelation = Field(sa_type=sa.Text)
    #: the name the claimant gave (a first WeChat login has none yet)
    name: str
    status: ClaimStatus = Field(
        default=ClaimStatus.PENDING,
        sa_column_kwargs={"server_default": ClaimStatus.PENDING.value},
        sa_type=sa.Text,
    )
    #: why it was rejected
    reason: str | None = None
    decided_by: uuid.UUID | None = fk("person.id", nullable=True, index=False, ondelete="SET NULL")
    decided_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    #: the home its confirmation made
    home_id: uuid.UUID | None = fk("home.id", nullable=True, index=False, ondelete="SET NULL")
    created_at: datetime = created_at()
