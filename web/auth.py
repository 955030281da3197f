"""Who is calling: API bearer tokens and browser sessions of staff."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

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
