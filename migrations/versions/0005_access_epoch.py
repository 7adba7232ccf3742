"""the access epoch: a counter moved by every change to roles, positions, homes and names

Principals are cached per process and checked against this counter inside each compiled statement
(`models.access`). Statement-level triggers move it once per writing statement, in the writing
transaction, so the change and the new epoch become visible together.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ACCESS_TABLES = ("role_assignment", "team_position", "home")


def upgrade() -> None:
    op.create_table(
        "access_epoch",
        sa.Column("id", sa.Boolean(), primary_key=True),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("id", name="access_epoch_one_row"),
    )
    op.execute("INSERT INTO access_epoch (id, epoch) VALUES (true, 0)")
    op.execute(
        """
        CREATE FUNCTION move_access_epoch() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            UPDATE access_epoch SET epoch = epoch + 1 WHERE id;
            RETURN NULL;
        END $$
        """
    )
    for table in ACCESS_TABLES:
        op.execute(
            f"CREATE TRIGGER {table}_moves_access_epoch AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE "
            f"ON {table} FOR EACH STATEMENT EXECUTE FUNCTION move_access_epoch()"
        )
    # a principal carries the person's name; a household's building is part of a home grant
    op.execute(
        "CREATE TRIGGER person_moves_access_epoch AFTER UPDATE OF name OR DELETE OR TRUNCATE "
        "ON person FOR EACH STATEMENT EXECUTE FUNCTION move_access_epoch()"
    )
    op.execute(
        "CREATE TRIGGER household_moves_access_epoch AFTER UPDATE OF building_id, compound_id "
        "OR DELETE OR TRUNCATE ON household FOR EACH STATEMENT EXECUTE FUNCTION move_access_epoch()"
    )


def downgrade() -> None:
    for table in (*ACCESS_TABLES, "person", "household"):
        op.execute(f"DROP TRIGGER {table}_moves_access_epoch ON {table}")
    op.execute("DROP FUNCTION move_access_epoch()")
    op.drop_table("access_epoch")
