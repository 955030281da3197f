"""proposals and review, restore of version N, account names and forced password change, feedback context (issue 13)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "faq_proposals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("faq_id", sa.Integer(), nullable=False),
        sa.Column("base_version", sa.Integer(), nullable=False),
        sa.Column("proposed", sa.JSON(), nullable=False),
        sa.Column("restores_version", sa.Integer(), nullable=True),
        sa.Column("proposed_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("applied_version", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["faq_id"], ["faq_entries.id"], name=op.f("fk_faq_proposals_faq_id_faq_entries")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_faq_proposals")),
    )
    op.create_index(op.f("ix_faq_proposals_faq_id"), "faq_proposals", ["faq_id"], unique=False)
    op.create_index(op.f("ix_faq_proposals_proposed_by"), "faq_proposals", ["proposed_by"], unique=False)
    op.create_index(op.f("ix_faq_proposals_status"), "faq_proposals", ["status"], unique=False)

    with op.batch_alter_table("faq_revisions") as batch:
        batch.add_column(sa.Column("restored_from", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("proposal_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            op.f("fk_faq_revisions_proposal_id_faq_proposals"), "faq_proposals", ["proposal_id"], ["id"]
        )

    with op.batch_alter_table("staff_users") as batch:
        batch.add_column(sa.Column("display_name", sa.String(length=64), server_default="", nullable=False))
        batch.add_column(sa.Column("department", sa.String(length=100), server_default="", nullable=False))
        batch.add_column(sa.Column("must_change_password", sa.Boolean(), server_default=sa.false(), nullable=False))

    with op.batch_alter_table("answer_feedback") as batch:
        batch.add_column(sa.Column("faq_version", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("question", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("answer_feedback") as batch:
        batch.drop_column("question")
        batch.drop_column("faq_version")
    with op.batch_alter_table("staff_users") as batch:
        batch.drop_column("must_change_password")
        batch.drop_column("department")
        batch.drop_column("display_name")
    with op.batch_alter_table("faq_revisions") as batch:
        batch.drop_constraint(op.f("fk_faq_revisions_proposal_id_faq_proposals"), type_="foreignkey")
        batch.drop_column("proposal_id")
        batch.drop_column("restored_from")
    op.drop_index(op.f("ix_faq_proposals_status"), table_name="faq_proposals")
    op.drop_index(op.f("ix_faq_proposals_proposed_by"), table_name="faq_proposals")
    op.drop_index(op.f("ix_faq_proposals_faq_id"), table_name="faq_proposals")
    op.drop_table("faq_proposals")
