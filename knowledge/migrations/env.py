"""Alembic environment: the engine comes from knowledge.db (or DATABASE_URL)."""

from __future__ import annotations

from alembic import context

from knowledge.db import get_engine
from knowledge.models import Base

config = context.config
engine = config.attributes.get("engine") or get_engine()

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
