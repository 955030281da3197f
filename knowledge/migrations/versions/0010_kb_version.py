"""the knowledge base's change counter (issue 16): kb_version, bumped on PostgreSQL by triggers on
faq_entries, vocabulary_terms and documents

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 11:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

WATCHED = ("faq_entries", "vocabulary_terms", "documents")


def upgrade() -> None:
    op.create_table(
        "kb_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kb_version")),
    )
    op.execute("INSERT INTO kb_version (id, version) VALUES (1, 0)")
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite: PRAGMA data_version is the change signal (knowledge.answering.SqliteCommits)
    # One bump per statement, in the writer's own transaction: the new value is visible exactly when
    # the change is. Every writer (staff service, build, restore, a psql session) goes through these.
    op.execute(
        """
        CREATE FUNCTION kb_version_bump() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            UPDATE kb_version SET version = version + 1 WHERE id = 1;
            RETURN NULL;
        END $$
        """
    )
    for table in WATCHED:
        op.execute(
            f"CREATE TRIGGER {table}_kb_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION kb_version_bump()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in WATCHED:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_kb_version ON {table}")
        op.execute("DROP FUNCTION IF EXISTS kb_version_bump()")
    op.drop_table("kb_version")
