"""One helper for every staff request: the transaction, who is calling, and the CSRF check.

    async with staff_request(request, role="admin") as ctx:
        ctx.session  # one transaction: committed when the block ends, rolled back on any error
        ctx.user     # the staff member (ctx.csrf: the session's CSRF token on admin pages)

Who is calling depends on where the request goes:

- ``/api/…``: an ``Authorization: Bearer`` token (401 without a valid one; 403 while the password
  must be changed, except on the routes that change it);
- anything else (the admin pages): the session cookie; not logged in → the login page, password to
  change → the account page. A POST, PUT, PATCH or DELETE must carry the session's CSRF token in its
  form (403 ``csrf_failed`` otherwise).

Domain errors (``knowledge.errors``) raised in the block leave it after the rollback; the one place
that turns them into a status and a Chinese message is ``web.errors`` (JSON for the API, the error
page for the admin, ``web.admin.admin_errors``), or the handler itself when it shows the form again.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from aiohttp import web
from sqlalchemy.orm import Session

from knowledge.models import StaffUser
from knowledge.roles import require_role
from web.auth import api_user, check_csrf, db, logged_in

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


@dataclass
class StaffContext:
    """What a handler needs inside the block."""

    session: Session
    user: StaffUser
    csrf: str = ""  # the session's CSRF token (admin pages; the API's tokens need none)

    @property
    def who(self) -> tuple[StaffUser, str]:
        """The staff member and the CSRF token, as the admin's page renderers take them."""
        return self.user, self.csrf


@asynccontextmanager
async def staff_request(request: web.Request, *, role: str | None = None) -> AsyncIterator[StaffContext]:
    """A transaction and the calling staff member, checked as the module docstring says.

    ``role``: the least role needed (``require_role``: 403 for less).
    """
    form = await request.post() if request.method not in SAFE_METHODS and not is_api(request) else None
    with db(request) as session:
        if is_api(request):
            ctx = StaffContext(session, api_user(request, session))
        else:
            ctx = StaffContext(session, *logged_in(request, session))
            if form is not None:
                check_csrf(form, ctx.csrf)
        if role is not None:
            require_role(ctx.user, role)
        yield ctx


def is_api(request: web.Request) -> bool:
    return request.path.startswith("/api/")
