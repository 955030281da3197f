"""What can go wrong when staff change the knowledge base, as domain errors.

Each error has a ``code`` for programs and a ``message`` in Chinese for the staff member. They say
nothing about HTTP: the web edge (``web.errors.http_status``) decides which status each kind gets,
so the same errors serve the API, the admin pages, imports and the command line.
"""

from __future__ import annotations

from typing import Any


class StaffError(Exception):
    """An error a staff member caused; ``code`` for programs, ``message`` in Chinese.

    ``details`` is extra information for the caller (per-field messages, the current entry);
    ``fields`` are extra top-level fields of the JSON error body (e.g. ``figures``, ``clause``).
    """

    def __init__(self, code: str, message: str, *, details: Any = None, fields: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.details = code, message, details
        self.fields = fields or {}


class NotFound(StaffError):
    """The entry, revision, proposal or user does not exist."""


class Forbidden(StaffError):
    """The role, or the four-eyes rule, does not allow it."""


class Unauthorized(StaffError):
    """Not logged in, or the login failed."""


class Conflict(StaffError):
    """The entry changed since the version the staff member started from."""

    def __init__(self, current: dict[str, Any]) -> None:
        super().__init__(
            "version_conflict",
            f"该条目已被他人修改（当前版本 {current['version']}），您的修改没有保存。请查看最新内容后再修改。",
            details=current,
        )


class Invalid(StaffError):
    """What was sent cannot be accepted (missing field, unknown clause, weak password …)."""


class Ungrounded(Invalid):
    """The content may not reach residents: a figure its clause lacks, a placeholder, no question.

    ``fields`` carries ``figures`` (those missing from the clause) and ``clause`` (its ref, title and
    text), so that the refusal can show the clause.
    """


class Closed(StaffError):
    """The proposal was already approved, rejected or superseded."""
