"""JSON API of the grouped inbox, the test box and the impact check (issue 14; openapi.yml).

- ``GET /api/v1/inbox/groups?status=open|attached|drafted|dismissed|all&q=&limit=&offset=``
  (``&format=csv``: the same groups' questions as CSV), ``GET /api/v1/inbox/groups/{id}``;
- ``POST /api/v1/inbox/groups/{id}/attach`` ``{"faq_id", "version", "question_ids"?}``: the entry
  (200), or 202 with the proposal; a stale version 409; ``…/draft`` (201 with the draft's id),
  ``…/dismiss``, and ``POST /api/v1/inbox/groups/dismiss`` ``{"ids": [...]}`` for many at once;
- ``POST /api/v1/try`` ``{"text"}``: what the bot would answer, the deciding step and the matches;
- ``POST /api/v1/faqs/{id}/impact`` with the entry as it would be saved: the known questions
  whose answer would change.

Grouping, deciding and the impact check run in a worker thread under the answer engines' lock
(web.trying.AnswerTools), never on the event loop.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from knowledge import impact, inbox_groups, staff
from knowledge.errors import Invalid
from knowledge.staff import FaqInput
from web.api import body, entry_id, proposal_reply
from web.auth import api_user, db
from web.params import path_id
from web.trying import answer_tools, impact_of, nlu_of, question_text, try_question

routes = web.RouteTableDef()
MAX_LIMIT = 500


def group_id(request: web.Request) -> int:
    return path_id(request, code="group_not_found", message="找不到该问题组：编号必须是正整数。")


def _number(value: str | None, name: str, default: int, maximum: int) -> int:
    if not value:
        return default
    if not (value.isascii() and value.isdigit() and len(value) <= 7):
        raise Invalid(f"invalid_{name}", f"{name} 必须是非负整数。")
    return min(int(value), maximum)


def group_filter(query: Any) -> inbox_groups.GroupFilter:
    """The list's filters from a query string, checked (422 with a Chinese message otherwise)."""
    return inbox_groups.GroupFilter(
        status=inbox_groups.check_status(query.get("status")),
        q=(query.get("q") or "").strip(),
        limit=_number(query.get("limit"), "limit", 100, MAX_LIMIT) or 100,
        offset=_number(query.get("offset"), "offset", 0, 10**6),
    )


def csv_response(data: bytes, name: str = "inbox.csv") -> web.Response:
    return web.Response(
        body=data,
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def ids_of(value: Any, name: str) -> list[int]:
    if not isinstance(value, list) or not all(staff.is_id(v) for v in value):
        raise Invalid(f"invalid_{name}", f"{name} 必须是正整数的列表。")
    return list(value)


@routes.get("/api/v1/inbox/groups")
async def list_groups(request: web.Request) -> web.Response:
    where = group_filter(request.query)
    fmt = request.query.get("format") or "json"
    if fmt not in ("json", "csv"):
        raise Invalid("invalid_format", "format 必须是 json 或 csv。")
    tools = answer_tools(request.app)

    def work() -> Any:
        with db(request) as session:
            api_user(request, session)
            inbox_groups.assign_new_questions(session, tools.matcher)
            if fmt == "csv":
                return inbox_groups.export_csv(session, where)
            return inbox_groups.list_groups(session, tools.matcher, where)

    found = await tools.run(work)
    if fmt == "csv":
        return csv_response(found)
    return web.json_response({"groups": found, "count": len(found)})


@routes.get("/api/v1/inbox/groups/{id}")
async def get_group(request: web.Request) -> web.Response:
    number, tools = group_id(request), answer_tools(request.app)

    def work() -> dict[str, Any]:
        with db(request) as session:
            api_user(request, session)
            return inbox_groups.group_view(session, tools.matcher, number)

    return web.json_response(await tools.run(work))


@routes.post("/api/v1/inbox/groups/{id}/attach")
async def attach(request: web.Request) -> web.Response:
    """200 with the entry when saved; 202 with ``proposal`` when the caller may not change it directly."""
    data = await body(request)
    number = group_id(request)
    question_ids = ids_of(data["question_ids"], "question_ids") if data.get("question_ids") is not None else None
    with db(request) as session:
        user = api_user(request, session)
        saved = inbox_groups.attach(
            session,
            group_id=number,
            faq_id=data.get("faq_id"),
            expected_version=data.get("version"),
            user=user,
            question_ids=question_ids,
        )
        if saved.proposal is not None:
            return proposal_reply(session, saved.proposal)
        return web.json_response(staff.entry_dict(saved.entry))


@routes.post("/api/v1/inbox/groups/{id}/draft")
async def draft(request: web.Request) -> web.Response:
    number, tools = group_id(request), answer_tools(request.app)

    def work() -> dict[str, Any]:
        with db(request) as session:
            user = api_user(request, session)
            entry = inbox_groups.make_draft(session, group_id=number, user=user, matcher=tools.matcher)
            return {"faq_id": entry.id, "entry": staff.entry_dict(entry)}

    return web.json_response(await tools.run(work), status=201)


@routes.post("/api/v1/inbox/groups/{id}/dismiss")
async def dismiss(request: web.Request) -> web.Response:
    number = group_id(request)
    with db(request) as session:
        user = api_user(request, session)
        inbox_groups.dismiss(session, group_ids=[number], user=user)
    return web.json_response({"ok": True, "dismissed": 1})


@routes.post("/api/v1/inbox/groups/dismiss")
async def dismiss_many(request: web.Request) -> web.Response:
    """All or nothing: if one of the groups was already handled, none is dismissed (409)."""
    data = await body(request)
    ids = ids_of(data.get("ids"), "ids")
    with db(request) as session:
        user = api_user(request, session)
        count = inbox_groups.dismiss(session, group_ids=ids, user=user)
    return web.json_response({"ok": True, "dismissed": count})


@routes.post("/api/v1/try")
async def try_it(request: web.Request) -> web.Response:
    data = await body(request)
    with db(request) as session:
        api_user(request, session)
    text = question_text(data.get("text"))
    tools = answer_tools(request.app)
    return web.json_response(await tools.run(try_question, tools, text, await nlu_of(text)))


@routes.post("/api/v1/faqs/{id}/impact")
async def faq_impact(request: web.Request) -> web.Response:
    data = await body(request)
    number = entry_id(request)
    with db(request) as session:
        api_user(request, session)
        staff.get_entry(session, entry_id=number)  # 404 first
        proposed = FaqInput.from_mapping(data)
        staff.clause_for_ref(session, proposed.source)  # 422 for an unknown clause
    tools = answer_tools(request.app)
    changed = await tools.run(impact_of, tools, faq_id=number, data=proposed, own_only=False)
    taken = impact.taken_questions(changed)
    return web.json_response({"changed": changed, "takes_own_questions": len(taken)})
