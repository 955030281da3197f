"""Every error a person can cause becomes a clear Chinese message, never a stack trace.

The knowledge package raises domain errors without HTTP codes (``knowledge.errors``);
``http_status`` is the one place that decides which status each kind gets, for the API's JSON
and the admin's pages alike.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from sqlalchemy import exc as db_errors

from knowledge.errors import Closed, Conflict, Forbidden, Invalid, NotFound, StaffError, Unauthorized

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

HTTP_MESSAGES = {
    400: ("bad_request", "请求格式不正确。"),
    401: ("unauthorized", "请先登录（缺少或无效的令牌）。"),
    403: ("forbidden", "没有权限执行此操作。"),
    404: ("not_found", "找不到该地址或条目。"),
    405: ("method_not_allowed", "不支持这种请求方法。"),
    413: ("too_large", "提交的内容太大。"),
    429: ("too_many_requests", "请求太频繁，请稍后再试。"),
}

# Most specific first: Ungrounded is an Invalid, so it is found as 422 through its base class.
ERROR_STATUS: tuple[tuple[type[StaffError], int], ...] = (
    (Conflict, 409),
    (Closed, 409),
    (NotFound, 404),
    (Unauthorized, 401),
    (Forbidden, 403),
    (Invalid, 422),
)


# A database that does not answer in time (connect timeout, a restart, SQLite busy, pool exhausted)
# is the service's trouble, not the person's: 503 with a Chinese message, and nothing was written,
# since the transaction did not commit.
DATABASE_DOWN = (db_errors.OperationalError, db_errors.TimeoutError)
DATABASE_DOWN_MESSAGE = "数据库暂时连接不上，请稍后再试。您的数据没有被修改。"
RETRY_AFTER_SECONDS = "5"


def log_database_down(request: web.Request, error: Exception) -> None:
    cause = getattr(error, "orig", None) or error  # the driver's error (psycopg's ConnectionTimeout, …)
    log.warning("database unavailable on %s %s: %s", request.method, request.path, type(cause).__name__)


def http_status(error: StaffError) -> int:
    """The HTTP status of a domain error (400 for any other StaffError)."""
    for kind, status in ERROR_STATUS:
        if isinstance(error, kind):
            return status
    return 400


def error_body(error: StaffError) -> dict[str, object]:
    """The JSON error body: ``error``, ``message``, then ``current`` (409), ``details`` and the error's own fields."""
    body: dict[str, object] = {"error": error.code, "message": error.message}
    if isinstance(error, Conflict):
        body["current"] = error.details
    elif error.details:
        body["details"] = error.details
    return {**body, **error.fields}


def json_error(status: int, code: str, message: str, **extra: object) -> web.Response:
    return web.json_response({"error": code, "message": message, **extra}, status=status)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    wants_json = request.path.startswith("/api/")
    try:
        return await handler(request)
    except StaffError as exc:
        if wants_json:
            return web.json_response(error_body(exc), status=http_status(exc))
        return web.Response(status=http_status(exc), text=exc.message, content_type="text/plain")
    except web.HTTPException as exc:
        if exc.status < 400 or not wants_json:
            raise
        code, message = HTTP_MESSAGES.get(exc.status, ("error", "请求无法处理。"))
        if exc.status == 413:
            message = "提交的内容太大（超过大小限制）。"
        return json_error(exc.status, code, message)
    except DATABASE_DOWN as exc:
        log_database_down(request, exc)
        headers = {"Retry-After": RETRY_AFTER_SECONDS}
        if wants_json:
            response = json_error(503, "database_unavailable", DATABASE_DOWN_MESSAGE)
            response.headers.update(headers)
            return response
        return web.Response(status=503, text=DATABASE_DOWN_MESSAGE, content_type="text/plain", headers=headers)
    except Exception:
        log.exception("unexpected error on %s %s", request.method, request.path)
        if wants_json:
            return json_error(500, "internal_error", "服务器内部错误，请稍后再试。您的数据没有被修改。")
        return web.Response(status=500, text="服务器内部错误，请稍后再试。", content_type="text/plain")
