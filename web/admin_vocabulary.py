"""The vocabulary page of the staff admin UI: /admin/vocabulary (everyday words -> the plan's terms).

List and search the words, add one, change or delete one (after a confirmation page). Every
change goes through ``knowledge.vocabulary``, as the JSON API's do: reviewer role, the version
it was based on, the audit log. A change is live for residents at once (the answer engine sees it
through the knowledge-base fingerprint). Works without JavaScript; a form that comes back with a
problem keeps what was typed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web
from sqlalchemy.orm import Session

from knowledge import staff, vocabulary
from knowledge.models import StaffUser
from web.admin import form_int, path_id, redirect, render, text_field
from web.auth import check_csrf, db, logged_in

routes = web.RouteTableDef()

FIELDS = ("variant", "canonical", "note")
NOTICES = {
    "added": "已添加：居民的下一个问题就会用上这个词，不需要重新训练或重启。",
    "saved": "已保存：居民的下一个问题就会用上修改后的词。",
    "deleted": "已删除：居民问题中的这个说法不再替换。",
}


def typed(form: Mapping[str, Any]) -> dict[str, str]:
    return {name: text_field(form, name) for name in FIELDS}


def errors_of(problem: staff.StaffError | None) -> dict[str, str]:
    if problem is None or not isinstance(problem.details, dict) or isinstance(problem, vocabulary.VocabularyConflict):
        return {}
    return {name: message for name, message in problem.details.items() if isinstance(message, str)}


def status_of(problem: staff.StaffError) -> int:
    """The HTTP status of a refusal on these pages."""
    for kind, status in (
        (staff.Forbidden, 403),
        (vocabulary.VocabularyConflict, 409),
        (staff.NotFound, 404),
        (staff.Invalid, 422),
    ):
        if isinstance(problem, kind):
            return status
    return 400


def list_page(
    request: web.Request,
    session: Session,
    who: tuple[StaffUser, str],
    *,
    fields: dict[str, str] | None = None,
    problem: staff.StaffError | None = None,
) -> web.Response:
    q = request.query.get("q", "").strip()[:200]
    terms = [vocabulary.term_dict(t) for t in vocabulary.list_terms(session, q=q or None)]
    context = {
        "terms": terms,
        "q": q,
        "fields": fields or dict.fromkeys(FIELDS, ""),
        "errors": errors_of(problem),
        "problem": problem.message if problem else None,
        "notice": NOTICES.get(request.query.get("msg", "")),
        "nav": "vocabulary",
        "limits": {"word": vocabulary.MAX_WORD_CHARS, "note": vocabulary.MAX_NOTE_CHARS},
    }
    return render(request, "vocabulary.html", context, who=who, status=status_of(problem) if problem else 200)


def term_page(
    request: web.Request,
    session: Session,
    who: tuple[StaffUser, str],
    *,
    term_id: int,
    fields: dict[str, str] | None = None,
    problem: staff.StaffError | None = None,
    typed_version: int | None = None,
    confirm_delete: bool = False,
) -> web.Response:
    """The edit form of a word (or the confirmation before deleting it).

    On a version conflict the saved word is shown beside what was typed, and the form carries the
    current version, so saving again is deliberate; otherwise a form that comes back keeps the
    version it was based on.
    """
    term = vocabulary.term_dict(vocabulary.get_term(session, term_id=term_id))
    conflict = isinstance(problem, vocabulary.VocabularyConflict)
    version = term["version"] if conflict or typed_version is None else typed_version
    context = {
        "term": term,
        "fields": fields or {name: term[name] for name in FIELDS},
        "version": version,
        "errors": errors_of(problem),
        "problem": problem.message if problem else None,
        "conflict": conflict,
        "confirm_delete": confirm_delete,
        "notice": NOTICES.get(request.query.get("msg", "")),
        "nav": "vocabulary",
        "limits": {"word": vocabulary.MAX_WORD_CHARS, "note": vocabulary.MAX_NOTE_CHARS},
    }
    return render(request, "vocabulary_term.html", context, who=who, status=status_of(problem) if problem else 200)


@routes.get("/admin/vocabulary")
async def vocabulary_list(request: web.Request) -> web.Response:
    with db(request) as session:
        return list_page(request, session, logged_in(request, session))


@routes.post("/admin/vocabulary")
async def add_term(request: web.Request) -> web.Response:
    form = await request.post()
    fields = typed(form)
    with db(request) as session:
        check_csrf(form, logged_in(request, session)[1])
    try:
        with db(request) as session:
            user, _ = logged_in(request, session)
            vocabulary.create_term(session, data=vocabulary.TermInput.from_mapping(fields), user=user)
    except staff.StaffError as exc:
        with db(request) as session:
            return list_page(request, session, logged_in(request, session), fields=fields, problem=exc)
    raise redirect("/admin/vocabulary", "added")


@routes.get(r"/admin/vocabulary/{id:\d+}")
async def term_form(request: web.Request) -> web.Response:
    with db(request) as session:
        return term_page(request, session, logged_in(request, session), term_id=path_id(request))


@routes.post(r"/admin/vocabulary/{id:\d+}")
async def save_term(request: web.Request) -> web.Response:
    form = await request.post()
    term_id, fields = path_id(request), typed(form)
    with db(request) as session:
        check_csrf(form, logged_in(request, session)[1])
        vocabulary.get_term(session, term_id=term_id)  # 404 before anything else
    try:
        with db(request) as session:
            user, _ = logged_in(request, session)
            vocabulary.update_term(
                session,
                term_id=term_id,
                data=vocabulary.TermInput.from_mapping(fields),
                expected_version=form_int(form, "version"),
                user=user,
            )
    except staff.NotFound:
        raise
    except staff.StaffError as exc:
        with db(request) as session:
            who = logged_in(request, session)
            return term_page(
                request,
                session,
                who,
                term_id=term_id,
                fields=fields,
                problem=exc,
                typed_version=form_int(form, "version"),
            )
    raise redirect(f"/admin/vocabulary/{term_id}", "saved")


@routes.get(r"/admin/vocabulary/{id:\d+}/delete")
async def confirm_delete(request: web.Request) -> web.Response:
    with db(request) as session:
        who = logged_in(request, session)
        return term_page(request, session, who, term_id=path_id(request), confirm_delete=True)


@routes.post(r"/admin/vocabulary/{id:\d+}/delete")
async def delete_term(request: web.Request) -> web.Response:
    form = await request.post()
    term_id = path_id(request)
    with db(request) as session:
        check_csrf(form, logged_in(request, session)[1])
    try:
        with db(request) as session:
            user, _ = logged_in(request, session)
            vocabulary.delete_term(session, term_id=term_id, expected_version=form_int(form, "version"), user=user)
    except staff.NotFound:
        raise
    except staff.StaffError as exc:
        with db(request) as session:
            who = logged_in(request, session)
            return term_page(request, session, who, term_id=term_id, problem=exc, confirm_delete=True)
    raise redirect("/admin/vocabulary", "deleted")
