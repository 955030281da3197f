"""Shared fixtures: real knowledge bases built by the real build step.

- ``kb_url``: a SQLite file built once per test session (read-only tests);
- ``fresh_kb_url``: a new SQLite file per test (tests that write);
- ``pg_url``: a new PostgreSQL database on 127.0.0.1:5432 per test, dropped after.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from knowledge.answering import AnswerEngine
from knowledge.build import build
from knowledge.db import get_engine, get_sessionmaker
from tests.stack import Stack

PG_ADMIN_URL = os.environ.get("TEST_POSTGRES_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


@pytest.fixture(scope="session")
def kb_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('kb') / 'kb.sqlite3'}"
    build(url=url)
    return url


@pytest.fixture
def fresh_kb_url(tmp_path: Path) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'kb.sqlite3'}"
    build(url=url)
    yield url
    get_engine(url).dispose()


@pytest.fixture
def engine(kb_url: str) -> AnswerEngine:
    return AnswerEngine(get_sessionmaker(kb_url))


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A throw-away PostgreSQL database (PostgreSQL runs on the dev and CI machines)."""
    name = f"hz_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    yield url
    get_engine(url).dispose()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Rasa, the action server and the staff web service on free ports, with their own knowledge base."""
    workdir = tmp_path_factory.mktemp("stack")
    url = f"sqlite:///{workdir / 'kb.sqlite3'}"
    build(url=url)
    running = Stack(kb_url=url, workdir=workdir)
    try:
        running.start()
        yield running
    finally:
        running.stop()
