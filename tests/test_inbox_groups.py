"""The grouped inbox over the JSON API (issue 14), on SQLite and PostgreSQL.

Residents' questions are recorded as the action server records them (knowledge.inbox); whether
the bot answers them is decided by the bot's own ``actions.steps.decide`` on a fresh answer engine
(as the action server would, after the staff service's change).
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from actions.steps import Turn, decide
from knowledge.answering import AnswerEngine
from knowledge.build import build
from knowledge.db import get_engine, get_sessionmaker, session_scope
from knowledge.inbox import record_unanswered
from knowledge.models import AuditEvent, FaqEntry, FaqProposal, InboxGroup, UnansweredQuestion
from knowledge.staff import create_user
from knowledge.text import simplified
from tests.test_admin_views import login as admin_login
from tests.test_admin_views import open_page
from web.app import init_app

ADMIN = ("admin", "Strong-Pa55word!")
EDITOR = ("editor1", "Editor-Passw0rd!")
REVIEWER = ("reviewer1", "Review-Passw0rd!")
# One thing the plan does not cover, asked five ways: the noise of building a lift.
NOISE = [
    "加装电梯施工太吵了怎么办",
    "楼下装电梯天天施工吵得睡不着",
    "装电梯的工地噪音太大，能投诉吗",
    "加梯施工噪音扰民找谁",
    "电梯施工吵死了，晚上还在干活",
]
LIFT = "杭州老旧小区加装电梯有什么政策？"  # a published entry
NOT_COVERED_REPLY = "抱歉，这个问题《行动计划》和2022年的进展报道里都没有写到……"


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path) -> AsyncIterator[str]:
    url = f"sqlite:///{tmp_path / 'kb.sqlite3'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    build(url=url)
    with session_scope(url) as s:
        for (name, password), role in ((ADMIN, "admin"), (EDITOR, "editor"), (REVIEWER, "reviewer")):
            create_user(s, username=name, password=password, role=role, actor="test")
    yield url
    get_engine(url).dispose()


@pytest.fixture
async def client(url: str) -> AsyncIterator[TestClient]:
    async with TestClient(TestServer(init_app(url))) as test_client:
        yield test_client


async def login(client: TestClient, who: tuple[str, str] = ADMIN) -> dict[str, str]:
    reply = await client.post("/api/v1/login", json={"username": who[0], "password": who[1]})
    assert reply.status == 200, await reply.text()
    return {"Authorization": f"Bearer {(await reply.json())['token']}"}


def ask(url: str, text: str, *, kind: str = "unanswered", times: int = 1, reply: str = NOT_COVERED_REPLY) -> None:
    """A resident asks ``text`` and the bot could not answer it (as actions/answer.py records it)."""
    for _ in range(times):
        with session_scope(url) as s:
            record_unanswered(s, text=text, topic="elevator", kind=kind, step="not_covered", reply=reply)


def bot_answers(url: str, text: str) -> tuple[str, int | None]:
    """(step, entry) of the bot's first reply to ``text``, on a fresh engine (as the action server)."""
    replies = decide(Turn(text=simplified(text)), AnswerEngine(get_sessionmaker(url)))
    first = replies[0]
    return first.step, first.answer.faq_id if first.cited and first.answer else None


async def groups(client: TestClient, headers: dict[str, str], **query: str) -> list[dict]:
    reply = await client.get("/api/v1/inbox/groups", params=query, headers=headers)
    assert reply.status == 200, await reply.text()
    return (await reply.json())["groups"]


def group_of(found: list[dict], text: str) -> dict:
    return next(g for g in found if any(e["text"] == text for e in g["examples"]))


async def test_five_ways_of_asking_one_thing_make_one_group_and_attaching_answers_all_five(
    client: TestClient, url: str
) -> None:
    for i, text in enumerate(NOISE):
        ask(url, text, times=1 + (i == 0))  # the first one asked twice
    ask(url, "护照在哪里办", kind="declined")
    ask(url, "明天天气怎么样", kind="declined")
    with session_scope(url) as s:  # the entry staff will choose: the lift policy in general
        target = s.scalar(select(FaqEntry.id).where(FaqEntry.question == LIFT))
    assert all(bot_answers(url, text)[1] != target for text in NOISE)

    admin = await login(client)
    found = await groups(client, admin)
    noise = group_of(found, NOISE[0])
    assert {e["text"] for e in noise["examples"]} == set(NOISE) and noise["questions"] == 5
    assert noise["count"] == 6 and noise["examples"][0]["text"] == NOISE[0]  # most asked first
    assert noise["examples"][0]["reply"] == NOT_COVERED_REPLY and noise["first_seen"] <= noise["last_seen"]
    assert len(found) == 3 and found[0]["id"] == noise["id"]  # the passport and the weather stand alone
    assert group_of(found, "护照在哪里办")["examples"][0]["kind"] == "declined"
    assert noise["closest"] and all(c["faq_id"] and c["question"] for c in noise["closest"])

    entry = await (await client.get(f"/api/v1/faqs/{target}", headers=admin)).json()
    reply = await client.post(
        f"/api/v1/inbox/groups/{noise['id']}/attach",
        json={"faq_id": target, "version": entry["version"]},
        headers=admin,
    )
    assert reply.status == 200, await reply.text()
    saved = await reply.json()
    assert saved["id"] == target and saved["version"] == entry["version"] + 1
    assert set(NOISE) <= set(saved["alternatives"]) and saved["status"] == "published"
    for text in NOISE:  # live at once: the next question of any resident gets the entry
        assert bot_answers(url, text) == ("topic_answer", target), text

    assert noise["id"] not in [g["id"] for g in await groups(client, admin)]
    attached = group_of(await groups(client, admin, status="attached"), NOISE[0])
    assert attached["faq_id"] == target and attached["status"] == "attached"
    with session_scope(url) as s:
        event = s.scalar(select(AuditEvent).where(AuditEvent.action == "inbox.attach"))
        assert (event.actor, event.target) == (ADMIN[0], f"inbox_group:{noise['id']}")
        assert f"faq:{target}" in event.detail

    ask(url, NOISE[0])  # the same words again: a new group, the resolved one stays resolved
    again = group_of(await groups(client, admin), NOISE[0])
    assert again["id"] != noise["id"] and again["count"] == 1
    with session_scope(url) as s:
        assert s.get(InboxGroup, noise["id"]).status == "attached"


async def test_under_four_eyes_attaching_is_a_proposal_and_a_stale_version_is_refused(
    client: TestClient, url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FOUR_EYES", "1")
    for text in NOISE[:3]:
        ask(url, text)
    ask(url, "公积金怎么提取出来")
    reviewer = await login(client, REVIEWER)
    found = await groups(client, reviewer)
    noise, other = group_of(found, NOISE[0]), group_of(found, "公积金怎么提取出来")
    target = noise["closest"][0]["faq_id"]
    with session_scope(url) as s:
        before = s.get(FaqEntry, target)
        version, alternatives = before.version, list(before.alternatives)

    stale = await client.post(
        f"/api/v1/inbox/groups/{other['id']}/attach", json={"faq_id": target, "version": version - 1}, headers=reviewer
    )
    assert stale.status == 409 and (await stale.json())["error"] == "version_conflict"

    reply = await client.post(
        f"/api/v1/inbox/groups/{noise['id']}/attach", json={"faq_id": target, "version": version}, headers=reviewer
    )
    assert reply.status == 202, await reply.text()
    proposal = (await reply.json())["proposal"]
    assert proposal["faq_id"] == target and proposal["status"] == "open"
    assert set(NOISE[:3]) <= set(proposal["proposed"]["alternatives"])
    with session_scope(url) as s:
        entry = s.get(FaqEntry, target)
        assert (entry.version, entry.alternatives) == (version, alternatives)  # residents keep the live entry
        assert s.get(InboxGroup, noise["id"]).proposal_id == proposal["id"]
        assert s.get(InboxGroup, other["id"]).status == "open"  # the refused attach changed nothing
        assert s.get(FaqProposal, proposal["id"]).proposed_by == REVIEWER[0]

    again = await client.post(
        f"/api/v1/inbox/groups/{noise['id']}/attach", json={"faq_id": target, "version": version}, headers=reviewer
    )
    assert again.status == 409 and (await again.json())["error"] == "group_closed"
    assert "已经处理过了" in (await again.json())["message"]


async def test_a_draft_from_a_group_cites_the_suggested_clause_and_keeps_the_phrasings(
    client: TestClient, url: str
) -> None:
    for text in ("公租房怎么申请", "保障房要怎么报名"):
        ask(url, text, times=2 if text.startswith("公租房") else 1)
    editor = await login(client, EDITOR)
    group = group_of(await groups(client, editor), "公租房怎么申请")
    assert group["questions"] == 2 and group["suggested_clause"] != "主要目标"
    reply = await client.post(f"/api/v1/inbox/groups/{group['id']}/draft", headers=editor)
    assert reply.status == 201, await reply.text()
    draft = (await reply.json())["entry"]
    assert draft["status"] == "draft" and draft["question"] == "公租房怎么申请"
    assert draft["alternatives"] == ["保障房要怎么报名"] and draft["source"] == group["suggested_clause"]
    with session_scope(url) as s:
        assert s.get(InboxGroup, group["id"]).faq_id == draft["id"]
        statuses = set(s.scalars(select(UnansweredQuestion.status).where(UnansweredQuestion.group_id == group["id"])))
        assert statuses == {"drafted"}


async def test_dismiss_one_or_many_all_or_nothing(client: TestClient, url: str) -> None:
    for text in ("护照在哪里办", "明天天气怎么样", "驾照到期了怎么换证"):
        ask(url, text, kind="declined")
    admin = await login(client)
    found = await groups(client, admin)
    passport, weather, licence = (
        group_of(found, t)["id"] for t in ("护照在哪里办", "明天天气怎么样", "驾照到期了怎么换证")
    )
    reply = await client.post(f"/api/v1/inbox/groups/{passport}/dismiss", headers=admin)
    assert reply.status == 200 and (await reply.json())["dismissed"] == 1
    refused = await client.post("/api/v1/inbox/groups/dismiss", json={"ids": [weather, passport]}, headers=admin)
    assert refused.status == 409  # the passport group was handled already: nothing is dismissed
    assert {g["id"] for g in await groups(client, admin)} == {weather, licence}
    reply = await client.post("/api/v1/inbox/groups/dismiss", json={"ids": [weather, licence]}, headers=admin)
    assert reply.status == 200 and (await reply.json())["dismissed"] == 2
    assert await groups(client, admin) == []
    assert len(await groups(client, admin, status="dismissed")) == 3
    with session_scope(url) as s:
        assert s.scalar(select(AuditEvent.actor).where(AuditEvent.action == "inbox.dismiss_group")) == ADMIN[0]


async def test_search_and_csv_export_with_masked_data(client: TestClient, url: str) -> None:
    ask(url, "我手机13912345678，护照在哪里办", kind="declined")
    ask(url, '=HYPERLINK("http://x") 公租房能养狗吗')
    ask(url, "明天天气怎么样", kind="declined", reply="抱歉，天气我答不了")
    admin = await login(client)
    found = await groups(client, admin, q="护照")
    assert [e["text"] for g in found for e in g["examples"]] == ["我手机[手机号]，护照在哪里办"]
    assert [g["examples"][0]["text"] for g in await groups(client, admin, q="天气我答不了")] == ["明天天气怎么样"]
    assert await groups(client, admin, q="根本没人问过") == []

    reply = await client.get("/api/v1/inbox/groups", params={"format": "csv"}, headers=admin)
    assert reply.status == 200 and reply.content_type == "text/csv"
    data = await reply.read()
    assert data.startswith("\ufeff".encode()) and b"13912345678" not in data
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[0][:3] == ["问题组", "状态", "居民的问题"] and len(rows) == 4
    assert '\'=HYPERLINK("http://x") 公租房能养狗吗' in [r[2] for r in rows]  # no formula runs in Excel


BAD_REQUESTS = [
    ("GET", "/api/v1/inbox/groups?status=maybe", None, 422, "invalid_status"),
    ("GET", "/api/v1/inbox/groups?limit=-1", None, 422, "invalid_limit"),
    ("GET", "/api/v1/inbox/groups?format=xml", None, 422, "invalid_format"),
    ("GET", "/api/v1/inbox/groups/abc", None, 404, "group_not_found"),
    ("GET", "/api/v1/inbox/groups/999999", None, 404, "group_not_found"),
    ("POST", "/api/v1/inbox/groups/999999/dismiss", None, 404, "group_not_found"),
    ("POST", "/api/v1/inbox/groups/999999/attach", {"faq_id": 1, "version": 1}, 404, "group_not_found"),
    ("POST", "/api/v1/inbox/groups/1/attach", [1, 2], 422, "invalid_body"),
    ("POST", "/api/v1/inbox/groups/dismiss", {"ids": "all"}, 422, "invalid_ids"),
    ("POST", "/api/v1/inbox/groups/dismiss", {"ids": []}, 422, "no_groups"),
]


async def test_bad_requests_get_a_clear_chinese_error(client: TestClient) -> None:
    admin = await login(client)
    for method, path, payload, status, code in BAD_REQUESTS:
        reply = await client.request(method, path, json=payload, headers=admin)
        body = await reply.json()
        assert (reply.status, body["error"]) == (status, code), path
        assert any("\u4e00" <= ch <= "\u9fff" for ch in body["message"]), path


async def test_attach_needs_an_entry_number_and_new_phrasings(client: TestClient, url: str) -> None:
    ask(url, "加装电梯施工太吵了怎么办")
    admin = await login(client)
    group = (await groups(client, admin))[0]
    no_entry = await client.post(f"/api/v1/inbox/groups/{group['id']}/attach", json={"version": 1}, headers=admin)
    assert no_entry.status == 422 and (await no_entry.json())["error"] == "invalid_faq_id"
    with session_scope(url) as s:
        entry = s.scalar(select(FaqEntry).where(FaqEntry.status == "published").order_by(FaqEntry.id))
        entry.alternatives = [*entry.alternatives, "加装电梯施工太吵了怎么办"]
        s.flush()
        target, version = entry.id, entry.version
    already = await client.post(
        f"/api/v1/inbox/groups/{group['id']}/attach", json={"faq_id": target, "version": version}, headers=admin
    )
    assert already.status == 422 and (await already.json())["error"] == "nothing_to_attach"
    assert (await client.get("/api/v1/inbox/groups")).status == 401


async def test_one_click_on_the_inbox_page_attaches_the_group(client: TestClient, url: str) -> None:
    for text in NOISE[:3]:
        ask(url, text)
    await admin_login(client, *ADMIN)
    page, html = await open_page(client, "/admin/inbox")
    assert "共被问" in html and all(text in html for text in NOISE[:3])
    one_click = next(f for f in page.forms if f["action"].endswith("/attach") and f["fields"].get("version"))
    target = int(one_click["fields"]["faq_id"])
    response = await client.post(one_click["action"], data=one_click["fields"])
    html = await response.text()
    assert response.url.path == f"/admin/faqs/{target}" and "已归入条目" in html
    with session_scope(url) as s:
        assert set(NOISE[:3]) <= set(s.get(FaqEntry, target).alternatives)
    page, html = await open_page(client, "/admin/inbox")
    assert "目前没有未解答的问题" in html
