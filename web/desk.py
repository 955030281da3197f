"""The hand-off desk on the staff service (issue 15), and the residents' public onward paths.

- JSON API (documented in openapi.yml): ``POST /api/v1/duty``, ``GET /api/v1/handoffs?status=…``,
  ``POST /api/v1/handoffs/{id}/claim|reply|close``;
- ``/admin/desk``: the waiting queue (oldest first, with the wait), claim, the conversation so far,
  reply, close; server-rendered, works without JavaScript;
- ``GET /webchat/{sender}/messages?after=…``: public, rate-limited per address; the widget polls it
  while a hand-off is open. The sender id (a random id only that browser knows) is the capability;
- ``GET /clauses/{ref}``: a public, printable page with a clause's full text and its document's
  title, the target of the widget's short source ("行动计划 第9条").

All state and rules are in ``knowledge.handoff``; this module only translates HTTP.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import aiohttp_jinja2
from aiohttp import web
from sqlalchemy import select

from knowledge import handoff
from knowledge.errors import NotFound
from knowledge.models import Clause, Document, utcnow
from knowledge.ratelimit import RateLimiter, limit_from_env
from knowledge.staff import as_utc
from web.admin import check_csrf, logged_in, path_id, redirect, render, text_field
from web.api import body, client_address, path_number
from web.auth import api_user, db
from web.errors import json_error

routes = web.RouteTableDef()
POLL_LIMITER = web.AppKey("webchat_poll_limiter", RateLimiter)
WEBCHAT_PREFIX = "/webchat/"
PUBLIC_CSP = "default-src 'none'; style-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
NOTICES = {
    "duty_on": "您已上岗：居民请求人工服务时会进入下面的等待队列。",
    "duty_off": "您已下岗。没有工作人员在岗时，居民会立即得到12345热线。",
    "claimed": "已接入：请在下方回复居民。",
    "replied": "已发送：居民会在几秒内看到您的回复。",
    "closed": "已结束对话：居民已收到通知，智能助手继续为其解答。",
}


def handoff_id(request: web.Request) -> int:
    number = path_number(request)
    if number is None:
        raise NotFound("not_found", "找不到该人工服务对话：编号必须是正整数。")
    return number


# -- JSON API ----------------------------------------------------------------------------------
@routes.post("/api/v1/duty")
async def set_duty(request: web.Request) -> web.Response:
    data = await body(request)
    with db(request) as session:
        user = api_user(request, session)
        on = handoff.set_duty(session, user=user, on=data.get("on"))
        return web.json_response({"on": on, "username": user.username, "on_duty": handoff.staff_on_duty(session)})


@routes.get("/api/v1/handoffs")
async def list_handoffs(request: web.Request) -> web.Response:
    with db(request) as session:
        user = api_user(request, session)
        views = handoff.list_handoffs(session, user=user, status=request.query.get("status", "waiting"))
        now = utcnow()
        return web.json_response({"items": [v.as_dict(now) for v in views]})


@routes.post("/api/v1/handoffs/{id}/claim")
async def claim(request: web.Request) -> web.Response:
    with db(request) as session:
        user = api_user(request, session)
        return web.json_response(handoff.claim(session, handoff_id=handoff_id(request), user=user).as_dict())


@routes.post("/api/v1/handoffs/{id}/reply")
async def reply(request: web.Request) -> web.Response:
    data = await body(request)
    with db(request) as session:
        user = api_user(request, session)
        view = handoff.reply(session, handoff_id=handoff_id(request), user=user, text=data.get("text"))
        return web.json_response(view.as_dict())


@routes.post("/api/v1/handoffs/{id}/close")
async def close(request: web.Request) -> web.Response:
    with db(request) as session:
        user = api_user(request, session)
        return web.json_response(handoff.close(session, handoff_id=handoff_id(request), user=user).as_dict())


# -- the widget's polling endpoint -------------------------------------------------------------
@routes.get(WEBCHAT_PREFIX + "{sender}/messages")
async def webchat_messages(request: web.Request) -> web.Response:
    if not await request.app[POLL_LIMITER].allow(client_address(request)):
        return json_error(429, "too_many_requests", "请求太频繁，请稍后再试。")
    sender = request.match_info["sender"]
    raw = request.query.get("after", "")
    after = int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 18 else None
    if raw and after is None:
        return json_error(422, "invalid_cursor", "after 必须是非负整数。")
    if not sender or len(sender) > handoff.MAX_SENDER or "\x00" in sender:
        return json_error(404, "not_found", "找不到该对话。")
    with db(request) as session:
        return web.json_response(handoff.messages_for(session, sender=sender, after=after))


async def webchat_cors(request: web.Request, response: web.StreamResponse) -> None:
    """The widget runs on city pages of any origin: the polling endpoint is public, without cookies."""
    if request.path.startswith(WEBCHAT_PREFIX):
        response.headers["Access-Control-Allow-Origin"] = "*"
        response.headers["Cache-Control"] = "no-store"


# -- the public clause page --------------------------------------------------------------------
@routes.get("/clauses/{ref}")
async def clause_page(request: web.Request) -> web.Response:
    ref = request.match_info["ref"].strip()[:40]
    with db(request) as session:
        row = session.execute(
            select(Clause, Document.title).join(Document, Document.id == Clause.document_id).where(Clause.ref == ref)
        ).first()
    if row is None:
        response = aiohttp_jinja2.render_template("clause.html", request, {"clause": None, "ref": ref}, status=404)
    else:
        clause, title = row
        context = {"clause": clause, "ref": clause.ref, "document_title": title, "paragraphs": clause.text.split("\n")}
        response = aiohttp_jinja2.render_template("clause.html", request, context)
    response.headers["Content-Security-Policy"] = PUBLIC_CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


# -- /admin/desk -------------------------------------------------------------------------------
def waited(since: str, now: datetime) -> str:
    seconds = max(0, int((now - datetime.fromisoformat(since)).total_seconds()))
    if seconds < 60:
        return f"{seconds}秒"
    if seconds < 3600:
        return f"{seconds // 60}分{seconds % 60}秒"
    return f"{seconds // 3600}小时{seconds % 3600 // 60}分"


def desk_context(request: web.Request, session: Any, user: Any, chosen: int | None) -> dict[str, Any]:
    now = utcnow()
    queues = {s: [v.as_dict(now) for v in handoff.list_handoffs(session, user=user, status=s)] for s in handoff.OPEN}
    for items in queues.values():
        for item in items:
            item["waited"] = waited(item["waiting_since"], now)
    current = handoff.get_handoff(session, handoff_id=chosen, user=user).as_dict(now) if chosen else None
    return {
        "nav": "desk",
        "waiting": queues["waiting"],
        "active": queues["active"],
        "current": current,
        "on_duty": handoff.is_on_duty(session, user),
        "staff_on_duty": handoff.staff_on_duty(session),
        "timeout_minutes": f"{handoff.claim_timeout().total_seconds() / 60:g}",
        "notice": NOTICES.get(request.query.get("msg", "")),
        "author_names": {"resident": "居民", "staff": "工作人员", "system": "系统", "bot": "智能助手"},
        "now": as_utc(now).isoformat(),
    }


@routes.get("/admin/desk")
async def desk_page(request: web.Request) -> web.Response:
    with db(request) as session:
        who = logged_in(request, session)
        handoff.require_desk(session, who[0])
        return render(request, "desk.html", desk_context(request, session, who[0], None), who=who)


@routes.get(r"/admin/desk/{id:\d+}")
async def desk_conversation(request: web.Request) -> web.Response:
    with db(request) as session:
        who = logged_in(request, session)
        handoff.require_desk(session, who[0])
        return render(request, "desk.html", desk_context(request, session, who[0], path_id(request)), who=who)


@routes.post("/admin/desk/duty")
async def desk_duty(request: web.Request) -> web.Response:
    form = await request.post()
    with db(request) as session:
        user, csrf = logged_in(request, session)
        check_csrf(form, csrf)
        on = handoff.set_duty(session, user=user, on=text_field(form, "on") == "1")
    raise redirect("/admin/desk", "duty_on" if on else "duty_off")


@routes.post(r"/admin/desk/{id:\d+}/{action:(claim|reply|close)}")
async def desk_action(request: web.Request) -> web.Response:
    form = await request.post()
    number, action = path_id(request), request.match_info["action"]
    with db(request) as session:
        user, csrf = logged_in(request, session)
        check_csrf(form, csrf)
        if action == "claim":
            handoff.claim(session, handoff_id=number, user=user)
        elif action == "reply":
            handoff.reply(session, handoff_id=number, user=user, text=text_field(form, "text"))
        else:
            handoff.close(session, handoff_id=number, user=user)
    notice = {"claim": "claimed", "reply": "replied", "close": "closed"}[action]
    raise redirect("/admin/desk" if action == "close" else f"/admin/desk/{number}", notice)


def setup_desk(app: web.Application) -> None:
    """Register the desk, the polling endpoint (with its rate limiter) and the clause page."""
    count, seconds = limit_from_env("WEBCHAT_POLL_LIMIT", "240/60")  # one widget polls 40 times a minute
    app[POLL_LIMITER] = RateLimiter(name="webchat_poll", limit=count, per_seconds=seconds)

    async def close_limiter(app: web.Application) -> None:
        await app[POLL_LIMITER].close()

    app.on_cleanup.append(close_limiter)
    app.on_response_prepare.append(webchat_cors)
    app.add_routes(routes)
