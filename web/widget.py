"""The resident chat widget: a demo city page at / that embeds /static/widget.js, and CORS for feedback.

``/static/widget.js`` itself is served by ``init_app``'s static route. The widget talks to Rasa's
REST channel directly (Rasa runs with ``--cors "*"``) and posts 👍/👎 to ``/api/v1/feedback`` of
this service, which may be on another origin than the page that embeds the widget: that endpoint
is public and anonymous, so it answers CORS requests from any origin (no cookies are involved).

The page's Rasa URL: ``?server=`` (loopback addresses only — the browser tests point the widget at
their own Rasa; no link can send residents of a real deployment to a foreign server), else the
environment variable ``RASA_PUBLIC_URL``, else the same host as the page on port 5005.
"""

from __future__ import annotations

import ipaddress
import os
import re
from urllib.parse import urlsplit

import aiohttp_jinja2
from aiohttp import web

routes = web.RouteTableDef()

DEFAULT_RASA_PORT = 5005
FEEDBACK_PATH = "/api/v1/feedback"
_HOSTNAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$")
_PATH = re.compile(r"^[A-Za-z0-9._~/-]*$")

DEMO_TITLE = "杭州市民服务助手"
DEMO_GREETING = (
    "您好！我是杭州市民服务助手，可以为您解读《杭州争当浙江高质量发展建设共同富裕示范区城市范例的行动计划"
    "（2021—2025年）》：老旧小区加装电梯、托育托位、积分落户、租赁住房，以及计划里的其他承诺。"
    "每条答复都注明出处。请直接输入您的问题，例如“蓝领公寓”。"
)


def http_url(value: str | None) -> tuple[str, str] | None:
    """(normalised URL without trailing slash, origin) of an http(s) URL, or None.

    Only a scheme, a plain host name or IP address, a port and a simple path get through, so the
    result can go into an attribute and a Content-Security-Policy without any escaping questions.
    """
    if not value:
        return None
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:
        return None
    host = parts.hostname or ""
    if parts.scheme not in ("http", "https") or parts.username or parts.password or parts.query or parts.fragment:
        return None
    if ":" in host:  # IPv6 literal
        try:
            host = f"[{ipaddress.IPv6Address(host).compressed}]"
        except ValueError:
            return None
    elif not _HOSTNAME.match(host):
        return None
    if not _PATH.match(parts.path):
        return None
    origin = f"{parts.scheme}://{host}" + (f":{port}" if port is not None else "")
    return origin + parts.path.rstrip("/"), origin


def is_loopback(origin: str) -> bool:
    host = urlsplit(origin).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def rasa_server(request: web.Request) -> tuple[str, str]:
    """The Rasa URL the demo page gives the widget, and its origin (for connect-src)."""
    override = request.query.get("server")
    if override is not None:
        parsed = http_url(override)
        if parsed is None or not is_loopback(parsed[1]):
            raise web.HTTPBadRequest(
                text="参数 server 必须是本机（localhost 或 127.0.0.1）的 http(s) 地址。", content_type="text/plain"
            )
        return parsed
    configured = http_url(os.environ.get("RASA_PUBLIC_URL"))
    if configured:
        return configured
    same_host = http_url(f"{request.scheme}://{request.url.host or 'localhost'}:{DEFAULT_RASA_PORT}")
    return same_host or ("http://localhost:5005", "http://localhost:5005")


@routes.get("/")
async def demo_page(request: web.Request) -> web.Response:
    server, server_origin = rasa_server(request)
    response = aiohttp_jinja2.render_template(
        "demo.html", request, {"server": server, "title": DEMO_TITLE, "greeting": DEMO_GREETING}
    )
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        f"connect-src 'self' {server_origin}; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-cache"
    return response


@routes.route("OPTIONS", FEEDBACK_PATH)
async def feedback_preflight(_: web.Request) -> web.Response:
    return web.Response(
        status=204,
        headers={
            "Access-Control-Allow-Methods": "POST",
            "Access-Control-Allow-Headers": "Content-Type",
            "Access-Control-Max-Age": "86400",
        },
    )


async def feedback_cors(request: web.Request, response: web.StreamResponse) -> None:
    if request.path == FEEDBACK_PATH and request.method in ("POST", "OPTIONS"):
        response.headers["Access-Control-Allow-Origin"] = "*"


def setup_widget(app: web.Application) -> None:
    """The demo page at / and CORS on the public feedback endpoint (call after ``setup_admin``,
    which sets up the templates)."""
    app.add_routes(routes)
    app.on_response_prepare.append(feedback_cors)
