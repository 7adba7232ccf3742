"""Column helpers every table shares: UUID keys made by the database, creation time."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field


def uuid_pk() -> uuid.UUID:
    return Field(
        default_factory=uuid.uuid4,
        sa_column_kwargs={"server_default": sa.text("gen_random_uuid()")},
        primary_key=True,
    )


def created_at() -> datetime:
    return Field(
        default=None,
        sa_type=sa.DateTime(timezone=True),
        sa_column_kwargs={"server_default": sa.func.now(), "nullable": False},
    )


def fk(target: str, *, nullable: bool = False, index: bool = True, ondelete: str = "CASCADE") -> uuid.UUID:
    return Field(
        default=None if nullable else ...,
        sa_column=sa.Column(
            sa.Uuid, sa.ForeignKey(target, ondelete=ondelete), nullable=nullable, index=index
        ),
    )


#: indexes that exist only where the database offers them (`_trgm`: pg_trgm, migration 0014), so the
#: models cannot declare them; comparing the models with a database leaves them out
OPTIONAL_INDEX_SUFFIXES = ("_trgm",)


def declared_by_models(
    obj: object, name: str | None, type_: str, reflected: bool, compare_to: object
) -> bool:
    """Alembic's `include_object`: everything but the optional indexes."""
    return not (type_ == "index" and reflected and (name or "").endswith(OPTIONAL_INDEX_SUFFIXES))
