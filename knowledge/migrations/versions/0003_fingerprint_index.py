"""covering index for the knowledge-base fingerprint

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 16:45:00
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_faq_entries_fingerprint", "faq_entries", ["status", "deleted_at", "version", "updated_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_faq_entries_fingerprint", table_name="faq_entries")
