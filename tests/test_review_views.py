"""Issue 13's admin pages through aiohttp's test client, on SQLite and PostgreSQL: review with a
reason, accounts (role, reset and the forced new password, own password, name and department),
the audit log's filters and links, and the live grounding check behind the preview."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
from aiohttp import ClientSession, CookieJar
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from knowledge.build import build
from knowledge.db import get_engine, session_scope
from knowledge.models import FaqEntry, FaqProposal, StaffUser
from knowledge.staff import create_user
from tests.test_admin_views import Page, login, open_page
from web.app import init_app

ADMIN = ("admin", "Views-Adm1n-Pass!")
EDITOR = ("editor1", "Editor-Passw0rd!")
REVIEWER = ("reviewer1", "Review-Passw0rd!")
QUESTION = "杭州老旧小区加装电梯有什么政策？"  # published, cites 第9条


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path) -> AsyncIterator[str]:
    url = f"sqlite:///{tmp_path / 'kb.sqlite3'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    build(url=url)
    with session_scope(url) as s:
        create_user(s, username=ADMIN[0], password=ADMIN[1], role="admin", actor="test")
        create_user(s, username=EDITOR[0], password=EDITOR[1], role="editor", actor="test")
        create_user(s, username=REVIEWER[0], password=REVIEWER[1], role="reviewer", actor="test")
    yield url
    get_engine(url).dispose()


@pytest.fixture
async def client(url: str) -> AsyncIterator[TestClient]:
    async with TestClient(TestServer(init_app(url))) as test_client:
        yield test_client


def second_browser(client: TestClient) -> ClientSession:
    return ClientSession(base_url=str(client.make_url("/")), cookie_jar=CookieJar(unsafe=True))


def entry_id(url: str) -> int:
    with session_scope(url) as s:
        return s.scalar(select(FaqEntry.id).where(FaqEntry.question == QUESTION))


async def test_a_reviewer_rejects_with_a_reason_and_the_proposer_reads_it(client: TestClient, url: str) -> None:
    faq_id = entry_id(url)
    async with second_browser(client) as editor:
        await login(editor, *EDITOR)
        page, _ = await open_page(editor, f"/admin/faqs/{faq_id}")
        form = page.form(f"/admin/faqs/{faq_id}")
        response = await editor.post(f"/admin/faqs/{faq_id}", data={**form, "answer": "太简短的答复。"})
        proposal_path = response.url.path
        assert re.fullmatch(r"/admin/proposals/\d+", proposal_path)

        await login(client, *REVIEWER)
        _, html = await open_page(client, "/admin/proposals")
        assert f'href="{proposal_path}"' in html and "+答复：太简短的答复。" in html
        page, _ = await open_page(client, proposal_path)
        reject = page.form(proposal_path + "/reject")
        response = await client.post(proposal_path + "/reject", data={**reject, "reason": "  "})
        assert response.status == 422 and "请填写驳回理由" in await response.text()
        response = await client.post(proposal_path + "/reject", data={**reject, "reason": "请保留原文的引用。"})
        assert response.status == 200 and "已驳回" in await response.text()
        with session_scope(url) as s:
            assert s.scalar(select(FaqProposal.status)) == "rejected"
            assert s.get(FaqEntry, faq_id).answer != "太简短的答复。"

        _, html = await open_page(editor, f"/admin/faqs/{faq_id}")
        assert "驳回理由" in html and "请保留原文的引用。" in html
        _, html = await open_page(editor, "/admin/proposals")  # an editor's default tab: their own proposals
        assert "已驳回" in html and "请保留原文的引用。" in html


async def test_reset_password_shows_it_once_and_the_user_must_set_a_new_one(client: TestClient, url: str) -> None:
    await login(client, *ADMIN)
    page, _ = await open_page(client, "/admin/users")
    reset = next(
        f for f in page.forms if f["fields"].get("action") == "reset_password" and f["fields"]["username"] == EDITOR[0]
    )
    response = await client.post("/admin/users/status", data=reset["fields"])
    html = await response.text()
    assert response.status == 200
    temporary = Page(html).texts["temporary-password"]
    password = re.search(r"[A-Za-z0-9]{5}-[A-Za-z0-9]{5}-[A-Za-z0-9]{5}", temporary).group(0)
    _, html = await open_page(client, "/admin/users")
    assert password not in html and "待设置新密码" in html  # shown once only

    async with second_browser(client) as editor:
        await login_to_account(editor, EDITOR[0], password)
        response = await editor.get("/admin", allow_redirects=False)
        assert response.status == 303 and response.headers["Location"] == "/admin/account"
        page, html = await open_page(editor, "/admin/account")
        assert "管理员已重置您的密码" in html
        form = page.form("/admin/account/password")
        mismatch = await editor.post(
            "/admin/account/password", data={**form, "old": password, "new": "Brand-New-Pass9", "new_again": "x"}
        )
        assert mismatch.status == 422 and "两次输入的新密码不一致" in await mismatch.text()
        done = await editor.post(
            "/admin/account/password",
            data={**form, "old": password, "new": "Brand-New-Pass9", "new_again": "Brand-New-Pass9"},
        )
        assert done.status == 200 and done.url.path == "/admin" and "密码已修改" in await done.text()
    with session_scope(url) as s:
        assert s.scalar(select(StaffUser.must_change_password).where(StaffUser.username == EDITOR[0])) is False


async def login_to_account(browser: ClientSession, username: str, password: str) -> None:
    page = Page(await (await browser.get("/admin/login")).text())
    response = await browser.post(
        "/admin/login", data={**page.form("/admin/login"), "username": username, "password": password}
    )
    assert response.status == 200 and response.url.path == "/admin/account", await response.text()


async def test_roles_change_in_the_users_page_and_the_last_admin_stays(client: TestClient, url: str) -> None:
    await login(client, *ADMIN)
    page, _ = await open_page(client, "/admin/users")
    role_form = next(
        f for f in page.forms if f["fields"].get("action") == "role" and f["fields"]["username"] == EDITOR[0]
    )
    response = await client.post("/admin/users/status", data={**role_form["fields"], "role": "reviewer"})
    assert response.status == 200 and "已更改角色" in await response.text()
    own = next(f for f in page.forms if f["fields"].get("action") == "role" and f["fields"]["username"] == ADMIN[0])
    response = await client.post("/admin/users/status", data={**own["fields"], "role": "editor"})
    assert response.status == 403 and "最后一位管理员" in await response.text()
    with session_scope(url) as s:
        roles = dict(s.execute(select(StaffUser.username, StaffUser.role)).tuples().all())
    assert (roles[EDITOR[0]], roles[ADMIN[0]]) == ("reviewer", "admin")
    _, audit_html = await open_page(client, "/admin/audit?action=user")
    assert "更改角色" in audit_html and "编辑 → 审核员" in audit_html


async def test_own_name_and_department_are_shown_in_history(client: TestClient, url: str) -> None:
    await login(client, *EDITOR)
    page, _ = await open_page(client, "/admin/account")
    response = await client.post(
        "/admin/account/profile",
        data={**page.form("/admin/account/profile"), "display_name": "王芳", "department": "住房保障科"},
    )
    assert response.status == 200 and "已保存姓名和部门" in await response.text()
    page, _ = await open_page(client, "/admin/faqs/new")
    form = {
        **page.form("/admin/faqs/new"),
        "topic": "elevator",
        "question": "署名测试？",
        "answer": "请咨询所在社区。",
        "source": "第9条",
        "action": "save",
    }
    response = await client.post("/admin/faqs/new", data=form)
    new_id = int(response.url.path.rsplit("/", 1)[1])
    _, html = await open_page(client, f"/admin/faqs/{new_id}/history")
    assert "王芳（editor1 · 住房保障科）" in html


async def test_the_audit_log_filters_and_links_to_the_entry_and_version(client: TestClient, url: str) -> None:
    faq_id = entry_id(url)
    await login(client, *ADMIN)
    page, _ = await open_page(client, f"/admin/faqs/{faq_id}")
    form = page.form(f"/admin/faqs/{faq_id}")
    await client.post(f"/admin/faqs/{faq_id}", data={**form, "answer": "管理员改过的答复。"})
    _, html = await open_page(client, f"/admin/audit?faq_id={faq_id}")
    assert "修改条目" in html and f'href="/admin/faqs/{faq_id}"' in html
    assert f'href="/admin/faqs/{faq_id}/history#v2"' in html and "版本 2" in html
    assert "faq.update" not in html and f"faq:{faq_id}" not in html
    _, html = await open_page(client, "/admin/audit?action=login")
    assert "登录" in html and "修改条目" not in html
    _, html = await open_page(client, f"/admin/audit?actor={EDITOR[0]}")
    assert "没有符合条件的记录" in html
    response = await client.get("/admin/audit?since=昨天")
    assert response.status == 422 and "YYYY-MM-DD" in await response.text()


async def test_the_live_check_uses_the_same_rule_as_a_save(client: TestClient, url: str) -> None:
    faq_id = entry_id(url)
    await login(client, *EDITOR)
    page, _ = await open_page(client, f"/admin/faqs/{faq_id}")
    form = page.form(f"/admin/faqs/{faq_id}")
    reply = await client.post("/admin/faqs/check", data={**form, "answer": "每台最高补贴20万元。"})
    result = await reply.json()
    assert reply.status == 200 and result["ok"] is False and result["figures"] == ["20"]
    assert result["clause"]["ref"] == "第9条" and "“20”" in result["message"]
    fine = await (await client.post("/admin/faqs/check", data={**form, "answer": "请咨询所在社区。"})).json()
    assert fine["ok"] is True and fine["preview"].startswith("请咨询所在社区。\n来源：")
    forged = await client.post("/admin/faqs/check", data={**form, "csrf_token": "forged"})
    assert forged.status == 403
