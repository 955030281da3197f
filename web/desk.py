"""The hand-off desk on the staff service (issue 15), and the residents' public onward paths.

- JSON API (documented in openapi.yml): ``POST /api/v1/duty``, ``GET /api/v1/handoffs?status=…``,
  ``POST /api/v1/handoffs/{id}/claim|reply|close``;
- ``/admin/desk``: the waiting queue (oldest first, with the wait), claim, the conversation so far,
  reply, close, and a search of the knowledge base whose results staff insert into the reply (the
  answer with its source line); server-rendered, works without JavaScript, and a refused reply
  comes back in the reply box (staff never lose what they typed);
- WeChat residents are sent what staff say (``web/handoff_push.py``) once a change is committed;
- ``GET /webchat/{sender}/messages?after=…``: public, rate-limited per address; the widget polls it
  while a hand-off is open. The sender id (a random id only that browser knows) is the capability;
- ``GET /clauses/{ref}``: a public, printable page with a clause's full text and its document's
  title, the target of the widget's short source ("行动计划 第9条").

All state and rules are in ``knowledge.handoff``; this module only translates HTTP. The search is
the bot's own (``knowledge.answering.AnswerEngine``: the same ranking residents get), one engine per
process, built on the first search.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import aiohttp_jinja2
from aiohttp import web
from sqlalchemy import select

from knowledge import handoff
from knowledge.errors import StaffError
from knowledge.models import Clause, Document, FaqEntry, utcnow
from knowledge.privacy import pseudonymous_sender
from knowledge.ratelimit import RateLimiter, limit_from_env
from knowledge.staff import as_utc
from web import handoff_push, params
from web.admin import path_id, redirect, render, text_field
from web.api import body, client_address
from web.auth import api_user, check_csrf, db, logged_in
from web.errors import http_status, json_error
from web.keys import SESSIONMAKER

routes = web.RouteTableDef()
POLL_LIMITER = web.AppKey("webchat_poll_limiter", RateLimiter)
SEARCH_ENGINE = web.AppKey("desk_search_engine", list)  # [knowledge.answering.AnswerEngine], made on first use
MAX_QUERY = 100
MAX_RESULTS = 6
WEBCHAT_PREFIX = "/webchat/"
PUBLIC_CSP = "default-src 'none'; style-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
NOTICES = {
    "duty_on": "您已上岗：居民请求人工服务时会进入下面的等待队列。",
    "duty_off": "您已下岗。没有工作人员在岗时，居民会立即得到12345热线。",
    "claimed": "已接入：请在下方回复居民。",
    "replied": "已发送：居民会在几秒内看到您的回复。",
    "closed": "已结束对话：居民已收到通知，智能助手继续为其解答。",
    "not_delivered": "已保存，但没有送达居民的微信：原因见对话记录中的“送达提示”。",
}
AUTHOR_NAMES = {
    "resident": "居民",
    "staff": "工作人员",
    "system": "系统",
    "bot": "智能助手",
    "note": "送达提示（仅工作人员可见）",
}
# what each desk action says to the resident: the author of the line it adds
TOLD_BY = {"claim": "system", "reply": "staff", "close": "system"}


def handoff_id(request: web.Request) -> int:
    return params.path_id(request, message="找不到该人工服务对话：编号必须是正整数。")


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


def act(session: Any, user: Any, action: str, number: int, text: Any = None) -> handoff.View:
    if action == "claim":
        return handoff.claim(session, handoff_id=number, user=user)
    if action == "reply":
        return handoff.reply(session, handoff_id=number, user=user, text=text)
    return handoff.close(session, handoff_id=number, user=user)


async def tell_resident(request: web.Request, view: handoff.View, action: str) -> str | None:
    """After a committed claim, reply or close: send a WeChat resident what it said to them."""
    h = view.handoff
    said = [m for m in view.transcript if m.author == TOLD_BY[action]]
    text = handoff.pushed_text(said[-1]) if said else None
    return await handoff_push.deliver(request.app, handoff_id=h.id, channel=h.channel, sender=h.sender, text=text)


async def api_action(request: web.Request, action: str) -> web.Response:
    data = await body(request) if action == "reply" else {}
    number = handoff_id(request)
    with db(request) as session:
        user = api_user(request, session)
        view = act(session, user, action, number, data.get("text"))
        result = view.as_dict()
    if await tell_resident(request, view, action):  # not delivered: the answer shows the note
        with db(request) as session:
            result = handoff.get_handoff(session, handoff_id=number, user=api_user(request, session)).as_dict()
    return web.json_response(result)


@routes.post("/api/v1/handoffs/{id}/claim")
async def claim(request: web.Request) -> web.Response:
    return await api_action(request, "claim")


@routes.post("/api/v1/handoffs/{id}/reply")
async def reply(request: web.Request) -> web.Response:
    return await api_action(request, "reply")


@routes.post("/api/v1/handoffs/{id}/close")
async def close(request: web.Request) -> web.Response:
    return await api_action(request, "close")


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
    # The conversation id the REST channel gave this sender (bot/channels/rest.py): a widget id whose
    # random hex happens to read as a phone number (~1 in 600) is stored as anon-<keyed hash>.
    sender = pseudonymous_sender(sender)
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


def desk_context(
    request: web.Request,
    session: Any,
    user: Any,
    chosen: int | None,
    *,
    draft: str = "",
    query: str = "",
    results: list[dict[str, Any]] | None = None,
    problem: str | None = None,
) -> dict[str, Any]:
    now = utcnow()
    queues = {s: [v.as_dict(now) for v in handoff.list_handoffs(session, user=user, status=s)] for s in handoff.OPEN}
    for items in queues.values():
        for item in items:
            item["waited"] = waited(item["waiting_since"], now)
    current = handoff.get_handoff(session, handoff_id=chosen, user=user).as_dict(now) if chosen else None
    window_closed = bool(current and current["reply_until"] and current["reply_until"] < as_utc(now).isoformat())
    return {
        "nav": "desk",
        "waiting": queues["waiting"],
        "active": queues["active"],
        "current": current,
        "window_closed": window_closed,
        "on_duty": handoff.is_on_duty(session, user),
        "staff_on_duty": handoff.staff_on_duty(session),
        "timeout_minutes": f"{handoff.claim_timeout().total_seconds() / 60:g}",
        "notice": NOTICES.get(request.query.get("msg", "")),
        "author_names": AUTHOR_NAMES,
        "now": as_utc(now).isoformat(),
        "draft": draft,
        "query": query,
        "results": results,
        "problem": problem,
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
    draft = text_field(form, "text")
    try:
        with db(request) as session:
            user, csrf = logged_in(request, session)
            check_csrf(form, csrf)
            view = act(session, user, action, number, draft)
    except StaffError as exc:
        if action != "reply":
            raise
        # the page again, with what they typed in the reply box and why it was not sent
        with db(request) as session:
            who = logged_in(request, session)
            context = desk_context(request, session, who[0], number, draft=draft, problem=exc.message)
            return render(request, "desk.html", context, who=who, status=http_status(exc))
    problem = await tell_resident(request, view, action)
    notice = "not_delivered" if problem else {"claim": "claimed", "reply": "replied", "close": "closed"}[action]
    raise redirect("/admin/desk" if action == "close" and not problem else f"/admin/desk/{number}", notice)


# -- searching the knowledge base from the desk --------------------------------------------------
def search_engine(app: web.Application) -> Any:
    engines = app[SEARCH_ENGINE]
    if not engines:
        from knowledge.answering import AnswerEngine  # jieba and the index: only once someone searches

        engines.append(AnswerEngine(app[SESSIONMAKER]))
    return engines[0]


def search_knowledge(app: web.Application, session: Any, query: str) -> list[dict[str, Any]]:
    """What the bot would cite for ``query``: entries and clause sentences, each with its source line."""
    engine = search_engine(app)
    found = []
    for hit in engine.hits(text=query, limit=MAX_RESULTS * 2):
        answer = engine.answer_hit(hit)
        if answer is None or not answer.found:
            continue
        entry = session.get(FaqEntry, answer.faq_id) if answer.faq_id else None
        title = entry.question if entry is not None else f"原文：{answer.clause_ref}"
        found.append({"ref": hit.ref, "title": title, "text": answer.text, "source": answer.source_line})
        if len(found) == MAX_RESULTS:
            break
    return found


def with_inserted(draft: str, item: dict[str, Any]) -> str:
    inserted = f"{item['text']}\n{item['source']}"
    return f"{draft.rstrip()}\n\n{inserted}" if draft.strip() else inserted


@routes.post(r"/admin/desk/{id:\d+}/search")
async def desk_search(request: web.Request) -> web.Response:
    """Search, or insert a result into the reply box; the page comes back with the typed reply kept."""
    form = await request.post()
    number = path_id(request)
    draft, query, insert = text_field(form, "text"), text_field(form, "q").strip(), text_field(form, "insert")
    problem, results = None, None
    with db(request) as session:
        who = logged_in(request, session)
        check_csrf(form, who[1])
        handoff.require_desk(session, who[0])
        if not query:
            problem = "请输入要在知识库中查找的内容，例如“加装电梯 补贴”。"
        elif len(query) > MAX_QUERY:
            problem = f"查找内容太长：最多{MAX_QUERY}个字。"
        else:
            results = search_knowledge(request.app, session, query)
            chosen = [r for r in results if r["ref"] == insert]
            if insert and not chosen:
                problem = "要插入的条目已不在查找结果中（可能刚被下线），请重新查找。"
            elif chosen:
                draft = with_inserted(draft, chosen[0])
                if len(draft) > handoff.MAX_TEXT:
                    problem = f"插入后回复超过{handoff.MAX_TEXT}字，请删减后再发送。"
        context = desk_context(
            request, session, who[0], number, draft=draft, query=query, results=results, problem=problem
        )
        return render(request, "desk.html", context, who=who, status=422 if problem and not results else 200)


def setup_desk(app: web.Application) -> None:
    """Register the desk, the polling endpoint (with its rate limiter) and the clause page."""
    count, seconds = limit_from_env("WEBCHAT_POLL_LIMIT", "240/60")  # one widget polls 40 times a minute
    app[POLL_LIMITER] = RateLimiter(name="webchat_poll", limit=count, per_seconds=seconds)
    app[SEARCH_ENGINE] = []

    async def close_limiter(app: web.Application) -> None:
        await app[POLL_LIMITER].close()

    app.on_cleanup.append(close_limiter)
    app.cleanup_ctx.append(handoff_push.pushing)  # WeChat residents: staff replies, and the timeout sweeper
    app.on_response_prepare.append(webchat_cors)
    app.add_routes(routes)
