"""Sessions that can end: revoked access tokens and the refresh tokens of the mini-program.

An access token is a short-lived JWT (`auth.tokens`); its id (`jti`) lands here when the person logs
out, and every token of a person issued before `person.sessions_valid_after` is refused. A refresh
token is an opaque random string kept only as its sha256; each use replaces it with a new one of
the same family, and a used one presented again revokes its whole family (it was stolen).
"""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.base import created_at, fk, uuid_pk


class RevokedToken(SQLModel, table=True):
    __tablename__ = "revoked_token"
    jti: str = Field(sa_column=sa.Column(sa.Text, primary_key=True))
    person_id: uuid.UUID = fk("person.id")
    #: when the token would have expired anyway: the row can go after that
    expires_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    revoked_at: datetime = created_at()


class RefreshToken(SQLModel, table=True):
    __tablename__ = "refresh_token"
    id: uuid.UUID = uuid_pk()
    person_id: uuid.UUID = fk("person.id")
    #: sha256 of the token, hex
    token_hash: str = Field(sa_column=sa.Column(sa.Text, nullable=False, unique=True))
    #: the login this token descends from, through every refresh
    family: uuid.UUID = Field(sa_column=sa.Column(sa.Uuid, nullable=False, index=True))
    expires_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    created_at: datetime = created_at()
    used_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    revoked_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
