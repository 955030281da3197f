"""The staff admin pages (/admin) through aiohttp's test client, on a real SQLite knowledge base."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from html.parser import HTMLParser
from http.cookies import SimpleCookie

import pytest
from aiohttp import ClientSession, CookieJar
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from knowledge import feedback, inbox, staff
from knowledge.db import get_sessionmaker
from knowledge.models import FaqEntry
from web.admin import CSP, CSRF_FIELD
from web.app import init_app
from web.auth import SESSION_COOKIE

# web/app.py stores the bootstrap message under a plain string key, which aiohttp warns about
# (and pyproject turns warnings into errors); not ours to change here.

ADMIN = ("admin-views", "Views-Adm1n-Passw0rd!")
MARKUP = "<img src=x onerror=alert(1)>"
ANSWER_MARKUP = "<img src=x onerror=alert(document.domain)>"  # no figure: an answer's figures must be in its clause
ESCAPED = "&lt;img src=x onerror=alert(1)&gt;"


class Page(HTMLParser):
    """The forms of a page: every named input, textarea and selected option, by form action."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[dict] = []
        self.texts: dict[str, str] = {}  # element id -> its text
        self._form: dict | None = None
        self._textarea: str | None = None
        self._select: str | None = None
        self._open_ids: list[tuple[str, str]] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if "id" in a and tag not in ("input", "br"):
            self._open_ids.append((tag, a["id"]))
            self.texts.setdefault(a["id"], "")
        if tag == "form":
            self._form = {"action": a.get("action", ""), "fields": {}}
            self.forms.append(self._form)
        elif self._form is not None and tag == "input" and "name" in a:
            self._form["fields"][a["name"]] = a.get("value", "")
        elif self._form is not None and tag == "textarea":
            self._textarea = a["name"]
            self._form["fields"][self._textarea] = ""
        elif self._form is not None and tag == "select":
            self._select = a["name"]
        elif self._select and tag == "option" and "selected" in a:
            self._form["fields"][self._select] = a.get("value", "")  # type: ignore[index]

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None
        elif tag == "textarea" and self._textarea and self._form is not None:
            value = self._form["fields"][self._textarea]
            self._form["fields"][self._textarea] = value.removeprefix("\n")  # as browsers do
            self._textarea = None
        elif tag == "select":
            self._select = None
        if self._open_ids and self._open_ids[-1][0] == tag:
            self._open_ids.pop()

    def handle_data(self, data: str) -> None:
        if self._textarea and self._form is not None:
            self._form["fields"][self._textarea] += data
        for _, element_id in self._open_ids:
            self.texts[element_id] += data

    def form(self, action: str) -> dict[str, str]:
        for form in self.forms:
            if form["action"] == action:
                return dict(form["fields"])
        raise AssertionError(f"no form posting to {action}")


@pytest.fixture
async def client(fresh_kb_url: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[TestClient]:
    monkeypatch.setenv("ADMIN_USERNAME", ADMIN[0])
    monkeypatch.setenv("ADMIN_PASSWORD", ADMIN[1])
    async with TestClient(TestServer(init_app(fresh_kb_url))) as test_client:
        yield test_client


async def login(client: TestClient | ClientSession, username: str = ADMIN[0], password: str = ADMIN[1]) -> None:
    page = Page(await (await client.get("/admin/login")).text())
    response = await client.post(
        "/admin/login", data={**page.form("/admin/login"), "username": username, "password": password}
    )
    assert response.status == 200 and response.url.path == "/admin", await response.text()


async def open_page(client: TestClient | ClientSession, path: str) -> tuple[Page, str]:
    response = await client.get(path)
    html = await response.text()
    assert response.status == 200, html
    return Page(html), html


async def confirmed(client: TestClient | ClientSession, action: str, fields: dict[str, str]):  # type: ignore[no-untyped-def]
    """Post an unpublish/delete/restore form, check the confirmation page, then confirm it."""
    response = await client.post(action, data=fields)
    html = await response.text()
    assert response.status == 200 and "居民现在看到的" in html and "确认后居民将看到的" in html, html
    return await client.post(action, data=Page(html).form(action))


def entry_id_with(url: str, question: str) -> int:
    with get_sessionmaker(url)() as session:
        return session.scalar(select(FaqEntry.id).where(FaqEntry.question.contains(question)))


# -- logging in ---------------------------------------------------------------------------


async def test_pages_need_login(client: TestClient) -> None:
    response = await client.get("/admin/faqs/1", allow_redirects=False)
    assert response.status == 303
    assert response.headers["Location"].startswith("/admin/login?next=")
    response = await client.post("/admin/faqs/1/publish", data={"version": "1"}, allow_redirects=False)
    assert response.status == 303 and response.headers["Location"] == "/admin/login"


async def test_login_sets_a_strict_httponly_session_cookie(client: TestClient) -> None:
    page = Page(await (await client.get("/admin/login")).text())
    response = await client.post(
        "/admin/login",
        data={**page.form("/admin/login"), "username": ADMIN[0], "password": ADMIN[1]},
        allow_redirects=False,
    )
    assert response.status == 303 and response.headers["Location"] == "/admin"
    header = next(h for h in response.headers.getall("Set-Cookie") if h.startswith(SESSION_COOKIE + "="))
    cookie = SimpleCookie(header)[SESSION_COOKIE]
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Strict"
    assert cookie["path"] == "/admin"
    assert not cookie["secure"]  # plain http in the test; set when the request is https
    listing = await client.get("/admin")
    assert listing.status == 200
    assert listing.headers["Content-Security-Policy"] == CSP
    assert "default-src 'self'" in CSP
    assert ADMIN[0] in await listing.text()


async def test_wrong_password_shows_the_form_again_with_the_username(client: TestClient) -> None:
    page = Page(await (await client.get("/admin/login")).text())
    response = await client.post(
        "/admin/login", data={**page.form("/admin/login"), "username": ADMIN[0], "password": "Wrong-passw0rd!"}
    )
    html = await response.text()
    assert response.status == 401
    assert "用户名或密码错误" in html
    assert Page(html).form("/admin/login")["username"] == ADMIN[0]
    assert "password" not in Page(html).form("/admin/login") or not Page(html).form("/admin/login")["password"]


async def test_repeated_failures_lock_the_account(client: TestClient) -> None:
    for _ in range(staff.MAX_FAILED_LOGINS):
        page = Page(await (await client.get("/admin/login")).text())
        await client.post("/admin/login", data={**page.form("/admin/login"), "username": ADMIN[0], "password": "x"})
    page = Page(await (await client.get("/admin/login")).text())
    response = await client.post(
        "/admin/login", data={**page.form("/admin/login"), "username": ADMIN[0], "password": ADMIN[1]}
    )
    html = await response.text()
    assert response.status == 401 and "临时锁定" in html
    assert Page(html).form("/admin/login")["username"] == ADMIN[0]


async def test_login_form_needs_its_csrf_token(client: TestClient) -> None:
    response = await client.post("/admin/login", data={"username": ADMIN[0], "password": ADMIN[1]})
    assert response.status == 403
    assert "安全校验失败" in await response.text()


async def test_login_page_explains_when_no_account_exists(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    from knowledge.build import build

    url = f"sqlite:///{tmp_path / 'empty.sqlite3'}"
    build(url=url)
    monkeypatch.delenv("ADMIN_USERNAME", raising=False)
    monkeypatch.delenv("ADMIN_PASSWORD", raising=False)
    async with TestClient(TestServer(init_app(url))) as client:
        html = await (await client.get("/admin/login")).text()
    assert "ADMIN_USERNAME" in html and "ADMIN_PASSWORD" in html


# -- CSRF ------------------------------------------------------------------------------------


async def test_post_without_or_with_a_wrong_csrf_token_is_refused(client: TestClient, fresh_kb_url: str) -> None:
    await login(client)
    entry_id = entry_id_with(fresh_kb_url, "蓝领公寓是什么")
    page, _ = await open_page(client, f"/admin/faqs/{entry_id}")
    form = page.form(f"/admin/faqs/{entry_id}")
    for token in (None, "", "forged-token"):
        data = {**form, "answer": "不该保存的答复"}
        if token is None:
            data.pop(CSRF_FIELD)
        else:
            data[CSRF_FIELD] = token
        response = await client.post(f"/admin/faqs/{entry_id}", data=data)
        html = await response.text()
        assert response.status == 403
        assert "安全校验失败" in html
        assert response.headers["Content-Security-Policy"] == CSP
    unpublish = page.form(f"/admin/faqs/{entry_id}/unpublish")
    response = await client.post(f"/admin/faqs/{entry_id}/unpublish", data={**unpublish, CSRF_FIELD: "x"})
    assert response.status == 403
    response = await client.post("/admin/logout", data={})
    assert response.status == 403
    with get_sessionmaker(fresh_kb_url)() as session:
        entry = session.get(FaqEntry, entry_id)
        assert entry.version == int(form["version"]) and entry.status == "published"
        assert entry.answer != "不该保存的答复"


async def test_logout_ends_the_session(client: TestClient) -> None:
    await login(client)
    page, _ = await open_page(client, "/admin")
    response = await client.post("/admin/logout", data=page.form("/admin/logout"), allow_redirects=False)
    assert response.status == 303 and response.headers["Location"].startswith("/admin/login")
    response = await client.get("/admin", allow_redirects=False)
    assert response.status == 303


# -- editing -----------------------------------------------------------------------------------


async def test_edit_save_publish_and_history(client: TestClient, fresh_kb_url: str) -> None:
    await login(client)
    page, html = await open_page(client, "/admin?q=蓝领公寓")
    entry_id = entry_id_with(fresh_kb_url, "蓝领公寓是什么")
    assert f'href="/admin/faqs/{entry_id}"' in html
    page, html = await open_page(client, f"/admin/faqs/{entry_id}")
    form = page.form(f"/admin/faqs/{entry_id}")
    assert form["source"] and "蓝领公寓" in form["alternatives"]
    assert page.texts["clause-text"].strip()  # the saved clause's text, without JavaScript
    response = await client.post(
        f"/admin/faqs/{entry_id}", data={**form, "answer": "蓝领公寓的新答复。", "action": "save"}
    )
    html = await response.text()
    assert response.status == 200 and "已保存" in html
    page = Page(html)
    assert page.form(f"/admin/faqs/{entry_id}")["answer"] == "蓝领公寓的新答复。"
    assert page.texts["preview"].startswith("蓝领公寓的新答复。\n来源：《")

    unpublish = f"/admin/faqs/{entry_id}/unpublish"
    response = await confirmed(client, unpublish, page.form(unpublish))
    page = Page(await response.text())
    assert response.status == 200 and "已撤回发布" in page.texts["main"]
    response = await client.post(f"/admin/faqs/{entry_id}/publish", data=page.form(f"/admin/faqs/{entry_id}/publish"))
    page = Page(await response.text())
    assert "已发布" in page.texts["main"]

    history, html = await open_page(client, f"/admin/faqs/{entry_id}/history")
    assert "+答复：蓝领公寓的新答复。" in html and "撤回发布" in html
    assert "状态：已发布" in html and "状态：published" not in html  # plain Chinese
    assert "知识库构建（系统）" in html and ">build<" not in html
    restores = [f for f in history.forms if f["action"].endswith("/restore")]
    assert len(restores) == 3  # every revision but the current one (build, update, publish, unpublish)
    first = restores[-1]  # the oldest: as built
    response = await confirmed(client, first["action"], first["fields"])
    assert response.status == 200 and "已恢复为所选历史版本" in await response.text()
    _, html = await open_page(client, f"/admin/faqs/{entry_id}/history")
    assert "恢复为版本 1" in html  # a restore is shown as the restore of version N


async def test_stale_version_gets_409_and_keeps_the_typed_text(client: TestClient, fresh_kb_url: str) -> None:
    await login(client)
    entry_id = entry_id_with(fresh_kb_url, "蓝领公寓是什么")
    page, _ = await open_page(client, f"/admin/faqs/{entry_id}")
    stale = page.form(f"/admin/faqs/{entry_id}")
    first = await client.post(f"/admin/faqs/{entry_id}", data={**stale, "answer": "第一位同事保存的答复。"})
    assert first.status == 200

    mine = "我的答复：\n第二段，<b>不是粗体</b> & 保留原样。\n"
    typed = {**stale, "answer": mine, "question": "蓝领公寓是什么？（我的修改）", "alternatives": "蓝领公寓\n新的问法"}
    response = await client.post(f"/admin/faqs/{entry_id}", data=typed)
    html = await response.text()
    assert response.status == 409
    assert "该条目已被他人修改" in html
    page = Page(html)
    form = page.form(f"/admin/faqs/{entry_id}")
    assert form["answer"] == mine  # exactly as typed, nothing lost
    assert form["question"] == typed["question"]
    assert form["alternatives"] == typed["alternatives"]
    assert page.texts["current-answer"] == "第一位同事保存的答复。"
    assert form["version"] == str(int(stale["version"]) + 1)  # merging, then saving again, is deliberate
    assert "&lt;b&gt;不是粗体&lt;/b&gt; &amp; 保留原样" in html
    with get_sessionmaker(fresh_kb_url)() as session:
        assert session.get(FaqEntry, entry_id).answer == "第一位同事保存的答复。"

    response = await client.post(f"/admin/faqs/{entry_id}", data=form)
    assert response.status == 200
    with get_sessionmaker(fresh_kb_url)() as session:
        assert session.get(FaqEntry, entry_id).answer == mine.strip()


async def test_invalid_input_comes_back_with_messages_and_text(client: TestClient, fresh_kb_url: str) -> None:
    await login(client)
    page, _ = await open_page(client, "/admin/faqs/new")
    form = page.form("/admin/faqs/new")
    typed = {**form, "topic": "rental", "question": "", "answer": "只写了答复，还没写问题。", "source": "第9条"}
    response = await client.post("/admin/faqs/new", data=typed)
    html = await response.text()
    assert response.status == 422
    assert "问题不能为空" in html
    page = Page(html)
    assert page.form("/admin/faqs/new")["answer"] == typed["answer"]
    assert page.form("/admin/faqs/new")["source"] == "第9条"
    assert 'aria-invalid="true"' in html

    entry_id = entry_id_with(fresh_kb_url, "蓝领公寓是什么")
    page, _ = await open_page(client, f"/admin/faqs/{entry_id}")
    form = page.form(f"/admin/faqs/{entry_id}")
    response = await client.post(f"/admin/faqs/{entry_id}", data={**form, "source": "第99条", "answer": "新答复"})
    html = await response.text()
    assert response.status == 422 and "找不到依据条款" in html
    assert Page(html).form(f"/admin/faqs/{entry_id}")["version"] == form["version"]  # still based on it


async def test_create_draft_then_publish(client: TestClient, fresh_kb_url: str) -> None:
    await login(client)
    page, _ = await open_page(client, "/admin/faqs/new")
    form = {
        **page.form("/admin/faqs/new"),
        "topic": "rental",
        "question": "蓝领公寓在哪里申请（测试）？",
        "alternatives": "蓝领公寓申请\n\n  ",
        "answer": "行动计划没有规定申请办法，请咨询所在街道。",
        "source": "第9条",
        "action": "save",
    }
    response = await client.post("/admin/faqs/new", data=form)
    assert response.status == 200 and "已创建条目" in await response.text()
    entry_id = int(response.url.path.rsplit("/", 1)[1])
    with get_sessionmaker(fresh_kb_url)() as session:
        entry = session.get(FaqEntry, entry_id)
        assert entry.status == "draft" and entry.alternatives == ["蓝领公寓申请"]
    page, _ = await open_page(client, f"/admin/faqs/{entry_id}")
    response = await client.post(f"/admin/faqs/{entry_id}/publish", data=page.form(f"/admin/faqs/{entry_id}/publish"))
    assert response.status == 200
    page = Page(await response.text())
    response = await confirmed(client, f"/admin/faqs/{entry_id}/delete", page.form(f"/admin/faqs/{entry_id}/delete"))
    assert "已删除" in await response.text()
    _, html = await open_page(client, "/admin?deleted=1")
    assert "蓝领公寓在哪里申请（测试）？" in html
    listing = Page(html)
    response = await confirmed(
        client, f"/admin/faqs/{entry_id}/restore", listing.form(f"/admin/faqs/{entry_id}/restore")
    )
    assert "已恢复" in await response.text()
    with get_sessionmaker(fresh_kb_url)() as session:
        assert session.get(FaqEntry, entry_id).deleted_at is None


# -- safety of content -----------------------------------------------------------------------------


async def test_markup_typed_by_staff_is_shown_as_text(client: TestClient) -> None:
    await login(client)
    page, _ = await open_page(client, "/admin/faqs/new")
    form = {
        **page.form("/admin/faqs/new"),
        "topic": "plan",
        "question": f"标记测试 {MARKUP}",
        "alternatives": f'"><script>alert(2)</script>\n{MARKUP}',
        "answer": f"答复里的标记 {ANSWER_MARKUP} 和 <script>alert(document.cookie)</script>",
        "source": "主要目标",
        "action": "save",
    }
    response = await client.post("/admin/faqs/new", data=form)
    edit_html = await response.text()
    entry_id = int(response.url.path.rsplit("/", 1)[1])
    _, list_html = await open_page(client, "/admin?q=标记测试")
    preview = await client.post(f"/admin/faqs/{entry_id}", data={**form, "action": "preview", "version": "1"})
    preview_html = await preview.text()
    _, history_html = await open_page(client, f"/admin/faqs/{entry_id}/history")
    for html in (list_html, edit_html, preview_html, history_html):
        assert "<img" not in html and "<script>alert" not in html
        assert ESCAPED in html
    page = Page(edit_html)
    typed_answer = f"答复里的标记 {ANSWER_MARKUP} 和 <script>alert(document.cookie)</script>"
    assert page.texts["preview"].startswith(typed_answer + "\n来源：")
    assert page.form(f"/admin/faqs/{entry_id}")["answer"] == form["answer"]
    assert "尚未保存" in Page(preview_html).texts["preview-note"]
    for response in (preview, await client.get("/admin?q=标记测试")):
        assert response.headers["Content-Security-Policy"] == CSP


# -- inbox, feedback, admin pages --------------------------------------------------------------------


async def test_inbox_draft_and_dismiss(client: TestClient, fresh_kb_url: str) -> None:
    with get_sessionmaker(fresh_kb_url)() as session, session.begin():
        for _ in range(3):
            inbox.record_unanswered(session, text="蓝领公寓能养猫吗 13912345678", topic="rental")
        inbox.record_unanswered(session, text=f"{MARKUP} 怎么办", topic=None)
    await login(client)
    page, html = await open_page(client, "/admin/inbox")
    assert "13912345678" not in html and "蓝领公寓能养猫吗" in html and ESCAPED in html
    assert html.index("蓝领公寓能养猫吗") < html.index(ESCAPED)  # most asked first
    draft = next(f for f in page.forms if f["action"].endswith("/draft"))
    response = await client.post(draft["action"], data=draft["fields"])
    html = await response.text()
    assert re.fullmatch(r"/admin/faqs/\d+", response.url.path)
    assert "已根据居民的问题创建草稿" in html and "蓝领公寓能养猫吗" in html
    page, _ = await open_page(client, "/admin/inbox")
    dismiss = next(f for f in page.forms if f["action"].endswith("/dismiss"))
    response = await client.post(dismiss["action"], data=dismiss["fields"])
    assert "已忽略" in await response.text() and ESCAPED not in await response.text()


async def test_feedback_worst_first_with_time_version_and_the_masked_question(
    client: TestClient, fresh_kb_url: str
) -> None:
    good, bad = entry_id_with(fresh_kb_url, "蓝领公寓是什么"), entry_id_with(fresh_kb_url, "蓝领公寓社区化")
    with get_sessionmaker(fresh_kb_url)() as session, session.begin():
        for faq_id, rating in ((good, "up"), (good, "up"), (bad, "down"), (bad, "up")):
            question = "蓝领公寓怎么申请？我电话13912345678" if rating == "down" else None
            feedback.record_feedback(session, faq_id=faq_id, rating=rating, question=question)
    await login(client)
    _, html = await open_page(client, "/admin/feedback")
    assert html.index(f'href="/admin/faqs/{bad}"') < html.index(f'href="/admin/faqs/{good}"')
    assert "50%" in html
    assert "有帮助" in html and "没帮助" in html and "有用" not in html and "没用" not in html  # the widget's words
    assert "蓝领公寓怎么申请？" in html and "13912345678" not in html  # the question, masked
    assert f'href="/admin/faqs/{bad}/history#v1"' in html and "版本 1" in html  # the answer version read
    assert re.search(r"<time>\d{4}-\d\d-\d\d \d\d:\d\d</time>", html)  # when


async def test_users_and_roles(client: TestClient) -> None:
    await login(client)
    page, _ = await open_page(client, "/admin/users")
    form = page.form("/admin/users")
    response = await client.post(
        "/admin/users", data={**form, "username": "editor1", "password": "short", "role": "editor"}
    )
    html = await response.text()
    assert response.status == 422 and "密码太短" in html
    assert Page(html).form("/admin/users")["username"] == "editor1"
    response = await client.post(
        "/admin/users", data={**form, "username": "editor1", "password": "Editor-Passw0rd!", "role": "editor"}
    )
    assert response.status == 200 and "已添加用户" in await response.text()
    _, audit_html = await open_page(client, "/admin/audit")
    assert "添加用户" in audit_html and "用户 editor1" in audit_html and "角色：编辑" in audit_html
    assert "user.create" not in audit_html and "user:editor1" not in audit_html

    jar = CookieJar(unsafe=True)  # a second browser, on the same server
    async with ClientSession(base_url=str(client.make_url("/")), cookie_jar=jar) as editor:
        await login(editor, "editor1", "Editor-Passw0rd!")
        for path in ("/admin/users", "/admin/audit"):
            response = await editor.get(path)
            assert response.status == 403 and "权限不足" in await response.text()
        page, html = await open_page(editor, "/admin/faqs/1")
        assert "/admin/faqs/1/publish" not in html and "/admin/faqs/1/unpublish" not in html

    page, _ = await open_page(client, "/admin/users")
    disable = next(f for f in page.forms if f["fields"].get("username") == "editor1" and "disabled" in f["fields"])
    response = await client.post("/admin/users/status", data=disable["fields"])
    assert "已停用该用户" in await response.text()


async def test_api_errors_stay_json(client: TestClient) -> None:
    response = await client.get("/api/v1/faqs")
    assert response.status == 401 and (await response.json())["error"]
    assert "Content-Security-Policy" not in response.headers


async def test_stale_publish_gets_409_with_the_current_entry(client: TestClient, fresh_kb_url: str) -> None:
    await login(client)
    entry_id = entry_id_with(fresh_kb_url, "蓝领公寓是什么")
    page, _ = await open_page(client, f"/admin/faqs/{entry_id}")
    await client.post(f"/admin/faqs/{entry_id}", data={**page.form(f"/admin/faqs/{entry_id}"), "answer": "新答复"})
    response = await client.post(
        f"/admin/faqs/{entry_id}/unpublish", data={**page.form(f"/admin/faqs/{entry_id}/unpublish"), "confirmed": "1"}
    )
    html = await response.text()
    assert response.status == 409 and "该条目已被他人修改" in html
    assert Page(html).form(f"/admin/faqs/{entry_id}")["answer"] == "新答复"
    with get_sessionmaker(fresh_kb_url)() as session:
        assert session.get(FaqEntry, entry_id).status == "published"


async def test_an_editors_change_to_a_published_entry_becomes_a_proposal(client: TestClient, fresh_kb_url: str) -> None:
    """Issue 13: the form says so, 提交修改提议 stores a proposal, residents keep the published answer."""
    with get_sessionmaker(fresh_kb_url)() as session, session.begin():
        staff.create_user(session, username="editor2", password="Editor-Passw0rd!", role="editor", actor="test")
    await login(client, "editor2", "Editor-Passw0rd!")
    entry_id = entry_id_with(fresh_kb_url, "蓝领公寓是什么")
    with get_sessionmaker(fresh_kb_url)() as session:
        live_answer = session.get(FaqEntry, entry_id).answer
    page, html = await open_page(client, f"/admin/faqs/{entry_id}")
    assert "提交修改提议" in html and "修改提议" in page.texts["proposal-hint"]
    assert f"/admin/faqs/{entry_id}/delete" not in html  # deleting a live answer is a reviewer's
    response = await client.post(
        f"/admin/faqs/{entry_id}", data={**page.form(f"/admin/faqs/{entry_id}"), "answer": "编辑的改动"}
    )
    html = await response.text()
    assert response.status == 200 and re.fullmatch(r"/admin/proposals/\d+", response.url.path)
    assert "已提交修改提议" in html and "+答复：编辑的改动" in html and "-答复：" + live_answer in html
    with get_sessionmaker(fresh_kb_url)() as session:
        assert session.get(FaqEntry, entry_id).answer == live_answer

    # an invented figure is refused, with the figure and the clause, and the text is kept
    page, _ = await open_page(client, f"/admin/faqs/{entry_id}")
    form = page.form(f"/admin/faqs/{entry_id}")
    response = await client.post(f"/admin/faqs/{entry_id}", data={**form, "answer": "蓝领公寓每间补贴9173元。"})
    html = await response.text()
    assert response.status == 422
    refused = Page(html)
    assert "“9173”" in refused.texts["problem"] and form["source"] in refused.texts["problem"]
    assert refused.texts["clause-text"].strip()  # the clause is shown beside it
    assert "“9173”" in refused.texts["grounding"]
    assert refused.form(f"/admin/faqs/{entry_id}")["answer"] == "蓝领公寓每间补贴9173元。"


async def test_pages_need_no_inline_script_or_style(client: TestClient) -> None:
    """The CSP (default-src 'self') blocks inline code, so the pages must not rely on any."""
    await login(client)
    for path in ("/admin", "/admin/faqs/1", "/admin/faqs/new", "/admin/faqs/1/history", "/admin/inbox", "/admin/users"):
        _, html = await open_page(client, path)
        assert re.search(r"<script(?![^>]*\bsrc=)", html) is None, path
        assert " style=" not in html and "<style" not in html and " on" + "click=" not in html, path
    for asset in ("/static/admin.css", "/static/admin.js"):
        assert (await client.get(asset)).status == 200
