"""Hand-off to staff for a WeChat resident (issue 15), on the real stack against a fake WeChat.

Rasa with the WeChat channel (plain mode), the action server and the staff service run as real
processes on one SQLite knowledge base; only WeChat's servers are faked (``FakeWeChat`` of
tests/test_wechat.py: ``cgi-bin/token`` and ``cgi-bin/message/custom/send``, with the access-token
rules; here it also refuses residents outside the 48-hour window with errcode 45015, as WeChat does).

A WeChat resident cannot poll: what staff say reaches them as customer-service messages from the
staff service; their own messages go to the desk; nobody on duty or nobody claiming gives them
12345 as plain text. Timeouts and the 48-hour window are reached by moving the stored times back,
not by waiting.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
import requests
from aiohttp import web
from sqlalchemy import select, update

from knowledge import handoff
from knowledge.build import build
from knowledge.db import get_engine, session_scope
from knowledge.models import AuditEvent, Handoff, HandoffMessage, utcnow
from tests.stack import Stack
from tests.test_wechat import APPID, SECRET, TOKEN, FakeWeChat, new_user, parse, post_plain, serving, text_xml

pytestmark = pytest.mark.e2e

SOURCE = "来源："


@dataclass
class WindowedWeChat(FakeWeChat):
    """WeChat's API as the fake has it, and: residents in ``outside_window`` get errcode 45015."""

    outside_window: set[str] = field(default_factory=set)

    def app(self) -> web.Application:
        app = super().app()

        @web.middleware
        async def window(request: web.Request, handler):  # type: ignore[no-untyped-def]
            if request.path.endswith("/message/custom/send"):
                payload = await request.json()
                if payload.get("touser") in self.outside_window:
                    with self.lock:
                        self.sends.append(
                            {"token": request.query.get("access_token"), "payload": payload, "errcode": 45015}
                        )
                    return web.json_response({"errcode": 45015, "errmsg": "response out of time limit"})
            return await handler(request)

        app.middlewares.append(window)
        return app

    def texts_to(self, user: str) -> list[str]:
        return [s["payload"]["text"]["content"] for s in self.delivered_to(user) if s["errcode"] == 0]


@pytest.fixture(scope="module")
def wechat() -> Iterator[WindowedWeChat]:
    yield from serving(WindowedWeChat())


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, wechat: WindowedWeChat) -> Iterator[Stack]:
    workdir = tmp_path_factory.mktemp("wechat_handoff")
    url = f"sqlite:///{workdir / 'kb.sqlite3'}"
    build(url=url)
    env = {
        "WECHAT_TOKEN": TOKEN,
        "WECHAT_APPID": APPID,
        "WECHAT_APPSECRET": SECRET,
        "WECHAT_API_BASE": wechat.url,
        "WECHAT_MODE": "plain",
        "WECHAT_AES_KEY": "",
        "WECHAT_REPLY_TIMEOUT": "20",  # the answer comes as the passive reply, however busy this machine is
        "HANDOFF_SWEEP_SECONDS": "0.5",
    }
    running = Stack(kb_url=url, workdir=workdir, env=env)
    try:
        running.start()
        yield running
    finally:
        running.stop()
        get_engine(url).dispose()


@dataclass
class Staff:
    stack: Stack
    headers: dict[str, str]

    def post(self, path: str, **json: object) -> requests.Response:
        return requests.post(f"{self.stack.web_url}/api/v1{path}", json=json or None, headers=self.headers, timeout=30)

    def waiting(self, sender: str) -> dict:
        listed = requests.get(f"{self.stack.web_url}/api/v1/handoffs?status=waiting", headers=self.headers, timeout=30)
        assert listed.status_code == 200, listed.text
        (item,) = [i for i in listed.json()["items"] if i["sender"] == sender]
        return item


@pytest.fixture(scope="module")
def staff(stack: Stack) -> Staff:
    login = requests.post(
        f"{stack.web_url}/api/v1/login", json={"username": stack.admin[0], "password": stack.admin[1]}, timeout=30
    )
    assert login.status_code == 200, login.text
    return Staff(stack, {"Authorization": f"Bearer {login.json()['token']}"})


def says(stack: Stack, user: str, text: str) -> str:
    """The resident sends a WeChat text; the passive reply's text."""
    reply = post_plain(stack.rasa_url, text_xml(user, text))
    assert reply.status_code == 200, reply.text
    return parse(reply.content)["Content"]


def delivered(wechat: WindowedWeChat, user: str, count: int, timeout: float = 30) -> list[str]:
    """The texts WeChat took for the resident once there are ``count`` of them (fails after ``timeout``)."""
    deadline = time.monotonic() + timeout
    while len(texts := wechat.texts_to(user)) < count and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(texts) >= count, f"{len(texts)} of {count} delivered: {texts}"
    return texts


def duty(staff: Staff, on: bool) -> None:
    assert staff.post("/duty", on=on).status_code == 200


def test_nobody_on_duty_gives_12345_as_plain_text(stack: Stack, staff: Staff, wechat: WindowedWeChat) -> None:
    duty(staff, False)
    user = new_user()
    reply = says(stack, user, "转人工")
    assert reply == handoff.NOBODY_ON_DUTY and "12345" in reply
    assert SOURCE in says(stack, user, "加梯")  # the bot answers the next message
    assert wechat.delivered_to(user) == []


def test_resident_and_staff_talk_through_wechat(stack: Stack, staff: Staff, wechat: WindowedWeChat) -> None:
    duty(staff, True)
    user = new_user()
    assert says(stack, user, "我要投诉，找个人") == handoff.CONNECTING
    assert says(stack, user, "加装电梯邻居一直不同意，我手机13912345678") == handoff.WAITING_ACK
    item = staff.waiting(user)
    assert item["channel"] == "wechat" and item["reply_until"]
    said = [m["text"] for m in item["transcript"] if m["from"] == "resident"]
    assert said[-1].startswith("加装电梯邻居一直不同意") and "13912345678" not in said[-1]

    claimed = staff.post(f"/handoffs/{item['id']}/claim")
    assert claimed.status_code == 200, claimed.text
    assert delivered(wechat, user, 1) == [handoff.CLAIMED]

    replied = staff.post(f"/handoffs/{item['id']}/reply", text="您好，我是社区工作人员。请留个电话：我的是 13812345678")
    assert replied.status_code == 200, replied.text
    texts = delivered(wechat, user, 2)
    assert texts[1].startswith("工作人员：您好，我是社区工作人员") and "13812345678" not in texts[1]

    assert says(stack, user, "小区叫翠苑一区") == handoff.ACTIVE_ACK  # to the desk, not the bot
    listed = requests.get(f"{stack.web_url}/api/v1/handoffs?status=active", headers=staff.headers, timeout=30)
    (active,) = [i for i in listed.json()["items"] if i["id"] == item["id"]]
    assert active["transcript"][-1]["from"] == "resident" and active["transcript"][-1]["text"] == "小区叫翠苑一区"

    closed = staff.post(f"/handoffs/{item['id']}/close")
    assert closed.status_code == 200, closed.text
    assert delivered(wechat, user, 3)[2] == handoff.CLOSED_BY_STAFF
    answer = says(stack, user, "加梯")
    assert SOURCE in answer and "第9条" in answer  # the bot answers again
    assert len(wechat.delivered_to(user)) == 3  # and nothing else was sent


def test_nobody_claims_in_time_the_resident_gets_12345_once(stack: Stack, staff: Staff, wechat: WindowedWeChat) -> None:
    duty(staff, True)
    user = new_user()
    assert says(stack, user, "人工客服") == handoff.CONNECTING
    with session_scope(stack.kb_url) as session:  # as if the default 180 s had passed
        session.execute(
            update(Handoff).where(Handoff.sender == user).values(waiting_since=utcnow() - timedelta(hours=1))
        )
    assert delivered(wechat, user, 1) == [handoff.TIMED_OUT]  # the staff service's sweeper sent it
    assert "12345" in handoff.TIMED_OUT
    assert SOURCE in says(stack, user, "加梯")  # the bot answers again
    with session_scope(stack.kb_url) as session:
        (gone,) = session.scalars(select(Handoff).where(Handoff.sender == user)).all()
        assert (gone.status, gone.close_reason) == ("closed", "timeout")
        notices = session.scalars(
            select(HandoffMessage).where(HandoffMessage.handoff_id == gone.id, HandoffMessage.author == "system")
        ).all()
        assert [m.text for m in notices] == [handoff.TIMED_OUT]
    assert wechat.texts_to(user) == [handoff.TIMED_OUT]


def test_after_48_hours_a_reply_is_refused_before_it_is_stored(
    stack: Stack, staff: Staff, wechat: WindowedWeChat
) -> None:
    duty(staff, True)
    user = new_user()
    assert says(stack, user, "转人工") == handoff.CONNECTING
    number = staff.waiting(user)["id"]
    assert staff.post(f"/handoffs/{number}/claim").status_code == 200
    long_ago = utcnow() - timedelta(hours=49)
    with session_scope(stack.kb_url) as session:
        session.execute(update(HandoffMessage).where(HandoffMessage.handoff_id == number).values(at=long_ago))
        session.execute(update(Handoff).where(Handoff.id == number).values(waiting_since=long_ago))
    sends = len(wechat.delivered_to(user))
    refused = staff.post(f"/handoffs/{number}/reply", text="您好，还在吗？")
    assert refused.status_code == 409 and refused.json()["error"] == "wechat_window_closed"
    assert "48小时" in refused.json()["message"]
    time.sleep(1)
    assert len(wechat.delivered_to(user)) == sends  # nothing was sent


def test_a_message_wechat_refuses_is_kept_with_a_note_for_staff(
    stack: Stack, staff: Staff, wechat: WindowedWeChat
) -> None:
    """WeChat says 45015 (the resident unfollowed, or our clock and WeChat's differ): the reply is
    kept, staff read why it did not arrive, and the resident is told nothing of the note."""
    duty(staff, True)
    user = new_user()
    assert says(stack, user, "找真人") == handoff.CONNECTING
    number = staff.waiting(user)["id"]
    wechat.outside_window.add(user)
    assert staff.post(f"/handoffs/{number}/claim").status_code == 200
    replied = staff.post(f"/handoffs/{number}/reply", text="您好，我们明天回电。")
    assert replied.status_code == 200, replied.text
    transcript = replied.json()["transcript"]
    notes = [m["text"] for m in transcript if m["from"] == "note"]
    assert len(notes) == 2 and all("未送达微信" in n and "48小时" in n for n in notes)  # the claim notice and the reply
    assert [m["text"] for m in transcript if m["from"] == "staff"] == ["您好，我们明天回电。"]
    assert [s["errcode"] for s in wechat.delivered_to(user)] == [45015, 45015]
    with session_scope(stack.kb_url) as session:
        failed = session.scalars(
            select(AuditEvent).where(
                AuditEvent.action == "handoff_not_delivered", AuditEvent.target == f"handoff:{number}"
            )
        ).all()
        assert len(failed) == 2
