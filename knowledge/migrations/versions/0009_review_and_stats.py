"""review dates on FAQ entries and counted bot replies (issue 14): faq_entries.review_by,
faq_entries.reviewed_at, answer_events

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("faq_entries") as batch:
        batch.add_column(sa.Column("review_by", sa.String(length=10), nullable=True))
        batch.add_column(sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index(op.f("ix_faq_entries_review_by"), "faq_entries", ["review_by"])
    op.create_table(
        "answer_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("step", sa.String(length=32), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("topic", sa.String(length=16), nullable=True),
        sa.Column("faq_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_answer_events")),
    )
    op.create_index(op.f("ix_answer_events_day"), "answer_events", ["day"])


def downgrade() -> None:
    op.drop_index(op.f("ix_answer_events_day"), table_name="answer_events")
    op.drop_table("answer_events")
    op.drop_index(op.f("ix_faq_entries_review_by"), table_name="faq_entries")
    with op.batch_alter_table("faq_entries") as batch:
        batch.drop_column("reviewed_at")
        batch.drop_column("review_by")
