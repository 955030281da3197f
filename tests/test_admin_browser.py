"""The staff admin in real headless Chromium (Debian's package, driven by Playwright) against the real stack:
edit → publish → the bot answers with the new text; a concurrent edit gets the 409 message and
nothing typed is lost; markup typed by staff is shown as text and never runs.

Tests change no tracked file: the documentation's screenshots come from ``make screenshots``."""

from __future__ import annotations

import re
import time
import uuid

import aiohttp
import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect

from tests.browser import chromium
from tests.stack import Stack

pytestmark = pytest.mark.e2e

MARKUP = "<img src=x onerror=alert(1)>"
ANSWER_MARKUP = "<img src=x onerror=alert(document.domain)>"  # no figure: saved figures must be in the clause


async def staff_page(browser: Browser, stack: Stack) -> tuple[BrowserContext, Page, list[str]]:
    """A new browser context logged in as the stack's admin; the list collects problems seen."""
    context = await browser.new_context(base_url=stack.web_url, locale="zh-CN", viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    problems: list[str] = []
    page.on("dialog", lambda dialog: problems.append(f"dialog: {dialog.message}"))
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on(
        "console", lambda msg: problems.append(f"console: {msg.text} {msg.location}") if msg.type == "error" else None
    )
    await page.goto("/admin")
    await expect(page).to_have_url(re.compile(r"/admin/login"))
    await page.get_by_label("用户名").fill(stack.admin[0])
    await page.get_by_label("密码").fill(stack.admin[1])
    await page.get_by_role("button", name="登录").click()
    await expect(page).to_have_url(re.compile(r"/admin$"))
    return context, page, problems


async def new_draft(page: Page, *, question: str, answer: str, alternatives: str = "") -> str:
    """Create a draft entry through the form; its URL."""
    await page.goto("/admin")
    await page.get_by_role("link", name="新建条目").click()
    await page.get_by_label("主题").select_option("rental")
    await page.get_by_label("问题（居民最常见的问法）").fill(question)
    await page.get_by_label("其他问法（每行一个）").fill(alternatives)
    await page.get_by_label("答复", exact=True).fill(answer)
    await page.get_by_label("依据条款", exact=True).select_option("第9条")
    await page.get_by_role("button", name="保存为草稿").click()
    await expect(page.get_by_role("status").filter(has_text="已创建条目")).to_be_visible()
    url = page.url.split("?")[0]
    assert re.search(r"/admin/faqs/\d+$", url)
    return url


async def bot_replies(stack: Stack, message: str) -> list[str]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{stack.rasa_url}/webhooks/rest/webhook",
            json={"sender": f"admin-browser-{uuid.uuid4().hex}", "message": message},
            timeout=aiohttp.ClientTimeout(total=10),
        ) as response,
    ):
        assert response.status == 200
        return [m.get("text") or "" for m in await response.json()]


async def entry_the_bot_answers(page: Page, stack: Stack) -> tuple[str, str]:
    """Search the list for 蓝领公寓 and pick the entry (question containing 蓝领公寓) that the bot
    answers, with the resident message that reaches it: "蓝领公寓" itself if the bot answers it with
    one of these entries, else the entry's own question. Matched by the bot's exact reply text,
    which the edit page's preview shows."""
    await page.goto("/admin")
    await page.get_by_label("全文搜索").fill("蓝领公寓")
    await page.get_by_role("button", name="筛选").click()
    await expect(page).to_have_url(re.compile(r"q=%E8%93%9D"))
    links = page.locator("td.question a", has_text="蓝领公寓")
    candidates = {}
    for i in range(await links.count()):
        question, href = await links.nth(i).inner_text(), await links.nth(i).get_attribute("href")
        await page.goto(href)
        candidates[await page.locator("#preview").inner_text()] = (href, question)
        await page.go_back()
    assert candidates, "no entry whose question contains 蓝领公寓"
    for message in ["蓝领公寓", *(question for _, question in candidates.values())]:
        for reply in await bot_replies(stack, message):
            if reply in candidates:
                return candidates[reply][0], message
    pytest.fail(f"the bot answers none of {[q for _, q in candidates.values()]} with its own entry")


async def test_edit_publish_and_the_bot_answers_with_the_new_text(stack: Stack) -> None:
    async with chromium() as browser:
        context, page, problems = await staff_page(browser, stack)
        href, message = await entry_the_bot_answers(page, stack)
        await page.goto(href)
        await expect(page.get_by_role("heading", level=1)).to_contain_text("编辑条目")

        answer = page.get_by_label("答复", exact=True)
        original = await answer.input_value()
        marker = uuid.uuid4().hex[:8].translate(str.maketrans("0123456789", "ghijklmnop"))  # no figures (grounding)
        new_text = f"【{marker}更新】{original}"
        await answer.fill(new_text)
        await expect(page.locator("#preview")).to_have_text(re.compile("^" + re.escape(new_text) + "\n来源："))
        await page.get_by_role("button", name="保存", exact=True).click()
        await expect(page.get_by_role("status").filter(has_text="已保存")).to_be_visible()
        await expect(answer).to_have_value(new_text)
        publish = page.get_by_role("button", name="发布", exact=True)
        if await publish.count():
            await publish.click()
            await expect(page.get_by_role("status").filter(has_text="已发布")).to_be_visible()
        await expect(page.get_by_role("button", name="撤回发布")).to_be_visible()
        saved_at = time.monotonic()

        replies: list[str] = []
        while not any(new_text in r for r in replies):
            assert time.monotonic() - saved_at < 1.0, f"the bot did not answer with the new text within 1 s: {replies}"
            replies = await bot_replies(stack, message)

        # leave the shared stack as we found it (docs/admin-edit.png comes from `make screenshots`, not from tests)
        await answer.fill(original)
        await page.get_by_role("button", name="保存", exact=True).click()
        await expect(page.get_by_role("status").filter(has_text="已保存")).to_be_visible()
        assert problems == []
        await context.close()


async def test_concurrent_edit_gets_409_in_the_page_and_keeps_the_typed_text(stack: Stack) -> None:
    async with chromium() as browser:
        context_a, page_a, problems_a = await staff_page(browser, stack)
        context_b, page_b, problems_b = await staff_page(browser, stack)
        url = await new_draft(page_a, question="并发修改测试：蓝领公寓的冲突？", answer="最初的答复。")
        await page_b.goto(url)

        await page_a.get_by_label("答复", exact=True).fill("同事甲先保存的答复。")
        await page_a.get_by_role("button", name="保存", exact=True).click()
        await expect(page_a.get_by_role("status").filter(has_text="已保存")).to_be_visible()

        mine = "同事乙的答复：\n第二行也要保留。"
        await page_b.get_by_label("答复", exact=True).fill(mine)
        await page_b.get_by_label("问题（居民最常见的问法）").fill("并发修改测试：乙改过的问题？")
        async with page_b.expect_response(lambda r: r.request.method == "POST") as posted:
            await page_b.get_by_role("button", name="保存", exact=True).click()
        assert (await posted.value).status == 409
        await expect(page_b.get_by_role("alert")).to_contain_text("该条目已被他人修改")
        await expect(page_b.get_by_label("答复", exact=True)).to_have_value(mine)
        await expect(page_b.get_by_label("问题（居民最常见的问法）")).to_have_value("并发修改测试：乙改过的问题？")
        await expect(page_b.locator("#current-answer")).to_have_text("同事甲先保存的答复。")

        # after comparing, saving again is deliberate and works
        await page_b.get_by_role("button", name="保存", exact=True).click()
        await expect(page_b.get_by_role("status").filter(has_text="已保存")).to_be_visible()
        await expect(page_b.get_by_label("答复", exact=True)).to_have_value(mine)
        assert problems_a == []
        assert all("status of 409" in p for p in problems_b), problems_b  # the page itself came with 409
        await context_a.close()
        await context_b.close()


async def test_markup_typed_by_staff_is_shown_as_text_and_never_runs(stack: Stack) -> None:
    async with chromium() as browser:
        context, page, problems = await staff_page(browser, stack)
        answer_text = f"标记测试 {ANSWER_MARKUP} <script>alert(document.cookie)</script>"
        url = await new_draft(
            page, question=f"标记测试：{MARKUP}", answer=answer_text, alternatives=f'"><svg onload=alert(3)>\n{MARKUP}'
        )
        preview = page.locator("#preview")
        await expect(preview).to_have_text(re.compile("^" + re.escape(answer_text) + "\n来源："))
        await expect(page.get_by_label("答复", exact=True)).to_have_value(answer_text)
        assert await page.locator("main img, main svg, main script").count() == 0

        # typing updates the preview (admin.js, allowed by the CSP) — still as text
        await page.get_by_label("答复", exact=True).fill(f"又一次 {MARKUP}")
        await expect(preview).to_have_text(re.compile("^" + re.escape(f"又一次 {MARKUP}") + "\n来源："))
        await page.get_by_label("依据条款", exact=True).select_option("主要目标")
        await expect(page.locator("#clause-title")).to_contain_text("主要目标")
        await expect(preview).to_have_text(re.compile("主要目标$"))
        await page.get_by_role("button", name="预览").click()
        await expect(page.locator("#preview-note")).to_contain_text("尚未保存")
        await expect(preview).to_have_text(re.compile("^" + re.escape(f"又一次 {MARKUP}") + "\n来源：.*主要目标$"))

        await page.goto("/admin?q=" + "标记测试")
        await expect(page.locator("td.question a", has_text=MARKUP)).to_be_visible()
        await page.goto(url + "/history")
        await expect(page.locator(".diff")).to_contain_text(MARKUP)
        assert await page.locator("main img, main svg, main script").count() == 0
        assert problems == []  # no dialog, no script error, no CSP violation
        await context.close()
