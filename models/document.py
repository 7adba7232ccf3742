"""Trusted GraphQL documents: the mini-program's operations, registered by their sha256."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.base import created_at


class TrustedDocument(SQLModel, table=True):
    __tablename__ = "trusted_document"
    __table_args__ = (sa.CheckConstraint("sha256 ~ '^[0-9a-f]{64}$'", name="trusted_document_sha256_hex"),)
    #: lowercase hex sha256 of `body`, exactly as clients send it (`extensions.persistedQuery`)
    sha256: str = Field(sa_column=sa.Column(sa.Text, primary_key=True))
    body: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    #: the operations the document defines, for `qilijia documents list` and the metrics' labels
    operations: str = Field(sa_column=sa.Column(sa.Text, nullable=False, server_default=""))
    added_at: datetime = created_at()
