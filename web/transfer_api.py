"""FAQ import/export over the JSON API: ``GET /api/v1/export`` and ``POST /api/v1/import``."""

from __future__ import annotations

import asyncio

from aiohttp import web

from knowledge import transfer
from knowledge.staff import Invalid
from web.auth import api_user, db
from web.errors import json_error

routes = web.RouteTableDef()

# An import may be larger than the app's 1 MiB body limit (5,000 rows with long answers),
# so its body is read here with its own limit.
MAX_IMPORT_BYTES = 16 * 1024 * 1024
CONTENT_TYPES = {"csv": "text/csv", "yaml": "application/x-yaml"}
TRUE, FALSE = ("1", "true", "yes"), ("", "0", "false", "no")


def requested_format(request: web.Request, *, default: str | None = None) -> str:
    fmt = request.query.get("format", default or "")
    return transfer.check_format(fmt.strip().lower())


def requested_dry_run(request: web.Request) -> bool:
    value = request.query.get("dry_run", "").strip().lower()
    if value not in TRUE + FALSE:
        raise Invalid("invalid_dry_run", "dry_run 必须是 1 或 0（true 或 false）。")
    return value in TRUE


async def read_upload(request: web.Request) -> bytes:
    if request.content_length is not None and request.content_length > MAX_IMPORT_BYTES:
        raise web.HTTPRequestEntityTooLarge(max_size=MAX_IMPORT_BYTES, actual_size=request.content_length)
    chunks, size = [], 0
    async for chunk in request.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > MAX_IMPORT_BYTES:
            raise web.HTTPRequestEntityTooLarge(max_size=MAX_IMPORT_BYTES, actual_size=size)
        chunks.append(chunk)
    data = b"".join(chunks)
    if not data.strip():
        raise Invalid("empty_file", "请求内容为空：请把导出的 CSV 或 YAML 文件作为请求内容上传。")
    return data


@routes.get("/api/v1/export")
async def export(request: web.Request) -> web.Response:
    fmt = requested_format(request, default="csv")
    with db(request) as session:
        api_user(request, session)
        data = transfer.export_entries(session, fmt=fmt)
    return web.Response(
        body=data,
        content_type=CONTENT_TYPES[fmt],
        charset="utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="faq-export.{fmt}"',
            "Cache-Control": "no-store",  # drafts are not for shared caches
        },
    )


@routes.post("/api/v1/import")
async def import_(request: web.Request) -> web.Response:
    fmt = requested_format(request)
    dry_run = requested_dry_run(request)
    with db(request) as session:
        api_user(request, session)  # 401 before reading a large body
    data = await read_upload(request)

    def run() -> transfer.ImportReport:
        with db(request) as session:
            user = api_user(request, session)
            # nothing is written unless the whole file is fine (and this is not a dry run)
            return transfer.import_entries(session, data=data, fmt=fmt, user=user, dry_run=dry_run)

    report = await asyncio.to_thread(run)  # up to 5,000 rows: keep the event loop free
    if report.ok or dry_run:
        return web.json_response(report.as_dict())
    return json_error(
        422,
        "import_failed",
        f"导入失败：文件中有 {len(report.errors)} 处错误，没有导入任何内容。请按行号修改后重新导入。",
        **report.as_dict(),
    )
