"""Who is calling: API bearer tokens and browser sessions of staff."""

from __future__ import annotations

import hmac
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from sqlalchemy.orm import Session

from knowledge.errors import Forbidden, Unauthorized
from knowledge.staff import StaffUser, resolve_token
from web.keys import SESSIONMAKER

SESSION_COOKIE = "hz_staff_session"
# After an admin reset the password, a token serves only these until a new password is set.
WHILE_PASSWORD_MUST_CHANGE = ("/api/v1/me", "/api/v1/me/password", "/api/v1/logout")


@contextmanager
def db(request: web.Request) -> Iterator[Session]:
    """A session for one request: committed on success, rolled back on any error."""
    with request.app[SESSIONMAKER]() as session, session.begin():
        yield session


def api_user(request: web.Request, session: Session) -> StaffUser:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("unauthorized", "请先登录：请求头需要 Authorization: Bearer <令牌>。")
    found = resolve_token(session, token=token.strip(), kind="api")
    if found is None:
        raise Unauthorized("invalid_token", "令牌无效或已过期，请重新登录。")
    if found.user.must_change_password and request.path not in WHILE_PASSWORD_MUST_CHANGE:
        raise Forbidden(
            "password_change_required",
            "管理员已重置您的密码：请先用 POST /api/v1/me/password 设置新密码，再进行其他操作。",
        )
    return found.user


def session_user(request: web.Request, session: Session) -> tuple[StaffUser, str] | None:
    """The logged-in staff member and the session's CSRF token, or None."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    found = resolve_token(session, token=token, kind="session")
    return (found.user, found.csrf_token or "") if found else None


CSRF_FIELD = "csrf_token"
CSRF_MESSAGE = "安全校验失败：表单已过期或来自其他网站，操作没有执行。请返回、刷新页面后再试。"
ACCOUNT_PAGE = "/admin/account"


def logged_in(request: web.Request, session: Session) -> tuple[StaffUser, str]:
    """The staff member and the session's CSRF token; not logged in → the login page.

    After an admin reset the password, every page but the account page (to set a new one) and
    logging out leads to the account page.
    """
    found = session_user(request, session)
    if found is None:
        target = "/admin/login"
        if request.method == "GET" and request.path_qs != "/admin":
            target += "?" + urlencode({"next": request.path_qs})
        raise web.HTTPSeeOther(target)
    if found[0].must_change_password and not request.path.startswith((ACCOUNT_PAGE, "/admin/logout")):
        raise web.HTTPSeeOther(ACCOUNT_PAGE)
    return found


def check_csrf(form: Mapping[str, Any], expected: str) -> None:
    sent = form.get(CSRF_FIELD)
    if not isinstance(sent, str) or not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise Forbidden("csrf_failed", CSRF_MESSAGE)
