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
from sqlalchemy.orm import Session

from knowledge import accounts, feedback, grounding, history, impact, proposals, queries, staff
from knowledge.answering import Answer, source_line
from knowledge.errors import Conflict, Ungrounded
from knowledge.models import StaffUser
from knowledge.publishing import content_author
from knowledge.settings import four_eyes
from knowledge.staff import ROLE_NAMES, ROLES, TOPICS, FaqInput
from web import keys, params
from web.api import came_over_tls, client_address
from web.auth import CSRF_FIELD, SESSION_COOKIE, db, session_user
from web.errors import (
    DATABASE_DOWN,
    DATABASE_DOWN_MESSAGE,
    HTTP_MESSAGES,
    RETRY_AFTER_SECONDS,
    http_status,
    log_database_down,
)
from web.keys import LOGIN_LIMITER, SESSIONMAKER
from web.params import digits
from web.staff_request import staff_request
from web.trying import check_takeover

log = logging.getLogger(__name__)
routes = web.RouteTableDef()

TEMPLATES_DIR = Path(__file__).with_name("templates")
CSP = "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
LOGIN_CSRF_COOKIE = "hz_login_csrf"
PAGE_SIZE = 100
# init_app keeps the start-up message under this key (a typed AppKey once web.keys has one)
BOOTSTRAP_MESSAGE: Any = getattr(keys, "BOOTSTRAP_MESSAGE", "bootstrap_message")
CHINA_TIME = timezone(timedelta(hours=8))  # no daylight saving in China

STATUS_NAMES = staff.STATUS_NAMES
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
    "proposed": "已提交修改提议：审核员批准后居民才会收到新的答复，在此之前居民仍收到当前发布的答复。",
    "approved": "已批准并发布：居民在1秒内就会收到新的答复。",
    "rejected": "已驳回：提议人会看到您填写的理由。",
    "password_changed": "密码已修改。",
    "profile_saved": "已保存姓名和部门。",
    "role_changed": "已更改角色。",
    "user_saved": "已保存该用户的姓名和部门。",
    "drafted": "已根据居民的问题创建草稿，请填写答复并选择依据条款。",
    "dismissed": "已忽略该问题。",
    "dismissed_many": "已忽略所选的问题组。",
    "attached": "已归入条目：这些问法已成为该条目的其他问法，居民这样问就会得到它的答复（已发布的条目1秒内生效）。",
    "attach_proposed": "已提交修改提议：审核员批准后，这些问法才会加入该条目。",
    "user_created": "已添加用户。",
    "user_disabled": "已停用该用户，其登录会话已失效。",
    "user_enabled": "已启用该用户。",
    "logged_out": "您已退出登录。",
}


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


def form_int(form: Mapping[str, Any], name: str) -> int | None:
    return digits(form.get(name))


def text_field(form: Mapping[str, Any], name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def path_id(request: web.Request, name: str = "id") -> int:
    return params.path_id(request, name, message="找不到该条目。")


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
        "me_name": accounts.label(user.username, user.display_name or "", user.department or "") if user else "",
        "my_role": ROLE_NAMES.get(user.role, user.role) if user else "",
        "can_edit": level >= ROLES["editor"],
        "can_review": level >= ROLES["reviewer"],
        "is_admin": level >= ROLES["admin"],
        "four_eyes": four_eyes(),
        "open_proposals": open_proposals(request) if level >= ROLES["reviewer"] else 0,
        "csrf": csrf,
        "csrf_field": CSRF_FIELD,
        "notice": NOTICES.get(request.query.get("msg", "")),
        "problem": None,
        "nav": "",
        "topics": TOPICS,
        "status_names": STATUS_NAMES,
    }
    return aiohttp_jinja2.render_template(template, request, {**base, **context}, status=status)


async def staff_page(request: web.Request, page: Any, **kwargs: Any) -> web.Response:
    """``page(request, session, who, **kwargs)`` in a transaction of its own (e.g. a form shown again
    with the problem, after the failed change was rolled back)."""
    async with staff_request(request) as ctx:
        return page(request, ctx.session, ctx.who, **kwargs)


def open_proposals(request: web.Request) -> int:
    """How many proposals wait for a reviewer (the count beside 修改提议 in the navigation)."""
    with db(request) as session:
        return proposals.open_count(session)


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
    if problem is None or not isinstance(problem.details, dict) or isinstance(problem, Conflict):
        return {}
    return {
        name: (message if isinstance(message, str) and message != "unknown" else problem.message)
        for name, message in problem.details.items()
    }


def grounding_view(
    fields: Mapping[str, str], clause: Mapping[str, str] | None, problem: staff.StaffError | None
) -> dict[str, Any] | None:
    """The grounding check of what the form shows, as the preview panel shows it (None: nothing to say).

    A refusal from a save is shown as it came; otherwise the shown content is checked with the
    same rule (knowledge.grounding), so the page says before saving what a save would refuse.
    """
    if isinstance(problem, Ungrounded):
        return {"message": problem.message, "figures": problem.fields.get("figures", []), "refused": True}
    if clause is None:
        return None
    found = grounding.check(
        question=fields["question"], answer=fields["answer"], clause_ref=clause["ref"], clause_text=clause["text"]
    )
    return {"message": found.message, "figures": list(found.figures), "refused": False} if found else None


def entry_proposals(session: Session, entry_id: int, user: StaffUser) -> list[dict[str, Any]]:
    """The entry's open proposals, and the ones this user made that were decided (with the reason)."""
    names = accounts.display_names(session)
    shown = []
    for proposal in proposals.list_proposals(session, faq_id=entry_id, limit=50):
        if proposal.status == "open" or (proposal.proposed_by == user.username and proposal.status != "superseded"):
            view = proposals.proposal_dict(session, proposal, names=names)
            view["created_at"] = china_time(view["created_at"])
            shown.append(view)
    return shown[:10]


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

    The page also says what a save does for this person (save, or propose a change to a live
    answer), whether they may publish it (four-eyes), and checks the figures against the clause.
    """
    user = who[0]
    clauses = clause_choices(session)
    by_ref = {c["ref"]: c for c in clauses}
    found = staff.get_entry(session, entry_id=entry_id) if entry_id is not None else None
    entry = staff.entry_dict(found) if found is not None else None
    if entry:
        entry["updated_by_name"] = accounts.display_names(session).get(entry["updated_by"], entry["updated_by"])
    saved = entry_view(entry) if entry else None
    fields = fields or saved or {"topic": "", "question": "", "alternatives": "", "answer": "", "source": "主要目标"}
    selected = by_ref.get(fields["source"].strip())
    if typed_preview or saved is None:
        preview, preview_of = bot_message(fields["answer"], selected), "typed"
    else:
        preview, preview_of = bot_message(saved["answer"], by_ref.get(saved["source"])), "saved"
    conflict = isinstance(problem, Conflict)
    version: int | str = entry["version"] if entry else ""
    if entry and typed_preview and not conflict and typed_version is not None:
        version = typed_version
    can_review = ROLES.get(user.role, 0) >= ROLES["reviewer"]
    own_content = found is not None and four_eyes() and content_author(session, found) == user.username
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
        "grounding": grounding_view(fields, selected, problem),
        "proposes": found is not None and proposals.needs_proposal(found, user),
        "may_publish_new": can_review and not four_eyes(),
        "may_publish": can_review and not own_content,
        "own_content": own_content,
        "proposals": entry_proposals(session, found.id, user) if found is not None else [],
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


class LoginRefused(Exception):
    """Why a login form was refused, in Chinese, with its HTTP status."""

    def __init__(self, problem: str, status: int) -> None:
        super().__init__(problem)
        self.problem, self.status = problem, status


async def log_in_from_form(request: web.Request, form: Any, *, stale_page: str) -> str:
    """What every login form passes (the login page, and the expired-session page that keeps a
    form's typed text): the login CSRF cookie, both fields, the rate limit, the password. Returns a
    new session token; raises LoginRefused (``stale_page`` is the problem when the cookie is wrong)."""
    username, password = text_field(form, "username"), text_field(form, "password")
    expected, sent = request.cookies.get(LOGIN_CSRF_COOKIE, ""), text_field(form, CSRF_FIELD)
    if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise LoginRefused(stale_page, 403)
    if not username.strip() or not password:
        raise LoginRefused("请输入用户名和密码。", 422)
    if not await request.app[LOGIN_LIMITER].allow(client_address(request)):
        raise LoginRefused("登录尝试太频繁，请稍后再试。", 429)
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
        raise LoginRefused(exc.message, 401) from None
    return token


def start_session(request: web.Request, response: web.StreamResponse, token: str) -> None:
    """The session cookie for a new login, and the login page's CSRF cookie gone."""
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


@routes.post("/admin/login")
async def login(request: web.Request) -> web.Response:
    form = await request.post()
    try:
        token = await log_in_from_form(
            request, form, stale_page="安全校验失败：登录页面已过期，或浏览器禁用了 Cookie。请重新登录。"
        )
    except LoginRefused as refused:
        return login_page(
            request, username=text_field(form, "username"), problem=refused.problem, status=refused.status
        )
    response = web.HTTPSeeOther(safe_next(text_field(form, "next")))
    start_session(request, response, token)
    raise response


@routes.post("/admin/logout")
async def logout(request: web.Request) -> web.Response:
    async with staff_request(request) as ctx:
        staff.revoke_token(ctx.session, token=request.cookies[SESSION_COOKIE])
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
    async with staff_request(request) as ctx:
        found = staff.list_entries(
            ctx.session,
            topic=topic or None,
            status=status or None,
            q=text or None,
            deleted=deleted,
            limit=PAGE_SIZE + 1,
            offset=(page - 1) * PAGE_SIZE,
        )
        names = accounts.display_names(ctx.session)
        entries = [
            {**entry, "updated_by_name": names.get(entry["updated_by"], entry["updated_by"])}
            for entry in (staff.entry_dict(e) for e in found[:PAGE_SIZE])
        ]
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
        return render(request, "list.html", context, who=ctx.who)


# -- creating and editing an entry --------------------------------------------------------


@routes.get("/admin/faqs/new")
async def new_entry_form(request: web.Request) -> web.Response:
    return await staff_page(request, entry_page, entry_id=None)


@routes.post("/admin/faqs/new")
async def create_entry(request: web.Request) -> web.Response:
    form = await request.post()
    fields, action = typed_fields(form), text_field(form, "action")
    async with staff_request(request):
        pass  # logged in, and the form is this session's
    problem: staff.StaffError | None = None
    if action != "preview":
        try:
            async with staff_request(request) as ctx:
                entry = staff.create_entry(
                    ctx.session, data=FaqInput.from_mapping(fields), user=ctx.user, publish=action == "save_publish"
                )
                ctx.session.flush()
                new_id = entry.id
        except staff.StaffError as exc:
            problem = exc
        else:
            raise redirect(f"/admin/faqs/{new_id}", "saved_published" if action == "save_publish" else "created")
    return await staff_page(
        request,
        entry_page,
        entry_id=None,
        fields=fields,
        problem=problem,
        typed_preview=True,
        status=http_status(problem) if problem else 200,
    )


@routes.get(r"/admin/faqs/{id:\d+}")
async def entry_form(request: web.Request) -> web.Response:
    async with staff_request(request) as ctx:
        return entry_page(request, ctx.session, ctx.who, entry_id=path_id(request))


@routes.post(r"/admin/faqs/{id:\d+}")
async def save_entry(request: web.Request) -> web.Response:
    """Save the form; a change someone may not make to a live answer becomes a proposal."""
    form = await request.post()
    entry_id, fields, action = path_id(request), typed_fields(form), text_field(form, "action")
    async with staff_request(request) as ctx:
        staff.get_entry(ctx.session, entry_id=entry_id)  # 404 before anything else
    problem: staff.StaffError | None = None
    if action != "preview":
        try:
            confirmed = text_field(form, "confirm_takeover") == "1"  # it answers other entries' questions
            version = form_int(form, "version")
            taken = await check_takeover(request, faq_id=entry_id, data=fields, version=version, confirmed=confirmed)
            async with staff_request(request) as ctx:
                session, user = ctx.session, ctx.user
                saved = proposals.save_entry(
                    session,
                    entry_id=entry_id,
                    data=FaqInput.from_mapping(fields),
                    expected_version=form_int(form, "version"),
                    user=user,
                )
                impact.audit_confirmation(session, user=user, entry_id=entry_id, taken=taken)
                proposal_id = saved.proposal.id if saved.proposal is not None else None
                if proposal_id is None and action == "save_publish" and saved.entry.status != "published":
                    staff.set_status(
                        session, entry_id=entry_id, status="published", expected_version=saved.entry.version, user=user
                    )
        except staff.NotFound:
            raise
        except staff.StaffError as exc:
            problem = exc
        else:
            if proposal_id is not None:
                raise redirect(f"/admin/proposals/{proposal_id}", "proposed")
            raise redirect(f"/admin/faqs/{entry_id}", "saved_published" if action == "save_publish" else "saved")
    return await staff_page(
        request,
        entry_page,
        entry_id=entry_id,
        fields=fields,
        problem=problem,
        typed_preview=True,
        typed_version=form_int(form, "version"),
        status=http_status(problem) if problem else 200,
    )


CONFIRMED = "confirmed"  # the second step of unpublish, delete and restore: the person saw what residents will see
FALLBACK = "助手会改用其他已发布的条目或条款原文作答，都没有时如实告诉居民资料中没有相关内容。"


def residents_now(entry: Mapping[str, Any]) -> str:
    if entry["deleted"]:
        return "此条目已删除，居民收不到它的答复。"
    if entry["status"] != "published":
        return "此条目是草稿，居民收不到它的答复。"
    return "居民问到这个问题时，会收到下面这条答复。"


def confirm_page(
    request: web.Request,
    session: Session,
    who: tuple[StaffUser, str],
    *,
    entry_id: int,
    action: str,
    revision_id: int | None = None,
) -> web.Response:
    """What residents see now and what they will see afterwards, and the button that does it."""
    found = staff.get_entry(session, entry_id=entry_id)
    entry = staff.entry_dict(found)
    clause = {"source_line": source_line(found.clause)}
    live_message = bot_message(entry["answer"], clause)
    after_message = ""
    title, button, post_to = "", "", f"/admin/faqs/{entry_id}/{action}"
    if action == "unpublish":
        title, button = "撤回发布", "确认撤回发布"
        after = f"撤回后，居民不会再收到这条答复：{FALLBACK}条目变为草稿，可以再次发布。"
    elif action == "delete":
        title, button = "删除条目", "确认删除"
        if entry["status"] == "published" and not entry["deleted"]:
            after = f"删除后，居民不会再收到这条答复：{FALLBACK}删除的条目可以在“已删除”中恢复。"
        else:
            after = "此条目是草稿，居民本来就收不到它；删除对居民没有影响。删除的条目可以在“已删除”中恢复。"
    elif action == "restore":
        title, button = "恢复已删除的条目", "确认恢复"
        if entry["status"] == "published":
            after = "恢复后，这条已发布的答复会立即重新回答居民（1秒内生效），内容如下："
            after_message = live_message
        else:
            after = "恢复后，此条目仍是草稿，居民收不到它，需要审核员发布后才会回答居民。"
    else:  # restoring an earlier version
        revision, data = staff.revision_input(session, entry_id=entry_id, revision_id=revision_id or -1)
        title, button = f"恢复为版本 {revision.version}", f"确认恢复为版本 {revision.version}"
        post_to = f"/admin/faqs/{entry_id}/history/{revision.id}/restore"
        clause_row = staff.clause_for_ref(session, data.source)
        after_message = bot_message(data.answer, {"source_line": source_line(clause_row)})
        if entry["status"] != "published" or entry["deleted"]:
            after = f"版本 {revision.version} 的内容将保存为新版本；此条目不在发布状态，居民收不到它。新版本的内容："
        elif proposals.needs_proposal(found, who[0]):
            after = (
                f"版本 {revision.version} 的内容将作为修改提议提交，审核员批准后居民才会收到它；"
                "在此之前居民仍收到当前的答复。提议的答复："
            )
        else:
            after = f"恢复后，居民会立即（1秒内）改为收到版本 {revision.version} 的答复："
    context = {
        "entry": entry,
        "title": title,
        "button": button,
        "post_to": post_to,
        "now": residents_now(entry),
        "live_message": live_message if entry["status"] == "published" and not entry["deleted"] else "",
        "after": after,
        "after_message": after_message,
        "confirmed_field": CONFIRMED,
        "nav": "faqs",
    }
    return render(request, "confirm.html", context, who=who)


@routes.post(r"/admin/faqs/{id:\d+}/{action:publish|unpublish|delete|restore}")
async def change_entry(request: web.Request) -> web.Response:
    """Publish at once; unpublish, delete and restore after a confirmation page that says what residents will see."""
    form = await request.post()
    entry_id, action = path_id(request), request.match_info["action"]
    if action != "publish" and text_field(form, CONFIRMED) != "1":
        return await staff_page(request, confirm_page, entry_id=entry_id, action=action)
    which = {"entry_id": entry_id, "expected_version": form_int(form, "version")}
    try:
        async with staff_request(request) as ctx:
            if action in ("publish", "unpublish"):
                status = "published" if action == "publish" else "draft"
                staff.set_status(ctx.session, **which, status=status, user=ctx.user)
            else:
                staff.delete_entry(ctx.session, **which, user=ctx.user, restore=action == "restore")
    except staff.NotFound:
        raise
    except staff.StaffError as exc:
        return await staff_page(request, entry_page, entry_id=entry_id, problem=exc, status=http_status(exc))
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
    items = []
    for i, rev in enumerate(history.revision_items(session, entry_id=entry_id)):
        diff = [line for line in rev["diff"] if not line.startswith("@@")]
        items.append(
            {
                **rev,
                "at": china_time(rev["at"]),
                "diff": [{"kind": "add" if line.startswith("+") else "del", "text": line} for line in diff],
                "latest": i == 0,
            }
        )
    context = {"entry": entry, "revisions": items, "problem": problem, "nav": "faqs"}
    return render(request, "history.html", context, who=who, status=status)


@routes.get(r"/admin/faqs/{id:\d+}/history")
async def history_view(request: web.Request) -> web.Response:
    async with staff_request(request) as ctx:
        return history_page(request, ctx.session, ctx.who, entry_id=path_id(request))


@routes.post(r"/admin/faqs/{id:\d+}/history/{rev:\d+}/restore")
async def restore_revision(request: web.Request) -> web.Response:
    """After a confirmation: saved as "restore of version N", or proposed as such (live answer, no direct change)."""
    form = await request.post()
    entry_id = path_id(request)
    async with staff_request(request) as ctx:
        if text_field(form, CONFIRMED) != "1":
            return confirm_page(
                request, ctx.session, ctx.who, entry_id=entry_id, action="revision", revision_id=path_id(request, "rev")
            )
    try:
        async with staff_request(request) as ctx:
            saved = proposals.restore_or_propose(
                ctx.session,
                entry_id=entry_id,
                revision_id=path_id(request, "rev"),
                expected_version=form_int(form, "version"),
                user=ctx.user,
            )
            proposal_id = saved.proposal.id if saved.proposal is not None else None
    except staff.NotFound:
        raise
    except staff.StaffError as exc:
        return await staff_page(request, history_page, entry_id=entry_id, problem=exc.message, status=http_status(exc))
    if proposal_id is not None:
        raise redirect(f"/admin/proposals/{proposal_id}", "proposed")
    raise redirect(f"/admin/faqs/{entry_id}", "revision_restored")


# -- feedback (the inbox of unanswered questions: web/admin_inbox.py) --------------------------


@routes.get("/admin/feedback")
async def feedback_page(request: web.Request) -> web.Response:
    async with staff_request(request) as ctx:
        rows = [
            {
                **row,
                "down_share": round(100 * row["down"] / max(1, row["up"] + row["down"])),
                "last_at": china_time(row["last_at"]),
            }
            for row in feedback.feedback_summary(ctx.session)
        ]
        recent = [{**item, "at": china_time(item["at"])} for item in feedback.recent_feedback(ctx.session, limit=100)]
        return render(request, "feedback.html", {"rows": rows, "recent": recent, "nav": "feedback"}, who=ctx.who)


# -- admin only: audit log and users --------------------------------------------------------


@routes.get("/admin/audit")
async def audit_page(request: web.Request) -> web.Response:
    """The audit log in plain Chinese, filtered by person, entry, kind of action and date."""
    q = request.query
    filters = {name: q.get(name, "").strip()[:64] for name in ("actor", "faq_id", "action", "since", "until")}
    problem = None
    try:
        since, until = history.parse_day(filters["since"]), history.parse_day(filters["until"])
    except ValueError as exc:
        since = until = None
        problem = str(exc)
    faq_id = digits(filters["faq_id"], max_len=10)
    if filters["faq_id"] and not staff.is_id(faq_id):
        problem, faq_id = "条目编号必须是正整数。", None
    where = history.AuditFilter(
        actor=filters["actor"] or None,
        faq_id=faq_id,
        action=filters["action"] if filters["action"] in history.ACTION_GROUPS else None,
        since=since,
        until=until,
    )
    async with staff_request(request, role="admin") as ctx:
        events = [
            {**event, "at": china_time(event["at"])}
            for event in history.describe_events(ctx.session, history.audit_events(ctx.session, where=where, limit=300))
        ]
        people = sorted(accounts.display_names(ctx.session).items(), key=lambda item: item[1])
        context = {
            "events": events,
            "filters": filters,
            "groups": {code: name for code, (name, _) in history.ACTION_GROUPS.items()},
            "people": people,
            "problem": problem,
            "nav": "audit",
        }
        return render(request, "audit.html", context, who=ctx.who, status=422 if problem else 200)


def users_page(
    request: web.Request,
    session: Session,
    who: tuple[StaffUser, str],
    *,
    new_user: dict[str, str] | None = None,
    problem: str | None = None,
    temporary: tuple[str, str] | None = None,
    status: int = 200,
) -> web.Response:
    """Accounts: add, change role, reset password (the temporary one is shown once), name and department."""
    staff.require_role(who[0], "admin")
    now = datetime.now(timezone.utc)
    users = [
        {
            "username": u.username,
            "role": u.role,
            "role_name": ROLE_NAMES.get(u.role, u.role),
            "display_name": u.display_name or "",
            "department": u.department or "",
            "disabled": u.disabled,
            "must_change_password": u.must_change_password,
            "locked": u.locked_until is not None and staff.as_utc(u.locked_until) > now,
            "created_at": china_time(u.created_at),
            "is_me": u.id == who[0].id,
        }
        for u in accounts.list_users(session)
    ]
    context = {
        "users": users,
        "roles": ROLE_NAMES,
        "new_user": new_user or {"username": "", "role": "editor", "display_name": "", "department": ""},
        "problem": problem,
        "temporary": temporary,
        "nav": "users",
    }
    return render(request, "users.html", context, who=who, status=status)


@routes.get("/admin/users")
async def users_list(request: web.Request) -> web.Response:
    return await staff_page(request, users_page)


@routes.post("/admin/users")
async def add_user(request: web.Request) -> web.Response:
    form = await request.post()
    new_user = {name: text_field(form, name) for name in ("username", "role", "display_name", "department")}
    async with staff_request(request, role="admin"):
        pass  # an admin, and the form is this session's
    try:
        async with staff_request(request) as ctx:
            session, admin = ctx.session, ctx.user
            user = staff.create_user(
                session,
                username=new_user["username"],
                password=text_field(form, "password"),
                role=new_user["role"],
                actor=admin.username,
            )
            session.flush()
            if new_user["display_name"].strip() or new_user["department"].strip():
                accounts.update_user(
                    session,
                    username=user.username,
                    actor=admin,
                    display_name=new_user["display_name"],
                    department=new_user["department"],
                )
    except staff.StaffError as exc:
        return await staff_page(request, users_page, new_user=new_user, problem=exc.message, status=http_status(exc))
    raise redirect("/admin/users", "user_created")


USER_ACTIONS = ("disable", "enable", "role", "reset_password", "profile")


@routes.post("/admin/users/status")
async def user_status(request: web.Request) -> web.Response:
    """One change to one account: disable/enable (``disabled``), or ``action`` role, reset_password or profile."""
    form = await request.post()
    username = text_field(form, "username")
    action = text_field(form, "action") or ("disable" if text_field(form, "disabled") == "1" else "enable")
    if action not in USER_ACTIONS:
        action = "enable"
    changes: dict[str, Any] = {
        "disable": {"disabled": True},
        "enable": {"disabled": False},
        "role": {"role": text_field(form, "role")},
        "reset_password": {"reset_password": True},
        "profile": {"display_name": text_field(form, "display_name"), "department": text_field(form, "department")},
    }[action]
    try:
        async with staff_request(request, role="admin") as ctx:
            user, temporary = accounts.update_user(ctx.session, username=username, actor=ctx.user, **changes)
            if temporary is not None:
                shown = (accounts.label(user.username, user.display_name, user.department), temporary)
                return users_page(request, ctx.session, ctx.who, temporary=shown)
    except (staff.Invalid, staff.Forbidden, staff.NotFound) as exc:
        if isinstance(exc, staff.Forbidden) and exc.code in ("forbidden", "csrf_failed"):
            raise
        return await staff_page(request, users_page, problem=exc.message, status=http_status(exc))
    notice = {"disable": "user_disabled", "enable": "user_enabled", "role": "role_changed", "profile": "user_saved"}
    raise redirect("/admin/users", notice[action])


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
        return error_page(request, http_status(exc), exc.message)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        message = HTTP_MESSAGES.get(exc.status, ("error", "请求无法处理。"))[1]
        return error_page(request, exc.status, message)
    except DATABASE_DOWN as exc:
        log_database_down(request, exc)
        response = error_page(request, 503, DATABASE_DOWN_MESSAGE)
        response.headers["Retry-After"] = RETRY_AFTER_SECONDS
        return response
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
