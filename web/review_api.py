"""Review and own-account routes of the JSON API (documented in openapi.yml).

- ``GET /api/v1/proposals?status=open`` (the reviewers' queue), ``GET /api/v1/proposals/{id}``,
  ``POST /api/v1/proposals/{id}/approve`` and ``…/reject`` ``{"reason"}``: knowledge.proposals;
- ``GET /api/v1/me``, ``POST /api/v1/me/password`` ``{"old", "new"}``, ``GET /api/v1/users``:
  knowledge.accounts.

Proposals are made by ``PUT /api/v1/faqs/{id}`` (web.api), which answers 202 with the proposal.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from knowledge import accounts, proposals, staff
from knowledge.errors import Invalid
from web.api import body, client_address, preview
from web.auth import api_user, db
from web.errors import json_error
from web.keys import LOGIN_LIMITER, SESSIONMAKER
from web.params import path_id, query_id

routes = web.RouteTableDef()


def proposal_id(request: web.Request) -> int:
    return path_id(request, code="proposal_not_found", message="找不到该修改提议：编号必须是正整数。")


@routes.get("/api/v1/proposals")
async def list_proposals(request: web.Request) -> web.Response:
    q = request.query
    faq_id = query_id(request, "faq_id")
    with db(request) as session:
        api_user(request, session)
        found = proposals.list_proposals(
            session,
            status=q.get("status") or None,
            faq_id=faq_id,
            proposed_by=q.get("proposed_by") or None,
        )
        names = accounts.display_names(session)
        return web.json_response({"items": [proposals.proposal_dict(session, p, names=names) for p in found]})


@routes.get("/api/v1/proposals/{id}")
async def get_proposal(request: web.Request) -> web.Response:
    with db(request) as session:
        api_user(request, session)
        proposal = proposals.get_proposal(session, proposal_id=proposal_id(request))
        view = proposals.proposal_dict(session, proposal, names=accounts.display_names(session))
        return web.json_response(view)


async def optional_body(request: web.Request) -> dict[str, Any]:
    return await body(request) if request.can_read_body else {}


@routes.post("/api/v1/proposals/{id}/approve")
async def approve(request: web.Request) -> web.Response:
    """Publish the proposal. ``version`` (optional): the live version the reviewer compared against (409 if changed)."""
    data = await optional_body(request)
    version = data.get("version")
    if version is not None and (not isinstance(version, int) or isinstance(version, bool)):
        raise Invalid("version_required", "version 必须是整数（您审核时条目的当前版本）。")
    with db(request) as session:
        user = api_user(request, session)
        proposal, entry = proposals.approve(
            session, proposal_id=proposal_id(request), user=user, expected_version=version, reason=data.get("reason")
        )
        names = accounts.display_names(session)
        return web.json_response(
            {
                "proposal": proposals.proposal_dict(session, proposal, names=names),
                "entry": {**staff.entry_dict(entry), "preview": preview(entry)},
            }
        )


@routes.post("/api/v1/proposals/{id}/reject")
async def reject(request: web.Request) -> web.Response:
    data = await body(request)
    with db(request) as session:
        user = api_user(request, session)
        proposal = proposals.reject(session, proposal_id=proposal_id(request), user=user, reason=data.get("reason"))
        view = proposals.proposal_dict(session, proposal, names=accounts.display_names(session))
        return web.json_response({"proposal": view})


@routes.get("/api/v1/me")
async def me(request: web.Request) -> web.Response:
    with db(request) as session:
        return web.json_response(accounts.user_view(api_user(request, session)))


@routes.post("/api/v1/me/password")
async def change_password(request: web.Request) -> web.Response:
    """Set a new password with the current one (also right after an admin's reset); other tokens end."""
    if not await request.app[LOGIN_LIMITER].allow(client_address(request)):
        return json_error(429, "too_many_requests", "尝试太频繁，请稍后再试。")
    data = await body(request)
    token = request.headers.get("Authorization", "").partition(" ")[2].strip()

    def run() -> None:
        with request.app[SESSIONMAKER]() as session, session.begin():
            user = api_user(request, session)
            accounts.change_own_password(session, user=user, old=data.get("old"), new=data.get("new"), keep_token=token)

    await asyncio.to_thread(run)  # Argon2, twice: off the event loop
    return web.json_response({"ok": True, "message": "密码已修改。"})


@routes.get("/api/v1/users")
async def list_users(request: web.Request) -> web.Response:
    with db(request) as session:
        staff.require_role(api_user(request, session), "admin")
        return web.json_response({"items": [accounts.user_view(u) for u in accounts.list_users(session)]})
