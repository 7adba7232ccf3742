"""Evaluations (评价鉴定) of registered Party members, per member and period, sent back to their
employer's Party organisation.

The chief convener of the member's compound (or the community committee) drafts one from the
member's participation record; the community committee confirms it. A confirmed evaluation never
changes (a trigger refuses it): a correction is a new version, confirmed in turn, which supersedes
it, and both are kept. Periods are quarters (`2026Q4`) or years (`2026`), as the community sets.
"""

from __future__ import annotations

import re
import uuid
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.base import created_at, fk, uuid_pk
from models.enums import check_in

COMMENT_MAX = 500


class Grade(StrEnum):
    EXCELLENT = "EXCELLENT"  # 优秀
    QUALIFIED = "QUALIFIED"  # 合格
    BASICALLY_QUALIFIED = "BASICALLY_QUALIFIED"  # 基本合格
    UNQUALIFIED = "UNQUALIFIED"  # 不合格


GRADE_NAMES = {
    Grade.EXCELLENT: "优秀",
    Grade.QUALIFIED: "合格",
    Grade.BASICALLY_QUALIFIED: "基本合格",
    Grade.UNQUALIFIED: "不合格",
}


class EvaluationStatus(StrEnum):
    DRAFT = "DRAFT"
    CONFIRMED = "CONFIRMED"
    #: replaced by a later version, confirmed
    SUPERSEDED = "SUPERSEDED"


class PeriodKind(StrEnum):
    QUARTER = "QUARTER"
    YEAR = "YEAR"


_QUARTER = re.compile(r"(\d{4})Q([1-4])")
_YEAR = re.compile(r"(\d{4})")


def period_days(period: str, kind: PeriodKind) -> tuple[date, date] | str:
    """[first day, day after the last) of a period written `2026Q4` (a quarter) or `2026` (a
    year), or what is wrong with it for a community that evaluates by `kind`."""
    text = period.strip().upper()
    quarter, year = _QUARTER.fullmatch(text), _YEAR.fullmatch(text)
    if kind == PeriodKind.QUARTER:
        if quarter is None:
            return "本社区按季度评价：请写成 2026Q4 这样的季度。"
        y, q = int(quarter[1]), int(quarter[2])
        starts = date(y, 3 * q - 2, 1)
        ends = date(y + 1, 1, 1) if q == 4 else date(y, 3 * q + 1, 1)
    else:
        if year is None:
            return "本社区按年度评价：请写成 2026 这样的年份。"
        y = int(year[1])
        starts, ends = date(y, 1, 1), date(y + 1, 1, 1)
    if not 2000 <= y <= 2100:
        return "评价期间的年份不合理。"
    return starts, ends


def period_name(starts_on: date, kind: PeriodKind) -> str:
    """The period containing a day, as written (`2026Q4`, `2026`)."""
    if kind == PeriodKind.YEAR:
        return str(starts_on.year)
    return f"{starts_on.year}Q{(starts_on.month - 1) // 3 + 1}"


def draft_problem(status: EvaluationStatus) -> str | None:
    """Why an evaluation in `status` cannot be edited or confirmed as a draft, or None."""
    if status == EvaluationStatus.DRAFT:
        return None
    if status == EvaluationStatus.CONFIRMED:
        return "这份评价已经确认，不能修改；如需更正，请提出新版本（reviseEvaluation）。"
    return "这份评价已被新版本取代，不能再处理。"


class PartyEvaluation(SQLModel, table=True):
    __tablename__ = "party_evaluation"
    __table_args__ = (
        # one draft and one confirmed version in force per member and period
        sa.Index(
            "party_evaluation_one_draft",
            "person_id",
            "period",
            unique=True,
            postgresql_where=sa.text("status = 'DRAFT'"),
        ),
        sa.Index(
            "party_evaluation_one_confirmed",
            "person_id",
            "period",
            unique=True,
            postgresql_where=sa.text("status = 'CONFIRMED'"),
        ),
        sa.Index("party_evaluation_by_compound", "compound_id", "period"),
        sa.CheckConstraint(check_in("grade", Grade), name="party_evaluation_grade_valid"),
        sa.CheckConstraint(check_in("status", EvaluationStatus), name="party_evaluation_status_valid"),
        sa.CheckConstraint(
            "(status = 'DRAFT') = (confirmed_at IS NULL)", name="party_evaluation_confirmed_unless_draft"
        ),
    )
    id: uuid.UUID = uuid_pk()
    person_id: uuid.UUID = fk("person.id")
    #: where the member was registered during the period
    compound_id: uuid.UUID = fk("compound.id", index=False)
    period: str
    starts_on: date
    ends_on: date
    version: int = 1
    grade: Grade = Field(sa_type=sa.Text)
    comment: str
    status: EvaluationStatus = Field(
        default=EvaluationStatus.DRAFT,
        sa_column_kwargs={"server_default": EvaluationStatus.DRAFT.value},
        sa_type=sa.Text,
    )
    # the participation record over the period, as it stood when the draft was last written
    hours: Decimal = Field(default=Decimal(0), sa_type=sa.Numeric(8, 2))
    meetings: int = 0
    shifts: int = 0
    tasks: int = 0
    disputes: int = 0
    positions: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    points: Decimal = Field(default=Decimal(0), sa_type=sa.Numeric(8, 2))
    drafted_by: uuid.UUID | None = fk("person.id", nullable=True, index=False, ondelete="SET NULL")
    drafted_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    confirmed_by: uuid.UUID | None = fk("person.id", nullable=True, index=False, ondelete="SET NULL")
    confirmed_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    #: the confirmed version this one corrects
    supersedes_id: uuid.UUID | None = fk(
        "party_evaluation.id", nullable=True, index=False, ondelete="SET NULL"
    )
    created_at: datetime = created_at()
