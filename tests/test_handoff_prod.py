"""Hand-off across workers (issue 15) in production mode: PostgreSQL, Redis, 2 Rasa workers,
2 action-server workers and two staff-service processes (built as tests/test_prod_mode.py builds
its stack, with a second ``python -m web`` on the same database, as a second replica would be).

The hand-off state lives in the database, not in any process: a conversation a resident hands
over through Rasa is seen, claimed and answered through one staff-service process and read by the
widget's poll through the other; a second claim through the other process gets 409; and when
nobody claims in time, the sweepers of both processes race for it and the resident is told once.
"""

from __future__ import annotations

import random
import subprocess
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from sqlalchemy import select, update

from knowledge import handoff
from knowledge.db import session_scope
from knowledge.models import AuditEvent, Handoff, HandoffMessage, utcnow
from knowledge.privacy import contains_personal_data, pseudonymous_sender
from knowledge.staff import create_user
from tests.stack import APP_PYTHON, PROJECT_ROOT, Stack, free_port, said, stop
from tests.test_prod_mode import databases, prod_stack  # noqa: F401  (a fixture)

pytestmark = pytest.mark.e2e

REVIEWER = ("prod-reviewer", "Prod-Review-Passw0rd!")


@pytest.fixture(scope="module")
def prod(tmp_path_factory: pytest.TempPathFactory, databases: tuple[str, str]) -> Iterator[tuple[Stack, str]]:  # noqa: F811
    """The production stack (its web service is the first staff-service process) and the URL of a second one."""
    workdir = tmp_path_factory.mktemp("handoff_prod")
    with prod_stack(workdir, databases, rasa_workers=2, HANDOFF_SWEEP_SECONDS="0.5") as stack:
        port = free_port()
        with (workdir / "web2.log").open("ab") as log:
            second = subprocess.Popen(
                [APP_PYTHON, "-m", "web", "--host", "127.0.0.1", "--port", str(port)],
                cwd=PROJECT_ROOT,
                env=stack.environment,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    if requests.get(f"{url}/api/v1/openapi.json", timeout=5).ok:
                        break
                except requests.RequestException:
                    time.sleep(0.5)
            else:
                pytest.fail("the second staff-service process did not come up:\n" + (workdir / "web2.log").read_text())
            yield stack, url
        finally:
            stop(second)


def says(stack: Stack, sender: str, text: str) -> str:
    """The bot's reply text (its custom part carries no text)."""
    return said(stack.ask(sender, text)).strip()


def token(web_url: str, who: tuple[str, str]) -> dict[str, str]:
    login = requests.post(f"{web_url}/api/v1/login", json={"username": who[0], "password": who[1]}, timeout=30)
    assert login.status_code == 200, login.text
    return {"Authorization": f"Bearer {login.json()['token']}"}


def widget_sender(*, reads_as_a_phone: bool = False) -> str:
    """A sender id as the widget makes it (``web-`` + 32 random hex). About 1 in 600 of those holds a
    run of digits that reads as a phone number, and the REST channel then names the conversation
    ``anon-<keyed hash>``: ``reads_as_a_phone`` makes one such on purpose."""
    if not reads_as_a_phone:
        return f"web-{uuid.uuid4().hex}"
    sender = f"web-ab138{random.randrange(10**8):08d}f{uuid.uuid4().hex[:18]}"
    assert contains_personal_data(sender)
    return sender


def poll(web_url: str, sender: str, after: int | None = None) -> dict:
    query = f"?after={after}" if after is not None else ""
    reply = requests.get(f"{web_url}/webchat/{sender}/messages{query}", timeout=30)
    assert reply.status_code == 200, reply.text
    return reply.json()


def test_a_hand_off_started_through_one_worker_is_answered_through_the_other(
    prod: tuple[Stack, str],
    databases: tuple[str, str],  # noqa: F811
) -> None:
    stack, second = prod
    first = stack.web_url
    with session_scope(databases[0]) as session:
        create_user(session, username=REVIEWER[0], password=REVIEWER[1], role="reviewer", actor="test")
    admin_on_first, admin_on_second = token(first, stack.admin), token(second, stack.admin)
    reviewer_on_first = token(first, REVIEWER)
    assert requests.post(f"{second}/api/v1/duty", json={"on": True}, headers=admin_on_second, timeout=30).ok

    sender = widget_sender()
    conversation = pseudonymous_sender(sender)  # the id the hand-off is stored under (sender, nearly always)
    assert says(stack, sender, "我要投诉，找个人") == handoff.CONNECTING  # Rasa, either worker
    assert says(stack, sender, "电梯加装的事情邻居一直不同意") == handoff.WAITING_ACK

    waiting = requests.get(f"{first}/api/v1/handoffs?status=waiting", headers=admin_on_first, timeout=30).json()
    (item,) = [i for i in waiting["items"] if i["sender"] == conversation]
    assert item["transcript"][-1]["text"] == "电梯加装的事情邻居一直不同意"
    assert poll(second, sender)["handoff"] == "waiting"

    claimed = requests.post(f"{second}/api/v1/handoffs/{item['id']}/claim", headers=admin_on_second, timeout=30)
    assert claimed.status_code == 200 and claimed.json()["claimed_by"] == stack.admin[0]
    again = requests.post(f"{first}/api/v1/handoffs/{item['id']}/claim", headers=reviewer_on_first, timeout=30)
    assert again.status_code == 409 and again.json()["error"] == "already_claimed"

    replied = requests.post(
        f"{first}/api/v1/handoffs/{item['id']}/reply",
        json={"text": "您好，请说小区名称。"},
        headers=admin_on_first,
        timeout=30,
    )
    assert replied.status_code == 200, replied.text
    seen = poll(second, sender, after=0)
    assert seen["handoff"] == "active"
    assert [(m["from"], m["text"]) for m in seen["messages"]] == [
        ("system", handoff.CLAIMED),
        ("staff", "您好，请说小区名称。"),
    ]

    for words in ("翠苑一区", "3幢", "谢谢"):  # each through whichever Rasa and action worker takes it
        assert says(stack, sender, words) == handoff.ACTIVE_ACK
    active = requests.get(f"{second}/api/v1/handoffs?status=active", headers=admin_on_second, timeout=30).json()
    (item,) = [i for i in active["items"] if i["sender"] == conversation]
    assert [m["text"] for m in item["transcript"] if m["from"] == "resident"][-3:] == ["翠苑一区", "3幢", "谢谢"]

    closed = requests.post(f"{first}/api/v1/handoffs/{item['id']}/close", headers=admin_on_first, timeout=30)
    assert closed.status_code == 200
    after = poll(second, sender, after=seen["cursor"])
    assert after["handoff"] is None and after["messages"][-1]["text"] == handoff.CLOSED_BY_STAFF
    assert "来源" in says(stack, sender, "加梯")  # the bot answers again, in every worker


def test_both_sweepers_race_for_a_timed_out_hand_off_and_the_resident_is_told_once(
    prod: tuple[Stack, str],
    databases: tuple[str, str],  # noqa: F811
) -> None:
    stack, second = prod
    assert requests.post(f"{second}/api/v1/duty", json={"on": True}, headers=token(second, stack.admin), timeout=30).ok
    senders = [widget_sender() for _ in range(3)] + [widget_sender(reads_as_a_phone=True)]
    conversations = [pseudonymous_sender(sender) for sender in senders]  # as the REST channel names them
    assert conversations[-1].startswith("anon-")
    for sender in senders:
        assert says(stack, sender, "转人工") == handoff.CONNECTING
    with session_scope(databases[0]) as session:  # as if nobody had claimed them for an hour
        session.execute(
            update(Handoff).where(Handoff.sender.in_(conversations)).values(waiting_since=utcnow() - timedelta(hours=1))
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with session_scope(databases[0]) as session:
            open_ = session.scalars(
                select(Handoff).where(Handoff.sender.in_(conversations), Handoff.status != "closed")
            ).all()
        if not open_:
            break
        time.sleep(0.2)
    with session_scope(databases[0]) as session:
        ids = [h.id for h in session.scalars(select(Handoff).where(Handoff.sender.in_(conversations)))]
        assert len(ids) == 4
        told = session.scalars(
            select(HandoffMessage.handoff_id).where(
                HandoffMessage.handoff_id.in_(ids), HandoffMessage.author == "system"
            )
        ).all()
        assert sorted(told) == sorted(ids)  # one 12345 notice each, not one per process
        timeouts = session.scalars(
            select(AuditEvent.target).where(
                AuditEvent.action == "handoff_timeout", AuditEvent.target.in_([f"handoff:{i}" for i in ids])
            )
        ).all()
        assert len(timeouts) == 4
    for sender in senders:  # each widget polls with its own id, the one whose id reads as a phone too
        assert [m["text"] for m in poll(stack.web_url, sender, after=0)["messages"]] == [handoff.TIMED_OUT]
    logs = "".join(p.read_text(errors="replace") for p in Path(stack.workdir).glob("web*.log"))
    assert "hand-off sweep failed" not in logs
