"""Alembic: upgrade from an empty database, and the migrations match the models."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from knowledge.db import get_engine, upgrade_to_head
from knowledge.models import Base

TABLES = {
    "documents", "clauses", "targets", "faq_entries", "staff_users", "staff_tokens",
    "faq_revisions", "audit_events", "unanswered_questions", "answer_feedback", "login_failures",
    "vocabulary_terms", "faq_proposals", "desk_staff", "handoffs", "handoff_messages", "kb_version",
    "inbox_groups", "answer_events", "alembic_version",
}  # fmt: skip


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request: pytest.FixtureRequest, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'empty.sqlite3'}"
    return request.getfixturevalue("pg_url")


def test_upgrade_from_empty_creates_every_table_and_matches_the_models(empty_url: str):
    upgrade_to_head(empty_url)
    engine = get_engine(empty_url)
    assert set(inspect(engine).get_table_names()) == TABLES
    with engine.connect() as connection:
        drift = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert drift == [], "models changed without a migration: " + repr(drift)


def test_upgrade_is_repeatable(empty_url: str):
    upgrade_to_head(empty_url)
    upgrade_to_head(empty_url)
    assert "faq_entries" in inspect(get_engine(empty_url)).get_table_names()


def test_0006_keeps_existing_accounts_revisions_and_feedback(empty_url: str):
    """Rows written before the review tables exist get the defaults: no display name, no forced password change."""
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import text

    from knowledge.settings import KNOWLEDGE_DIR

    config = Config()
    config.set_main_option("script_location", str(KNOWLEDGE_DIR / "migrations"))
    config.attributes["engine"] = get_engine(empty_url)
    command.upgrade(config, "0005")
    with get_engine(empty_url).begin() as connection:
        connection.execute(
            text(
                "INSERT INTO staff_users (username, password_hash, role, disabled, failed_logins, created_at) "
                "VALUES ('wang', 'x', 'editor', false, 0, CURRENT_TIMESTAMP)"
            )
        )
    upgrade_to_head(empty_url)
    with get_engine(empty_url).connect() as connection:
        row = connection.execute(
            text("SELECT display_name, department, must_change_password FROM staff_users WHERE username = 'wang'")
        ).one()
    assert (row[0], row[1], bool(row[2])) == ("", "", False)
