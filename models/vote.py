"""Owner votes: the vote, its frozen electorate, the running tally, and the append-only ballots.

The electorate (households, areas, owner sets) is copied when the vote opens, so later imports,
sales or role changes never move its denominators. The tally row is updated in the same
transaction as each ballot, so reading it never rescans ballots; `models.vote_rules.recount`
must always agree with it.
"""

from __future__ import annotations

import types
import uuid
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlmodel import Field, SQLModel

from models.base import created_at, fk, uuid_pk
from models.enums import check_in
from models.procedure_rules import Channel
from models.vote_rules import (
    TALLY_MEASURES,
    Choice,
    ObjectionStage,
    RollIssue,
    VoteKind,
    VoteMatter,
    VoteResult,
    VoteRule,
    VoteStatus,
)

AREA = sa.Numeric(14, 2)


class Vote(SQLModel, table=True):
    __tablename__ = "vote"
    __table_args__ = (
        sa.CheckConstraint(check_in("matter", VoteMatter), name="vote_matter_valid"),
        sa.CheckConstraint(check_in("rule", VoteRule), name="vote_rule_valid"),
        sa.CheckConstraint(check_in("status", VoteStatus), name="vote_status_valid"),
        sa.CheckConstraint(f"result IS NULL OR {check_in('result', VoteResult)}", name="vote_result_valid"),
        sa.CheckConstraint("(status = 'CLOSED') = (result IS NOT NULL)", name="vote_result_iff_closed"),
        sa.CheckConstraint(
            "(status = 'CANCELLED') = (cancelled_at IS NOT NULL)", name="vote_cancelled_iff_cancelled_at"
        ),
        sa.Index("vote_open_due", "closes_at", postgresql_where=sa.text("status = 'OPEN'")),
        sa.CheckConstraint(check_in("kind", VoteKind), name="vote_kind_valid"),
        sa.CheckConstraint("status <> 'ANNOUNCED' OR opens_at IS NOT NULL", name="vote_announced_opens"),
        sa.CheckConstraint(
            "(kind = 'WORKS') = (cardinality(affected_household_ids) > 0)",
            name="vote_works_name_the_affected",
        ),
    )
    id: uuid.UUID = uuid_pk()
    compound_id: uuid.UUID = fk("compound.id")
    #: the buildings in scope; empty for the whole compound
    building_ids: list[uuid.UUID] = Field(
        default_factory=list,
        sa_column=sa.Column(postgresql.ARRAY(sa.Uuid), nullable=False, server_default="{}"),
    )
    title: str
    description: str
    matter: VoteMatter = Field(sa_type=sa.Text)
    rule: VoteRule = Field(sa_type=sa.Text)
    status: VoteStatus = Field(default=VoteStatus.OPEN, sa_type=sa.Text)
    closes_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    task_id: uuid.UUID | None = Field(default=None, sa_type=sa.Uuid)
    opened_by: uuid.UUID = fk("person.id", index=False, ondelete="RESTRICT")
    created_at: datetime = created_at()
    closed_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    #: who closed it; NULL when it closed by itself at `closes_at`
    closed_by: uuid.UUID | None = Field(default=None, sa_type=sa.Uuid)
    result: VoteResult | None = Field(default=None, sa_type=sa.Text)
    #: Merkle root over the counted ballots, published at close
    digest: str | None = Field(default=None, sa_type=sa.Text)
    cancelled_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    cancelled_by: uuid.UUID | None = Field(default=None, sa_type=sa.Uuid)
    #: published with the vote; required once a ballot was cast (`models.vote_rules.cancel_problem`)
    cancel_reason: str | None = Field(default=None, sa_type=sa.Text)
    #: the compound's rules of procedure the vote is held under; NULL: none recorded (the law alone)
    procedure_id: uuid.UUID | None = fk("procedure_rules.id", nullable=True, index=False, ondelete="RESTRICT")
    #: set at the close when the rules count the owners served who did not vote with the majority:
    #: their area and headcount, and the side they were counted with (NULL: no majority)
    unreturned_area: Decimal | None = Field(default=None, sa_type=AREA)
    unreturned_headcount: int | None = Field(default=None, sa_type=sa.Integer)
    unreturned_as: Choice | None = Field(default=None, sa_type=sa.Text)
    kind: VoteKind = Field(
        default=VoteKind.ASSEMBLY, sa_type=sa.Text, sa_column_kwargs={"server_default": "ASSEMBLY"}
    )
    #: works: the directly affected households, each of which must agree
    affected_household_ids: list[uuid.UUID] = Field(
        default_factory=list,
        sa_column=sa.Column(postgresql.ARRAY(sa.Uuid), nullable=False, server_default="{}"),
    )
    #: works, at the close: the numbers of the affected households that did not agree
    unconsented: list[str] | None = Field(default=None, sa_column=sa.Column(postgresql.ARRAY(sa.Text)))
    #: an announced vote: when it opens (its roll published until then)
    opens_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    #: set at the close: owners may object to the published result until then
    objection_until: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))


def _tally_table(namespace: dict[str, Any]) -> None:
    """The stored tally of a vote: one column per measure of `models.vote_rules.Tally`."""
    namespace["__tablename__"] = "vote_tally"
    namespace["__annotations__"] = {
        "vote_id": uuid.UUID,
        "compound_id": uuid.UUID,
        **TALLY_MEASURES,
        "ballots_cast": int,
        "closed": bool,
    }
    namespace["vote_id"] = Field(
        sa_column=sa.Column(sa.Uuid, sa.ForeignKey("vote.id", ondelete="CASCADE"), primary_key=True)
    )
    namespace["compound_id"] = fk("compound.id", index=False)
    for name, kind in TALLY_MEASURES.items():
        namespace[name] = Field(default=kind(0), sa_type=AREA if kind is Decimal else sa.Integer)
    namespace["ballots_cast"] = 0
    #: set when the vote closes: a ballot's update of the tally checks it on the row it writes, so
    #: that a ballot racing the close cannot move a closed tally
    namespace["closed"] = Field(
        default=False, sa_column=sa.Column(sa.Boolean, nullable=False, server_default=sa.false())
    )


#: Updated in the same statement as each ballot is recorded: reading it never rescans ballots, and
#: it always equals `models.vote_rules.recount` over the electorate's choices.
VoteTally: Any = types.new_class("VoteTally", (SQLModel,), {"table": True}, _tally_table)


class VoteElector(SQLModel, table=True):
    """One household of the frozen electorate."""

    __tablename__ = "vote_electorate"
    vote_id: uuid.UUID = Field(
        sa_column=sa.Column(sa.Uuid, sa.ForeignKey("vote.id", ondelete="CASCADE"), primary_key=True)
    )
    household_id: uuid.UUID = Field(sa_column=sa.Column(sa.Uuid, primary_key=True))
    compound_id: uuid.UUID = fk("compound.id", index=False)
    building_id: uuid.UUID = Field(sa_type=sa.Uuid)
    number: str
    area: Decimal = Field(sa_type=AREA)
    #: the headcount group (`models.vote_rules.head_key`): households with equal keys count once
    head: str
    #: the household's current choice (NULL: not voted), kept with the electorate for turnout
    choice: Choice | None = Field(default=None, sa_type=sa.Text)
    ballot_id: uuid.UUID | None = Field(default=None, sa_type=sa.Uuid)


class VoteOwner(SQLModel, table=True):
    """Who owned each household of the electorate when the vote opened: who may vote for it."""

    __tablename__ = "vote_owner"
    __table_args__ = (sa.Index("vote_owner_person", "vote_id", "person_id"),)
    vote_id: uuid.UUID = Field(
        sa_column=sa.Column(sa.Uuid, sa.ForeignKey("vote.id", ondelete="CASCADE"), primary_key=True)
    )
    household_id: uuid.UUID = Field(sa_column=sa.Column(sa.Uuid, primary_key=True))
    person_id: uuid.UUID = Field(sa_column=sa.Column(sa.Uuid, primary_key=True))
    compound_id: uuid.UUID = fk("compound.id", index=False)


class Ballot(SQLModel, table=True):
    """A ballot as cast: append-only, never updated or deleted (the audit trail)."""

    __tablename__ = "ballot"
    __table_args__ = (
        sa.CheckConstraint(check_in("choice", Choice), name="ballot_choice_valid"),
        sa.CheckConstraint(check_in("channel", Channel), name="ballot_channel_valid"),
        sa.CheckConstraint("channel = 'PAPER' OR person_id IS NOT NULL", name="ballot_online_has_voter"),
    )
    id: uuid.UUID = uuid_pk()
    vote_id: uuid.UUID = fk("vote.id")
    compound_id: uuid.UUID = fk("compound.id", index=False)
    #: the owner the ballot is theirs: who cast it online, who signed it on paper (NULL: a household
    #: with no recorded owner, whose signer is named on the paper ballot)
    person_id: uuid.UUID | None = fk("person.id", nullable=True, index=False, ondelete="RESTRICT")
    channel: Channel = Field(
        default=Channel.ONLINE, sa_type=sa.Text, sa_column_kwargs={"server_default": "ONLINE"}
    )
    #: the written proxy it was cast under, by the proxy for the owner (`models.proxy`)
    proxy_id: uuid.UUID | None = fk("vote_proxy.id", nullable=True, index=False, ondelete="RESTRICT")
    choice: Choice = Field(sa_type=sa.Text)
    household_ids: list[uuid.UUID] = Field(sa_column=sa.Column(postgresql.ARRAY(sa.Uuid), nullable=False))
    #: SHA-256 of the receipt code given to the voter; the code itself is never stored
    receipt_hash: str = Field(sa_column=sa.Column(sa.Text, nullable=False, unique=True))
    #: the order in which ballots of a vote were applied (taken under the vote's tally lock)
    seq: int | None = Field(
        default=None,
        sa_column=sa.Column(sa.BigInteger, sa.Identity(always=True), nullable=False, unique=True),
    )
    #: when the ballot was applied: the wall clock under the lock, not the transaction start
    cast_at: datetime = Field(
        default=None,
        sa_type=sa.DateTime(timezone=True),
        sa_column_kwargs={"server_default": sa.func.clock_timestamp(), "nullable": False},
    )


class PaperBallotStatus(StrEnum):
    #: entered once, waiting for a second person to enter it again
    PENDING = "PENDING"
    #: both entries agree, and it is the household's ballot now
    COUNTED = "COUNTED"
    #: both entries agree, but a ballot the rules of procedure rank higher stands
    NOT_COUNTED = "NOT_COUNTED"
    #: the two entries differ: nothing counted; it is entered afresh from the original
    MISMATCH = "MISMATCH"


class PaperBallot(SQLModel, table=True):
    """A paper ballot (书面表决票) as entered by one person and confirmed by a second. Its choice is
    never shown to anyone: the second person enters it again without seeing the first entry."""

    __tablename__ = "paper_ballot"
    __table_args__ = (
        sa.CheckConstraint(check_in("status", PaperBallotStatus), name="paper_ballot_status_valid"),
        sa.CheckConstraint(check_in("choice", Choice), name="paper_ballot_choice_valid"),
        sa.CheckConstraint(
            f"confirm_choice IS NULL OR {check_in('confirm_choice', Choice)}",
            name="paper_ballot_confirm_choice_valid",
        ),
        sa.CheckConstraint(
            "(signer_id IS NULL) <> (signer_name IS NULL)", name="paper_ballot_signer_person_or_name"
        ),
        sa.CheckConstraint(
            "(status = 'PENDING') = (confirmed_by IS NULL)", name="paper_ballot_confirmed_iff_decided"
        ),
        sa.CheckConstraint("confirmed_by <> entered_by", name="paper_ballot_two_people"),
        sa.ForeignKeyConstraint(
            ["vote_id", "household_id"],
            ["vote_electorate.vote_id", "vote_electorate.household_id"],
            name="paper_ballot_elector",
            ondelete="CASCADE",
        ),
        sa.Index(
            "paper_ballot_pending",
            "vote_id",
            "household_id",
            unique=True,
            postgresql_where=sa.text("status = 'PENDING'"),
        ),
        sa.Index("paper_ballot_vote", "vote_id", "entered_at"),
        sa.Index("paper_ballot_ballot", "ballot_id", postgresql_where=sa.text("ballot_id IS NOT NULL")),
    )
    id: uuid.UUID = uuid_pk()
    vote_id: uuid.UUID = Field(sa_type=sa.Uuid)
    compound_id: uuid.UUID = fk("compound.id", index=False)
    household_id: uuid.UUID = Field(sa_type=sa.Uuid)
    #: the owner who signed it, one of the household's recorded owners; or, for a household with
    #: none, the name signed (`signer_name`)
    signer_id: uuid.UUID | None = fk("person.id", nullable=True, index=False, ondelete="RESTRICT")
    signer_name: str | None = Field(default=None, sa_type=sa.Text)
    choice: Choice = Field(sa_type=sa.Text)
    #: when the ballot was handed in: its time under the double-vote rule
    received_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    #: whether the first entry named that time (the second must then name the same), or took the
    #: moment of entry (the second must name none)
    received_given: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})
    status: PaperBallotStatus = Field(default=PaperBallotStatus.PENDING, sa_type=sa.Text)
    entered_by: uuid.UUID = fk("person.id", index=False, ondelete="RESTRICT")
    entered_at: datetime = created_at()
    confirmed_by: uuid.UUID | None = fk("person.id", nullable=True, index=False, ondelete="RESTRICT")
    #: the second person's entry of the choice (kept where it differs: the mismatch on the record)
    confirm_choice: Choice | None = Field(default=None, sa_type=sa.Text)
    confirmed_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    #: what the two entries differed in (MISMATCH), as shown to those who enter paper ballots
    mismatch: str | None = Field(default=None, sa_type=sa.Text)
    #: the ballot it became (COUNTED)
    ballot_id: uuid.UUID | None = fk("ballot.id", nullable=True, index=False, ondelete="RESTRICT")


class VoteObjection(SQLModel, table=True):
    """An owner's objection to a published result (公示), and the answer of the owners' committee
    or the community committee: settled (withdrawn, agreed, or dismissed with reasons) or not."""

    __tablename__ = "vote_objection"
    __table_args__ = (
        sa.CheckConstraint("(answered_at IS NULL) = (answer IS NULL)", name="vote_objection_answered"),
        sa.CheckConstraint(
            "settled_at IS NULL OR answered_at IS NOT NULL", name="vote_objection_settled_answered"
        ),
        sa.Index("vote_objection_vote", "vote_id", "raised_at"),
    )
    id: uuid.UUID = uuid_pk()
    vote_id: uuid.UUID = fk("vote.id", index=False)
    compound_id: uuid.UUID = fk("compound.id", index=False)
    raised_by: uuid.UUID = fk("person.id", index=False, ondelete="RESTRICT")
    stage: ObjectionStage = Field(
        default=ObjectionStage.RESULT, sa_type=sa.Text, sa_column_kwargs={"server_default": "RESULT"}
    )
    #: a roll objection: the household whose entry is objected to, and what is wrong with it
    household_id: uuid.UUID | None = Field(default=None, sa_type=sa.Uuid)
    issue: RollIssue | None = Field(default=None, sa_type=sa.Text)
    text: str = Field(sa_type=sa.Text)
    raised_at: datetime = created_at()
    answer: str | None = Field(default=None, sa_type=sa.Text)
    answered_by: uuid.UUID | None = fk("person.id", nullable=True, index=False, ondelete="RESTRICT")
    answered_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    #: when it was settled; NULL: still unresolved (unanswered, or answered without settling it)
    settled_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))


class WorksConsent(SQLModel, table=True):
    """A directly affected household's explicit consent to works (or its refusal), given openly and
    apart from its secret ballot: by an owner in the app, or a signed 同意书 entered by the
    committees. The latest for a household is the one that stands."""

    __tablename__ = "works_consent"
    __table_args__ = (
        sa.ForeignKeyConstraint(
            ["vote_id", "household_id"],
            ["vote_electorate.vote_id", "vote_electorate.household_id"],
            name="works_consent_elector",
            ondelete="CASCADE",
        ),
        sa.Index("works_consent_household", "vote_id", "household_id", "given_at"),
    )
    id: uuid.UUID = uuid_pk()
    vote_id: uuid.UUID = Field(sa_type=sa.Uuid)
    compound_id: uuid.UUID = fk("compound.id", index=False)
    household_id: uuid.UUID = Field(sa_type=sa.Uuid)
    agree: bool
    #: who recorded it: an owner of the household, or a committee member entering a signed 同意书
    recorded_by: uuid.UUID = fk("person.id", index=False, ondelete="RESTRICT")
    given_at: datetime = Field(
        default=None,
        sa_type=sa.DateTime(timezone=True),
        sa_column_kwargs={"server_default": sa.func.clock_timestamp(), "nullable": False},
    )
