"""The dashboard in real headless Chromium (issue 14), on SQLite and PostgreSQL: after seeding known
events it draws its charts (SVG bars whose drawn heights follow the counts, stacked by outcome),
offers every chart's numbers as a table, fits a 360 px screen, and works with the keyboard down to
renewing an entry past its review date, after which residents get the answer without the note.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, Page, expect
from sqlalchemy import select, update

from knowledge.answering import AnswerEngine
from knowledge.build import build
from knowledge.db import get_engine, get_sessionmaker, session_scope
from knowledge.models import FaqEntry
from knowledge.review_dates import today
from knowledge.staff import create_user
from tests.browser import chromium
from tests.test_dashboard import seed
from web.app import init_app

REVIEWER = ("reviewer-dash", "Review-Dash-Passw0rd!")
QUESTION = "杭州老旧小区加装电梯有什么政策？"


@dataclass
class Service:
    url: str
    base: str
    browser: Browser


@pytest.fixture(params=["sqlite", "postgresql"])
async def service(request: pytest.FixtureRequest, tmp_path) -> AsyncIterator[Service]:
    url = f"sqlite:///{tmp_path / 'kb.sqlite3'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    build(url=url)
    with session_scope(url) as s:
        create_user(s, username=REVIEWER[0], password=REVIEWER[1], role="reviewer", actor="test")
    async with TestServer(init_app(url), host="127.0.0.1") as server, chromium() as browser:
        yield Service(url, str(server.make_url("")).rstrip("/"), browser)
    get_engine(url).dispose()


async def logged_in(service: Service, width: int = 1280) -> tuple[Page, list[str]]:
    context = await service.browser.new_context(
        base_url=service.base, locale="zh-CN", viewport={"width": width, "height": 900}
    )
    page = await context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on("console", lambda msg: problems.append(f"console: {msg.text}") if msg.type == "error" else None)
    await page.goto("/admin/login")
    await page.get_by_label("用户名").fill(REVIEWER[0])
    await page.get_by_label("密码").fill(REVIEWER[1])
    await page.get_by_role("button", name="登录").click()
    await expect(page).to_have_url(re.compile(r"/admin$"))
    return page, problems


def overdue_entry(url: str) -> int:
    past = (today() - timedelta(days=4)).isoformat()
    with session_scope(url) as s:
        faq_id = s.scalar(select(FaqEntry.id).where(FaqEntry.question == QUESTION))
        s.execute(update(FaqEntry.__table__).where(FaqEntry.__table__.c.id == faq_id).values(review_by=past))
    return faq_id


def residents_get(url: str) -> str:
    return AnswerEngine(get_sessionmaker(url)).answer(text=QUESTION, topic="elevator").text


async def height(page: Page, selector: str) -> float:
    box = await page.locator(selector).bounding_box()
    assert box is not None, selector
    return box["height"]


async def test_the_dashboard_draws_its_charts_from_the_counts(service: Service) -> None:
    seed(service.url)
    page, problems = await logged_in(service)
    await page.get_by_role("link", name="数据看板").click()
    await expect(page.get_by_role("heading", name="数据看板", level=1)).to_be_visible()
    day, two_days_ago = today().isoformat(), (today() - timedelta(days=2)).isoformat()

    questions = page.locator("#chart-questions")
    await expect(questions.locator(f'g.column[data-date="{day}"]')).to_have_attribute("data-total", "4")
    await expect(questions.locator("rect.bar")).to_have_count(2)  # two days with questions in 30
    today_bar = f'#chart-questions rect.bar[data-date="{day}"]'
    older_bar = f'#chart-questions rect.bar[data-date="{two_days_ago}"]'
    assert await height(page, today_bar) == pytest.approx(2 * await height(page, older_bar), rel=0.02)

    outcomes = page.locator("#chart-outcomes")
    answered = outcomes.locator(f'rect[data-date="{day}"][data-series="answered"]')
    not_covered = outcomes.locator(f'rect[data-date="{day}"][data-series="not_covered"]')
    await expect(answered).to_have_attribute("data-value", "3")
    a, n = await answered.bounding_box(), await not_covered.bounding_box()
    assert a["height"] == pytest.approx(3 * n["height"], rel=0.02)
    assert n["y"] + n["height"] == pytest.approx(a["y"], abs=0.5)  # stacked: not covered on top of answered
    await expect(page.locator("#chart-outcomes-desc")).to_contain_text("合计6条")
    await expect(page.locator("#outcome-totals li[data-outcome='declined']")).to_have_text("婉拒（超出范围）：2")

    await expect(page.locator('#chart-topics li[data-key="elevator"]')).to_have_attribute("data-total", "3")
    await expect(page.locator("#chart-feedback li").first).to_contain_text("有帮助 2 · 没帮助 1")
    await expect(page.locator("#handoff-totals")).to_contain_text("50%（2 次）")
    await expect(page.locator("#handoff-totals")).to_contain_text("1 分 0 秒")
    assert problems == []


async def test_keyboard_tables_and_renewal_of_an_overdue_entry(service: Service) -> None:
    seed(service.url)
    faq_id = overdue_entry(service.url)
    assert "可能已有变化" in residents_get(service.url)
    page, problems = await logged_in(service)
    await page.goto("/admin/dashboard")
    await expect(page.locator(f'#overdue tr[data-faq-id="{faq_id}"]')).to_contain_text("4 天")

    async def tab_to(name: str) -> None:
        for _ in range(150):
            await page.keyboard.press("Tab")
            if (await page.evaluate("document.activeElement.textContent || ''")).strip() == name:
                return
        raise AssertionError(f"Tab never reached {name}")

    await tab_to("每天的居民提问：查看数据表")
    await page.keyboard.press("Enter")
    table = page.locator("#questions-heading ~ details table")
    await expect(table).to_be_visible()
    await expect(table.locator("tbody tr").first).to_have_text(re.compile(rf"{today().isoformat()}\s*4"))

    await tab_to("已核对，续期")
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("status")).to_contain_text("已确认内容仍然有效并续期")
    await expect(page.locator("#overdue")).to_contain_text("没有已过核对日期的条目。")
    assert "可能已有变化" not in residents_get(service.url)
    assert problems == []


async def test_the_dashboard_fits_a_360_px_screen(service: Service) -> None:
    seed(service.url)
    overdue_entry(service.url)
    page, problems = await logged_in(service, width=360)
    await page.goto("/admin/dashboard")
    assert await page.evaluate("document.documentElement.scrollWidth") <= 360
    for chart in ("#chart-questions", "#chart-outcomes", "#chart-handoffs"):
        box = await page.locator(chart).bounding_box()
        assert box is not None and box["width"] <= 360 and box["height"] > 100, chart
    await expect(page.locator("#overdue td[data-label='问题']")).to_be_visible()
    assert problems == []
