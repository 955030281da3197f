"""Admin pages for review and one's own account, and the live grounding check of the edit form.

- ``/admin/proposals``: the reviewers' queue (open proposals, with the diff against the live
  version), decided ones, and each person's own proposals with the reviewer's reason;
- ``/admin/proposals/{id}``: one proposal, approved or rejected with a reason; under four-eyes
  the proposer sees why they cannot approve it;
- ``/admin/account``: change one's own password (required after an admin's reset) and set the
  display name and department shown in history;
- ``POST /admin/faqs/check``: the grounding rule on what is being typed, for web/static/admin.js,
  so the preview says at once which figure the chosen clause lacks (the same rule a save applies).

Everything goes through the same ``knowledge`` functions as the JSON API.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web
from sqlalchemy.orm import Session

from knowledge import accounts, grounding, proposals, queries, staff
from knowledge.answering import Answer, source_line
from knowledge.models import StaffUser
from knowledge.settings import four_eyes
from knowledge.staff import ROLES
from web.admin import bot_message, china_time, form_int, path_id, redirect, render, text_field
from web.api import client_address
from web.auth import ACCOUNT_PAGE, SESSION_COOKIE, check_csrf, db, logged_in
from web.errors import http_status
from web.keys import LOGIN_LIMITER, SESSIONMAKER

routes = web.RouteTableDef()
QUEUES = {"open": "待审核", "approved": "已批准", "rejected": "已驳回", "mine": "我的提议"}


# -- the queue and one proposal -------------------------------------------------------------


def shown(view: dict[str, Any]) -> dict[str, Any]:
    """A proposal for the pages: times in China time, the diff as added/removed lines."""
    diff = [line for line in view["diff"] if not line.startswith("@@")]
    return {
        **view,
        "created_at": china_time(view["created_at"]),
        "decided_at": china_time(view["decided_at"]),
        "diff_lines": [{"kind": "add" if line.startswith("+") else "del", "text": line} for line in diff],
    }


@routes.get("/admin/proposals")
async def queue(request: web.Request) -> web.Response:
    with db(request) as session:
        who = logged_in(request, session)
        user = who[0]
        default = "open" if ROLES.get(user.role, 0) >= ROLES["reviewer"] else "mine"
        which = request.query.get("status") if request.query.get("status") in QUEUES else default
        found = proposals.list_proposals(
            session,
            status=None if which == "mine" else which,
            proposed_by=user.username if which == "mine" else None,
        )
        names = accounts.display_names(session)
        items = [shown(proposals.proposal_dict(session, p, names=names)) for p in found]
        context = {"items": items, "which": which, "queues": QUEUES, "nav": "proposals"}
        return render(request, "proposals.html", context, who=who)


def proposal_page(
    request: web.Request,
    session: Session,
    who: tuple[StaffUser, str],
    *,
    proposal_id: int,
    problem: staff.StaffError | None = None,
    reason: str = "",
    status: int = 200,
) -> web.Response:
    proposal = proposals.get_proposal(session, proposal_id=proposal_id)
    view = shown(proposals.proposal_dict(session, proposal, names=accounts.display_names(session)))
    entry = staff.get_entry(session, entry_id=proposal.faq_id)
    proposed_clause = staff.clause_for_ref(session, view["proposed"]["source"])
    user = who[0]
    is_reviewer = ROLES.get(user.role, 0) >= ROLES["reviewer"]
    own = proposal.proposed_by == user.username
    context = {
        "p": view,
        "live_message": Answer(text=entry.answer, source_line=source_line(entry.clause)).message(),
        "proposed_message": Answer(text=view["proposed"]["answer"], source_line=source_line(proposed_clause)).message(),
        "proposed_clause": {"ref": proposed_clause.ref, "title": proposed_clause.title, "text": proposed_clause.text},
        "may_decide": is_reviewer and proposal.status == "open",
        "may_approve": is_reviewer and proposal.status == "open" and not (four_eyes() and own),
        "own_under_four_eyes": four_eyes() and own and proposal.status == "open",
        "problem": problem.message if problem else None,
        "reason": reason,
        "nav": "proposals",
    }
    return render(request, "proposal.html", context, who=who, status=status)


@routes.get(r"/admin/proposals/{id:\d+}")
async def proposal_view(request: web.Request) -> web.Response:
    with db(request) as session:
        who = logged_in(request, session)
        return proposal_page(request, session, who, proposal_id=path_id(request))


@routes.post(r"/admin/proposals/{id:\d+}/{action:approve|reject}")
async def decide(request: web.Request) -> web.Response:
    form = await request.post()
    proposal_id, action = path_id(request), request.match_info["action"]
    reason = text_field(form, "reason")
    with db(request) as session:
        who = logged_in(request, session)
        check_csrf(form, who[1])
        proposals.get_proposal(session, proposal_id=proposal_id)  # 404 first
    try:
        with db(request) as session:
            user, _ = logged_in(request, session)
            if action == "approve":
                _, entry = proposals.approve(
                    session,
                    proposal_id=proposal_id,
                    user=user,
                    expected_version=form_int(form, "version"),
                    reason=reason,
                )
                faq_id = entry.id
            else:
                proposals.reject(session, proposal_id=proposal_id, user=user, reason=reason)
    except staff.NotFound:
        raise
    except staff.StaffError as exc:
        with db(request) as session:
            who = logged_in(request, session)
            return proposal_page(
                request, session, who, proposal_id=proposal_id, problem=exc, reason=reason, status=http_status(exc)
            )
    if action == "approve":
        raise redirect(f"/admin/faqs/{faq_id}", "approved")
    raise redirect(f"/admin/proposals/{proposal_id}", "rejected")


# -- one's own account ------------------------------------------------------------------------


def account_page(
    request: web.Request,
    who: tuple[StaffUser, str],
    *,
    problem: staff.StaffError | None = None,
    profile: dict[str, str] | None = None,
    status: int = 200,
) -> web.Response:
    user = who[0]
    context = {
        "user": accounts.user_view(user),
        "profile": profile or {"display_name": user.display_name or "", "department": user.department or ""},
        "must_change": user.must_change_password,
        "problem": problem.message if problem else None,
        "errors": problem.details if problem is not None and isinstance(problem.details, dict) else {},
        "nav": "account",
    }
    return render(request, "account.html", context, who=who, status=status)


@routes.get(ACCOUNT_PAGE)
async def account(request: web.Request) -> web.Response:
    with db(request) as session:
        return account_page(request, logged_in(request, session))


@routes.post(ACCOUNT_PAGE + "/password")
async def change_password(request: web.Request) -> web.Response:
    form = await request.post()
    with db(request) as session:
        who = logged_in(request, session)
        check_csrf(form, who[1])
    old, new = text_field(form, "old"), text_field(form, "new")
    problem: staff.StaffError | None = None
    if new != text_field(form, "new_again"):
        message = "两次输入的新密码不一致。"
        problem = staff.Invalid("password_mismatch", message, details={"new_again": message})
    elif not await request.app[LOGIN_LIMITER].allow(client_address(request)):
        problem = staff.Invalid("too_many_requests", "尝试太频繁，请稍后再试。")
    else:

        def run() -> None:
            with request.app[SESSIONMAKER]() as session, session.begin():
                user, _ = logged_in(request, session)
                token = request.cookies.get(SESSION_COOKIE)
                accounts.change_own_password(session, user=user, old=old, new=new, keep_token=token)

        try:
            await asyncio.to_thread(run)  # Argon2, twice: off the event loop
        except staff.StaffError as exc:
            problem = exc
    if problem is None:
        raise redirect("/admin", "password_changed")
    with db(request) as session:
        status = 429 if problem.code == "too_many_requests" else http_status(problem)
        return account_page(request, logged_in(request, session), problem=problem, status=status)


@routes.post(ACCOUNT_PAGE + "/profile")
async def save_profile(request: web.Request) -> web.Response:
    form = await request.post()
    profile = {"display_name": text_field(form, "display_name"), "department": text_field(form, "department")}
    try:
        with db(request) as session:
            who = logged_in(request, session)
            check_csrf(form, who[1])
            accounts.update_user(session, username=who[0].username, actor=who[0], **profile)
    except staff.Invalid as exc:
        with db(request) as session:
            return account_page(request, logged_in(request, session), problem=exc, profile=profile, status=422)
    raise redirect(ACCOUNT_PAGE, "profile_saved")


# -- the live check of the edit form ------------------------------------------------------------


@routes.post("/admin/faqs/check")
async def check(request: web.Request) -> web.Response:
    """JSON for admin.js: the grounding rule on the typed answer and the chosen clause, and the bot's message."""
    form = await request.post()
    with db(request) as session:
        who = logged_in(request, session)
        check_csrf(form, who[1])
        ref = text_field(form, "source").strip()
        clause = None if "\x00" in ref else queries.clause_by_ref(session, ref=ref)
    answer, question = text_field(form, "answer"), text_field(form, "question")
    if clause is None:
        return web.json_response({"ok": False, "code": "unknown_source", "message": "请选择依据条款。", "figures": []})
    problem = grounding.check(question=question, answer=answer, clause_ref=clause.ref, clause_text=clause.text)
    reply: dict[str, Any] = {
        "ok": problem is None,
        "code": problem.code if problem else None,
        "message": problem.message if problem else "答复中的数字都能在所引条款中找到。",
        "figures": list(problem.figures) if problem else [],
        "clause": {"ref": clause.ref, "title": clause.title},
        "preview": bot_message(answer, {"source_line": source_line(clause)}),
    }
    return web.json_response(reply)
