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
    "vocabulary_terms",
    "alembic_version",
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
