"""schemathesis against the staff service's own OpenAPI document (/api/v1/openapi.json, web/openapi.yml).

The real service runs as a subprocess (``python -m web``) on a free port with a fresh SQLite knowledge
base and a bootstrap admin; schemathesis loads the schema from the running service, generates valid
and invalid requests for every operation with an admin's Bearer token, and checks each response:
no 5xx, a documented status code and content type, and a body that matches the documented schema.
Budgets and profiles: tests/fuzz_settings.py (``ci``: derandomized).
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import schemathesis
import yaml
from hypothesis import settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from knowledge import staff
from knowledge.build import build
from knowledge.db import get_engine, get_sessionmaker
from knowledge.models import StaffUser
from tests.fuzz_settings import examples
from tests.stack import APP_PYTHON, PROJECT_ROOT, Postgres, free_port, stop

# Not a name schemathesis will generate for /api/v1/users/{username}, so fuzzing never disables it.
ADMIN = ("fuzz-admin-7f3c9e", "Fuzz-Admin-Passw0rd!")
BACKENDS = ["sqlite", "postgresql"]
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


class Service:
    def __init__(self, url: str, base: str, process: subprocess.Popen[bytes], log: Path) -> None:
        self.url, self.base, self.process, self.log = url, base, process, log
        self.token = ""

    def fresh_token(self) -> str:
        """A token of its own for POST /api/v1/logout (which revokes the token it is called with)."""
        with get_sessionmaker(self.url)() as session, session.begin():
            user = session.query(StaffUser).filter_by(username=ADMIN[0]).one()
            return staff.issue_token(session, user=user, kind="api")[0]


@pytest.fixture(scope="module", params=BACKENDS)
def database(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh knowledge base: SQLite, or a throw-away PostgreSQL database (production's)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('fuzz-api') / 'kb.sqlite3'}"
        return
    with Postgres() as postgres:
        yield postgres.create("fuzz")


@pytest.fixture(scope="module")
def service(database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    url = database
    workdir = tmp_path_factory.mktemp("fuzz-api-log")
    build(url=url)
    port = free_port()
    log = workdir / "web.log"
    env = {**os.environ, "DATABASE_URL": url, "ADMIN_USERNAME": ADMIN[0], "ADMIN_PASSWORD": ADMIN[1]}
    env.pop("REDIS_URL", None)
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(APP_PYTHON), "-m", "web", "--host", "127.0.0.1", "--port", str(port)],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    running = Service(url, f"http://127.0.0.1:{port}", process, log)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(running.base + "/api/v1/openapi.json", timeout=2).ok:
                    break
            except requests.ConnectionError:
                pass
            assert process.poll() is None, log.read_text(errors="replace")
            assert time.monotonic() < deadline, "the staff service did not start"
            time.sleep(0.2)
        reply = requests.post(running.base + "/api/v1/login", json={"username": ADMIN[0], "password": ADMIN[1]})
        assert reply.status_code == 200, reply.text
        running.token = reply.json()["token"]
        yield running
    finally:
        stop(process, timeout=10)
        get_engine(url).dispose()


# The schema as the file the service serves it from; test_the_served_schema_is_the_file pins that the two agree.
OPENAPI_FILE = PROJECT_ROOT / "web" / "openapi.yml"
schema = schemathesis.openapi.from_path(OPENAPI_FILE)


def test_the_served_schema_is_the_file(service: Service):
    served = requests.get(service.base + "/api/v1/openapi.json", timeout=10).json()
    assert served == yaml.safe_load(OPENAPI_FILE.read_text(encoding="utf-8"))


# Inputs fuzzing found to give 500s (fixed), kept as explicit examples: method, path, body, expected status.
HOSTILE = [
    ("GET", "/api/v1/faqs/99999999999999999999", None, 404),  # SQLite: Python int too large (OverflowError)
    ("GET", "/api/v1/faqs/2147483648", None, 404),  # PostgreSQL: integer out of range
    ("GET", "/api/v1/faqs/%C2%B2", None, 404),  # "²": str.isdigit() says yes, int() says no
    ("DELETE", "/api/v1/faqs/1?version=%C2%B2", None, 422),
    ("POST", "/api/v1/faqs/1/revisions/%C2%B2/restore", {"version": 1}, 404),
    ("POST", "/api/v1/inbox/99999999999999999999/draft", None, 404),
    # Feedback for an id no entry can have: accepted and ignored, like any id that is not published.
    ("POST", "/api/v1/feedback", {"faq_id": 10**30, "rating": "up"}, 200),
    ("POST", "/api/v1/feedback", {"faq_id": True, "rating": "up"}, 422),  # not an integer
    ("POST", "/api/v1/faqs", "[" * 100_000, 422),  # json.loads: RecursionError
    ("POST", "/api/v1/faqs", {"topic": [], "question": "q", "answer": "a", "source": "第9条"}, 422),  # unhashable
    # PostgreSQL refuses NUL in text: these reached a query and failed there.
    ("POST", "/api/v1/login", {"username": "admin\u0000", "password": "x"}, 401),
    ("GET", "/api/v1/faqs?q=%00", None, 200),
    ("POST", "/api/v1/faqs", {"topic": "plan", "question": "q\u0000", "answer": "a", "source": "第9条"}, 422),
    ("POST", "/api/v1/faqs", {"topic": "plan", "question": "q", "answer": "a", "source": "第9\u0000条"}, 422),
    ("POST", "/api/v1/users", {"username": "a\u0000b", "password": "Abc-12345678!", "role": "editor"}, 422),
    ("PATCH", "/api/v1/users/a%00b", {"disabled": True}, 404),
    ("POST", "/api/v1/import?format=yaml", "entries:\n  - {id: 1, question: !!timestamp 2024-13-45}\n", 422),
    ("POST", "/api/v1/import?format=yaml", 'entries:\n  - {topic: plan, question: "\\0", source: "\\0"}\n', 422),
    # issue 13's filters: an id beyond any integer column reached PostgreSQL (integer out of range)
    ("GET", "/api/v1/proposals?faq_id=1966447011836908521127936", None, 422),
    ("GET", "/api/v1/audit?faq_id=2147483648", None, 422),
    ("GET", "/api/v1/proposals?proposed_by=%00&status=open", None, 200),
    ("GET", "/api/v1/audit?actor=%00&since=2026-02-30", None, 422),
    ("PATCH", "/api/v1/users/nobody", {"role": ["admin"]}, 422),
]


@pytest.mark.parametrize(("method", "path", "body", "status"), HOSTILE)
def test_inputs_that_once_gave_500_get_a_chinese_4xx(service: Service, method, path, body, status):
    """Before the fuzzing below (same service): login and feedback are rate-limited per address."""
    kwargs = {"json": body} if isinstance(body, dict) else {"data": body.encode()} if body else {}
    reply = requests.request(
        method, service.base + path, headers={"Authorization": f"Bearer {service.token}"}, timeout=30, **kwargs
    )
    assert reply.status_code == status, reply.text[:500]
    if status >= 400:
        assert re.search("[\u4e00-\u9fff]", reply.json()["message"])


@schema.parametrize()
@settings(max_examples=examples(5))
def test_every_operation_answers_without_server_errors_as_documented(case, service: Service):
    token = service.fresh_token() if case.path == "/api/v1/logout" else service.token
    case.call_and_validate(
        base_url=service.base, headers={"Authorization": f"Bearer {token}"}, checks=CHECKS, timeout=30
    )


def test_the_service_logged_no_unexpected_error(service: Service):
    """Runs after the fuzzing (same module): the service never hit an unhandled exception."""
    assert service.process.poll() is None
    log = service.log.read_text(errors="replace")
    assert "unexpected error" not in log and "Traceback" not in log, log[-4000:]
