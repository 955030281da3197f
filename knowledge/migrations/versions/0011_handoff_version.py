"""the hand-offs' change counter (issue 16): row 2 of kb_version, bumped on PostgreSQL by a trigger
on handoffs, so the action server asks who has an open hand-off only after one opened or closed

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 13:30:00
"""

from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("INSERT INTO kb_version (id, version) VALUES (2, 0)")
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite: PRAGMA data_version moves on every commit, hand-offs included
    # As kb_version_bump (0010): one bump per statement, in the writer's own transaction.
    op.execute(
        """
        CREATE FUNCTION handoff_version_bump() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            UPDATE kb_version SET version = version + 1 WHERE id = 2;
            RETURN NULL;
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER handoffs_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON handoffs "
        "FOR EACH STATEMENT EXECUTE FUNCTION handoff_version_bump()"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS handoffs_version ON handoffs")
        op.execute("DROP FUNCTION IF EXISTS handoff_version_bump()")
    op.execute("DELETE FROM kb_version WHERE id = 2")
