"""The versions of a compound's rules of procedure (`models.procedure_rules` says what they decide):
append-only, each a new version; a vote refers to the one it was opened under."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.base import created_at, fk, uuid_pk
from models.enums import check_in
from models.procedure_rules import DoubleVote, Procedure


class ProcedureRules(SQLModel, table=True):
    __tablename__ = "procedure_rules"
    __table_args__ = (
        sa.CheckConstraint(check_in("double_vote", DoubleVote), name="procedure_rules_double_vote_valid"),
        sa.CheckConstraint("version >= 1", name="procedure_rules_version_positive"),
        sa.CheckConstraint("objection_days BETWEEN 1 AND 60", name="procedure_rules_objection_days_range"),
        sa.CheckConstraint("roll_days BETWEEN 1 AND 60", name="procedure_rules_roll_days_range"),
        sa.UniqueConstraint("compound_id", "version", name="procedure_rules_version"),
        # one owners' vote adopts one version
        sa.Index(
            "procedure_rules_basis_once",
            "basis_vote_id",
            unique=True,
            postgresql_where=sa.text("basis_vote_id IS NOT NULL"),
        ),
    )
    id: uuid.UUID = uuid_pk()
    compound_id: uuid.UUID = fk("compound.id", index=False)
    version: int
    paper_ballots: bool
    proxies: bool
    double_vote: DoubleVote = Field(sa_type=sa.Text)
    unreturned_with_majority: bool
    objection_days: int = Field(default=7, sa_column_kwargs={"server_default": "7"})
    roll_days: int = Field(default=7, sa_column_kwargs={"server_default": "7"})
    announcement_required: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})
    #: the owners' vote that adopted this version (a passed vote on the rules of procedure of the
    #: compound), if any: checked when recorded (votes refer to rules, so no key the other way)
    basis_vote_id: uuid.UUID | None = Field(default=None, sa_type=sa.Uuid)
    #: where the rules come from: the meeting and date of their adoption, or why they changed
    note: str | None = Field(default=None, sa_type=sa.Text)
    adopted_by: uuid.UUID = fk("person.id", index=False, ondelete="RESTRICT")
    adopted_at: datetime = created_at()

    def procedure(self) -> Procedure:
        return Procedure(
            version=self.version,
            paper_ballots=self.paper_ballots,
            proxies=self.proxies,
            double_vote=DoubleVote(self.double_vote),
            unreturned_with_majority=self.unreturned_with_majority,
            objection_days=self.objection_days,
            roll_days=self.roll_days,
            announcement_required=self.announcement_required,
        )
