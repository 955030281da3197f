"""JSON API /api/v1 for staff and for other city systems (documented in openapi.yml)."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web
from sqlalchemy import select
from sqlalchemy.orm import Session

from knowledge import accounts, feedback, history, impact, inbox, proposals, queries, staff
from knowledge.answering import Answer, source_line
from knowledge.models import StaffUser
from knowledge.staff import FaqInput, Invalid
from web.auth import db
from web.errors import json_error
from web.keys import FEEDBACK_LIMITER, LOGIN_LIMITER, OPENAPI_JSON, SESSIONMAKER
from web.params import path_id, path_number, query_id
from web.staff_request import staff_request
from web.trying import check_takeover

routes = web.RouteTableDef()
OPENAPI_FILE = Path(__file__).with_name("openapi.yml")


async def body(request: web.Request) -> dict[str, Any]:
    try:
        data = await request.json(loads=json.loads)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):  # RecursionError: [[[[… nested too deep
        raise Invalid("invalid_json", "请求内容不是有效的 JSON。") from None
    if not isinstance(data, dict):
        raise Invalid("invalid_body", "请求内容必须是一个 JSON 对象。")
    return data


def entry_id(request: web.Request) -> int:
    return path_id(request, message="找不到该条目：编号必须是正整数。")


def trusted_proxies() -> int:
    """``WEB_PROXIES_COUNT``: how many proxies in front of this service may be believed (0: none)."""
    raw = os.environ.get("WEB_PROXIES_COUNT", "0") or "0"
    return int(raw) if raw.strip().isdigit() else 0


def client_address(request: web.Request) -> str:
    """The client's address for rate limits. Behind N trusted proxies (``WEB_PROXIES_COUNT=N``, e.g. 1
    behind the ingress) it is the N-th address from the right of X-Forwarded-For; otherwise the peer."""
    proxies = trusted_proxies()
    if proxies > 0:
        forwarded = [a.strip() for a in request.headers.get("X-Forwarded-For", "").split(",") if a.strip()]
        if len(forwarded) >= proxies:
            return forwarded[-proxies]
    return request.remote or "unknown"


def came_over_tls(request: web.Request) -> bool:
    """Whether the browser reached us over HTTPS (then cookies get ``Secure``).

    Behind the same N trusted proxies as for the client address, the scheme the outermost of them
    received, from X-Forwarded-Proto (N-th value from the right, or its only value when proxies
    overwrite the header, as deploy/nginx.conf does). Without trusted proxies the header is anyone's
    to forge and is ignored: only a TLS connection to this process counts (``request.secure``).
    """
    proxies = trusted_proxies()
    if proxies > 0:
        schemes = [s.strip().lower() for s in request.headers.get("X-Forwarded-Proto", "").split(",") if s.strip()]
        if schemes:
            return schemes[-proxies if len(schemes) >= proxies else 0] == "https"
    return request.secure


def load_openapi(path: Path | None = None) -> bytes:
    """web/openapi.yml as JSON bytes. Parsing the YAML takes about 145 ms, so init_app does it once
    at start and the handler only sends the bytes (it is public and the readiness probe)."""
    spec = yaml.safe_load((path or OPENAPI_FILE).read_text(encoding="utf-8"))
    return json.dumps(spec, ensure_ascii=False).encode("utf-8")


def preview(entry) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """Exactly the message the bot sends for this entry."""
    return {"message": Answer(text=entry.answer, source_line=source_line(entry.clause)).message()}


@routes.get("/api/v1/openapi.json")
async def openapi(request: web.Request) -> web.Response:
    return web.Response(body=request.app[OPENAPI_JSON], content_type="application/json", charset="utf-8")


@routes.post("/api/v1/login")
async def login(request: web.Request) -> web.Response:
    if not await request.app[LOGIN_LIMITER].allow(client_address(request)):
        return json_error(429, "too_many_requests", "登录尝试太频繁，请稍后再试。")
    data = await body(request)
    username, password = data.get("username"), data.get("password")
    if not isinstance(username, str) or not isinstance(password, str):
        raise Invalid("invalid_body", "请提供用户名 username 和密码 password。")

    token, role = await asyncio.to_thread(
        staff.log_in,
        request.app[SESSIONMAKER],
        username=username,
        password=password,
        kind="api",
        address=client_address(request),
    )
    with db(request) as session:
        must_change = bool(
            session.scalar(select(StaffUser.must_change_password).where(StaffUser.username == username.strip()))
        )
    reply = {"token": token, "role": role, "expires_in": 8 * 3600, "must_change_password": must_change}
    return web.json_response(reply)


@routes.post("/api/v1/logout")
async def logout(request: web.Request) -> web.Response:
    async with staff_request(request) as ctx:
        staff.revoke_token(ctx.session, token=request.headers["Authorization"].split(" ", 1)[1].strip())
    return web.json_response({"ok": True})


@routes.get("/api/v1/faqs")
async def list_faqs(request: web.Request) -> web.Response:
    q = request.query
    topic, status = q.get("topic") or None, q.get("status") or None
    if topic and topic not in staff.TOPICS:
        raise Invalid("invalid_topic", f"主题必须是 {'、'.join(staff.TOPICS)} 之一。")
    if status and status not in ("draft", "published"):
        raise Invalid("invalid_status", "状态必须是 draft 或 published。")
    async with staff_request(request) as ctx:
        entries = staff.list_entries(
            ctx.session, topic=topic, status=status, q=q.get("q"), deleted=q.get("deleted") in ("1", "true")
        )
        return web.json_response({"items": [staff.entry_dict(e) for e in entries], "count": len(entries)})


@routes.post("/api/v1/faqs")
async def create_faq(request: web.Request) -> web.Response:
    data = await body(request)
    async with staff_request(request) as ctx:
        entry = staff.create_entry(
            ctx.session, data=FaqInput.from_mapping(data), user=ctx.user, publish=data.get("status") == "published"
        )
        return web.json_response(staff.entry_dict(entry), status=201)


@routes.get("/api/v1/faqs/{id}")
async def get_faq(request: web.Request) -> web.Response:
    async with staff_request(request) as ctx:
        entry = staff.get_entry(ctx.session, entry_id=entry_id(request))
        return web.json_response({**staff.entry_dict(entry), "preview": preview(entry)})


def proposal_reply(session: Session, proposal: proposals.FaqProposal) -> web.Response:
    """202: the change is stored as a proposal; residents keep the published answer."""
    view = proposals.proposal_dict(session, proposal, names=accounts.display_names(session))
    return web.json_response({"proposal": view}, status=202)


@routes.put("/api/v1/faqs/{id}")
async def update_faq(request: web.Request) -> web.Response:
    """200 with the entry when saved; 202 with ``proposal`` when the caller may not change this live answer.
    409 ``takes_other_questions`` when it would answer another entry's own question, unless the body
    says ``"confirm_takeover": true`` (audited)."""
    data = await body(request)
    confirmed = data.get("confirm_takeover") is True
    taken = await check_takeover(
        request, faq_id=entry_id(request), data=data, version=data.get("version"), confirmed=confirmed
    )
    async with staff_request(request) as ctx:
        saved = proposals.save_entry(
            ctx.session,
            entry_id=entry_id(request),
            data=FaqInput.from_mapping(data),
            expected_version=data.get("version"),
            user=ctx.user,
        )
        impact.audit_confirmation(ctx.session, user=ctx.user, entry_id=entry_id(request), taken=taken)
        if saved.proposal is not None:
            return proposal_reply(ctx.session, saved.proposal)
        entry = saved.entry
        if data.get("status") in ("draft", "published") and data["status"] != entry.status:
            entry = staff.set_status(
                ctx.session, entry_id=entry.id, status=data["status"], expected_version=entry.version, user=ctx.user
            )
        return web.json_response(staff.entry_dict(entry))


@routes.delete("/api/v1/faqs/{id}")
async def delete_faq(request: web.Request) -> web.Response:
    version = request.query.get("version")
    if request.can_read_body:
        version = (await body(request)).get("version", version)
    async with staff_request(request) as ctx:
        if isinstance(version, str) and version.isascii() and version.isdigit() and len(version) <= 19:
            version = int(version)  # anything else is refused by delete_entry (version must be an integer)
        entry = staff.delete_entry(ctx.session, entry_id=entry_id(request), expected_version=version, user=ctx.user)
        return web.json_response(staff.entry_dict(entry))


@routes.post("/api/v1/faqs/{id}/{action:publish|unpublish|restore}")
async def change_status(request: web.Request) -> web.Response:
    data = await body(request)
    action = request.match_info["action"]
    async with staff_request(request) as ctx:
        which = {"entry_id": entry_id(request), "expected_version": data.get("version"), "user": ctx.user}
        if action == "restore":
            entry = staff.delete_entry(ctx.session, **which, restore=True)
        else:
            status = "published" if action == "publish" else "draft"
            entry = staff.set_status(ctx.session, **which, status=status)
        return web.json_response(staff.entry_dict(entry))


@routes.get("/api/v1/faqs/{id}/revisions")
async def list_revisions(request: web.Request) -> web.Response:
    async with staff_request(request) as ctx:
        return web.json_response({"items": history.revision_items(ctx.session, entry_id=entry_id(request))})


@routes.post("/api/v1/faqs/{id}/revisions/{rev}/restore")
async def restore_revision(request: web.Request) -> web.Response:
    data = await body(request)
    async with staff_request(request) as ctx:
        revision_id = path_number(request, "rev") or -1
        saved = proposals.restore_or_propose(
            ctx.session,
            entry_id=entry_id(request),
            revision_id=revision_id,
            expected_version=data.get("version"),
            user=ctx.user,
        )
        if saved.proposal is not None:
            return proposal_reply(ctx.session, saved.proposal)
        return web.json_response(staff.entry_dict(saved.entry))


@routes.get("/api/v1/clauses")
async def list_clauses(request: web.Request) -> web.Response:
    async with staff_request(request) as ctx:
        clauses = queries.all_clauses(ctx.session)
        return web.json_response(
            {"items": [{"ref": c.ref, "title": c.title, "text": c.text, "topics": c.topics} for c in clauses]}
        )


@routes.get("/api/v1/inbox")
async def list_inbox(request: web.Request) -> web.Response:
    async with staff_request(request) as ctx:
        rows = inbox.open_questions(ctx.session)
        items = [
            {
                "id": r.id,
                "text": r.text,
                "topic": r.topic,
                "count": r.count,
                "last_seen": staff.as_utc(r.last_seen).isoformat(),
            }
            for r in rows
        ]
        return web.json_response({"items": items})


@routes.post("/api/v1/inbox/{id}/{action:dismiss|draft}")
async def handle_inbox(request: web.Request) -> web.Response:
    async with staff_request(request) as ctx:
        if request.match_info["action"] == "dismiss":
            inbox.dismiss(ctx.session, question_id=entry_id(request), user=ctx.user)
            return web.json_response({"ok": True})
        faq_id = inbox.make_draft(ctx.session, question_id=entry_id(request), user=ctx.user)
        return web.json_response({"ok": True, "faq_id": faq_id}, status=201)


@routes.post("/api/v1/feedback")
async def post_feedback(request: web.Request) -> web.Response:
    """Public: the widget posts 👍/👎 for an answer. Rate-limited per address.

    201 when counted (a published entry); 200 with the same body for any other integer id (draft,
    deleted, missing, out of range), which is accepted and ignored: the answer does not tell which
    ids exist, and the widget (which takes 200 and 201 as success) thanks the resident either way.
    """
    if not await request.app[FEEDBACK_LIMITER].allow(client_address(request)):
        return json_error(429, "too_many_requests", "反馈提交太频繁，请稍后再试。")
    data = await body(request)
    with db(request) as session:
        counted = feedback.record_feedback(
            session, faq_id=data.get("faq_id"), rating=data.get("rating"), question=data.get("question")
        )
    return web.json_response({"ok": True, "message": "感谢您的反馈！"}, status=201 if counted else 200)


@routes.get("/api/v1/feedback")
async def feedback_summary(request: web.Request) -> web.Response:
    """Per entry (``items``, the worst share of 没帮助 first) and one by one (``recent``, newest first)."""
    async with staff_request(request) as ctx:
        return web.json_response(
            {"items": feedback.feedback_summary(ctx.session), "recent": feedback.recent_feedback(ctx.session)}
        )


def audit_filter(request: web.Request) -> history.AuditFilter:
    """The filters of an audit query (``actor``, ``faq_id``, ``action``, ``since``, ``until``), checked."""
    q = request.query
    faq_id = query_id(request, "faq_id")
    try:
        since, until = history.parse_day(q.get("since")), history.parse_day(q.get("until"))
    except ValueError as exc:
        raise Invalid("invalid_date", str(exc)) from None
    return history.AuditFilter(
        actor=q.get("actor") or None,
        faq_id=faq_id,
        action=q.get("action") or None,
        since=since,
        until=until,
    )


@routes.get("/api/v1/audit")
async def audit_log(request: web.Request) -> web.Response:
    """The latest 500 lines matching the filters, newest first, with names and a summary in Chinese."""
    where = audit_filter(request)
    async with staff_request(request, role="admin") as ctx:
        items = history.describe_events(ctx.session, history.audit_events(ctx.session, where=where))
        return web.json_response({"items": items})


@routes.post("/api/v1/users")
async def create_user(request: web.Request) -> web.Response:
    data = await body(request)
    async with staff_request(request, role="admin") as ctx:
        session, admin = ctx.session, ctx.user
        user = staff.create_user(
            session,
            username=str(data.get("username") or ""),
            password=str(data.get("password") or ""),
            role=str(data.get("role") or ""),
            actor=admin.username,
        )
        session.flush()  # the defaults (created_at) for the reply
        if data.get("display_name") is not None or data.get("department") is not None:
            accounts.update_user(
                session,
                username=user.username,
                actor=admin,
                display_name=data.get("display_name"),
                department=data.get("department"),
            )
        return web.json_response(accounts.user_view(user), status=201)


USER_CHANGES = ("disabled", "role", "reset_password", "display_name", "department")


@routes.patch("/api/v1/users/{username}")
async def update_user(request: web.Request) -> web.Response:
    """An admin changes ``disabled``, ``role``, ``reset_password: true`` (a one-time ``temporary_password``
    comes back; the user must set a new one at the next login); anyone their own ``display_name``
    and ``department``."""
    data = await body(request)
    if not any(data.get(name) is not None for name in USER_CHANGES):
        names = "、".join(USER_CHANGES)
        raise Invalid("invalid_body", f"请提供要修改的内容：{names}（至少一项）。")
    if data.get("reset_password") is not None and not isinstance(data["reset_password"], bool):
        raise Invalid("invalid_body", "reset_password 必须是 true 或 false。")
    if data.get("role") is not None and not isinstance(data["role"], str):
        raise Invalid("invalid_role", f"角色必须是 {'、'.join(staff.ROLES)} 之一。")
    async with staff_request(request) as ctx:
        user, temporary = accounts.update_user(
            ctx.session,
            username=request.match_info["username"],
            actor=ctx.user,
            role=data.get("role"),
            disabled=data.get("disabled"),
            reset_password=data.get("reset_password") is True,
            display_name=data.get("display_name"),
            department=data.get("department"),
        )
        reply = accounts.user_view(user)
        if temporary is not None:
            reply["temporary_password"] = temporary
        return web.json_response(reply)
