"""Issue 13 in real headless Chromium (Debian's package, driven by Playwright), on SQLite and PostgreSQL.

The staff service runs in this process (aiohttp's TestServer on a real port) on a freshly built
knowledge base; what residents get is read with the real AnswerEngine on the same database, as
the action server does. Flows: an editor proposes a change to a published entry, a second person
approves it and residents get it within a second; under four-eyes the proposer cannot approve
their own; an invented figure is refused with the clause shown (live while typing, and on save);
the inbox placeholder cannot be published; unpublish and restore ask first, saying what residents
will see.
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, BrowserContext, Page, expect
from sqlalchemy import select

from knowledge import inbox
from knowledge.answering import AnswerEngine
from knowledge.build import build
from knowledge.db import get_engine, get_sessionmaker, session_scope
from knowledge.models import FaqEntry
from knowledge.staff import create_user
from tests.browser import chromium
from web.app import init_app

ADMIN = ("admin", "Browser-Adm1n-Pass!")
EDITOR = ("editor1", "Editor-Passw0rd!")
REVIEWER = ("reviewer1", "Review-Passw0rd!")
QUESTION = "杭州老旧小区加装电梯有什么政策？"  # published, cites 第9条


@dataclass
class Service:
    url: str  # the database
    base: str  # the staff service
    browser: Browser

    def residents_get(self) -> str | None:
        return AnswerEngine(get_sessionmaker(self.url)).answer(text=QUESTION, topic="elevator").text

    def entry_id(self) -> int:
        with session_scope(self.url) as s:
            return s.scalar(select(FaqEntry.id).where(FaqEntry.question == QUESTION))


@pytest.fixture(params=["sqlite", "postgresql"])
async def service(request: pytest.FixtureRequest, tmp_path) -> AsyncIterator[Service]:
    url = f"sqlite:///{tmp_path / 'kb.sqlite3'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    build(url=url)
    with session_scope(url) as s:
        create_user(s, username=ADMIN[0], password=ADMIN[1], role="admin", actor="test")
        create_user(s, username=EDITOR[0], password=EDITOR[1], role="editor", actor="test")
        create_user(s, username=REVIEWER[0], password=REVIEWER[1], role="reviewer", actor="test")
    async with TestServer(init_app(url), host="127.0.0.1") as server, chromium() as browser:
        yield Service(url, str(server.make_url("")).rstrip("/"), browser)
    get_engine(url).dispose()


async def staff_page(service: Service, who: tuple[str, str]) -> tuple[BrowserContext, Page, list[str]]:
    """A browser context logged in as ``who``; the list collects problems the page reports."""
    context = await service.browser.new_context(
        base_url=service.base, locale="zh-CN", viewport={"width": 1280, "height": 900}
    )
    page = await context.new_page()
    problems: list[str] = []
    page.on("dialog", lambda dialog: problems.append(f"dialog: {dialog.message}"))
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on("console", lambda msg: problems.append(f"console: {msg.text}") if msg.type == "error" else None)
    await page.goto("/admin/login")
    await page.get_by_label("用户名").fill(who[0])
    await page.get_by_label("密码").fill(who[1])
    await page.get_by_role("button", name="登录").click()
    await expect(page).to_have_url(re.compile(r"/admin$"))
    return context, page, problems


def only_expected(problems: list[str], *statuses: int) -> list[str]:
    """Problems other than the browser's note that a page came with an expected error status."""
    return [p for p in problems if not any(f"status of {s}" in p for s in statuses)]


async def test_an_editor_proposes_a_second_person_approves_and_residents_get_it_at_once(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FOUR_EYES", "1")
    before = service.residents_get()
    editor_context, editor, editor_problems = await staff_page(service, EDITOR)
    await editor.goto(f"/admin/faqs/{service.entry_id()}")
    await expect(editor.locator("#proposal-hint")).to_contain_text("修改提议")
    answer = editor.get_by_label("答复", exact=True)
    new_text = "【经审核】" + await answer.input_value()
    await answer.fill(new_text)
    await expect(editor.locator("#preview")).to_have_text(re.compile("^" + re.escape(new_text) + "\n来源："))
    await expect(editor.locator("#grounding")).to_have_text("答复中的数字都能在所引条款中找到。")
    await editor.get_by_role("button", name="提交修改提议").click()
    await expect(editor.get_by_role("status").filter(has_text="已提交修改提议")).to_be_visible()
    await expect(editor.locator("#proposal-diff")).to_contain_text("+答复：" + new_text)
    assert service.residents_get() == before  # residents keep the published answer

    reviewer_context, reviewer, reviewer_problems = await staff_page(service, REVIEWER)
    await expect(reviewer.get_by_role("link", name=re.compile("修改提议"))).to_contain_text("1")
    await reviewer.get_by_role("link", name=re.compile("修改提议")).click()
    await reviewer.locator("table.proposals a", has_text="#").first.click()
    await expect(reviewer.locator("#proposal-diff")).to_contain_text("+答复：" + new_text)
    await expect(reviewer.locator("#proposed-message")).to_contain_text(new_text)
    await reviewer.get_by_role("button", name="批准并发布").click()
    await expect(reviewer.get_by_role("status").filter(has_text="已批准并发布")).to_be_visible()
    approved_at = time.monotonic()
    while service.residents_get() != new_text:
        assert time.monotonic() - approved_at < 1.0, "residents did not get the approved answer within 1 s"

    await reviewer.get_by_role("link", name="修改历史").click()
    await expect(reviewer.locator(".revision").first).to_contain_text("批准修改提议")
    await expect(reviewer.locator(".revision").first).to_contain_text(EDITOR[0])
    await editor.goto(f"/admin/faqs/{service.entry_id()}")
    await expect(editor.locator(".entry-proposals")).to_contain_text("已批准")
    assert editor_problems == [] and reviewer_problems == []
    await editor_context.close()
    await reviewer_context.close()


async def test_under_four_eyes_the_proposer_cannot_approve_their_own_proposal(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FOUR_EYES", "1")
    context, page, problems = await staff_page(service, REVIEWER)
    await page.goto(f"/admin/faqs/{service.entry_id()}")
    assert await page.get_by_role("button", name="保存", exact=True).count() == 0  # a reviewer proposes too
    answer = page.get_by_label("答复", exact=True)
    await answer.fill("【审核员自己的修改】" + await answer.input_value())
    await page.get_by_role("button", name="提交修改提议").click()
    await expect(page.get_by_role("status").filter(has_text="已提交修改提议")).to_be_visible()
    await expect(page.locator("#own-proposal")).to_contain_text("四眼原则")
    assert await page.get_by_role("button", name="批准并发布").count() == 0
    # the server refuses it too, whatever the page shows
    proposal_url = page.url.split("?")[0]
    csrf = await page.locator("input[name=csrf_token]").first.get_attribute("value")
    refused = await page.request.post(proposal_url + "/approve", form={"csrf_token": csrf or ""})
    assert refused.status == 403 and "四眼原则" in await refused.text()
    assert "【审核员自己的修改】" not in (service.residents_get() or "")
    assert problems == []
    await context.close()


async def test_an_invented_figure_is_refused_with_the_clause_shown(service: Service) -> None:
    context, page, problems = await staff_page(service, ADMIN)
    await page.goto(f"/admin/faqs/{service.entry_id()}")
    answer = page.get_by_label("答复", exact=True)
    original = await answer.input_value()
    typed = original + "每台最高补贴20万元。"
    await answer.fill(typed)
    # the live check says it before saving
    await expect(page.locator("#grounding")).to_contain_text("“20”")
    await expect(page.locator("#grounding")).to_contain_text("第9条")
    async with page.expect_response(
        lambda r: r.request.method == "POST" and r.url.endswith(str(service.entry_id()))
    ) as posted:
        await page.get_by_role("button", name="保存", exact=True).click()
    assert (await posted.value).status == 422
    alert = page.locator("#problem")
    await expect(alert).to_contain_text("“20”")
    await expect(alert).to_contain_text("第9条")
    await expect(page.locator("#clause-title")).to_contain_text("第9条")
    await expect(page.locator("#clause-text")).to_contain_text("加装电梯")
    await expect(answer).to_have_value(typed)  # nothing typed is lost
    assert service.residents_get() == original
    assert only_expected(problems, 422) == []
    await context.close()


async def test_the_inbox_placeholder_cannot_be_published(service: Service) -> None:
    with session_scope(service.url) as s:
        inbox.record_unanswered(s, text="托育机构怎么收费", topic="childcare")
    context, page, problems = await staff_page(service, ADMIN)
    await page.get_by_role("link", name="未解答问题").click()
    await page.get_by_role("button", name=re.compile("^新建草稿")).click()  # the grouped inbox (issue 14)
    await expect(page.get_by_role("status").filter(has_text="已根据居民的问题创建草稿")).to_be_visible()
    await expect(page.locator("#grounding")).to_contain_text("占位文字")
    await page.get_by_role("button", name="发布", exact=True).click()
    await expect(page.locator("#problem")).to_contain_text("占位文字")
    await expect(page.locator(".meta .status")).to_have_text("草稿")
    with session_scope(service.url) as s:
        draft = s.scalar(select(FaqEntry).where(FaqEntry.question == "托育机构怎么收费"))
        assert draft.status == "draft"
    assert "待填写" not in (
        AnswerEngine(get_sessionmaker(service.url)).answer(text="托育机构怎么收费", topic="childcare").text or ""
    )
    assert only_expected(problems, 422) == []
    await context.close()


async def test_unpublish_and_restore_ask_first_and_say_what_residents_will_see(service: Service) -> None:
    context, page, problems = await staff_page(service, ADMIN)
    live = service.residents_get()
    await page.goto(f"/admin/faqs/{service.entry_id()}")
    await page.get_by_role("button", name="撤回发布").click()
    await expect(page.locator("#confirm-live")).to_contain_text(live or "")
    await expect(page.locator("#confirm-after")).to_contain_text("居民不会再收到这条答复")
    assert service.residents_get() == live  # nothing happened yet
    await page.get_by_role("link", name="取消，返回条目").click()
    await page.get_by_role("button", name="撤回发布").click()
    await page.get_by_role("button", name="确认撤回发布").click()
    await expect(page.get_by_role("status").filter(has_text="已撤回发布")).to_be_visible()
    assert service.residents_get() != live

    await page.get_by_role("button", name="发布", exact=True).click()
    answer = page.get_by_label("答复", exact=True)
    await answer.fill("临时改动的答复。")
    await page.get_by_role("button", name="保存", exact=True).click()
    await expect(page.get_by_role("status").filter(has_text="已保存")).to_be_visible()
    await page.get_by_role("link", name="修改历史").click()
    await page.get_by_role("button", name="恢复为版本 1…").click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text("恢复为版本 1")
    await expect(page.locator("#confirm-after-message")).to_contain_text(live or "")
    await page.get_by_role("button", name="确认恢复为版本 1").click()
    await expect(page.get_by_role("status").filter(has_text="已恢复为所选历史版本")).to_be_visible()
    assert service.residents_get() == live
    await page.get_by_role("link", name="修改历史").click()
    await expect(page.locator(".revision").first).to_contain_text("恢复为版本 1")
    assert problems == []
    await context.close()
