"""An online ballot in one statement that commits on its own

`record_ballot` leaves a ballot racing the close written but not counted (`out_tallies` 0), and its
caller rolls the transaction back. So a ballot ran in a transaction: BEGIN, the load, the ballot,
COMMIT, and the tally's row stayed locked from the ballot's update until the COMMIT came, one
round trip and a turn of the service's event loop later. Every other ballot of the vote waited
that long.

`cast_ballot` is `record_ballot` that raises instead (SQLSTATE 55000, nothing written), so the
service sends the ballot alone, outside a transaction, and the tally's lock is held only while
PostgreSQL runs it. An online ballot outranked on every head (`out_tallies` -1) wrote nothing and is
still returned as it was.

Revision ID: 0038
Revises: 0037
Create Date: 2026-12-07 19:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0038"
down_revision: str | None = "0037"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SIGNATURE = "cast_ballot(uuid, uuid, uuid, text, text, text, uuid)"

CAST_BALLOT = """
CREATE FUNCTION cast_ballot(
    p_ballot uuid, p_vote uuid, p_person uuid, p_choice text, p_receipt text, p_prefer text,
    p_proxy uuid, OUT out_id uuid, OUT out_cast_at timestamptz, OUT out_households uuid[],
    OUT out_tallies int
)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    SELECT r.out_id, r.out_cast_at, r.out_households, r.out_tallies
    INTO out_id, out_cast_at, out_households, out_tallies
    FROM record_ballot(p_ballot, p_vote, p_person, p_choice, p_receipt, p_prefer, p_proxy) r;
    IF out_tallies = 0 THEN
        RAISE EXCEPTION 'cast_ballot: the tally of vote % is closed', p_vote USING ERRCODE = '55000';
    END IF;
END
$$
"""


def upgrade() -> None:
    op.execute(CAST_BALLOT)
    # granted to the service's role by `qilijia migrate` (app.migrate.FUNCTIONS)
    op.execute(f"REVOKE EXECUTE ON FUNCTION {SIGNATURE} FROM PUBLIC")


def downgrade() -> None:
    op.execute(f"DROP FUNCTION {SIGNATURE}")
