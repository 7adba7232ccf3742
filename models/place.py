"""The place tree of DESIGN §2: community › grid › compound › building › household.

Streets and the district are attributes of a community: nothing in the product acts on them alone.
Every row below the community carries its compound (or community) key so that the tables can be
distributed by it.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.base import created_at, fk, uuid_pk


class Community(SQLModel, table=True):
    __tablename__ = "community"
    id: uuid.UUID = uuid_pk()
    key: str = Field(sa_column=sa.Column(sa.Text, nullable=False, unique=True))
    name: str
    street: str
    district: str
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
    )
    id: uuid.UUID = uuid_pk()
    compound_id: uuid.UUID = fk("compound.id", index=False)
    building_id: uuid.UUID = fk("building.id")
    number: str
    floor: int
    area: Decimal = Field(sa_column=sa.Column(sa.Numeric(10, 2), nullable=False))
    created_at: datetime = created_at()
