"""Staff login under attack (issue 12), on real SQLite and real PostgreSQL.

- Parallel wrong passwords are all counted (the counters are single atomic statements).
- A wrong password, an unknown name, a disabled and a locked account cost the same Argon2 work
  and get the same answer, so the answers tell nobody which accounts exist.
- Failures count per (name, client address) with an exponential back-off: an attacker slows
  down only their own address, and the real user logs in from another one.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from aiohttp.test_utils import TestClient, TestServer
from argon2 import PasswordHasher
from sqlalchemy import select, update

from knowledge import staff
from knowledge.db import get_engine, get_sessionmaker, session_scope, upgrade_to_head
from knowledge.models import AuditEvent, LoginFailure, StaffUser, utcnow
from web.app import init_app

ADMIN = ("admin", "Strong-Pa55word!")
EDITOR = ("editor1", "Editor-Passw0rd!")
ATTACKER, RESIDENT_OFFICE = "203.0.113.7", "198.51.100.20"


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    """An empty knowledge base with the staff tables and one editor."""
    url = f"sqlite:///{tmp_path / 'kb.sqlite3'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    upgrade_to_head(url)
    with session_scope(url) as session:
        staff.create_user(session, username=EDITOR[0], password=EDITOR[1], role="editor", actor="test")
    yield url
    get_engine(url).dispose()


class CountingHasher(PasswordHasher):
    """The real Argon2id hasher (same parameters), counting its verifications."""

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.verified = 0

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:
        self.verified += 1
        return super().verify(hash, password)


def failures_of(url: str, name: str, address: str) -> LoginFailure | None:
    with get_sessionmaker(url)() as session:
        return session.get(LoginFailure, (name, address))


def account(url: str, name: str = EDITOR[0]) -> StaffUser:
    with get_sessionmaker(url)() as session:
        return session.scalar(select(StaffUser).where(StaffUser.username == name))


def log_in(url: str, password: str, *, address: str, name: str = EDITOR[0]) -> str:
    """ "ok", or the code of the Unauthorized raised."""
    try:
        staff.log_in(get_sessionmaker(url), username=name, password=password, kind="api", address=address)
    except staff.Unauthorized as exc:
        return exc.code
    return "ok"


def let_time_pass(url: str, name: str, address: str) -> None:
    """The address's wait is over (as if its blocked_until had passed)."""
    with session_scope(url) as session:
        session.execute(
            update(LoginFailure)
            .where(LoginFailure.username == name, LoginFailure.address == address)
            .values(blocked_until=utcnow() - timedelta(seconds=1))
        )


# -- 1. the counters are atomic ------------------------------------------------------------


def test_16_parallel_wrong_passwords_are_all_counted(url: str) -> None:
    """Each attempt in its own thread, session and connection, as 16 requests to 16 workers would be."""
    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(lambda i: log_in(url, f"Wrong-{i}-passw0rd", address=ATTACKER), range(16)))
    assert set(results) == {"bad_credentials"}  # nobody was blocked before anyone failed
    assert account(url).failed_logins == 16  # read-modify-write lost 12 of these on both databases
    counted = failures_of(url, EDITOR[0], ATTACKER)
    assert counted is not None and counted.failures == 16
    assert staff.as_utc(counted.blocked_until) > utcnow()  # this address now waits
    with get_sessionmaker(url)() as session:
        audited = session.scalars(select(AuditEvent).where(AuditEvent.action == "login.failed")).all()
    assert len(audited) == 16
    # The attacker's address is blocked even with the right password; the real user is not.
    assert log_in(url, EDITOR[1], address=ATTACKER) == "locked"
    assert log_in(url, EDITOR[1], address=RESIDENT_OFFICE) == "ok"
    assert account(url).failed_logins == 0 and account(url).locked_until is None


# -- 2. the same work and the same answer ---------------------------------------------------


@pytest.fixture
async def client(url: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[TestClient]:
    monkeypatch.setenv("ADMIN_USERNAME", ADMIN[0])
    monkeypatch.setenv("ADMIN_PASSWORD", ADMIN[1])
    monkeypatch.setenv("WEB_PROXIES_COUNT", "1")  # the test plays the ingress: X-Forwarded-For is believed
    async with TestClient(TestServer(init_app(url))) as test_client:
        yield test_client


async def post_login(client: TestClient, name: str, password: str, address: str) -> tuple[int, dict, float]:
    started = time.perf_counter()
    reply = await client.post(
        "/api/v1/login", json={"username": name, "password": password}, headers={"X-Forwarded-For": address}
    )
    return reply.status, await reply.json(), time.perf_counter() - started


async def test_unknown_disabled_locked_and_wrong_cost_one_hash_each_and_answer_alike(
    client: TestClient, url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    hasher = CountingHasher()
    monkeypatch.setattr(staff, "_hasher", hasher)
    staff.dummy_hash()  # made once per process; not part of any answer's time
    sample = hasher.hash("Sample-passw0rd!")
    durations = []
    for _ in range(3):
        started = time.perf_counter()
        hasher.verify(sample, "Sample-passw0rd!")
        durations.append(time.perf_counter() - started)
    # The fastest of three: what a hash costs at least on this machine now. An answer that skipped the
    # hash takes a few milliseconds, one that ran it at least about this long, however busy the machine.
    one_hash = min(durations)

    with session_scope(url) as session:
        staff.create_user(session, username="disabled1", password=EDITOR[1], role="editor", actor="test")
        staff.create_user(session, username="locked1", password=EDITOR[1], role="editor", actor="test")
        staff.set_user_disabled(session, username="disabled1", disabled=True, actor="test")
        session.execute(
            update(StaffUser).where(StaffUser.username == "locked1").values(locked_until=utcnow() + staff.LOCKOUT)
        )
    cases = {
        "wrong password": (EDITOR[0], "Wrong-passw0rd!"),
        "unknown name": ("nobody-here", EDITOR[1]),
        "disabled, right password": ("disabled1", EDITOR[1]),
        "locked, right password": ("locked1", EDITOR[1]),
    }
    answers = {}
    for what, (name, password) in cases.items():
        before = hasher.verified
        status, body, took = await post_login(client, name, password, f"192.0.2.{len(answers) + 1}")
        assert hasher.verified - before == 1, f"{what}: {hasher.verified - before} Argon2 verifications"
        assert took >= 0.5 * one_hash, f"{what}: {took * 1000:.0f} ms, one hash takes {one_hash * 1000:.0f} ms"
        answers[what] = (status, body)
    assert len(set(map(repr, answers.values()))) == 1, answers
    assert answers["unknown name"][0] == 401 and answers["unknown name"][1]["error"] == "bad_credentials"

    # An address that must wait gets one answer for a real and an unknown name alike, after the same work.
    waiting = {}
    for name in (EDITOR[0], "nobody-here"):
        for _ in range(staff.FREE_ATTEMPTS):
            await post_login(client, name, "Wrong-passw0rd!", ATTACKER)
        before = hasher.verified
        status, body, took = await post_login(client, name, EDITOR[1], ATTACKER)
        assert hasher.verified - before == 1 and took >= 0.5 * one_hash
        waiting[name] = (status, body)
    assert waiting[EDITOR[0]] == waiting["nobody-here"]
    assert waiting[EDITOR[0]][0] == 401 and waiting[EDITOR[0]][1]["error"] == "locked"


# -- 3. an attacker cannot keep the real user out ---------------------------------------------


async def test_an_attacker_slows_down_only_their_own_address(client: TestClient, url: str) -> None:
    for _ in range(staff.FREE_ATTEMPTS):
        status, body, _ = await post_login(client, EDITOR[0], "Wrong-passw0rd!", ATTACKER)
        assert status == 401 and body["error"] == "bad_credentials"
    status, body, _ = await post_login(client, EDITOR[0], EDITOR[1], ATTACKER)
    assert status == 401 and body["error"] == "locked" and "临时锁定" in body["message"]
    status, body, _ = await post_login(client, EDITOR[0], EDITOR[1], RESIDENT_OFFICE)
    assert status == 200 and body["token"]
    assert account(url).locked_until is None
    # The real user's success does not free the attacker's address.
    status, body, _ = await post_login(client, EDITOR[0], EDITOR[1], ATTACKER)
    assert status == 401 and body["error"] == "locked"


def test_the_wait_doubles_with_each_further_failure(url: str) -> None:
    assert [staff.backoff(n) for n in (1, 4)] == [timedelta(0), timedelta(0)]
    assert [staff.backoff(n).total_seconds() / 60 for n in range(5, 12)] == [1, 2, 4, 8, 16, 32, 60]
    assert staff.backoff(10**6) == staff.BACKOFF_MAX
    for _ in range(staff.FREE_ATTEMPTS):
        assert log_in(url, "Wrong-passw0rd!", address=ATTACKER) == "bad_credentials"
    waits = []
    for _ in range(3):
        counted = failures_of(url, EDITOR[0], ATTACKER)
        wait = staff.as_utc(counted.blocked_until) - staff.as_utc(counted.last_failed_at)
        waits.append(round(wait.total_seconds() / 60))
        assert log_in(url, "Wrong-passw0rd!", address=ATTACKER) == "locked"  # still waiting: not even checked
        let_time_pass(url, EDITOR[0], ATTACKER)
        assert log_in(url, "Wrong-passw0rd!", address=ATTACKER) == "bad_credentials"
    assert waits == [1, 2, 4]
    assert account(url).locked_until is None


def test_an_ipv6_client_counts_as_its_whole_64(url: str) -> None:
    for i in range(staff.FREE_ATTEMPTS):
        assert log_in(url, "Wrong-passw0rd!", address=f"2001:db8:1:2::{i + 1}") == "bad_credentials"
    assert log_in(url, EDITOR[1], address="2001:db8:1:2:ffff::9") == "locked"
    assert log_in(url, EDITOR[1], address="2001:db8:1:3::1") == "ok"


def test_the_safety_net_needs_many_addresses(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """50 failures from one address never lock the account; 50 spread over 5 addresses do."""
    monkeypatch.setattr(staff, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    with session_scope(url) as session:
        staff.create_user(session, username="target1", password=EDITOR[1], role="editor", actor="test")
        staff.create_user(session, username="target2", password=EDITOR[1], role="editor", actor="test")
    for _ in range(staff.ACCOUNT_MAX_FAILURES + 5):
        let_time_pass(url, "target1", ATTACKER)
        assert log_in(url, "Wrong-passw0rd!", address=ATTACKER, name="target1") == "bad_credentials"
    assert account(url, "target1").locked_until is None
    assert account(url, "target1").failed_logins == staff.ACCOUNT_MAX_FAILURES + 5
    assert log_in(url, EDITOR[1], address=RESIDENT_OFFICE, name="target1") == "ok"

    per_address = staff.ACCOUNT_MAX_FAILURES // staff.ACCOUNT_MIN_ADDRESSES
    for n in range(staff.ACCOUNT_MIN_ADDRESSES):
        for _ in range(per_address):
            let_time_pass(url, "target2", f"192.0.2.{n + 1}")
            log_in(url, "Wrong-passw0rd!", address=f"192.0.2.{n + 1}", name="target2")
    locked = account(url, "target2")
    assert locked.locked_until is not None and staff.as_utc(locked.locked_until) > utcnow()
    # Locked: even the right password from a clean address gets the one failure answer.
    assert log_in(url, EDITOR[1], address=RESIDENT_OFFICE, name="target2") == "bad_credentials"
