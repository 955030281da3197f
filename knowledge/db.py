"""Engine and session factories, and migrations. Nothing connects at import time."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from time import monotonic
from typing import Any

from sqlalchemy import Engine, create_engine, event, exc
from sqlalchemy.orm import Session, sessionmaker

from knowledge.settings import KNOWLEDGE_DIR, database_url, normalize_url


def get_engine(url: str | None = None) -> Engine:
    """One engine per URL (default: ``DATABASE_URL``), created on first use."""
    return _engine(url or database_url())


@lru_cache(maxsize=8)
def _engine(url: str) -> Engine:
    _ENGINE_URLS.add(url)
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 15}, json_serializer=_json)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    # connect_timeout: a database that is down costs a resident seconds, not minutes.
    engine = create_engine(url, connect_args={"connect_timeout": 3}, json_serializer=_json)
    event.listen(engine, "checkin", _note_idle_since)
    event.listen(engine, "checkout", _ping_after_idle)
    return engine


# A pooled connection idle this long is tested ("SELECT 1") before use, so that one the server
# closed meanwhile (a restart, an idle timeout) is replaced instead of failing a resident's
# question. SQLAlchemy's pool_pre_ping tests every checkout: an answer checks out a connection
# several times, and under load those round trips were a sixth of the action server's samples
# (py-spy, issue 16). A connection checked in a moment ago is as good as a tested one.
PING_AFTER_IDLE = 1.0  # seconds


def _note_idle_since(dbapi_connection: Any, record: Any) -> None:
    record.info["idle_since"] = monotonic()


def _ping_after_idle(dbapi_connection: Any, record: Any, proxy: Any) -> None:
    idle_since = record.info.pop("idle_since", None)
    if idle_since is None or monotonic() - idle_since < PING_AFTER_IDLE:
        return  # a new connection, or one in use a moment ago
    try:
        _ping(dbapi_connection)
    except Exception as error:  # the pool drops this connection and checks out another
        raise exc.DisconnectionError() from error


def _ping(dbapi_connection: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("SELECT 1")
    finally:
        cursor.close()


def _forget_inherited_connections() -> None:
    """A forked worker (several action-server workers) must not share its parent's connections."""
    for url in list(_ENGINE_URLS):
        _engine(url).dispose(close=False)


_ENGINE_URLS: set[str] = set()
os.register_at_fork(after_in_child=_forget_inherited_connections)


def create_database_if_missing(url: str | None = None) -> bool:
    """PostgreSQL: create the database named in ``url`` if it does not exist (True if created)."""
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    target = make_url(normalize_url(url) if url else database_url())
    if not target.drivername.startswith("postgresql") or not target.database:
        return False
    admin = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": target.database}).first()
            if not exists:
                name = target.database.replace('"', '""')
                conn.execute(text(f'CREATE DATABASE "{name}"'))
            return not exists
    finally:
        admin.dispose()


def _json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)  # Chinese stays readable and searchable


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    cursor = dbapi_connection.cursor()
    # WAL lets residents read while staff (or a rebuild) write.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def get_sessionmaker(url: str | None = None) -> sessionmaker[Session]:
    return _sessionmaker(url or database_url())


@lru_cache(maxsize=8)
def _sessionmaker(url: str) -> sessionmaker[Session]:
    return sessionmaker(_engine(url), expire_on_commit=False)


@contextmanager
def session_scope(url: str | None = None) -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    session = get_sessionmaker(url)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def upgrade_to_head(url: str | None = None) -> None:
    """Apply the Alembic migrations to the database at ``url``."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(KNOWLEDGE_DIR / "migrations"))
    config.attributes["engine"] = get_engine(url)
    command.upgrade(config, "head")
