"""Every person's ties, kept in one table

Whether a caller sees a person's name or phone in full depends on the person's ties: their homes,
roles and team positions, each at the level of the place it is held (`auth.bindings.person_row`).
A screen asks it for every person it shows — a task list about sixty times a page — and each ask
searched a union of five joins. `person_tie` holds the same rows, one per home, role or position
with the places above it written out, so that an ask is one index scan; the policy still reads
only the ties in force today, from each row's own term.

Triggers keep it: a home, role or position written, changed or deleted rewrites its own row; a
household moved to another building, a compound to another grid or community, or a grid to
another community rewrites the rows that name it. `person_tie_source` is the one
definition of a tie; the table is what it returns, and the tests hold it to that.

Revision ID: 0036
Revises: 0035
Create Date: 2026-12-07 14:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0036"
down_revision: str | None = "0035"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SOURCE = """
CREATE VIEW person_tie_source AS
SELECT h.id AS source_id, h.person_id, h.relation AS kind, c.community_id, c.grid_id,
       c.id AS compound_id, x.building_id, x.id AS household_id, h.starts_on, h.ends_on
FROM home h JOIN household x ON x.id = h.household_id JOIN compound c ON c.id = x.compound_id
UNION ALL
SELECT r.id, r.person_id, r.role, c.community_id, c.grid_id, c.id, NULL::uuid, NULL::uuid,
       r.starts_on, r.ends_on
FROM role_assignment r JOIN compound c ON c.id = r.compound_id
UNION ALL
SELECT r.id, r.person_id, r.role, g.community_id, g.id, NULL::uuid, NULL::uuid, NULL::uuid,
       r.starts_on, r.ends_on
FROM role_assignment r JOIN grid g ON g.id = r.grid_id
UNION ALL
SELECT r.id, r.person_id, r.role, r.community_id, NULL::uuid, NULL::uuid, NULL::uuid, NULL::uuid,
       r.starts_on, r.ends_on
FROM role_assignment r WHERE r.community_id IS NOT NULL
UNION ALL
SELECT t.id, t.person_id, 'POSITION'::text, c.community_id, c.grid_id, c.id, t.building_id,
       NULL::uuid, t.starts_on, t.ends_on
FROM team_position t JOIN compound c ON c.id = t.compound_id
"""

TABLE = """
CREATE TABLE person_tie (
    source_id uuid PRIMARY KEY,
    person_id uuid NOT NULL,
    kind text NOT NULL,
    community_id uuid,
    grid_id uuid,
    compound_id uuid,
    building_id uuid,
    household_id uuid,
    starts_on date NOT NULL,
    ends_on date
)
"""


#: Rows are rewritten from the places they name: a tie written while the place above it moves in
#: another transaction (an import re-gridding a compound) would keep the place as it was. Writing a
#: tie takes this advisory lock shared, moving a place takes it alone; each waits for the other to
#: commit and then reads what it committed. Imports that move nothing never take it alone.
TIES_LOCK = 0x51_4C4A_5449

#: the trigger functions, by name: what each rewrites. They run as the tables' owner: the service
#: may read `person_tie`, never write it (`app.migrate.DERIVED`)
FUNCTIONS = {
    # homes, roles or positions written, in bulk as an import writes them: one statement joins
    # the statement's new rows to their places, as the view's branch for them does (the view
    # itself, asked for the new rows, would be searched whole: the tests hold the two equal)
    "person_tie_homes_added": """
        PERFORM pg_advisory_xact_lock_shared(%(lock)s);
        INSERT INTO person_tie
        SELECT n.id, n.person_id, n.relation, c.community_id, c.grid_id, c.id, x.building_id, x.id,
               n.starts_on, n.ends_on
        FROM new_rows n JOIN household x ON x.id = n.household_id JOIN compound c ON c.id = x.compound_id;
    """,
    "person_tie_roles_added": """
        PERFORM pg_advisory_xact_lock_shared(%(lock)s);
        INSERT INTO person_tie
        SELECT n.id, n.person_id, n.role, c.community_id, c.grid_id, c.id, NULL::uuid, NULL::uuid, n.starts_on, n.ends_on
        FROM new_rows n JOIN compound c ON c.id = n.compound_id
        UNION ALL
        SELECT n.id, n.person_id, n.role, g.community_id, g.id, NULL::uuid, NULL::uuid, NULL::uuid, n.starts_on, n.ends_on
        FROM new_rows n JOIN grid g ON g.id = n.grid_id
        UNION ALL
        SELECT n.id, n.person_id, n.role, n.community_id, NULL::uuid, NULL::uuid, NULL::uuid, NULL::uuid, n.starts_on, n.ends_on
        FROM new_rows n WHERE n.community_id IS NOT NULL;
    """,
    "person_tie_positions_added": """
        PERFORM pg_advisory_xact_lock_shared(%(lock)s);
        INSERT INTO person_tie
        SELECT n.id, n.person_id, 'POSITION', c.community_id, c.grid_id, c.id, n.building_id, NULL::uuid,
               n.starts_on, n.ends_on
        FROM new_rows n JOIN compound c ON c.id = n.compound_id;
    """,
    # one home, role or position changed or deleted (through the API, one at a time): its row,
    # from the view, which PostgreSQL searches by that one key in every branch
    "person_tie_row_changed": """
        PERFORM pg_advisory_xact_lock_shared(%(lock)s);
        DELETE FROM person_tie WHERE source_id = OLD.id;
        IF TG_OP = 'UPDATE' THEN
            INSERT INTO person_tie SELECT * FROM person_tie_source WHERE source_id = NEW.id;
        END IF;
    """,
    # the owner emptied a table of ties: every row again
    "person_tie_rebuilt": """
        PERFORM pg_advisory_xact_lock(%(lock)s);
        DELETE FROM person_tie;
        INSERT INTO person_tie SELECT * FROM person_tie_source;
    """,
    # a household in another building (or compound)
    "person_tie_household_moved": """
        PERFORM pg_advisory_xact_lock(%(lock)s);
        DELETE FROM person_tie
        WHERE source_id IN (SELECT source_id FROM person_tie_source WHERE household_id = NEW.id);
        INSERT INTO person_tie SELECT * FROM person_tie_source WHERE household_id = NEW.id;
    """,
    # a compound in another grid or community: everything held in it
    "person_tie_compound_moved": """
        PERFORM pg_advisory_xact_lock(%(lock)s);
        DELETE FROM person_tie
        WHERE source_id IN (SELECT source_id FROM person_tie_source WHERE compound_id = NEW.id);
        INSERT INTO person_tie SELECT * FROM person_tie_source WHERE compound_id = NEW.id;
    """,
    # a grid in another community: the grid workers' roles (a compound keeps its own community)
    "person_tie_grid_moved": """
        PERFORM pg_advisory_xact_lock(%(lock)s);
        DELETE FROM person_tie WHERE source_id IN (
            SELECT source_id FROM person_tie_source WHERE compound_id IS NULL AND grid_id = NEW.id
        );
        INSERT INTO person_tie SELECT * FROM person_tie_source WHERE compound_id IS NULL AND grid_id = NEW.id;
    """,
}

#: (table, trigger function, the trigger's timing and condition)
TRIGGERS = [
    *(
        (table, function, timing)
        for table, added in (
            ("home", "person_tie_homes_added"),
            ("role_assignment", "person_tie_roles_added"),
            ("team_position", "person_tie_positions_added"),
        )
        for function, timing in (
            (added, "AFTER INSERT ON {table} REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT"),
            ("person_tie_row_changed", "AFTER UPDATE OR DELETE ON {table} FOR EACH ROW"),
            ("person_tie_rebuilt", "AFTER TRUNCATE ON {table} FOR EACH STATEMENT"),
        )
    ),
    (
        "household",
        "person_tie_household_moved",
        "AFTER UPDATE OF building_id, compound_id ON {table} FOR EACH ROW WHEN "
        "(OLD.building_id IS DISTINCT FROM NEW.building_id OR OLD.compound_id IS DISTINCT FROM NEW.compound_id)",
    ),
    (
        "compound",
        "person_tie_compound_moved",
        "AFTER UPDATE OF grid_id, community_id ON {table} FOR EACH ROW WHEN "
        "(OLD.grid_id IS DISTINCT FROM NEW.grid_id OR OLD.community_id IS DISTINCT FROM NEW.community_id)",
    ),
    (
        "grid",
        "person_tie_grid_moved",
        "AFTER UPDATE OF community_id ON {table} FOR EACH ROW WHEN "
        "(OLD.community_id IS DISTINCT FROM NEW.community_id)",
    ),
]


def _trigger_name(table: str, function: str) -> str:
    return f"{table}_{function.removeprefix('person_tie_')}_person_ties"


def upgrade() -> None:
    op.execute(SOURCE)
    op.execute(TABLE)
    op.execute("CREATE INDEX person_tie_person ON person_tie (person_id)")
    for name, body in FUNCTIONS.items():
        op.execute(
            f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER "
            f"SET search_path = public, pg_temp AS $$ BEGIN {body % {'lock': TIES_LOCK}} RETURN NULL; END $$"
        )
    for table, function, timing in TRIGGERS:
        op.execute(
            f"CREATE TRIGGER {_trigger_name(table, function)} {timing.format(table=table)} "
            f"EXECUTE FUNCTION {function}()"
        )
    op.execute("INSERT INTO person_tie SELECT * FROM person_tie_source")


def downgrade() -> None:
    for table, function, _ in TRIGGERS:
        op.execute(f"DROP TRIGGER {_trigger_name(table, function)} ON {table}")
    for name in FUNCTIONS:
        op.execute(f"DROP FUNCTION {name}()")
    op.drop_table("person_tie")
    op.execute("DROP VIEW person_tie_source")
