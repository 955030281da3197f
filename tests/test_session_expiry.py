"""A staff session that expires mid-edit keeps the typed text (issue 14), on SQLite and PostgreSQL,
through aiohttp's test client: the form sent after the session ended comes back as a login page
holding every field; after logging in, the same form is offered again with the new session's CSRF
token and saves what was typed. A form from another site, or another person's login, gets nothing.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from html import unescape

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select, update

from knowledge.build import build
from knowledge.db import get_engine, session_scope
from knowledge.models import FaqEntry, StaffToken, utcnow
from knowledge.staff import create_user
from web.app import init_app

EDITOR = ("editor-exp", "Editor-Passw0rd!")
OTHER = ("other-exp", "Other-Passw0rd!x")
QUESTION = "杭州老旧小区加装电梯有什么政策？"
TYPED = "【新的答复】协商会由所在社区召集。\n第二行也要保留。"


@pytest.fixture(params=["sqlite", "postgresql"])
async def setup(request: pytest.FixtureRequest, tmp_path) -> AsyncIterator[tuple[TestClient, str, int]]:
    url = f"sqlite:///{tmp_path / 'kb.sqlite3'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    build(url=url)
    with session_scope(url) as s:
        create_user(s, username=EDITOR[0], password=EDITOR[1], role="editor", actor="test")
        create_user(s, username=OTHER[0], password=OTHER[1], role="editor", actor="test")
        draft = FaqEntry(
            topic="elevator",
            question="草稿：加装电梯的协商机制",
            alternatives=[],
            answer="行动计划要求健全老旧小区加装电梯民主协商机制。",
            clause_id=s.scalar(select(FaqEntry.clause_id).where(FaqEntry.question == QUESTION)),
            status="draft",
            updated_by=EDITOR[0],
        )
        s.add(draft)
        s.flush()
        draft_id = draft.id
    async with TestClient(TestServer(init_app(url))) as client:
        yield client, url, draft_id
    get_engine(url).dispose()


def hidden(page: str) -> dict[str, str]:
    return {
        unescape(n): unescape(v) for n, v in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page)
    }


async def log_in(client: TestClient, who: tuple[str, str]) -> None:
    page = await (await client.get("/admin/login")).text()
    data = {**hidden(page), "username": who[0], "password": who[1]}
    assert (await client.post("/admin/login", data=data, allow_redirects=False)).status == 303


def expire_sessions(url: str) -> None:
    with session_scope(url) as s:
        s.execute(update(StaffToken).where(StaffToken.kind == "session").values(expires_at=utcnow()))


async def typed_and_expired(client: TestClient, url: str, draft_id: int) -> tuple[str, dict[str, str]]:
    """Open the edit form, let the session expire, send the typed text: the expired page."""
    await log_in(client, EDITOR)
    form = hidden(await (await client.get(f"/admin/faqs/{draft_id}")).text())
    expire_sessions(url)
    data = {
        **form,
        "topic": "elevator",
        "question": "草稿：加装电梯的协商机制",
        "alternatives": "协商会谁来召集\n协商会在哪开",
        "answer": TYPED,
        "source": "第9条",
        "action": "save",
    }
    reply = await client.post(f"/admin/faqs/{draft_id}", data=data, allow_redirects=False)
    assert reply.status == 200
    return await reply.text(), data


async def test_the_typed_text_survives_an_expired_session_and_is_saved_after_logging_in(setup) -> None:
    client, url, draft_id = setup
    page, sent = await typed_and_expired(client, url, draft_id)
    assert "登录已过期" in page and "您填写的内容都保留在本页" in page
    carried = hidden(page)
    assert carried["carried:answer"] == TYPED and carried["carried:alternatives"] == sent["alternatives"]
    assert carried["resume_to"] == f"/admin/faqs/{draft_id}"
    assert "csrf_token" not in {n.removeprefix("carried:") for n in carried if n.startswith("carried:")}
    assert "第二行也要保留" in page  # shown, not only hidden
    with session_scope(url) as s:
        assert s.get(FaqEntry, draft_id).answer != TYPED  # nothing saved yet

    reply = await client.post("/admin/login/resume", data={**carried, "username": EDITOR[0], "password": EDITOR[1]})
    page = await reply.text()
    assert reply.status == 200 and "已重新登录" in page and "第二行也要保留" in page
    again = hidden(page)
    assert again["csrf_token"] != sent["csrf_token"] and again["answer"] == TYPED and "action" not in again
    assert re.search(r'<button type="submit" name="action" value="save" class="primary">继续提交</button>', page)

    reply = await client.post(f"/admin/faqs/{draft_id}", data={**again, "action": "save"}, allow_redirects=False)
    assert reply.status == 303 and "msg=saved" in reply.headers["Location"]
    with session_scope(url) as s:
        entry = s.get(FaqEntry, draft_id)
        assert entry.answer == TYPED and entry.alternatives == ["协商会谁来召集", "协商会在哪开"]


async def test_a_wrong_password_keeps_the_text_on_the_expired_page(setup) -> None:
    client, url, draft_id = setup
    page, _ = await typed_and_expired(client, url, draft_id)
    reply = await client.post("/admin/login/resume", data={**hidden(page), "username": EDITOR[0], "password": "wrong"})
    page = await reply.text()
    assert reply.status == 401 and "用户名或密码错误" in page
    assert hidden(page)["carried:answer"] == TYPED


async def test_another_persons_login_does_not_get_the_text(setup) -> None:
    client, url, draft_id = setup
    page, _ = await typed_and_expired(client, url, draft_id)
    reply = await client.post("/admin/login/resume", data={**hidden(page), "username": OTHER[0], "password": OTHER[1]})
    page = await reply.text()
    assert "另一个账号填写的" in page and TYPED.splitlines()[1] not in page and 'id="resume-form"' not in page


async def test_a_form_from_another_site_is_not_carried(setup) -> None:
    client, _url, draft_id = setup
    data = {"csrf_token": "guessed", "answer": TYPED, "topic": "elevator", "question": "x", "source": "第9条"}
    reply = await client.post(f"/admin/faqs/{draft_id}", data=data, allow_redirects=False)
    assert reply.status == 303 and reply.headers["Location"].startswith("/admin/login")
    # a resume with a made-up old token and a target outside /admin offers nothing either
    page = await (await client.get("/admin/login")).text()
    forged = {
        **hidden(page),
        "resume_to": f"/admin/faqs/{draft_id}",
        "old_csrf": "guessed",
        "carried:answer": TYPED,
        "username": EDITOR[0],
        "password": EDITOR[1],
    }
    page = await (await client.post("/admin/login/resume", data=forged)).text()
    assert 'id="resume-form"' not in page
    outside = {**forged, "resume_to": "https://evil.example/admin"}
    reply = await client.post("/admin/login/resume", data=outside, allow_redirects=False)
    assert reply.status == 303 and reply.headers["Location"] == "/admin/login"
