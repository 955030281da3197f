"""The staff admin UI under /admin: server-rendered Chinese pages.

Every page works without JavaScript (web/static/admin.js only swaps the clause
text and updates the preview while typing). Everything read from the database
is rendered as text: Jinja autoescaping is on and no template uses ``|safe``.
All changes go through the same ``knowledge.*`` functions as the JSON API.

Sessions: an HttpOnly, SameSite=Strict cookie holding a ``kind="session"`` staff
token; every POST form carries that session's CSRF token (the login form a
double-submit token of its own, since there is no session yet).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import secrets
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp_jinja2
import jinja2
from aiohttp import web
from sqlalchemy import select
from sqlalchemy.orm import Session

from knowledge import inbox, queries, staff
from knowledge.answering import Answer, source_line
from knowledge.models import AuditEvent, StaffUser
from knowledge.staff import ROLE_NAMES, ROLES, TOPICS, FaqInput
from web import keys
from web.api import came_over_tls, client_address
from web.auth import SESSION_COOKIE, db, session_user
from web.errors import HTTP_MESSAGES
from web.keys import LOGIN_LIMITER, SESSIONMAKER

log = logging.getLogger(__name__)
routes = web.RouteTableDef()

TEMPLATES_DIR = Path(__file__).with_name("templates")
CSP = "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
CSRF_FIELD = "csrf_token"
LOGIN_CSRF_COOKIE = "hz_login_csrf"
PAGE_SIZE = 100
# init_app keeps the start-up message under this key (a typed AppKey once web.keys has one)
BOOTSTRAP_MESSAGE: Any = getattr(keys, "BOOTSTRAP_MESSAGE", "bootstrap_message")
CHINA_TIME = timezone(timedelta(hours=8))  # no daylight saving in China

STATUS_NAMES = {"draft": "草稿", "published": "已发布"}
REVISION_ACTIONS = {
    "create": "创建",
    "update": "修改",
    "publish": "发布",
    "unpublish": "撤回发布",
    "delete": "删除",
    "restore": "恢复",
}
# Confirmation shown after a redirect (?msg=…): a fixed key, never text from the URL.
NOTICES = {
    "created": "已创建条目。",
    "saved": "已保存。",
    "saved_published": "已保存并发布：居民在1秒内就会收到新的答复。",
    "published": "已发布：居民在1秒内就会收到这条答复。",
    "unpublished": "已撤回发布：居民不会再收到这条答复。",
    "deleted": "已删除（可以恢复）。",
    "restored": "已恢复。",
    "revision_restored": "已恢复为所选历史版本的内容（保存为新版本）。",
    "drafted": "已根据居民的问题创建草稿，请填写答复并选择依据条款。",
    "dismissed": "已忽略该问题。",
    "user_created": "已添加用户。",
    "user_disabled": "已停用该用户，其登录会话已失效。",
    "user_enabled": "已启用该用户。",
    "logged_out": "您已退出登录。",
}
CSRF_MESSAGE = "安全校验失败：表单已过期或来自其他网站，操作没有执行。请返回、刷新页面后再试。"


# -- helpers -----------------------------------------------------------------------


def china_time(moment: datetime | str | None) -> str:
    if moment is None or moment == "":
        return ""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(CHINA_TIME).strftime("%Y-%m-%d %H:%M")


def safe_next(value: str | None) -> str:
    """Where to go after logging in: only a path inside /admin of this site."""
    if value and value.startswith("/admin") and "//" not in value and "\\" not in value:
        return value
    return "/admin"


def redirect(location: str, notice: str | None = None) -> web.HTTPSeeOther:
    if notice:
        location += ("&" if "?" in location else "?") + urlencode({"msg": notice})
    return web.HTTPSeeOther(location)


def logged_in(request: web.Request, session: Session) -> tuple[StaffUser, str]:
    """The staff member and the session's CSRF token; not logged in → the login page."""
    found = session_user(request, session)
    if found is None:
        target = "/admin/login"
        if request.method == "GET" and request.path_qs != "/admin":
            target += "?" + urlencode({"next": request.path_qs})
        raise web.HTTPSeeOther(target)
    return found


def check_csrf(form: Mapping[str, Any], expected: str) -> None:
    sent = form.get(CSRF_FIELD)
    if not isinstance(sent, str) or not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise staff.Forbidden("csrf_failed", CSRF_MESSAGE)


def digits(value: Any, max_len: int = 19) -> int | None:
    """A whole number typed in ASCII digits ("²" is a digit to str.isdigit(), not to int()), else None."""
    value = value.strip() if isinstance(value, str) else ""
    return int(value) if value.isascii() and value.isdigit() and len(value) <= max_len else None


def form_int(form: Mapping[str, Any], name: str) -> int | None:
    return digits(form.get(name))


def text_field(form: Mapping[str, Any], name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def path_id(request: web.Request, name: str = "id") -> int:
    number = digits(request.match_info[name], max_len=10)  # routes only match digits, but of any length
    if not staff.is_id(number):
        raise staff.NotFound("not_found", "找不到该条目。")
    return number


def render(
    request: web.Request,
    template: str,
    context: dict[str, Any],
    *,
    who: tuple[StaffUser, str] | None,
    status: int = 200,
) -> web.Response:
    user, csrf = who if who else (None, "")
    level = ROLES.get(user.role, 0) if user else 0
    base = {
        "me": user.username if user else None,
        "my_role": ROLE_NAMES.get(user.role, user.role) if user else "",
        "can_edit": level >= ROLES["editor"],
        "can_review": level >= ROLES["reviewer"],
        "is_admin": level >= ROLES["admin"],
        "csrf": csrf,
        "csrf_field": CSRF_FIELD,
        "notice": NOTICES.get(request.query.get("msg", "")),
        "problem": None,
        "nav": "",
        "topics": TOPICS,
        "status_names": STATUS_NAMES,
    }
    return aiohttp_jinja2.render_template(template, request, {**base, **context}, status=status)


def clause_choices(session: Session) -> list[dict[str, str]]:
    return [
        {"ref": c.ref, "title": c.title, "text": c.text, "source_line": source_line(c)}
        for c in queries.all_clauses(session)
    ]


def bot_message(answer: str, clause: Mapping[str, str] | None) -> str:
    """Exactly what the bot sends for this answer and clause."""
    return Answer(text=answer.strip(), source_line=clause["source_line"] if clause else None).message()


def entry_view(entry: Mapping[str, Any]) -> dict[str, Any]:
    """An entry's fields as the edit form shows them."""
    return {
        "topic": entry["topic"],
        "question": entry["question"],
        "alternatives": "\n".join(entry["alternatives"]),
        "answer": entry["answer"],
        "source": entry["source"],
    }


def typed_fields(form: Mapping[str, Any]) -> dict[str, str]:
    """What the staff member typed, exactly as typed (nothing is lost when the form comes back)."""
    return {name: text_field(form, name) for name in ("topic", "question", "alternatives", "answer", "source")}


def field_errors(problem: staff.StaffError | None) -> dict[str, str]:
    if problem is None or not isinstance(problem.details, dict) or problem.status == 409:
        return {}
    return {
        name: (message if isinstance(message, str) and message != "unknown" else problem.message)
        for name, message in problem.details.items()
    }


def entry_page(
    request: web.Request,
    session: Session,
    who: tuple[StaffUser, str],
    *,
    entry_id: int | None,
    fields: dict[str, str] | None = None,
    problem: staff.StaffError | None = None,
    typed_preview: bool = False,
    typed_version: int | None = None,
    status: int = 200,
) -> web.Response:
    """The edit form of an entry (or of a new one), with clause picker and preview.

    ``fields`` are the texts to put in the form (what was typed, or the saved entry);
    on a version conflict the saved entry is shown beside them and the form now
    carries the current version, so saving again (after merging) is deliberate.
    Otherwise a form that comes back keeps the version it was based on.
    """
    clauses = clause_choices(session)
    by_ref = {c["ref"]: c for c in clauses}
    entry = staff.entry_dict(staff.get_entry(session, entry_id=entry_id)) if entry_id is not None else None
    saved = entry_view(entry) if entry else None
    fields = fields or saved or {"topic": "", "question": "", "alternatives": "", "answer": "", "source": "主要目标"}
    selected = by_ref.get(fields["source"].strip())
    if typed_preview or saved is None:
        preview, preview_of = bot_message(fields["answer"], selected), "typed"
    else:
        preview, preview_of = bot_message(saved["answer"], by_ref.get(saved["source"])), "saved"
    conflict = problem is not None and problem.status == 409
    version: int | str = entry["version"] if entry else ""
    if entry and typed_preview and not conflict and typed_version is not None:
        version = typed_version
    context = {
        "entry": entry,
        "fields": fields,
        "version": version,
        "clauses": clauses,
        "selected_clause": selected,
        "preview": preview,
        "preview_of": preview_of,
        "problem": problem.message if problem else None,
        "errors": field_errors(problem),
        "conflict": conflict,
        "current": saved if conflict else None,
        "current_preview": bot_message(saved["answer"], by_ref.get(saved["source"])) if conflict and saved else "",
        "nav": "faqs",
    }
    return render(request, "entry.html", context, who=who, status=status)


# -- login and logout -----------------------------------------------------------------


def login_page(
    request: web.Request, *, username: str = "", problem: str | None = None, status: int = 200
) -> web.Response:
    with db(request) as session:
        no_accounts = staff.count_users(session) == 0
    token = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(24)
    context = {
        "username": username,
        "problem": problem,
        "login_csrf": token,
        "next": safe_next(request.query.get("next")),
        "bootstrap": (request.app.get(BOOTSTRAP_MESSAGE) or "尚未创建任何账号。") if no_accounts else None,
    }
    response = render(request, "login.html", context, who=None, status=status)
    response.set_cookie(
        LOGIN_CSRF_COOKIE, token, httponly=True, samesite="Strict", path="/admin", secure=came_over_tls(request)
    )
    return response


@routes.get("/admin/login")
async def login_form(request: web.Request) -> web.Response:
    with db(request) as session:
        if session_user(request, session) is not None:
            raise web.HTTPSeeOther(safe_next(request.query.get("next")))
    return login_page(request)


@routes.post("/admin/login")
async def login(request: web.Request) -> web.Response:
    form = await request.post()
    username, password = text_field(form, "username"), text_field(form, "password")
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    sent = text_field(form, CSRF_FIELD)
    if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        problem = "安全校验失败：登录页面已过期，或浏览器禁用了 Cookie。请重新登录。"
        return login_page(request, username=username, problem=problem, status=403)
    if not username.strip() or not password:
        return login_page(request, username=username, problem="请输入用户名和密码。", status=422)
    if not await request.app[LOGIN_LIMITER].allow(client_address(request)):
        return login_page(request, username=username, problem="登录尝试太频繁，请稍后再试。", status=429)

    try:
        token, _ = await asyncio.to_thread(
            staff.log_in,
            request.app[SESSIONMAKER],
            username=username,
            password=password,
            kind="session",
            address=client_address(request),
        )
    except staff.Unauthorized as exc:
        return login_page(request, username=username, problem=exc.message, status=401)
    response = web.HTTPSeeOther(safe_next(text_field(form, "next")))
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="Strict",
        path="/admin",
        secure=came_over_tls(request),  # also behind the TLS ingress (X-Forwarded-Proto, WEB_PROXIES_COUNT)
        max_age=int(staff.TOKEN_TTL["session"].total_seconds()),
    )
    response.del_cookie(LOGIN_CSRF_COOKIE, path="/admin")
    raise response


@routes.post("/admin/logout")
async def logout(request: web.Request) -> web.Response:
    form = await request.post()
    with db(request) as session:
        _, csrf = logged_in(request, session)
        check_csrf(form, csrf)
        staff.revoke_token(session, token=request.cookies[SESSION_COOKIE])
    response = redirect("/admin/login", "logged_out")
    response.del_cookie(SESSION_COOKIE, path="/admin")
    raise response


# -- the entry list ---------------------------------------------------------------------


@routes.get("/admin/")
async def admin_slash(_: web.Request) -> web.Response:
    raise web.HTTPMovedPermanently("/admin")


@routes.get("/admin")
async def entry_list(request: web.Request) -> web.Response:
    q = request.query
    topic = q.get("topic") if q.get("topic") in TOPICS else ""
    status = q.get("status") if q.get("status") in STATUS_NAMES else ""
    text = q.get("q", "").strip()
    deleted = q.get("deleted") == "1"
    page = min(digits(q.get("page"), max_len=6) or 1, 10**5)  # no list has 10**5 pages; a larger offset overflows
    with db(request) as session:
        who = logged_in(request, session)
        found = staff.list_entries(
            session,
            topic=topic or None,
            status=status or None,
            q=text or None,
            deleted=deleted,
            limit=PAGE_SIZE + 1,
            offset=(page - 1) * PAGE_SIZE,
        )
        entries = [staff.entry_dict(e) for e in found[:PAGE_SIZE]]
        filters = {"topic": topic, "status": status, "q": text, **({"deleted": "1"} if deleted else {})}

        def page_url(number: int) -> str:
            return "/admin?" + urlencode({**{k: v for k, v in filters.items() if v}, "page": number})

        context = {
            "entries": entries,
            "filters": filters,
            "deleted": deleted,
            "page": page,
            "prev_url": page_url(page - 1) if page > 1 else None,
            "next_url": page_url(page + 1) if len(found) > PAGE_SIZE else None,
            "nav": "deleted" if deleted else "faqs",
        }
        return render(request, "list.html", context, who=who)


# -- creating and editing an entry --------------------------------------------------------


@routes.get("/admin/faqs/new")
async def new_entry_form(request: web.Request) -> web.Response:
    with db(request) as session:
        who = logged_in(request, session)
        return entry_page(request, session, who, entry_id=None)


@routes.post("/admin/faqs/new")
async def create_entry(request: web.Request) -> web.Response:
    form = await request.post()
    fields, action = typed_fields(form), text_field(form, "action")
    with db(request) as session:
        who = logged_in(request, session)
        check_csrf(form, who[1])
    problem: staff.StaffError | None = None
    if action != "preview":
        try:
            with db(request) as session:
                user, _ = logged_in(request, session)
                entry = staff.create_entry(
                    session, data=FaqInput.from_mapping(fields), user=user, publish=action == "save_publish"
                )
                session.flush()
                new_id = entry.id
        except staff.StaffError as exc:
            problem = exc
        else:
            raise redirect(f"/admin/faqs/{new_id}", "saved_published" if action == "save_publish" else "created")
    with db(request) as session:
        who = logged_in(request, session)
        return entry_page(
            request,
            session,
            who,
            entry_id=None,
            fields=fields,
            problem=problem,
            typed_preview=True,
            status=problem.status if problem else 200,
        )


@routes.get(r"/admin/faqs/{id:\d+}")
async def entry_form(request: web.Request) -> web.Response:
    with db(request) as session:
        who = logged_in(request, session)
        return entry_page(request, session, who, entry_id=path_id(request))


@routes.post(r"/admin/faqs/{id:\d+}")
async def save_entry(request: web.Request) -> web.Response:
    form = await request.post()
    entry_id, fields, action = path_id(request), typed_fields(form), text_field(form, "action")
    with db(request) as session:
        who = logged_in(request, session)
        check_csrf(form, who[1])
        staff.get_entry(session, entry_id=entry_id)  # 404 before anything else
    problem: staff.StaffError | None = None
    if action != "preview":
        try:
            with db(request) as session:
                user, _ = logged_in(request, session)
                entry = staff.update_entry(
                    session,
                    entry_id=entry_id,
                    data=FaqInput.from_mapping(fields),
                    expected_version=form_int(form, "version"),
                    user=user,
                )
                if action == "save_publish" and entry.status != "published":
                    staff.set_status(
                        session, entry_id=entry_id, status="published", expected_version=entry.version, user=user
                    )
        except staff.NotFound:
            raise
        except staff.StaffError as exc:
            problem = exc
        else:
            raise redirect(f"/admin/faqs/{entry_id}", "saved_published" if action == "save_publish" else "saved")
    with db(request) as session:
        who = logged_in(request, session)
        return entry_page(
            request,
            session,
            who,
            entry_id=entry_id,
            fields=fields,
            problem=problem,
            typed_preview=True,
            typed_version=form_int(form, "version"),
            status=problem.status if problem else 200,
        )


@routes.post(r"/admin/faqs/{id:\d+}/{action:publish|unpublish|delete|restore}")
async def change_entry(request: web.Request) -> web.Response:
    form = await request.post()
    entry_id, action = path_id(request), request.match_info["action"]
    with db(request) as session:
        who = logged_in(request, session)
        check_csrf(form, who[1])
    version = form_int(form, "version")
    try:
        with db(request) as session:
            user, _ = logged_in(request, session)
            if action in ("publish", "unpublish"):
                status = "published" if action == "publish" else "draft"
                staff.set_status(session, entry_id=entry_id, status=status, expected_version=version, user=user)
            else:
                staff.delete_entry(
                    session, entry_id=entry_id, expected_version=version, user=user, restore=action == "restore"
                )
    except staff.NotFound:
        raise
    except staff.StaffError as exc:
        with db(request) as session:
            who = logged_in(request, session)
            return entry_page(request, session, who, entry_id=entry_id, problem=exc, status=exc.status)
    notice = {"publish": "published", "unpublish": "unpublished", "delete": "deleted", "restore": "restored"}[action]
    raise redirect(f"/admin/faqs/{entry_id}", notice)


# -- history -----------------------------------------------------------------------------


def history_page(
    request: web.Request,
    session: Session,
    who: tuple[StaffUser, str],
    *,
    entry_id: int,
    problem: str | None = None,
    status: int = 200,
) -> web.Response:
    entry = staff.entry_dict(staff.get_entry(session, entry_id=entry_id))
    revisions = staff.revisions(session, entry_id=entry_id)
    items = []
    for i, rev in enumerate(revisions):
        older = revisions[i + 1].snapshot if i + 1 < len(revisions) else None
        diff = [line for line in staff.revision_diff(older, rev.snapshot) if not line.startswith("@@")]
        items.append(
            {
                "id": rev.id,
                "version": rev.version,
                "action": REVISION_ACTIONS.get(rev.action, rev.action),
                "actor": rev.actor,
                "at": china_time(rev.created_at),
                "diff": [{"kind": "add" if line.startswith("+") else "del", "text": line} for line in diff],
                "latest": i == 0,
            }
        )
    context = {"entry": entry, "revisions": items, "problem": problem, "nav": "faqs"}
    return render(request, "history.html", context, who=who, status=status)


@routes.get(r"/admin/faqs/{id:\d+}/history")
async def history(request: web.Request) -> web.Response:
    with db(request) as session:
        who = logged_in(request, session)
        return history_page(request, session, who, entry_id=path_id(request))


@routes.post(r"/admin/faqs/{id:\d+}/history/{rev:\d+}/restore")
async def restore_revision(request: web.Request) -> web.Response:
    form = await request.post()
    entry_id = path_id(request)
    with db(request) as session:
        who = logged_in(request, session)
        check_csrf(form, who[1])
    try:
        with db(request) as session:
            user, _ = logged_in(request, session)
            staff.restore_revision(
                session,
                entry_id=entry_id,
                revision_id=path_id(request, "rev"),
                expected_version=form_int(form, "version"),
                user=user,
            )
    except staff.NotFound:
        raise
    except staff.StaffError as exc:
        with db(request) as session:
            who = logged_in(request, session)
            return history_page(request, session, who, entry_id=entry_id, problem=exc.message, status=exc.status)
    raise redirect(f"/admin/faqs/{entry_id}", "revision_restored")


# -- unanswered questions and feedback -----------------------------------------------------


@routes.get("/admin/inbox")
async def inbox_page(request: web.Request) -> web.Response:
    with db(request) as session:
        who = logged_in(request, session)
        rows = [
            {"id": r.id, "text": r.text, "topic": r.topic, "count": r.count, "last_seen": china_time(r.last_seen)}
            for r in inbox.open_questions(session)
        ]
        return render(request, "inbox.html", {"questions": rows, "nav": "inbox"}, who=who)


@routes.post(r"/admin/inbox/{id:\d+}/{action:draft|dismiss}")
async def inbox_action(request: web.Request) -> web.Response:
    form = await request.post()
    with db(request) as session:
        user, csrf = logged_in(request, session)
        check_csrf(form, csrf)
        if request.match_info["action"] == "dismiss":
            inbox.dismiss(session, question_id=path_id(request), user=user)
            location, notice = "/admin/inbox", "dismissed"
        else:
            faq_id = inbox.make_draft(session, question_id=path_id(request), user=user)
            location, notice = f"/admin/faqs/{faq_id}", "drafted"
    raise redirect(location, notice)


@routes.get("/admin/feedback")
async def feedback_page(request: web.Request) -> web.Response:
    with db(request) as session:
        who = logged_in(request, session)
        rows = [
            {**row, "down_share": round(100 * row["down"] / max(1, row["up"] + row["down"]))}
            for row in staff.feedback_summary(session)
        ]
        return render(request, "feedback.html", {"rows": rows, "nav": "feedback"}, who=who)


# -- admin only: audit log and users --------------------------------------------------------


@routes.get("/admin/audit")
async def audit_page(request: web.Request) -> web.Response:
    with db(request) as session:
        who = logged_in(request, session)
        staff.require_role(who[0], "admin")
        events = [
            {"at": china_time(e.at), "actor": e.actor, "action": e.action, "target": e.target, "detail": e.detail}
            for e in session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(300))
        ]
        return render(request, "audit.html", {"events": events, "nav": "audit"}, who=who)


def users_page(
    request: web.Request,
    session: Session,
    who: tuple[StaffUser, str],
    *,
    new_user: dict[str, str] | None = None,
    problem: str | None = None,
    status: int = 200,
) -> web.Response:
    staff.require_role(who[0], "admin")
    now = datetime.now(timezone.utc)
    users = [
        {
            "username": u.username,
            "role": ROLE_NAMES.get(u.role, u.role),
            "disabled": u.disabled,
            "locked": u.locked_until is not None and staff.as_utc(u.locked_until) > now,
            "created_at": china_time(u.created_at),
            "is_me": u.id == who[0].id,
        }
        for u in session.scalars(select(StaffUser).order_by(StaffUser.username))
    ]
    context = {
        "users": users,
        "roles": ROLE_NAMES,
        "new_user": new_user or {"username": "", "role": "editor"},
        "problem": problem,
        "nav": "users",
    }
    return render(request, "users.html", context, who=who, status=status)


@routes.get("/admin/users")
async def users_list(request: web.Request) -> web.Response:
    with db(request) as session:
        return users_page(request, session, logged_in(request, session))


@routes.post("/admin/users")
async def add_user(request: web.Request) -> web.Response:
    form = await request.post()
    new_user = {"username": text_field(form, "username"), "role": text_field(form, "role")}
    with db(request) as session:
        who = logged_in(request, session)
        check_csrf(form, who[1])
        staff.require_role(who[0], "admin")
    try:
        with db(request) as session:
            admin, _ = logged_in(request, session)
            staff.create_user(
                session,
                username=new_user["username"],
                password=text_field(form, "password"),
                role=new_user["role"],
                actor=admin.username,
            )
    except staff.StaffError as exc:
        with db(request) as session:
            who = logged_in(request, session)
            return users_page(request, session, who, new_user=new_user, problem=exc.message, status=exc.status)
    raise redirect("/admin/users", "user_created")


@routes.post("/admin/users/status")
async def user_status(request: web.Request) -> web.Response:
    form = await request.post()
    username, disabled = text_field(form, "username"), text_field(form, "disabled") == "1"
    try:
        with db(request) as session:
            admin, csrf = logged_in(request, session)
            check_csrf(form, csrf)
            staff.require_role(admin, "admin")
            if disabled and username == admin.username:
                raise staff.Invalid("self_disable", "不能停用自己的账号。")
            staff.set_user_disabled(session, username=username, disabled=disabled, actor=admin.username)
    except staff.Invalid as exc:
        with db(request) as session:
            return users_page(request, session, logged_in(request, session), problem=exc.message, status=exc.status)
    raise redirect("/admin/users", "user_disabled" if disabled else "user_enabled")


# -- errors and headers -------------------------------------------------------------------------


def error_page(request: web.Request, status: int, message: str) -> web.Response:
    return render(request, "error.html", {"status": status, "message": message}, who=None, status=status)


@web.middleware
async def admin_errors(request: web.Request, handler: Any) -> web.StreamResponse:
    """On /admin, errors become a Chinese page with the right status (the API keeps its JSON)."""
    if not request.path.startswith("/admin"):
        return await handler(request)
    try:
        return await handler(request)
    except staff.StaffError as exc:
        return error_page(request, exc.status, exc.message)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        message = HTTP_MESSAGES.get(exc.status, ("error", "请求无法处理。"))[1]
        return error_page(request, exc.status, message)
    except Exception:
        log.exception("unexpected error on %s %s", request.method, request.path)
        return error_page(request, 500, "服务器内部错误，请稍后再试。您的数据没有被修改。")


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    if request.path.startswith("/admin"):
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers["Cache-Control"] = "no-store"


def setup_admin(app: web.Application) -> None:
    """Register the templates (autoescaped), the /admin routes, their error pages and headers."""
    env = aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["china_time"] = china_time
    app.middlewares.append(admin_errors)
    app.on_response_prepare.append(security_headers)
    app.add_routes(routes)


__all__ = ["setup_admin"]
