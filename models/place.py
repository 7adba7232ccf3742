"""The place tree of DESIGN §2: district › street › community › grid › compound › building ›
household.

A district is known by its name, a street by its district and name (the world file names them on
each community). Every row below the community carries its compound (or community) key so that
the tables can be distributed by it.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.base import created_at, fk, uuid_pk
from models.enums import check_in
from models.evaluation import PeriodKind

#: a community's service deadline, in days, unless its committee sets another (at most a year)
SERVICE_DAYS_DEFAULT = 7
SERVICE_DAYS_MAX = 365


#: a household's floor area (m², 专有部分面积) is below this; it is kept to the hundredth
MAX_AREA = Decimal("100000")


def area_problem(area: Decimal) -> str | None:
    """Why a household's area cannot be recorded, or None: it is what the vote counts by."""
    if not area.is_finite() or area <= 0 or area >= MAX_AREA:
        return "面积必须是大于 0、小于 100000 的平方米数。"
    if area.as_tuple().exponent < -2:  # type: ignore[operator]
        return "面积最多保留两位小数。"
    return None


def service_days_problem(days: int) -> str | None:
    """Why a service deadline cannot be set, or None."""
    if not 1 <= days <= SERVICE_DAYS_MAX:
        return f"办理时限须为 1 到 {SERVICE_DAYS_MAX} 天之间的整数。"
    return None


class District(SQLModel, table=True):
    __tablename__ = "district"
    id: uuid.UUID = uuid_pk()
    name: str = Field(sa_column=sa.Column(sa.String, nullable=False, unique=True))
    created_at: datetime = created_at()


class Street(SQLModel, table=True):
    __tablename__ = "street"
    __table_args__ = (sa.UniqueConstraint("district_id", "name"),)
    id: uuid.UUID = uuid_pk()
    district_id: uuid.UUID = fk("district.id", ondelete="RESTRICT")
    name: str
    created_at: datetime = created_at()


class Community(SQLModel, table=True):
    __tablename__ = "community"
    __table_args__ = (
        sa.CheckConstraint(
            check_in("evaluation_period", PeriodKind), name="community_evaluation_period_valid"
        ),
        sa.CheckConstraint(
            f"service_days BETWEEN 1 AND {SERVICE_DAYS_MAX}", name="community_service_days_range"
        ),
    )
    id: uuid.UUID = uuid_pk()
    key: str = Field(sa_column=sa.Column(sa.Text, nullable=False, unique=True))
    name: str
    street_id: uuid.UUID = fk("street.id", ondelete="RESTRICT")
    #: how often its Party members are evaluated (评价鉴定): by quarter or by year
    evaluation_period: PeriodKind = Field(
        default=PeriodKind.QUARTER,
        sa_column_kwargs={"server_default": PeriodKind.QUARTER.value},
        sa_type=sa.Text,
    )
    #: the service deadline (办理时限): days from a report to its resolution, after which the
    #: people working a task still open are reminded that it is overdue
    service_days: int = Field(
        default=SERVICE_DAYS_DEFAULT, sa_column_kwargs={"server_default": str(SERVICE_DAYS_DEFAULT)}
    )
    created_at: datetime = created_at()


class Grid(SQLModel, table=True):
    __tablename__ = "grid"
    id: uuid.UUID = uuid_pk()
    key: str = Field(sa_column=sa.Column(sa.Text, nullable=False, unique=True))
    name: str
    community_id: uuid.UUID = fk("community.id")
    created_at: datetime = created_at()


class Compound(SQLModel, table=True):
    __tablename__ = "compound"
    id: uuid.UUID = uuid_pk()
    key: str = Field(sa_column=sa.Column(sa.Text, nullable=False, unique=True))
    name: str
    community_id: uuid.UUID = fk("community.id")
    grid_id: uuid.UUID = fk("grid.id")
    property_company: str | None = None
    created_at: datetime = created_at()


class Building(SQLModel, table=True):
    __tablename__ = "building"
    __table_args__ = (sa.UniqueConstraint("compound_id", "name"),)
    id: uuid.UUID = uuid_pk()
    compound_id: uuid.UUID = fk("compound.id")
    name: str
    created_at: datetime = created_at()


class Household(SQLModel, table=True):
    __tablename__ = "household"
    __table_args__ = (
        sa.UniqueConstraint("compound_id", "number"),
        sa.CheckConstraint("area > 0", name="household_area_positive"),
        # a building's households in the order of their pages (`resolvers.place.HOUSEHOLDS`)
        sa.Index("household_building_page", "building_id", "number", "id"),
    )
    id: uuid.UUID = uuid_pk()
    compound_id: uuid.UUID = fk("compound.id", index=False)
    building_id: uuid.UUID = fk("building.id", index=False)
    number: str
    floor: int
    area: Decimal = Field(sa_column=sa.Column(sa.Numeric(10, 2), nullable=False))
    #: nobody lives there (空置) since this Beijing day: its tenants moved out; its owners still
    #: own it and vote; NULL: lived in, or not known to be empty
    vacant_since: date | None = None
    created_at: datetime = created_at()
