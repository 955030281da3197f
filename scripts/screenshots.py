"""``make screenshots``: the documentation's pictures, from clean data, never from the tests.

Builds a fresh knowledge base in a temporary directory (exactly what ``make kb`` builds, nothing
edited), starts the real stack on free ports (Rasa, the action server and the staff service, as
the end-to-end tests do) and takes, in headless Chromium with Chinese fonts:

- ``docs/admin-edit.png``: the edit page of an entry as built, with the clause picker, the clause
  text, the preview and the grounding check;
- ``docs/admin-review.png``: a reviewer's view of an editor's proposal, with the diff against the
  live version and both answers;
- ``docs/widget-360.png``: the resident widget on a 360 px phone, answering "蓝领公寓" with its source.

The proposal for the second picture is made in the throw-away knowledge base by a throw-away
editor account; nothing outside the temporary directory is touched except the three pictures.
Run it when the pages change and commit the pictures with that change.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import tempfile
from pathlib import Path
from urllib.parse import quote

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

from playwright.async_api import Page, expect  # noqa: E402
from sqlalchemy import select  # noqa: E402

from knowledge.build import build  # noqa: E402
from knowledge.db import session_scope  # noqa: E402
from knowledge.models import FaqEntry  # noqa: E402
from knowledge.staff import create_user  # noqa: E402
from tests.browser import chromium  # noqa: E402
from tests.stack import Stack  # noqa: E402

DOCS = PROJECT_ROOT / "docs"
EDITED_QUESTION = "蓝领公寓是什么？"
EDITOR = ("wang-fang", "Screenshot-Ed1tor!")


async def log_in(page: Page, username: str, password: str) -> None:
    await page.goto("/admin/login")
    await page.get_by_label("用户名").fill(username)
    await page.get_by_label("密码").fill(password)
    await page.get_by_role("button", name="登录").click()
    await expect(page).to_have_url(re.compile(r"/admin$"))


async def take(stack: Stack, entry_id: int, out: Path) -> None:
    async with chromium() as browser:
        admin = await browser.new_context(
            base_url=stack.web_url, locale="zh-CN", viewport={"width": 1280, "height": 900}
        )
        page = await admin.new_page()
        await log_in(page, *stack.admin)
        await page.goto(f"/admin/faqs/{entry_id}")
        await expect(page.locator("#grounding")).to_contain_text("都能在所引条款中找到")
        await page.screenshot(path=str(out / "admin-edit.png"), full_page=True)

        editor = await browser.new_context(
            base_url=stack.web_url, locale="zh-CN", viewport={"width": 1280, "height": 900}
        )
        editor_page = await editor.new_page()
        await log_in(editor_page, *EDITOR)
        await editor_page.goto(f"/admin/faqs/{entry_id}")
        answer = editor_page.get_by_label("答复", exact=True)
        await answer.fill((await answer.input_value()) + "具体申请条件请咨询所在区住房保障部门。")
        await editor_page.get_by_role("button", name="提交修改提议").click()
        await expect(editor_page.get_by_role("status")).to_contain_text("已提交修改提议")
        await page.goto(editor_page.url.split("?")[0])
        await expect(page.get_by_role("button", name="批准并发布")).to_be_visible()
        await page.screenshot(path=str(out / "admin-review.png"), full_page=True)

        phone = await browser.new_context(
            base_url=stack.web_url, locale="zh-CN", viewport={"width": 360, "height": 740}, device_scale_factor=2
        )
        widget = await phone.new_page()
        await widget.goto("/?server=" + quote(stack.rasa_url, safe=""))
        await widget.get_by_role("button", name=re.compile("在线咨询")).click()
        await widget.get_by_label("输入您的问题").fill("蓝领公寓")
        await widget.get_by_label("输入您的问题").press("Enter")
        source = widget.locator(".msg.bot .source").first
        await expect(source).to_have_text(re.compile("^来源："), timeout=30_000)
        await source.scroll_into_view_if_needed()
        await widget.screenshot(path=str(out / "widget-360.png"))


def main() -> None:
    parser = argparse.ArgumentParser(description="文档截图：用全新构建的知识库和真实服务截取 docs/ 中的图片")
    parser.add_argument("--out", type=Path, default=DOCS, help="保存截图的目录（默认 docs/）")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="screenshots-") as workdir:
        url = f"sqlite:///{Path(workdir) / 'kb.sqlite3'}"
        build(url=url)
        with session_scope(url) as session:
            entry_id = session.scalar(select(FaqEntry.id).where(FaqEntry.question == EDITED_QUESTION))
        stack = Stack(kb_url=url, workdir=Path(workdir), env={"FOUR_EYES": "1"})
        stack.start()  # bootstraps the stack's admin in the throw-away knowledge base
        try:
            with session_scope(url) as session:
                create_user(session, username=EDITOR[0], password=EDITOR[1], role="editor", actor="screenshots")
            asyncio.run(take(stack, entry_id, args.out))
        finally:
            stack.stop()
    for name in ("admin-edit.png", "admin-review.png", "widget-360.png"):
        print(f"已保存 {args.out / name}")


if __name__ == "__main__":
    main()
