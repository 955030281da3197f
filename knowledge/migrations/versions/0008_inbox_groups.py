"""grouped inbox (issue 14): inbox_groups; unanswered_questions gets kind, step, reply and group_id

The same words asked again after their group was resolved start a new row, so ``text_key`` is no
longer unique (a plain index keeps the lookup fast).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-19 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "inbox_groups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("faq_id", sa.Integer(), nullable=True),
        sa.Column("proposal_id", sa.Integer(), nullable=True),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["faq_id"], ["faq_entries.id"], name=op.f("fk_inbox_groups_faq_id_faq_entries")),
        sa.ForeignKeyConstraint(
            ["proposal_id"], ["faq_proposals.id"], name=op.f("fk_inbox_groups_proposal_id_faq_proposals")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbox_groups")),
    )
    op.create_index(op.f("ix_inbox_groups_status"), "inbox_groups", ["status"], unique=False)
    with op.batch_alter_table("unanswered_questions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("kind", sa.String(length=16), server_default="unanswered", nullable=False))
        batch_op.add_column(sa.Column("step", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("reply", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("group_id", sa.Integer(), nullable=True))
        batch_op.drop_constraint("uq_unanswered_questions_text_key", type_="unique")
        batch_op.create_index(batch_op.f("ix_unanswered_questions_text_key"), ["text_key"], unique=False)
        batch_op.create_index(batch_op.f("ix_unanswered_questions_group_id"), ["group_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_unanswered_questions_group_id_inbox_groups"), "inbox_groups", ["group_id"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("unanswered_questions", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_unanswered_questions_group_id_inbox_groups"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_unanswered_questions_group_id"))
        batch_op.drop_index(batch_op.f("ix_unanswered_questions_text_key"))
        batch_op.create_unique_constraint("uq_unanswered_questions_text_key", ["text_key"])
        batch_op.drop_column("group_id")
        batch_op.drop_column("reply")
        batch_op.drop_column("step")
        batch_op.drop_column("kind")
    op.drop_index(op.f("ix_inbox_groups_status"), table_name="inbox_groups")
    op.drop_table("inbox_groups")
