"""In real headless Chromium, on SQLite and PostgreSQL (issue 14): a staff member types a long answer,
the session ends meanwhile (the token expires and the browser drops its cookie, as after 8 hours),
they press 保存: the login page shows what they typed; after logging in, 继续提交 saves exactly
that text, or 回到编辑页面再检查 puts it back into the edit form unsaved.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, BrowserContext, Page, expect
from sqlalchemy import select, update

from knowledge.build import build
from knowledge.db import get_engine, session_scope
from knowledge.models import FaqEntry, StaffToken, utcnow
from knowledge.staff import create_user
from tests.browser import chromium
from web.app import init_app

EDITOR = ("editor-exp-b", "Editor-Passw0rd!")
TYPED = "【新的答复】协商会由所在社区召集，\n请留意小区公告。\n这一段很长，是花了很久才写好的。"


@dataclass
class Service:
    url: str
    base: str
    browser: Browser
    draft_id: int


@pytest.fixture(params=["sqlite", "postgresql"])
async def service(request: pytest.FixtureRequest, tmp_path) -> AsyncIterator[Service]:
    url = f"sqlite:///{tmp_path / 'kb.sqlite3'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    build(url=url)
    with session_scope(url) as s:
        create_user(s, username=EDITOR[0], password=EDITOR[1], role="editor", actor="test")
        clause_id = s.scalar(select(FaqEntry.clause_id).where(FaqEntry.question == "杭州老旧小区加装电梯有什么政策？"))
        draft = FaqEntry(
            topic="elevator",
            question="草稿：加装电梯的协商会",
            alternatives=[],
            answer="行动计划要求健全老旧小区加装电梯民主协商机制。",
            clause_id=clause_id,
            status="draft",
            updated_by=EDITOR[0],
        )
        s.add(draft)
        s.flush()
        draft_id = draft.id
    async with TestServer(init_app(url), host="127.0.0.1") as server, chromium() as browser:
        yield Service(url, str(server.make_url("")).rstrip("/"), browser, draft_id)
    get_engine(url).dispose()


async def typed_then_expired(service: Service) -> tuple[BrowserContext, Page]:
    """Log in, type into the edit form, then the session ends before 保存 is pressed."""
    context = await service.browser.new_context(
        base_url=service.base, locale="zh-CN", viewport={"width": 1280, "height": 900}
    )
    page = await context.new_page()
    await page.goto("/admin/login")
    await page.get_by_label("用户名").fill(EDITOR[0])
    await page.get_by_label("密码").fill(EDITOR[1])
    await page.get_by_role("button", name="登录").click()
    await expect(page).to_have_url(re.compile(r"/admin$"))
    await page.goto(f"/admin/faqs/{service.draft_id}")
    await page.get_by_label("答复", exact=True).fill(TYPED)
    await page.get_by_label("其他问法（每行一个）").fill("协商会谁来召集")
    with session_scope(service.url) as s:
        s.execute(update(StaffToken).where(StaffToken.kind == "session").values(expires_at=utcnow()))
    await context.clear_cookies()  # the session cookie lives exactly as long as the session
    await page.get_by_role("button", name="保存", exact=True).click()
    await expect(page.get_by_role("heading", name="登录已过期")).to_be_visible()
    await expect(page.locator("#kept-fields")).to_contain_text("这一段很长，是花了很久才写好的。")
    await expect(page.get_by_label("用户名")).to_have_value(EDITOR[0])
    await page.get_by_label("密码").fill(EDITOR[1])
    await page.get_by_label("密码").press("Enter")
    await expect(page.get_by_role("heading", name="已重新登录")).to_be_visible()
    await expect(page.locator("#kept-fields")).to_contain_text("这一段很长，是花了很久才写好的。")
    return context, page


def saved_answer(service: Service) -> str:
    """The stored answer, line breaks as typed (a browser sends a textarea's line breaks as CRLF)."""
    with session_scope(service.url) as s:
        return s.get(FaqEntry, service.draft_id).answer.replace("\r\n", "\n")


async def test_the_typed_answer_is_saved_after_logging_in_again(service: Service) -> None:
    before = saved_answer(service)
    context, page = await typed_then_expired(service)
    assert saved_answer(service) == before  # nothing was saved without a session
    await page.get_by_role("button", name="继续提交").click()
    await expect(page.get_by_role("status").filter(has_text="已保存")).to_be_visible()
    await expect(page.get_by_label("答复", exact=True)).to_have_value(TYPED)
    assert saved_answer(service) == TYPED
    await context.close()


async def test_back_to_the_edit_form_with_the_typed_text_unsaved(service: Service) -> None:
    before = saved_answer(service)
    context, page = await typed_then_expired(service)
    await page.get_by_role("button", name="回到编辑页面再检查").click()
    await expect(page.get_by_label("答复", exact=True)).to_have_value(TYPED)
    await expect(page.get_by_label("其他问法（每行一个）")).to_have_value("协商会谁来召集")
    await expect(page.locator("#preview-note")).to_contain_text("尚未保存")
    assert saved_answer(service) == before
    await page.get_by_role("button", name="保存", exact=True).click()
    await expect(page.get_by_role("status").filter(has_text="已保存")).to_be_visible()
    assert saved_answer(service) == TYPED
    await context.close()
