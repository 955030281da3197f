"""Shared fixtures: real knowledge bases built by the real build step.

- ``kb_url``: a SQLite file built once per test session (read-only tests);
- ``fresh_kb_url``: a new SQLite file per test (tests that write);
- ``pg_url``: a new PostgreSQL database on 127.0.0.1:5432 per test, dropped after.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from knowledge.answering import AnswerEngine
from knowledge.build import build
from knowledge.db import get_engine, get_sessionmaker
from tests.stack import Postgres, Stack


@pytest.fixture(autouse=True)
def _four_eyes_off_unless_a_test_turns_it_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """``make test PROFILE=prod`` exports FOUR_EYES=1; tests that need it set it themselves."""
    monkeypatch.delenv("FOUR_EYES", raising=False)


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
    with Postgres() as postgres:
        yield postgres.create("test")


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Rasa, the action server and the staff web service on free ports, with their own knowledge base."""
    workdir = tmp_path_factory.mktemp("stack")
    url = f"sqlite:///{workdir / 'kb.sqlite3'}"
    build(url=url)
    running = Stack(kb_url=url, workdir=workdir, env={"FOUR_EYES": "0"})  # the browser tests edit live answers
    try:
        running.start()
        yield running
    finally:
        running.stop()
