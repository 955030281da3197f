"""The vocabulary over the JSON API: ``/api/v1/vocabulary`` (documented in openapi.yml).

Everyday words residents use -> the plan's terms (knowledge.vocabulary). Any staff member may
read the list; adding, changing or deleting a word needs the reviewer role, because the change
is live for every resident at once. Writes carry the ``version`` they were based on (409 with
the current word otherwise), and are audited, as FAQ edits are.
"""

from __future__ import annotations

from aiohttp import web

from knowledge import vocabulary
from web.api import body
from web.auth import api_user, db
from web.params import path_id

routes = web.RouteTableDef()


def term_id(request: web.Request) -> int:
    return path_id(request, message="找不到该词条：编号必须是正整数。")


def version_of(value: object) -> object:
    """A version sent as query text ("3") as an integer; anything else as sent (refused later)."""
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 19:
        return int(value)
    return value


@routes.get("/api/v1/vocabulary")
async def list_terms(request: web.Request) -> web.Response:
    with db(request) as session:
        api_user(request, session)
        terms = vocabulary.list_terms(session, q=request.query.get("q"))
        return web.json_response({"items": [vocabulary.term_dict(t) for t in terms], "count": len(terms)})


@routes.post("/api/v1/vocabulary")
async def create_term(request: web.Request) -> web.Response:
    data = await body(request)
    with db(request) as session:
        user = api_user(request, session)
        term = vocabulary.create_term(session, data=vocabulary.TermInput.from_mapping(data), user=user)
        return web.json_response(vocabulary.term_dict(term), status=201)


@routes.get("/api/v1/vocabulary/{id}")
async def get_term(request: web.Request) -> web.Response:
    with db(request) as session:
        api_user(request, session)
        return web.json_response(vocabulary.term_dict(vocabulary.get_term(session, term_id=term_id(request))))


@routes.put("/api/v1/vocabulary/{id}")
async def update_term(request: web.Request) -> web.Response:
    data = await body(request)
    with db(request) as session:
        user = api_user(request, session)
        term = vocabulary.update_term(
            session,
            term_id=term_id(request),
            data=vocabulary.TermInput.from_mapping(data),
            expected_version=data.get("version"),
            user=user,
        )
        return web.json_response(vocabulary.term_dict(term))


@routes.delete("/api/v1/vocabulary/{id}")
async def delete_term(request: web.Request) -> web.Response:
    version = request.query.get("version")
    if request.can_read_body:
        version = (await body(request)).get("version", version)
    with db(request) as session:
        user = api_user(request, session)
        term = vocabulary.delete_term(
            session, term_id=term_id(request), expected_version=version_of(version), user=user
        )
        return web.json_response(vocabulary.term_dict(term))
