"""Third-party API clients: only an argon2 hash of each key is kept."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.base import created_at, uuid_pk


class ApiClient(SQLModel, table=True):
    __tablename__ = "api_client"
    id: uuid.UUID = uuid_pk()
    name: str = Field(sa_column=sa.Column(sa.Text, nullable=False, unique=True))
    # The key's first characters, stored in clear to find the row without hashing every key.
    key_prefix: str = Field(sa_column=sa.Column(sa.Text, nullable=False, unique=True))
    key_hash: str
    created_at: datetime = created_at()
    revoked_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
