"""Staff service findings of issue 12 besides login: the OpenAPI document, the session cookie's
``Secure`` flag behind the TLS ingress, feedback that does not reveal which ids exist, and staff
searches of any length. Real SQLite and real PostgreSQL wherever the database matters.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import re
import ssl
import threading
from collections.abc import AsyncIterator, Iterator
from http.cookies import SimpleCookie
from pathlib import Path

import pytest
import yaml
from aiohttp import DummyCookieJar
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, make_url, select

from knowledge import staff
from knowledge.build import build
from knowledge.db import get_engine, get_sessionmaker, session_scope, upgrade_to_head
from knowledge.models import AnswerFeedback, FaqEntry, StaffUser
from web import api
from web.admin import CSRF_FIELD, LOGIN_CSRF_COOKIE
from web.app import init_app
from web.auth import SESSION_COOKIE

ADMIN = ("admin", "Strong-Pa55word!")
WIDGET_JS = Path(__file__).resolve().parents[1] / "web" / "static" / "widget.js"


@pytest.fixture
def empty_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A knowledge base with the schema and the bootstrap admin only (where the content does not matter)."""
    monkeypatch.setenv("ADMIN_USERNAME", ADMIN[0])
    monkeypatch.setenv("ADMIN_PASSWORD", ADMIN[1])
    url = f"sqlite:///{tmp_path / 'kb.sqlite3'}"
    upgrade_to_head(url)
    yield url
    get_engine(url).dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def built_url(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("ADMIN_USERNAME", ADMIN[0])
    monkeypatch.setenv("ADMIN_PASSWORD", ADMIN[1])
    url = f"sqlite:///{tmp_path / 'kb.sqlite3'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    build(url=url)
    return url


@pytest.fixture
async def client(built_url: str) -> AsyncIterator[TestClient]:
    async with TestClient(TestServer(init_app(built_url))) as test_client:
        yield test_client


async def api_headers(client: TestClient) -> dict[str, str]:
    reply = await client.post("/api/v1/login", json={"username": ADMIN[0], "password": ADMIN[1]})
    assert reply.status == 200, await reply.text()
    return {"Authorization": f"Bearer {(await reply.json())['token']}"}


def set_cookies(response) -> dict[str, SimpleCookie]:  # type: ignore[no-untyped-def]
    cookies = {}
    for header in response.headers.getall("Set-Cookie", []):
        parsed = SimpleCookie(header)
        cookies.update({name: parsed for name in parsed})
    return cookies


async def admin_login(client: TestClient, headers: dict[str, str] | None = None, **request_args) -> dict:  # type: ignore[no-untyped-def]
    """Log in through the form, carrying the cookies by hand (a client's jar keeps Secure ones off http).

    Returns every cookie set on the way, by name (the login form's CSRF cookie as the form page set it).
    """
    headers = headers or {}
    page = await client.get("/admin/login", headers=headers, **request_args)
    html = await page.text()
    token = re.search(rf'name="{CSRF_FIELD}" value="([^"]+)"', html).group(1)
    cookies = set_cookies(page)
    reply = await client.post(
        "/admin/login",
        data={CSRF_FIELD: token, "next": "/admin", "username": ADMIN[0], "password": ADMIN[1]},
        headers={**headers, "Cookie": f"{LOGIN_CSRF_COOKIE}={token}"},
        allow_redirects=False,
        **request_args,
    )
    assert reply.status == 303, await reply.text()
    return {**set_cookies(reply), **cookies}


# -- 4. the OpenAPI document is parsed once, at start ------------------------------------------


async def test_openapi_json_is_parsed_once_at_start_not_per_request(
    empty_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copy = tmp_path / "openapi.yml"
    copy.write_text(api.OPENAPI_FILE.read_text(encoding="utf-8"), encoding="utf-8")
    monkeypatch.setattr(api, "OPENAPI_FILE", copy)
    parses = []
    real_safe_load = yaml.safe_load
    monkeypatch.setattr(yaml, "safe_load", lambda stream: parses.append(1) or real_safe_load(stream))

    async with TestClient(TestServer(init_app(empty_url))) as client:
        first = await client.get("/api/v1/openapi.json")
        spec = await first.json()
        assert first.status == 200 and first.content_type == "application/json"
        assert spec["openapi"].startswith("3.") and "/api/v1/faqs/{id}" in spec["paths"]
        copy.write_text("openapi: 3.1.0\ninfo: {title: changed, version: '0'}\npaths: {}\n", encoding="utf-8")
        for _ in range(20):
            assert await (await client.get("/api/v1/openapi.json")).json() == spec
    assert len(parses) == 1


# -- 5. the session cookie is Secure when the browser used HTTPS -------------------------------


def self_signed_context(tmp_path: Path) -> ssl.SSLContext:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    return context


@pytest.mark.parametrize(
    ("proxies", "forwarded_proto", "secure"),
    [
        (None, None, False),  # plain http
        (None, "https", False),  # no trusted proxy: anyone can send the header
        ("1", "https", True),  # behind the TLS ingress
        ("1", "http", False),  # behind the ingress, but the browser used http
        ("2", "https, http", True),  # two proxies that append: the outer one saw https
    ],
)
async def test_cookies_are_secure_when_the_browser_came_over_https_through_trusted_proxies(
    empty_url: str, monkeypatch: pytest.MonkeyPatch, proxies: str | None, forwarded_proto: str | None, secure: bool
) -> None:
    if proxies:
        monkeypatch.setenv("WEB_PROXIES_COUNT", proxies)
    else:
        monkeypatch.delenv("WEB_PROXIES_COUNT", raising=False)
    headers = {"X-Forwarded-Proto": forwarded_proto} if forwarded_proto else {}
    async with TestClient(TestServer(init_app(empty_url)), cookie_jar=DummyCookieJar()) as client:
        cookies = await admin_login(client, headers)
    assert bool(cookies[SESSION_COOKIE][SESSION_COOKIE]["secure"]) is secure
    assert bool(cookies[LOGIN_CSRF_COOKIE][LOGIN_CSRF_COOKIE]["secure"]) is secure
    assert cookies[SESSION_COOKIE][SESSION_COOKIE]["httponly"] is True


async def test_cookies_are_secure_on_a_direct_tls_connection(
    empty_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WEB_PROXIES_COUNT", raising=False)
    server = TestServer(init_app(empty_url))
    await server.start_server(ssl=self_signed_context(tmp_path))
    async with TestClient(server, cookie_jar=DummyCookieJar()) as client:
        assert str(client.make_url("/")).startswith("https://")
        cookies = await admin_login(client, {"X-Forwarded-Proto": "http"}, ssl=False)  # the header is not believed
    assert cookies[SESSION_COOKIE][SESSION_COOKIE]["secure"] is True


# -- 6. feedback does not reveal which ids exist -------------------------------------------------


def entries_of_every_kind(url: str) -> dict[str, int]:
    """A published entry, a draft, a deleted one (each with its id)."""
    with session_scope(url) as session:
        admin = session.scalar(select(StaffUser).where(StaffUser.username == ADMIN[0]))
        published = session.scalar(select(FaqEntry.id).where(FaqEntry.status == "published").limit(1))
        data = staff.FaqInput(topic="elevator", question="草稿问题？", answer="草稿答复。", source="第9条")
        draft = staff.create_entry(session, data=data, user=admin)
        gone = staff.create_entry(session, data=data, user=admin, publish=True)
        session.flush()
        staff.delete_entry(session, entry_id=gone.id, expected_version=gone.version, user=admin)
        largest = session.scalar(select(func.max(FaqEntry.id)))
        return {"published": published, "draft": draft.id, "deleted": gone.id, "missing": largest + 1000}


async def test_feedback_gets_one_answer_for_every_id_that_is_not_a_published_entry(
    client: TestClient, built_url: str
) -> None:
    ids = entries_of_every_kind(built_url)
    others = {**{k: v for k, v in ids.items() if k != "published"}, "zero": 0, "negative": -5}
    others |= {"beyond any row": 2**31, "beyond any integer column": 10**30}
    answers = {}
    for what, faq_id in others.items():
        reply = await client.post("/api/v1/feedback", json={"faq_id": faq_id, "rating": "down"})
        answers[what] = (reply.status, await reply.json())
    assert len(set(map(repr, answers.values()))) == 1, answers
    status, body = answers["draft"]
    assert status == 200 and body == {"ok": True, "message": "感谢您的反馈！"}
    counted = await client.post("/api/v1/feedback", json={"faq_id": ids["published"], "rating": "down"})
    assert counted.status == 201 and await counted.json() == body  # the same words for the resident
    wrong_type = await client.post("/api/v1/feedback", json={"faq_id": "1", "rating": "up"})
    assert wrong_type.status == 422

    with get_sessionmaker(built_url)() as session:
        stored = session.scalars(select(AnswerFeedback.faq_id)).all()
    assert stored == [ids["published"]]


async def test_drafts_and_deleted_entries_are_not_in_the_feedback_summary(client: TestClient, built_url: str) -> None:
    ids = entries_of_every_kind(built_url)
    with session_scope(built_url) as session:  # rows the earlier code let in for a draft and a deleted entry
        session.add_all(
            [AnswerFeedback(faq_id=ids[kind], rating=-1) for kind in ("draft", "deleted", "published", "published")]
        )
    summary = await (await client.get("/api/v1/feedback", headers=await api_headers(client))).json()
    assert [(row["faq_id"], row["down"]) for row in summary["items"]] == [(ids["published"], 2)]
    await admin_login(client)
    html = await (await client.get("/admin/feedback")).text()
    assert f'href="/admin/faqs/{ids["published"]}"' in html
    assert f'href="/admin/faqs/{ids["draft"]}"' not in html and f'href="/admin/faqs/{ids["deleted"]}"' not in html


def test_the_widget_thanks_the_resident_for_either_answer() -> None:
    """widget.js takes 200 and 201 as success (the browser tests run the widget itself)."""
    script = WIDGET_JS.read_text(encoding="utf-8")
    success_check = r'"/api/v1/feedback".*?\.then\(function \(response\) \{(.*?)\}'
    check = re.search(success_check, script, re.S)
    assert check and "201" in check.group(1) and "200" in check.group(1)


# -- 7. staff searches of any length -------------------------------------------------------------


def test_a_search_looks_for_at_most_20_distinct_words_of_its_first_200_characters() -> None:
    assert staff.search_terms("电梯 电梯 加装  电梯") == ["电梯", "加装"]
    assert staff.search_terms(" ".join(f"w{i}" for i in range(1000))) == [f"w{i}" for i in range(20)]
    assert len(staff.search_terms("x" * 5000)) == 1 and len(staff.search_terms("x" * 5000)[0]) == 200
    assert staff.search_terms("a\x00b") == ["a", "b"] and staff.search_terms(None) == []


async def test_a_1000_word_search_answers_normally_in_the_api_and_the_admin_list(
    client: TestClient, built_url: str
) -> None:
    headers = await api_headers(client)
    words = " ".join(f"w{i}" for i in range(1000))
    reply = await client.get("/api/v1/faqs", params={"q": words}, headers=headers)
    assert reply.status == 200, await reply.text()
    assert (await reply.json()) == {"items": [], "count": 0}

    one = await (await client.get("/api/v1/faqs", params={"q": "2025"}, headers=headers)).json()
    repeated = await (await client.get("/api/v1/faqs", params={"q": "2025 " * 1000}, headers=headers)).json()
    assert one["count"] > 0 and repeated == one

    await admin_login(client)
    page = await client.get("/admin", params={"q": words})
    html = await page.text()
    assert page.status == 200, html
    assert 'id="f-q"' in html and "w999" in html  # the normal list page, the search kept in its box
    page = await client.get("/admin", params={"q": "2025 " * 1000})
    html = await page.text()
    assert page.status == 200
    assert all(f'href="/admin/faqs/{item["id"]}"' in html for item in one["items"][:20])


# -- a database that does not answer: 503 and a Chinese message, not a 500 ----------------------


class Cable:
    """A TCP relay to the real PostgreSQL that can be cut, as a database restart or a network fault
    cuts it. It runs its own event loop in a thread: the service's handlers talk to the database
    synchronously and would wait for a relay in their own loop forever."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.writers: list[asyncio.StreamWriter] = []

    def start(self) -> int:
        self.thread.start()
        self.server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._relay, "127.0.0.1", 0), self.loop
        ).result()
        return self.server.sockets[0].getsockname()[1]

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self.writers += [writer, up_writer]

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError):
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            sink.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    def cut(self) -> None:
        async def cut() -> None:
            self.server.close()
            for writer in self.writers:
                writer.close()

        asyncio.run_coroutine_threadsafe(cut(), self.loop).result()

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


async def test_a_database_that_does_not_answer_gets_503_with_a_chinese_message_on_api_and_admin(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A restart of the database or a connect timeout is the service's trouble: the person is told
    to retry (503, Retry-After), in Chinese, on the API and on the admin pages alike."""
    monkeypatch.setenv("ADMIN_USERNAME", ADMIN[0])
    monkeypatch.setenv("ADMIN_PASSWORD", ADMIN[1])
    real = make_url(pg_url)
    cable = Cable(real.host or "127.0.0.1", real.port or 5432)
    url = real.set(host="127.0.0.1", port=cable.start()).render_as_string(hide_password=False)
    try:
        await asyncio.to_thread(build, url=url)
        async with TestClient(TestServer(init_app(url))) as client:
            headers = await api_headers(client)
            cookies = await admin_login(client)
            cookie = "; ".join(f"{name}={jar[name].value}" for name, jar in cookies.items())
            assert (await client.get("/api/v1/faqs", headers=headers)).status == 200
            assert (await client.get("/admin", headers={"Cookie": cookie})).status == 200

            cable.cut()
            reply = await client.get("/api/v1/faqs", headers=headers)
            assert reply.status == 503
            assert reply.headers["Retry-After"].isdigit()
            body = await reply.json()
            assert body["error"] == "database_unavailable"
            assert "数据库" in body["message"] and "没有被修改" in body["message"]

            page = await client.get("/admin", headers={"Cookie": cookie})
            assert page.status == 503
            assert "数据库暂时连接不上" in await page.text()
    finally:
        get_engine(url).dispose()
        cable.stop()
