"""Admin pages of issue 14: the grouped inbox, the test box on every page, impact on the edit page.

- ``/admin/inbox``: groups of questions residents asked in different words (knowledge.inbox_groups),
  most asked first, with status tabs, search and a CSV export; per group the masked examples with
  what the bot replied, the entries it came closest to, and the actions: attach to an entry (one
  click for a suggested entry; an entry number typed by hand is confirmed first, showing the
  phrasings it gets), start a draft citing the suggested clause, dismiss; dismiss in bulk.
- ``POST /admin/try``: the "问一句试试" box in base.html (web/static/trybox.js asks for JSON; without
  JavaScript the form gets a page with the answer).
- ``POST /admin/faqs/{id}/impact`` (and ``/admin/faqs/new/impact``): the edit form, as typed, with
  the known questions whose answer it would change (the saves' guard is ``web.trying.check_takeover``).

Every page works without JavaScript; forms carry the session's CSRF token.
"""

from __future__ import annotations

import warnings
from typing import Any

import aiohttp_jinja2
from aiohttp import web
from sqlalchemy.orm import Session

from knowledge import impact, inbox_groups, staff
from knowledge.errors import StaffError
from knowledge.models import StaffUser
from knowledge.proposals import needs_proposal
from knowledge.staff import FaqInput
from web.admin import china_time, entry_page, form_int, path_id, redirect, render, staff_page, text_field, typed_fields
from web.auth import check_csrf, db, logged_in, session_user
from web.errors import http_status
from web.inbox_api import csv_response, group_filter
from web.params import digits
from web.staff_request import staff_request
from web.trying import answer_tools, impact_of, nlu_of, question_text, setup_answer_tools, try_question

routes = web.RouteTableDef()

TABS = {"open": "待处理", "attached": "已归入条目", "drafted": "已转为草稿", "dismissed": "已忽略", "all": "全部"}


def _shown(view: dict[str, Any]) -> dict[str, Any]:
    """A group as the page shows it: times in China time."""
    shown = {**view, "first_seen": china_time(view["first_seen"]), "last_seen": china_time(view["last_seen"])}
    shown["examples"] = [{**e, "last_seen": china_time(e["last_seen"])} for e in view["examples"]]
    return shown


def _closest_versions(session: Session, groups: list[dict[str, Any]]) -> dict[int, int]:
    """Current versions of the entries the groups suggest: the one-click attach forms carry them."""
    ids = {c["faq_id"] for g in groups for c in g["closest"]}
    return {i: staff.get_entry(session, entry_id=i).version for i in ids}


def inbox_page(
    request: web.Request,
    session: Session,
    who: tuple[StaffUser, str],
    groups: list[dict[str, Any]],
    where: inbox_groups.GroupFilter,
    *,
    problem: str | None = None,
    status: int = 200,
) -> web.Response:
    context = {
        "groups": [_shown(g) for g in groups],
        "versions": _closest_versions(session, groups),
        "filters": {"status": where.status, "q": where.q},
        "tabs": TABS,
        "problem": problem,
        "nav": "inbox",
    }
    return render(request, "inbox.html", context, who=who, status=status)


async def show_inbox(request: web.Request, *, problem: str | None = None, status: int = 200) -> web.Response:
    try:
        where = group_filter(request.query)
    except StaffError as exc:
        where, problem, status = inbox_groups.GroupFilter(), exc.message, 422
    tools = answer_tools(request.app)

    def work() -> web.Response:
        with db(request) as session:
            who = logged_in(request, session)
            inbox_groups.assign_new_questions(session, tools.matcher)
            groups = inbox_groups.list_groups(session, tools.matcher, where)
            return inbox_page(request, session, who, groups, where, problem=problem, status=status)

    return await tools.run(work)


@routes.get("/admin/inbox")
async def inbox_view(request: web.Request) -> web.Response:
    return await show_inbox(request)


@routes.get("/admin/inbox/export.csv")
async def inbox_export(request: web.Request) -> web.Response:
    where = group_filter(request.query)
    tools = answer_tools(request.app)

    def work() -> bytes:
        with db(request) as session:
            logged_in(request, session)
            inbox_groups.assign_new_questions(session, tools.matcher)
            return inbox_groups.export_csv(session, where)

    return csv_response(await tools.run(work))


def attach_confirm_page(
    request: web.Request, session: Session, who: tuple[StaffUser, str], *, group_id: int, faq_id: int
) -> web.Response:
    """What attaching would do: the entry, the phrasings it gets, and whether it is saved or proposed."""
    group = inbox_groups.group_view(session, answer_tools(request.app).matcher, group_id)
    found = staff.get_entry(session, entry_id=faq_id)
    entry = staff.entry_dict(found)
    phrasings = inbox_groups.new_phrasings(
        [entry["question"], *entry["alternatives"]], inbox_groups.member_texts(session, group_id)
    )
    context = {
        "group": _shown(group),
        "entry": entry,
        "phrasings": phrasings,
        "proposes": needs_proposal(found, who[0]),
        "nav": "inbox",
    }
    return render(request, "inbox_attach.html", context, who=who)


@routes.post(r"/admin/inbox/groups/{id:\d+}/{action:attach|draft|dismiss}")
async def group_action(request: web.Request) -> web.Response:
    form = await request.post()
    number, action = path_id(request), request.match_info["action"]
    with db(request) as session:
        who = logged_in(request, session)
        check_csrf(form, who[1])
    tools = answer_tools(request.app)

    def work() -> web.Response | tuple[str, str]:
        """A page, or where to go next (redirected after the transaction has committed)."""
        with db(request) as session:
            user, csrf = logged_in(request, session)
            if action == "dismiss":
                inbox_groups.dismiss(session, group_ids=[number], user=user)
                return "/admin/inbox", "dismissed"
            if action == "draft":
                entry = inbox_groups.make_draft(session, group_id=number, user=user, matcher=tools.matcher)
                session.flush()
                return f"/admin/faqs/{entry.id}", "drafted"
            faq_id, version = digits(text_field(form, "faq_id"), max_len=10), form_int(form, "version")
            if not staff.is_id(faq_id):
                raise staff.Invalid("invalid_faq_id", "请填写要归入的条目编号（正整数）。")
            if version is None:  # an entry number typed by hand: show what would happen first
                return attach_confirm_page(request, session, (user, csrf), group_id=number, faq_id=faq_id)
            saved = inbox_groups.attach(session, group_id=number, faq_id=faq_id, expected_version=version, user=user)
            if saved.proposal is not None:
                return f"/admin/proposals/{saved.proposal.id}", "attach_proposed"
            return f"/admin/faqs/{faq_id}", "attached"

    try:
        done = await tools.run(work)
    except (staff.Invalid, staff.Closed, staff.Conflict, staff.Forbidden) as exc:
        if isinstance(exc, staff.Forbidden) and exc.code == "csrf_failed":
            raise
        return await show_inbox(request, problem=exc.message, status=http_status(exc))
    if isinstance(done, tuple):
        raise redirect(*done)
    return done


@routes.post("/admin/inbox/dismiss-selected")
async def dismiss_selected(request: web.Request) -> web.Response:
    """Bulk dismiss of the groups ticked on the page (all or nothing)."""
    form = await request.post()
    ids = [digits(v, max_len=10) for v in form.getall("group_ids", []) if isinstance(v, str)]
    try:
        with db(request) as session:
            user, csrf = logged_in(request, session)
            check_csrf(form, csrf)
            if any(not staff.is_id(i) for i in ids):
                raise staff.Invalid("invalid_ids", "所选的问题组编号不正确。")
            inbox_groups.dismiss(session, group_ids=[i for i in ids if i], user=user)
    except (staff.Invalid, staff.Closed, staff.NotFound) as exc:
        return await show_inbox(request, problem=exc.message, status=http_status(exc))
    raise redirect("/admin/inbox", "dismissed_many")


# -- the test box ------------------------------------------------------------------------------


def wants_json(request: web.Request) -> bool:
    return "application/json" in request.headers.get("Accept", "")


@routes.post("/admin/try")
async def try_box(request: web.Request) -> web.Response:
    """JSON for the box's script; a page for a browser without JavaScript. Errors as JSON too (the
    box shows them beside what was typed, which stays in the box)."""
    form = await request.post()
    typed = text_field(form, "text")
    try:
        with db(request) as session:
            found = session_user(request, session)
            if found is None:
                raise staff.Unauthorized(
                    "session_expired", "登录已过期，请重新登录后再试（您输入的问题仍在输入框中）。"
                )
            check_csrf(form, found[1])
        text = question_text(typed)
    except StaffError as exc:
        if not wants_json(request):
            if isinstance(exc, staff.Unauthorized):
                raise redirect("/admin/login") from None
            raise
        return web.json_response({"error": exc.code, "message": exc.message}, status=http_status(exc))
    tools = answer_tools(request.app)
    result = await tools.run(try_question, tools, text, await nlu_of(text))
    if wants_json(request):
        return web.json_response(result)
    with db(request) as session:
        who = logged_in(request, session)
        return render(request, "try.html", {"text": text, "result": result, "nav": ""}, who=who)


# -- impact on the edit page -------------------------------------------------------------------


@routes.post(r"/admin/faqs/{id:\d+}/impact")
@routes.post("/admin/faqs/new/impact")
async def impact_view(request: web.Request) -> web.Response:
    """The edit form again, exactly as typed, with the questions this content would answer differently."""
    form = await request.post()
    faq_id = path_id(request) if "id" in request.match_info else None
    fields = typed_fields(form)
    async with staff_request(request) as ctx:
        if faq_id is not None:
            staff.get_entry(ctx.session, entry_id=faq_id)  # 404 first
    problem: StaffError | None = None
    changed: list[dict[str, Any]] = []
    try:
        with db(request) as session:
            proposed = FaqInput.from_mapping(fields)
            staff.clause_for_ref(session, proposed.source)
        tools = answer_tools(request.app)
        changed = await tools.run(impact_of, tools, faq_id=faq_id, data=proposed, own_only=False)
    except StaffError as exc:
        problem = exc
    shown = {"changed": changed, "taken": impact.taken_questions(changed), "checked": problem is None}
    with warnings.catch_warnings():  # aiohttp_jinja2's per-request context lives under its plain string key
        warnings.simplefilter("ignore", web.NotAppKeyWarning)
        request[aiohttp_jinja2.REQUEST_CONTEXT_KEY] = {"impact": shown}  # read by impact_panel.html
    return await staff_page(
        request,
        entry_page,
        entry_id=faq_id,
        fields=fields,
        problem=problem,
        typed_preview=True,
        typed_version=form_int(form, "version"),
        status=http_status(problem) if problem else 200,
    )


def setup_inbox(app: web.Application) -> None:
    """The admin pages of this module and the answer engines they share with web.inbox_api."""
    setup_answer_tools(app)
    app.add_routes(routes)
