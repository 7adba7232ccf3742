"""indexes the access policy looks people up by

A person is visible where they are shown: as a timeline actor, a meeting attendee, a volunteer.
The policy's SQL asks those tables by person, so each gets an index on its person column.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 10:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("task_event_actor", "task_event", ["actor_id"], unique=False)
    op.create_index("meeting_attendee_person", "meeting_attendee", ["person_id"], unique=False)
    op.create_index("volunteer_signup_person", "volunteer_signup", ["person_id"], unique=False)


def downgrade() -> None:
    op.drop_index("volunteer_signup_person", table_name="volunteer_signup")
    op.drop_index("meeting_attendee_person", table_name="meeting_attendee")
    op.drop_index("task_event_actor", table_name="task_event")
