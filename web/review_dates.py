"""Review dates in the admin and the API (issue 14; the rules are in ``knowledge.review_dates``).

- ``POST /admin/faqs/{id}/review_by`` (form ``review_by``, empty clears it) and
  ``PUT /api/v1/faqs/{id}/review_by`` ``{"review_by": "2027-06-30" | null}``: set the date;
- ``POST /admin/faqs/{id}/renew`` and ``POST /api/v1/faqs/{id}/renew`` ``{"review_by"?}``: a
  reviewer confirms the answer still holds; the next review defaults to a year from today.

Both need a reviewer and are audited. The entry page shows the date in its own small form
(``templates/review_by_section.html``, included by ``entry.html``), apart from the content form,
because a review date is not content: it neither becomes a proposal nor changes the version.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from knowledge import review_dates, staff
from web import admin
from web.admin import entry_page, path_id, redirect, text_field
from web.api import body, entry_id
from web.auth import api_user, check_csrf, db, logged_in
from web.errors import http_status

routes = web.RouteTableDef()
NOTICES = {  # shown after the redirect (?msg=…), like the admin's own notices
    "review_by_saved": "已保存核对日期。",
    "review_by_cleared": "已取消核对日期：此条目不再需要定期核对。",
    "renewed": "已确认内容仍然有效并续期：居民收到的答复不再附带“可能已有变化”的提示。",
}


async def _admin_change(request: web.Request, *, renew: bool) -> web.Response:
    form = await request.post()
    faq_id = path_id(request)
    value = text_field(form, "review_by")
    try:
        with db(request) as session:
            user, csrf = logged_in(request, session)
            check_csrf(form, csrf)
            if renew:
                review_dates.renew(session, entry_id=faq_id, user=user, review_by=value)
            else:
                review_dates.set_review_by(session, entry_id=faq_id, review_by=value, user=user)
    except staff.Invalid as exc:  # a bad or past date: the entry page says so
        with db(request) as session:
            who = logged_in(request, session)
            return entry_page(request, session, who, entry_id=faq_id, problem=exc, status=http_status(exc))
    notice = "renewed" if renew else ("review_by_saved" if value.strip() else "review_by_cleared")
    if text_field(form, "back") == "dashboard":
        raise web.HTTPSeeOther(f"/admin/dashboard?msg={notice}#overdue-heading")
    raise redirect(f"/admin/faqs/{faq_id}", notice)


@routes.post(r"/admin/faqs/{id:\d+}/review_by")
async def admin_set_review_by(request: web.Request) -> web.Response:
    return await _admin_change(request, renew=False)


@routes.post(r"/admin/faqs/{id:\d+}/renew")
async def admin_renew(request: web.Request) -> web.Response:
    return await _admin_change(request, renew=True)


@routes.put("/api/v1/faqs/{id}/review_by")
async def api_set_review_by(request: web.Request) -> web.Response:
    data = await body(request)
    if "review_by" not in data:
        raise staff.Invalid("invalid_body", '请求内容需要 "review_by"：如 "2027-06-30"，或 null 表示不设核对日期。')
    with db(request) as session:
        user = api_user(request, session)
        entry = review_dates.set_review_by(session, entry_id=entry_id(request), review_by=data["review_by"], user=user)
        return web.json_response(staff.entry_dict(entry))


@routes.post("/api/v1/faqs/{id}/renew")
async def api_renew(request: web.Request) -> web.Response:
    data = await body(request) if request.can_read_body else {}
    with db(request) as session:
        user = api_user(request, session)
        entry = review_dates.renew(session, entry_id=entry_id(request), user=user, review_by=data.get("review_by"))
        return web.json_response(staff.entry_dict(entry))


def review_info(entry: dict[str, Any]) -> dict[str, Any]:
    """What the entry page's review section shows (a template global)."""
    day = review_dates.today()
    overdue = review_dates.is_overdue(entry.get("review_by"))
    return {
        "overdue": overdue,
        "today": day.isoformat(),
        "renew_default": (day + review_dates.RENEWAL).isoformat(),
        "tomorrow": (day + timedelta(days=1)).isoformat(),
    }


def setup_review_dates(app: web.Application) -> None:
    """The routes, the template global of the entry page and the notices (after ``setup_admin``)."""
    app.add_routes(routes)
    aiohttp_jinja2.get_env(app).globals["review_info"] = review_info
    admin.NOTICES.update(NOTICES)
