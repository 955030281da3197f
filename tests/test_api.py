"""The staff JSON API over HTTP (aiohttp's test server), on SQLite and on PostgreSQL."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer

from knowledge.answering import AnswerEngine
from knowledge.build import build
from knowledge.db import get_sessionmaker, session_scope
from knowledge.staff import create_user
from web.app import init_app

ADMIN = ("admin", "Strong-Pa55word!")
EDITOR = ("editor1", "Editor-Passw0rd!")
NEW_ENTRY = {
    "topic": "elevator",
    "question": "加装电梯的电费怎么分摊？",
    "alternatives": ["电梯电费谁出", "电梯电费分摊"],
    "answer": "（新条目）电费分摊由业主协商决定，请咨询所在社区。",
    "source": "第9条",
}


@pytest.fixture(params=["sqlite", "postgresql"])
def api_url(request: pytest.FixtureRequest, tmp_path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'kb.sqlite3'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    build(url=url)
    monkeypatch.setenv("ADMIN_USERNAME", ADMIN[0])
    monkeypatch.setenv("ADMIN_PASSWORD", ADMIN[1])
    return url


@pytest.fixture
async def client(api_url: str) -> AsyncIterator[TestClient]:
    async with TestClient(TestServer(init_app(api_url))) as test_client:
        with session_scope(api_url) as s:
            create_user(s, username=EDITOR[0], password=EDITOR[1], role="editor", actor="test")
        yield test_client


async def login(client: TestClient, who: tuple[str, str] = ADMIN) -> dict[str, str]:
    reply = await client.post("/api/v1/login", json={"username": who[0], "password": who[1]})
    assert reply.status == 200, await reply.text()
    return {"Authorization": f"Bearer {(await reply.json())['token']}"}


async def test_openapi_is_served(client: TestClient):
    spec = await (await client.get("/api/v1/openapi.json")).json()
    assert spec["openapi"].startswith("3.") and "/api/v1/faqs/{id}" in spec["paths"]


async def test_no_or_bad_token_is_401_with_a_json_error(client: TestClient):
    for headers in ({}, {"Authorization": "Bearer nonsense"}, {"Authorization": "Basic abc"}):
        reply = await client.get("/api/v1/faqs", headers=headers)
        assert reply.status == 401
        body = await reply.json()
        assert body["error"] in ("unauthorized", "invalid_token") and body["message"]


async def test_wrong_password_is_401_and_repeated_failures_lock_the_account(client: TestClient):
    for _ in range(5):
        reply = await client.post("/api/v1/login", json={"username": EDITOR[0], "password": "wrong"})
        assert reply.status == 401
    locked = await client.post("/api/v1/login", json={"username": EDITOR[0], "password": EDITOR[1]})
    assert locked.status == 401
    assert (await locked.json())["error"] == "locked"


async def test_create_read_update_and_list(client: TestClient):
    headers = await login(client)
    created = await client.post("/api/v1/faqs", json=NEW_ENTRY, headers=headers)
    assert created.status == 201
    entry = await created.json()
    assert entry["id"] and entry["version"] == 1 and entry["status"] == "draft" and entry["source"] == "第9条"

    fetched = await (await client.get(f"/api/v1/faqs/{entry['id']}", headers=headers)).json()
    assert fetched["preview"]["message"].endswith("第9条") and fetched["preview"]["message"].startswith("（新条目）")

    changed = {**NEW_ENTRY, "answer": "（修改后）由业主协商。", "version": 1}
    updated = await client.put(f"/api/v1/faqs/{entry['id']}", json=changed, headers=headers)
    assert updated.status == 200 and (await updated.json())["version"] == 2

    listed = await (await client.get("/api/v1/faqs", params={"topic": "elevator", "q": "电费"}, headers=headers)).json()
    assert [e["id"] for e in listed["items"]] == [entry["id"]]


async def test_stale_version_is_409_with_the_current_entry_and_nothing_is_overwritten(client: TestClient):
    headers = await login(client)
    entry = await (await client.post("/api/v1/faqs", json=NEW_ENTRY, headers=headers)).json()
    first = {**NEW_ENTRY, "answer": "第一位工作人员的修改。", "version": 1}
    assert (await client.put(f"/api/v1/faqs/{entry['id']}", json=first, headers=headers)).status == 200
    second = {**NEW_ENTRY, "answer": "第二位工作人员基于旧版本的修改。", "version": 1}
    conflict = await client.put(f"/api/v1/faqs/{entry['id']}", json=second, headers=headers)
    assert conflict.status == 409
    body = await conflict.json()
    assert body["error"] == "version_conflict" and "已被他人修改" in body["message"]
    assert body["current"]["answer"] == "第一位工作人员的修改。" and body["current"]["version"] == 2
    stored = await (await client.get(f"/api/v1/faqs/{entry['id']}", headers=headers)).json()
    assert stored["answer"] == "第一位工作人员的修改。"


async def test_editor_cannot_publish_and_a_change_to_a_live_answer_is_a_proposal(client: TestClient):
    editor = await login(client, EDITOR)
    entry = await (await client.post("/api/v1/faqs", json=NEW_ENTRY, headers=editor)).json()
    publish = await client.post(f"/api/v1/faqs/{entry['id']}/publish", json={"version": 1}, headers=editor)
    assert publish.status == 403 and "审核员" in (await publish.json())["message"]
    live = await (await client.get("/api/v1/faqs", params={"status": "published"}, headers=editor)).json()
    target = live["items"][0]
    # NEW_ENTRY's words would answer another entry's phrasing ("装电梯有啥新说法"): confirmed (issue 14)
    edit = {**NEW_ENTRY, "version": target["version"], "confirm_takeover": True}
    proposed = await client.put(f"/api/v1/faqs/{target['id']}", json=edit, headers=editor)
    assert proposed.status == 202
    proposal = (await proposed.json())["proposal"]
    assert proposal["faq_id"] == target["id"] and proposal["proposed_by"] == EDITOR[0] and proposal["diff"]
    unchanged = await (await client.get(f"/api/v1/faqs/{target['id']}", headers=editor)).json()
    assert (unchanged["answer"], unchanged["version"]) == (target["answer"], target["version"])


async def test_bad_input_gets_clear_errors_not_500(client: TestClient):
    headers = await login(client)
    not_json = await client.post("/api/v1/faqs", data=b"{oops", headers={**headers, "Content-Type": "application/json"})
    assert not_json.status == 422 and (await not_json.json())["error"] == "invalid_json"
    missing = await client.post("/api/v1/faqs", json={"topic": "weather"}, headers=headers)
    body = await missing.json()
    assert missing.status == 422 and {"topic", "question", "answer", "source"} <= set(body["details"])
    unknown_clause = await client.post("/api/v1/faqs", json={**NEW_ENTRY, "source": "第99条"}, headers=headers)
    assert unknown_clause.status == 422 and "第99条" in (await unknown_clause.json())["message"]
    no_version = await client.put("/api/v1/faqs/1", json=NEW_ENTRY, headers=headers)
    assert no_version.status == 422 and (await no_version.json())["error"] == "version_required"
    assert (await client.get("/api/v1/faqs/abc", headers=headers)).status == 404
    assert (await client.get("/api/v1/faqs/999999", headers=headers)).status == 404
    too_big = await client.post("/api/v1/faqs", data=io.BytesIO(b"x" * (2 * 1024 * 1024)), headers=headers)
    assert too_big.status == 413 and (await too_big.json())["error"] == "too_large"


async def test_soft_delete_restore_and_history_restore(client: TestClient):
    headers = await login(client)
    entry = await (await client.post("/api/v1/faqs", json=NEW_ENTRY, headers=headers)).json()
    url = f"/api/v1/faqs/{entry['id']}"
    await client.put(url, json={**NEW_ENTRY, "answer": "改过的答复。", "version": 1}, headers=headers)
    deleted = await client.delete(url, params={"version": "2"}, headers=headers)
    assert deleted.status == 200 and (await deleted.json())["deleted"] is True
    restored = await client.post(f"{url}/restore", json={"version": 3}, headers=headers)
    assert (await restored.json())["deleted"] is False
    history = (await (await client.get(f"{url}/revisions", headers=headers)).json())["items"]
    assert [r["action"] for r in history] == ["restore", "delete", "update", "create"]
    assert any(line.startswith("+答复：改过的答复") for line in history[2]["diff"])
    original = history[-1]["id"]
    back = await client.post(f"{url}/revisions/{original}/restore", json={"version": 4}, headers=headers)
    assert (await back.json())["answer"] == NEW_ENTRY["answer"]


async def test_published_change_is_answered_at_once(client: TestClient, api_url: str):
    engine = AnswerEngine(get_sessionmaker(api_url))
    assert engine.answer(text="电梯电费谁出", topic="elevator").text != NEW_ENTRY["answer"]
    headers = await login(client)
    entry = await (await client.post("/api/v1/faqs", json={**NEW_ENTRY, "status": "published"}, headers=headers)).json()
    assert entry["status"] == "published"
    assert engine.answer(text="电梯电费谁出", topic="elevator").text == NEW_ENTRY["answer"]
    await client.post(f"/api/v1/faqs/{entry['id']}/unpublish", json={"version": entry["version"]}, headers=headers)
    assert engine.answer(text="电梯电费谁出", topic="elevator").text != NEW_ENTRY["answer"]


async def test_feedback_is_public_and_rate_limited(client: TestClient):
    ok = await client.post("/api/v1/feedback", json={"faq_id": 1, "rating": "down"})
    assert ok.status == 201
    bad = await client.post("/api/v1/feedback", json={"faq_id": 1, "rating": "meh"})
    assert bad.status == 422
    statuses = [(await client.post("/api/v1/feedback", json={"faq_id": 1, "rating": "up"})).status for _ in range(40)]
    assert 429 in statuses
    summary = await (await client.get("/api/v1/feedback", headers=await login(client))).json()
    assert summary["items"][0]["faq_id"] == 1 and summary["items"][0]["down"] == 1


async def test_admin_manages_users_and_reads_the_audit_log(client: TestClient):
    admin = await login(client)
    weak = await client.post(
        "/api/v1/users", json={"username": "li", "password": "123456", "role": "editor"}, headers=admin
    )
    assert weak.status == 422 and "密码" in (await weak.json())["message"]
    made = await client.post(
        "/api/v1/users", json={"username": "zhang", "password": "Li-Strong-Pass9", "role": "reviewer"}, headers=admin
    )
    assert made.status == 201
    editor = await login(client, EDITOR)
    assert (await client.get("/api/v1/audit", headers=editor)).status == 403
    disabled = await client.patch(f"/api/v1/users/{EDITOR[0]}", json={"disabled": True}, headers=admin)
    assert disabled.status == 200
    assert (await client.get("/api/v1/faqs", headers=editor)).status == 401  # its tokens are revoked
    audit = await (await client.get("/api/v1/audit", headers=admin)).json()
    assert {"user.create", "user.disable", "login"} <= {e["action"] for e in audit["items"]}
