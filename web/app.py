"""``init_app()``: the staff knowledge-base service (and, later, the resident widget)."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from knowledge import staff
from knowledge.db import get_engine, get_sessionmaker, upgrade_to_head
from knowledge.privacy import install_log_masking
from knowledge.ratelimit import RateLimiter
from web import admin_review, admin_vocabulary, api, review_api, transfer_api, vocabulary_api, widget
from web.admin import setup_admin
from web.admin_inbox import setup_inbox
from web.dashboard import routes as dashboard_routes
from web.desk import setup_desk
from web.errors import error_middleware
from web.inbox_api import routes as inbox_api_routes
from web.keys import BOOTSTRAP_MESSAGE, FEEDBACK_LIMITER, LOGIN_LIMITER, OPENAPI_JSON, SESSIONMAKER
from web.review_dates import setup_review_dates
from web.session_expiry import setup_session_expiry

log = logging.getLogger(__name__)
STATIC_DIR = Path(__file__).with_name("static")
MAX_BODY_BYTES = 1024 * 1024  # 1 MiB: larger bodies get 413


def bootstrap_admin(url: str | None) -> str:
    """Create the first admin from ADMIN_USERNAME / ADMIN_PASSWORD when no account exists.

    Returns a message for the log (and the login page) saying what happened.
    """
    with get_sessionmaker(url)() as session, session.begin():
        if staff.count_users(session):
            return ""
        username, password = os.environ.get("ADMIN_USERNAME", ""), os.environ.get("ADMIN_PASSWORD", "")
        if not username or not password:
            return "尚未创建任何账号：请设置环境变量 ADMIN_USERNAME 和 ADMIN_PASSWORD 后重新启动，以创建管理员。"
        try:
            staff.create_user(session, username=username, password=password, role="admin", actor="bootstrap")
        except staff.StaffError as exc:
            return f"未能创建管理员账号“{username}”：{exc.message}"
        return f"已创建管理员账号“{username}”。"


def init_app(url: str | None = None) -> web.Application:
    install_log_masking()  # no log line of this process keeps an ID or phone number (docs/SECURITY.md)
    app = web.Application(middlewares=[error_middleware], client_max_size=MAX_BODY_BYTES)
    app[FEEDBACK_LIMITER] = RateLimiter(name="feedback", limit=30, per_seconds=60)
    app[LOGIN_LIMITER] = RateLimiter(name="login", limit=20, per_seconds=60)
    app[OPENAPI_JSON] = api.load_openapi()  # once, before serving: never parsed per request

    async def database(app: web.Application) -> AsyncIterator[None]:
        upgrade_to_head(url)
        app[SESSIONMAKER] = get_sessionmaker(url)
        message = bootstrap_admin(url)
        app[BOOTSTRAP_MESSAGE] = message
        if message:
            log.warning(message)
        yield
        for limiter in (app[FEEDBACK_LIMITER], app[LOGIN_LIMITER]):
            await limiter.close()
        get_engine(url).dispose()

    app.cleanup_ctx.append(database)
    app.add_routes(inbox_api_routes)  # grouped inbox, test box, impact (issue 14); before api's /inbox/{id}/…
    app.add_routes(api.routes)
    setup_admin(app)
    setup_inbox(app)  # the inbox page, the test box, impact on the edit page; the engines they use
    widget.setup_widget(app)  # resident chat widget: demo page at /, CORS for feedback
    app.add_routes(transfer_api.routes)
    app.add_routes(review_api.routes)  # proposals and review, own account (issue 13)
    app.add_routes(admin_review.routes)
    app.add_routes(vocabulary_api.routes)  # everyday words -> the plan's terms
    app.add_routes(admin_vocabulary.routes)
    setup_desk(app)  # hand-off desk, widget polling, public clause pages (issue 15)
    app.add_routes(dashboard_routes)  # /admin/dashboard and GET /api/v1/stats (issue 14)
    setup_review_dates(app)  # review dates: set, renew (issue 14)
    setup_session_expiry(app)  # a form sent after the session ended keeps what was typed (issue 14)
    if STATIC_DIR.exists():
        app.router.add_static("/static/", STATIC_DIR)
    return app
