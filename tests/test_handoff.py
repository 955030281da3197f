# ruff: noqa: F811  (the fixtures of tests/test_api.py are imported and used as parameters)
"""Hand-off to staff (issue 15) over the real HTTP API, on SQLite and PostgreSQL.

The resident's side is driven through ``knowledge.handoff`` on the same database (what the action
server calls); tests/test_handoff_actions.py runs it through the real answer action.
"""

from __future__ import annotations

from urllib.parse import quote

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from knowledge import handoff
from knowledge.db import session_scope
from knowledge.models import AuditEvent, Handoff
from knowledge.privacy import contains_personal_data, pseudonymous_sender
from knowledge.staff import create_user
from tests.test_api import ADMIN, EDITOR, api_url, client, login  # noqa: F401  (fixtures)

REVIEWER = ("reviewer1", "Review-Passw0rd!")
SENDER = "web-0123456789abcdef0123456789abcdef"


def resident_asks(url: str, sender: str = SENDER, words: list[str] | None = None) -> str:
    with session_scope(url) as session:
        return handoff.request_person(session, sender=sender, channel="rest", words=words or ["转人工"])


def resident_says(url: str, text: str, sender: str = SENDER) -> str | None:
    with session_scope(url) as session:
        return handoff.forward_to_desk(session, sender=sender, text=text)


async def staff(client: TestClient, api_url: str) -> tuple[dict[str, str], dict[str, str]]:
    with session_scope(api_url) as s:
        create_user(s, username=REVIEWER[0], password=REVIEWER[1], role="reviewer", actor="test")
    return await login(client, ADMIN), await login(client, REVIEWER)


async def test_nobody_on_duty_gives_12345_at_once_and_opens_nothing(client: TestClient, api_url: str):
    reply = resident_asks(api_url)
    assert reply == handoff.NOBODY_ON_DUTY and "12345" in reply
    with session_scope(api_url) as session:
        assert session.scalars(select(Handoff)).all() == []
    assert resident_says(api_url, "还在吗") is None  # the bot answers the next message


async def test_claim_reply_close_with_two_staff(client: TestClient, api_url: str):
    admin, reviewer = await staff(client, api_url)
    on = await client.post("/api/v1/duty", json={"on": True}, headers=admin)
    assert on.status == 200 and (await on.json())["on"] is True

    assert resident_asks(api_url, words=["电梯加装邻居不同意，我手机13812345678", "转人工"]) == handoff.CONNECTING
    assert resident_asks(api_url) == handoff.ALREADY_WAITING  # one open hand-off per resident
    assert resident_says(api_url, "我在等") == handoff.WAITING_ACK

    listed = await client.get("/api/v1/handoffs?status=waiting", headers=reviewer)
    assert listed.status == 200
    items = (await listed.json())["items"]
    assert len(items) == 1 and items[0]["sender"] == SENDER and items[0]["claimed_by"] is None
    said = [m["text"] for m in items[0]["transcript"] if m["from"] == "resident"]
    assert said[-1] == "我在等" and "13812345678" not in " ".join(said)  # masked as stored
    number = items[0]["id"]

    # the widget sees the state before anyone claims
    poll = await (await client.get(f"/webchat/{SENDER}/messages")).json()
    assert poll["handoff"] == "waiting" and poll["messages"] == []

    first = await client.post(f"/api/v1/handoffs/{number}/claim", headers=admin)
    assert first.status == 200 and (await first.json())["claimed_by"] == ADMIN[0]
    second = await client.post(f"/api/v1/handoffs/{number}/claim", headers=reviewer)
    assert second.status == 409
    assert (await second.json())["error"] == "already_claimed"

    not_mine = await client.post(f"/api/v1/handoffs/{number}/reply", json={"text": "您好"}, headers=reviewer)
    assert not_mine.status == 403
    empty = await client.post(f"/api/v1/handoffs/{number}/reply", json={"text": "  "}, headers=admin)
    assert empty.status == 422
    sent = await client.post(
        f"/api/v1/handoffs/{number}/reply", json={"text": "您好，请拨打 138-1234-5678 联系我"}, headers=admin
    )
    assert sent.status == 200
    staff_lines = [m["text"] for m in (await sent.json())["transcript"] if m["from"] == "staff"]
    assert staff_lines and "5678" not in staff_lines[0] and staff_lines[0].startswith("您好")

    poll = await (await client.get(f"/webchat/{SENDER}/messages")).json()
    assert poll["handoff"] == "active"
    assert [m["from"] for m in poll["messages"]] == ["system", "staff"]
    assert poll["messages"][1]["text"] == staff_lines[0]
    cursor = poll["cursor"]
    again = await (await client.get(f"/webchat/{SENDER}/messages?after={cursor}")).json()
    assert again["messages"] == [] and again["cursor"] == cursor

    assert resident_says(api_url, "好的谢谢") == handoff.ACTIVE_ACK

    closed = await client.post(f"/api/v1/handoffs/{number}/close", headers=admin)
    assert closed.status == 200 and (await closed.json())["status"] == "closed"
    assert (await client.post(f"/api/v1/handoffs/{number}/close", headers=admin)).status == 409
    poll = await (await client.get(f"/webchat/{SENDER}/messages?after={cursor}")).json()
    assert poll["handoff"] is None and poll["messages"][-1]["text"] == handoff.CLOSED_BY_STAFF
    assert resident_says(api_url, "再问一个") is None  # the bot answers again

    with session_scope(api_url) as session:
        actions = [a.action for a in session.scalars(select(AuditEvent).order_by(AuditEvent.id))]
    for action in ("duty_on", "handoff_request", "handoff_claim", "handoff_reply", "handoff_close"):
        assert action in actions


async def test_unclaimed_hand_off_times_out_with_12345(client: TestClient, api_url: str, monkeypatch):
    admin, _ = await staff(client, api_url)
    await client.post("/api/v1/duty", json={"on": True}, headers=admin)
    monkeypatch.setenv("HANDOFF_CLAIM_TIMEOUT", "0")
    assert resident_asks(api_url) == handoff.CONNECTING
    poll = await (await client.get(f"/webchat/{SENDER}/messages")).json()  # the widget learns it first
    assert poll["handoff"] is None and poll["messages"] == []
    poll = await (await client.get(f"/webchat/{SENDER}/messages?after=0")).json()
    assert [m["text"] for m in poll["messages"]] == [handoff.TIMED_OUT] and "12345" in handoff.TIMED_OUT
    assert resident_says(api_url, "还在吗") is None  # the bot resumes
    listed = await (await client.get("/api/v1/handoffs?status=closed", headers=admin)).json()
    assert listed["items"][0]["close_reason"] == "timeout"
    late = await client.post(f"/api/v1/handoffs/{listed['items'][0]['id']}/claim", headers=admin)
    assert late.status == 409

    other = "web-ffffffffffffffffffffffffffffffff"
    assert resident_asks(api_url, sender=other) == handoff.CONNECTING
    assert resident_says(api_url, "有人吗", sender=other) == handoff.TIMED_OUT  # told on the next message


async def test_permissions_and_bad_input(client: TestClient, api_url: str):
    editor = await login(client, EDITOR)
    assert (await client.post("/api/v1/duty", json={"on": True}, headers=editor)).status == 403
    assert (await client.get("/api/v1/handoffs", headers=editor)).status == 403
    assert (await client.get("/api/v1/handoffs")).status == 401
    admin = await login(client, ADMIN)
    assert (await client.post("/api/v1/duty", json={"on": "yes"}, headers=admin)).status == 422
    assert (await client.get("/api/v1/handoffs?status=nonsense", headers=admin)).status == 422
    assert (await client.post("/api/v1/handoffs/999999/claim", headers=admin)).status == 404
    assert (await client.post("/api/v1/handoffs/abc/claim", headers=admin)).status == 404
    bad = await client.get(f"/webchat/{SENDER}/messages?after=abc")
    assert bad.status == 422 and (await bad.json())["message"]
    assert (await client.get(f"/webchat/{SENDER}/messages")).headers["Access-Control-Allow-Origin"] == "*"


async def test_clause_page_shows_the_full_text_and_the_document(client: TestClient):
    page = await client.get("/clauses/" + quote("第9条"))
    assert page.status == 200
    html = await page.text()
    assert "杭州争当浙江高质量发展建设共同富裕示范区城市范例的行动计划" in html
    assert "加装电梯" in html and 'href="tel:12345"' in html and "<script" not in html
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]
    missing = await client.get("/clauses/" + quote("第999条"))
    assert missing.status == 404 and "找不到该条款" in await missing.text()


@pytest.mark.parametrize("text", ["转人工", "找真人", "人工客服", "我要投诉，找个人", "能不能帮我转人工？"])
def test_residents_words_for_a_person_are_recognised(text: str):
    from knowledge.understanding import asks_for_a_person

    assert asks_for_a_person(text)


@pytest.mark.parametrize("text", ["你是真人吗", "我想找个人才公寓", "人工智能产业有什么政策", "加装电梯怎么申请"])
def test_other_messages_are_not_a_request_for_a_person(text: str):
    from knowledge.understanding import asks_for_a_person

    assert not asks_for_a_person(text)


async def test_a_widget_id_that_reads_as_a_phone_number_still_sees_staff_replies(client: TestClient, api_url: str):
    """The widget's id is random hex; ~1 in 600 holds a run like 13812345678. The REST channel stores
    that conversation as ``anon-<keyed hash>`` (knowledge.privacy.pseudonymous_sender), and the poll
    with the widget's own id must find it (the CI flake of session 4's last landing)."""
    widget = "web-ab13812345678" + "c0ffee" * 3 + "d"
    assert len(widget) == 36 and contains_personal_data(widget)
    conversation = pseudonymous_sender(widget)
    assert conversation.startswith("anon-")
    admin, _ = await staff(client, api_url)
    await client.post("/api/v1/duty", json={"on": True}, headers=admin)
    assert resident_asks(api_url, sender=conversation) == handoff.CONNECTING  # as the action server stores it
    poll = await (await client.get(f"/webchat/{widget}/messages")).json()
    assert poll["handoff"] == "waiting"
    listed = await (await client.get("/api/v1/handoffs?status=waiting", headers=admin)).json()
    assert [i["sender"] for i in listed["items"]] == [conversation]  # the phone-like run is not shown to staff
