"""Reading numbers from a request: ids in the path and the query string, whole numbers typed in forms.

The JSON API and the admin pages read ids the same way: ASCII digits only ("²" is a digit to
``str.isdigit()``, not to ``int()``), and never beyond the largest id a row can have.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from knowledge.errors import Invalid, NotFound
from knowledge.staff import is_id


def digits(value: Any, max_len: int = 19) -> int | None:
    """A whole number typed in ASCII digits (spaces around it allowed), else None."""
    value = value.strip() if isinstance(value, str) else ""
    return int(value) if value.isascii() and value.isdigit() and len(value) <= max_len else None


def path_number(request: web.Request, name: str = "id") -> int | None:
    """The positive id in the path, or None (letters, "²", a number beyond any row's id)."""
    value = request.match_info[name]
    number = int(value) if value.isascii() and value.isdigit() and len(value) <= 10 else None
    return number if is_id(number) else None


def path_id(request: web.Request, name: str = "id", *, code: str = "not_found", message: str) -> int:
    """The positive id in the path; a NotFound with ``code`` and ``message`` otherwise."""
    number = path_number(request, name)
    if number is None:
        raise NotFound(code, message)
    return number


def query_id(request: web.Request, name: str) -> int | None:
    """An optional positive id in the query string (``?faq_id=``), None when absent; 422 otherwise."""
    value = request.query.get(name) or ""
    if not value:
        return None
    number = int(value) if value.isascii() and value.isdigit() and len(value) <= 10 else None
    if not is_id(number):
        raise Invalid(f"invalid_{name}", f"{name} 必须是正整数。")
    return number
