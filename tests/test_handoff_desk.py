# ruff: noqa: F811  (the client fixture of tests/test_admin_views.py is imported and used as a parameter)
"""The hand-off desk's page (/admin/desk) through aiohttp's test client, on a real SQLite knowledge base.

Searching the knowledge base from the reply box and inserting an answer with its source line; a
reply that cannot be sent comes back in the reply box with the reason (staff never lose what they
typed); a WeChat conversation shows until when WeChat takes messages; staff-only notes. The
resident's side is ``knowledge.handoff`` on the same database, as the action server calls it.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select, update

from knowledge import handoff
from knowledge.db import session_scope
from knowledge.models import AuditEvent, FaqEntry, Handoff, HandoffMessage, StaffUser, utcnow
from tests.test_admin_views import ADMIN, Page, client, login, open_page  # noqa: F401  (fixture)

OPENID = "oWeChatResident0123456789ab"


@pytest.fixture(autouse=True)
def _no_wechat_account(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever this machine's environment says: the staff service here has no WeChat account."""
    for name in ("WECHAT_APPID", "WECHAT_APPSECRET", "REDIS_URL"):
        monkeypatch.delenv(name, raising=False)


def on_duty(url: str) -> None:
    with session_scope(url) as session:
        user = session.scalars(select(StaffUser).where(StaffUser.username == ADMIN[0])).one()
        handoff.set_duty(session, user=user, on=True)


def claimed(url: str, sender: str, channel: str = "rest") -> int:
    """A resident's hand-off, claimed by the admin; its id."""
    with session_scope(url) as session:
        assert handoff.request_person(session, sender=sender, channel=channel, words=["转人工"]) == handoff.CONNECTING
        number = handoff.open_handoff(session, sender).id
        user = session.scalars(select(StaffUser).where(StaffUser.username == ADMIN[0])).one()
        handoff.claim(session, handoff_id=number, user=user)
        return number


async def started(client: TestClient, url: str, sender: str, channel: str = "rest") -> tuple[int, Page]:
    await login(client)
    on_duty(url)
    number = claimed(url, sender, channel)
    page, _ = await open_page(client, f"/admin/desk/{number}")
    return number, page


async def test_search_and_insert_an_answer_with_its_source_keeps_the_typed_reply(
    client: TestClient, fresh_kb_url: str
) -> None:
    number, page = await started(client, fresh_kb_url, "web-" + "1" * 32)
    form = page.form(f"/admin/desk/{number}/reply")
    typed = "您好，关于加装电梯，行动计划是这样写的："

    searched = await client.post(f"/admin/desk/{number}/search", data={**form, "text": typed, "q": "加装电梯 补贴"})
    html = await searched.text()
    assert searched.status == 200, html
    results = Page(html)
    assert results.form(f"/admin/desk/{number}/reply")["text"] == typed  # nothing typed is lost
    assert "老旧小区加装电梯，政府补贴多少钱？" in html and "来源：《杭州争当浙江高质量发展建设" in html

    with session_scope(fresh_kb_url) as session:
        entry = session.scalars(select(FaqEntry).where(FaqEntry.question == "老旧小区加装电梯，政府补贴多少钱？")).one()
        answer = entry.answer
    inserted = await client.post(
        f"/admin/desk/{number}/search",
        data={**results.form(f"/admin/desk/{number}/reply"), "insert": f"faq:{entry.id}"},
    )
    text = Page(await inserted.text()).form(f"/admin/desk/{number}/reply")["text"]
    assert text.startswith(typed + "\n\n" + answer)
    assert text.endswith("来源：《杭州争当浙江高质量发展建设共同富裕示范区城市范例的行动计划（2021—2025年）》第9条")

    empty = await client.post(f"/admin/desk/{number}/search", data={**form, "text": typed, "q": " "})
    html = await empty.text()
    assert empty.status == 422 and "请输入要在知识库中查找的内容" in html
    assert Page(html).form(f"/admin/desk/{number}/reply")["text"] == typed


async def test_a_reply_that_cannot_be_sent_comes_back_in_the_reply_box(client: TestClient, fresh_kb_url: str) -> None:
    sender = "web-" + "2" * 32
    number, page = await started(client, fresh_kb_url, sender)
    form = page.form(f"/admin/desk/{number}/reply")
    with session_scope(fresh_kb_url) as session:  # the resident's conversation ends meanwhile (another staff member)
        session.execute(update(Handoff).where(Handoff.id == number).values(status="closed", close_reason="staff"))
    typed = "您好，请问是哪个小区？" * 3
    refused = await client.post(f"/admin/desk/{number}/reply", data={**form, "text": typed})
    html = await refused.text()
    assert refused.status == 409 and "只能回复已接入、尚未结束的对话" in html
    assert Page(html).texts["reply-text"] == typed


async def test_a_wechat_conversation_shows_the_48_hour_window_and_refuses_a_reply_after_it(
    client: TestClient, fresh_kb_url: str
) -> None:
    number, page = await started(client, fresh_kb_url, OPENID, channel="wechat")
    assert "微信只在居民最后一条消息后48小时内接收" in page.texts["wechat-window"]
    long_ago = utcnow() - timedelta(hours=49)
    with session_scope(fresh_kb_url) as session:
        session.execute(update(HandoffMessage).where(HandoffMessage.handoff_id == number).values(at=long_ago))
        session.execute(update(Handoff).where(Handoff.id == number).values(waiting_since=long_ago))
    page, html = await open_page(client, f"/admin/desk/{number}")
    assert "已超过48小时" in html
    typed = "您好，我们已经联系了社区。"
    refused = await client.post(
        f"/admin/desk/{number}/reply", data={**page.form(f"/admin/desk/{number}/reply"), "text": typed}
    )
    html = await refused.text()
    assert refused.status == 409 and "超过48小时" in html
    assert Page(html).texts["reply-text"] == typed
    with session_scope(fresh_kb_url) as session:
        staff_lines = session.scalars(
            select(HandoffMessage).where(HandoffMessage.handoff_id == number, HandoffMessage.author == "staff")
        ).all()
        assert staff_lines == []  # nothing stored as if it had been said


async def test_wechat_replies_without_a_configured_account_leave_a_note_for_staff(
    client: TestClient, fresh_kb_url: str
) -> None:
    """The staff service has no WECHAT_APPID/WECHAT_APPSECRET: the reply is kept, staff are told why
    it did not reach the resident, and the note is never shown to a resident."""
    number, page = await started(client, fresh_kb_url, OPENID, channel="wechat")
    sent = await client.post(
        f"/admin/desk/{number}/reply", data={**page.form(f"/admin/desk/{number}/reply"), "text": "您好"}
    )
    html = await sent.text()
    assert sent.status == 200 and sent.url.path == f"/admin/desk/{number}"
    assert "没有送达居民的微信" in html and "送达提示（仅工作人员可见）" in html and "WECHAT_APPID" in html
    with session_scope(fresh_kb_url) as session:
        polled = handoff.messages_for(session, sender=OPENID, after=0)
        assert polled["messages"] and all(m["from"] in ("staff", "system") for m in polled["messages"])
        assert session.scalars(select(AuditEvent).where(AuditEvent.action == "handoff_not_delivered")).first()


async def test_searching_needs_the_desk_permission_and_a_csrf_token(client: TestClient, fresh_kb_url: str) -> None:
    number, page = await started(client, fresh_kb_url, "web-" + "3" * 32)
    forged = await client.post(f"/admin/desk/{number}/search", data={"q": "加梯", "text": ""})
    assert forged.status == 403
    long_query = await client.post(
        f"/admin/desk/{number}/search", data={**page.form(f"/admin/desk/{number}/reply"), "q": "加" * 101}
    )
    assert long_query.status == 422 and "最多100个字" in await long_query.text()
