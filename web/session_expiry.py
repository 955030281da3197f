"""A staff session that expires mid-edit keeps the typed text (issue 14).

Without this, a form sent after the session ended (8 h after login, or after a password reset)
met a redirect to the login page and everything typed into it was gone. Now:

1. ``keep_typed_text`` (middleware, every form POST under /admin): when the session is gone but
   the form carries the CSRF token of a session this service issued, the form is answered with a
   login page that holds every field of the form as hidden inputs, and shows the long texts, so
   the staff member sees nothing is lost. Nothing is stored on the server.
2. ``POST /admin/login/resume`` logs in exactly as the normal login does (same CSRF double-submit
   cookie, rate limit and checks) and then shows the typed text again with a "继续提交" button
   that sends the same form, now with the new session's CSRF token; for an entry form also "回到编辑
   页面" (the edit page with the typed text in it, not yet saved). A version conflict meanwhile is
   answered as always (409 with both versions side by side).

Only the person whose session issued the form gets it back: the old CSRF token must belong to a
session of the account that logs in. A form from another site (no CSRF token of ours) is not
carried at all and gets the plain redirect to the login page as before.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from multidict import MultiDictProxy
from sqlalchemy import select
from sqlalchemy.orm import Session

from knowledge import staff
from knowledge.models import StaffToken, StaffUser
from web.admin import (
    CSRF_FIELD,
    LOGIN_CSRF_COOKIE,
    LoginRefused,
    log_in_from_form,
    render,
    safe_next,
    start_session,
    text_field,
)
from web.api import came_over_tls
from web.auth import db, session_user

RESUME_PATH = "/admin/login/resume"
NOT_CARRIED = ("/admin/login", RESUME_PATH, "/admin/logout")
CARRIED_PREFIX = "carried:"
# Fields shown to the staff member on the way (the rest travel hidden: version, action …).
SHOWN_FIELDS = {
    "topic": "主题",
    "question": "问题",
    "alternatives": "其他问法",
    "answer": "答复",
    "source": "依据条款",
    "reason": "理由",
    "text": "内容",
    "variant": "常用说法",
    "canonical": "规范词",
    "note": "备注",
    "display_name": "姓名",
    "department": "部门",
    "review_by": "核对日期",
}
SECRET_FIELDS = ("password", "old", "new", "new_password", "old_password", "confirm", CSRF_FIELD)
ENTRY_FORM = ("/admin/faqs/new",)
EXPIRED = "您的登录已过期，刚才的操作还没有执行。您填写的内容都保留在本页，重新登录后可以继续提交。"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def is_entry_form(path: str) -> bool:
    rest = path.removeprefix("/admin/faqs/")
    return path in ENTRY_FORM or (rest != path and rest.isdigit())


def carried_fields(form: MultiDictProxy[Any]) -> list[tuple[str, str]] | None:
    """The form's fields to carry (name, value) in order; None when it holds a file (cannot be carried)."""
    fields = []
    for name, value in form.items():
        if not isinstance(value, str):
            return None
        if name not in SECRET_FIELDS:
            fields.append((name, value))
    return fields


def form_owner(session: Session, csrf: Any) -> StaffUser | None:
    """The account whose session (current or expired) issued this CSRF token, else None."""
    if not isinstance(csrf, str) or not csrf or staff.NUL in csrf:
        return None
    token = session.scalars(
        select(StaffToken).where(StaffToken.kind == "session", StaffToken.csrf_token == csrf).limit(1)
    ).first()
    return None if token is None or token.user.disabled else token.user


def shown(fields: list[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"label": SHOWN_FIELDS[n], "value": v} for n, v in fields if n in SHOWN_FIELDS and v.strip()]


def expired_page(
    request: web.Request,
    *,
    resume_to: str,
    fields: list[tuple[str, str]],
    old_csrf: str,
    username: str,
    problem: str | None = None,
    status: int = 200,
) -> web.Response:
    """The login page that carries the form (hidden) and shows its texts."""
    login_csrf = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(24)
    context = {
        "problem": problem,
        "expired": EXPIRED,
        "login_csrf": login_csrf,
        "username": username,
        "resume_to": resume_to,
        "old_csrf": old_csrf,
        "carried": [(CARRIED_PREFIX + n, v) for n, v in fields],
        "shown": shown(fields),
    }
    response = render(request, "session_expired.html", context, who=None, status=status)
    response.set_cookie(
        LOGIN_CSRF_COOKIE, login_csrf, httponly=True, samesite="Strict", path="/admin", secure=came_over_tls(request)
    )
    return response


@web.middleware
async def keep_typed_text(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A form sent after the session ended: the login page holding what was typed (see module doc)."""
    if (
        request.method != "POST"
        or not request.path.startswith("/admin/")
        or request.path in NOT_CARRIED
        or request.content_type != "application/x-www-form-urlencoded"
    ):
        return await handler(request)
    with db(request) as session:
        logged_in = session_user(request, session) is not None
    if logged_in:
        return await handler(request)
    form = await request.post()
    fields = carried_fields(form)
    with db(request) as session:
        owner = form_owner(session, form.get(CSRF_FIELD))
        username = owner.username if owner else ""
    if fields is None or owner is None:
        return await handler(request)  # not ours to keep: the usual redirect to the login page
    return expired_page(
        request, resume_to=request.path, fields=fields, old_csrf=text_field(form, CSRF_FIELD), username=username
    )


def resume_target(value: str) -> str | None:
    """Where the carried form goes: a form path under /admin of this site, never the login itself."""
    target = safe_next(value)
    return target if target == value and target.startswith("/admin/") and target not in NOT_CARRIED else None


async def resume(request: web.Request) -> web.Response:
    """Log in from the expired page; then offer the carried form again, with the new session's token."""
    form = await request.post()
    username = text_field(form, "username")
    fields = [(n.removeprefix(CARRIED_PREFIX), v) for n, v in form.items() if n.startswith(CARRIED_PREFIX)]
    resume_to, old_csrf = resume_target(text_field(form, "resume_to")), text_field(form, "old_csrf")
    if resume_to is None or any(not isinstance(v, str) for _, v in fields):
        raise web.HTTPSeeOther("/admin/login")

    def again(problem: str, status: int) -> web.Response:
        return expired_page(
            request,
            resume_to=resume_to,
            fields=fields,
            old_csrf=old_csrf,
            username=username,
            problem=problem,
            status=status,
        )

    try:
        token = await log_in_from_form(
            request, form, stale_page="安全校验失败：页面已过期，或浏览器禁用了 Cookie。请再次输入密码登录。"
        )
    except LoginRefused as refused:
        return again(refused.problem, refused.status)
    with db(request) as session:
        found = staff.resolve_token(session, token=token, kind="session")
        assert found is not None  # issued a moment ago
        user, csrf = found.user, found.csrf_token or ""
        owner = form_owner(session, old_csrf)
        same_person = owner is not None and owner.id == user.id
        context = {
            "resume_to": resume_to,
            "fields": [(n, v) for n, v in fields if n != "action"],
            "action": next((v for n, v in fields if n == "action"), None),
            "entry_form": is_entry_form(resume_to),
            "shown": shown(fields),
            "same_person": same_person,
            "nav": "",
        }
        response = render(request, "session_resume.html", context, who=(user, csrf))
    start_session(request, response, token)
    return response


def setup_session_expiry(app: web.Application) -> None:
    """The middleware and the resume route (after ``setup_admin``, whose error pages wrap them)."""
    app.middlewares.append(keep_typed_text)
    app.router.add_post(RESUME_PATH, resume)
