"""knowledge/db.py's pool on PostgreSQL: a connection idle a while is tested before use, one in use a
moment ago is not (issue 16: pool_pre_ping's round trip on every checkout)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine, text

from knowledge import db


@pytest.fixture
def pooled(pg_url: str) -> Iterator[Engine]:
    engine = db._engine(pg_url)
    yield engine
    engine.dispose()
    db._engine.cache_clear()


@pytest.fixture
def pings(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    sent: list[object] = []
    ping = db._ping
    monkeypatch.setattr(db, "_ping", lambda connection: (sent.append(connection), ping(connection)))
    return sent


def _backend_pid(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT pg_backend_pid()")).scalar_one()


def test_a_connection_the_server_closed_while_idle_is_replaced(pooled: Engine, pg_url: str, monkeypatch):
    monkeypatch.setattr(db, "PING_AFTER_IDLE", 0.0)  # every checked-in connection counts as idle
    killed = _backend_pid(pooled)
    admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:  # as a server restart or an idle timeout would
        conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": killed})
    admin.dispose()
    assert _backend_pid(pooled) != killed  # no error: the test failed, the pool connected anew


def test_a_connection_in_use_a_moment_ago_is_not_tested(pooled: Engine, pings: list[object], monkeypatch):
    monkeypatch.setattr(db, "PING_AFTER_IDLE", 60.0)
    first = _backend_pid(pooled)
    assert [_backend_pid(pooled) for _ in range(5)] == [first] * 5  # the same pooled connection…
    assert pings == []  # …never tested: each checkout came right after its checkin
    monkeypatch.setattr(db, "PING_AFTER_IDLE", 0.0)
    assert _backend_pid(pooled) == first
    assert len(pings) == 1  # idle "long enough": tested once, and good
