"""Issue 13 over the JSON API, on SQLite and PostgreSQL: the grounding rule on every save and
publication, proposals and review, four-eyes, accounts, readable history and audit, feedback context.

The answers residents get are read with the real AnswerEngine on the same database.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from knowledge import inbox
from knowledge.answering import AnswerEngine
from knowledge.build import build
from knowledge.db import get_sessionmaker, session_scope
from knowledge.models import FaqEntry
from knowledge.staff import create_user
from web.app import init_app

ADMIN = ("admin", "Strong-Pa55word!")
EDITOR = ("editor1", "Editor-Passw0rd!")
REVIEWER = ("reviewer1", "Review-Passw0rd!")
REVIEWER2 = ("reviewer2", "Review2-Passw0rd!")
ELEVATOR_QUESTION = "杭州老旧小区加装电梯有什么政策？"  # a published entry citing 第9条 (knowledge/faq/elevator.yml)


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'kb.sqlite3'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    build(url=url)
    monkeypatch.setenv("ADMIN_USERNAME", ADMIN[0])
    monkeypatch.setenv("ADMIN_PASSWORD", ADMIN[1])
    return url


@pytest.fixture
async def client(url: str) -> AsyncIterator[TestClient]:
    async with TestClient(TestServer(init_app(url))) as test_client:
        with session_scope(url) as s:
            for (name, password), role in ((EDITOR, "editor"), (REVIEWER, "reviewer"), (REVIEWER2, "reviewer")):
                create_user(s, username=name, password=password, role=role, actor="test")
        yield test_client


async def login(client: TestClient, who: tuple[str, str]) -> dict[str, str]:
    reply = await client.post("/api/v1/login", json={"username": who[0], "password": who[1]})
    assert reply.status == 200, await reply.text()
    return {"Authorization": f"Bearer {(await reply.json())['token']}"}


def elevator_entry(url: str) -> FaqEntry:
    with session_scope(url) as s:
        return s.scalar(select(FaqEntry).where(FaqEntry.question == ELEVATOR_QUESTION))


def body_of(entry: FaqEntry, **changes: object) -> dict[str, object]:
    return {
        "topic": entry.topic,
        "question": entry.question,
        "alternatives": list(entry.alternatives),
        "answer": entry.answer,
        "source": "第9条",
        "version": entry.version,
        **changes,
    }


def residents_get(url: str, question: str = ELEVATOR_QUESTION) -> str | None:
    return AnswerEngine(get_sessionmaker(url)).answer(text=question, topic="elevator").text


# -- the grounding rule -------------------------------------------------------------------------


async def test_an_invented_figure_is_refused_on_every_path_with_the_figure_and_the_clause(client: TestClient, url: str):
    entry = elevator_entry(url)
    invented = body_of(entry, answer=entry.answer + "每台最高补贴20万元。")
    for who in (ADMIN, EDITOR):  # a direct save and a proposal alike
        reply = await client.put(f"/api/v1/faqs/{entry.id}", json=invented, headers=await login(client, who))
        body = await reply.json()
        assert reply.status == 422, body
        assert body["error"] == "figure_not_in_clause" and body["figures"] == ["20"]
        assert body["clause"]["ref"] == "第9条" and "加装电梯" in body["clause"]["text"]
        assert "“20”" in body["message"] and "第9条" in body["message"]
    admin = await login(client, ADMIN)
    created = await client.post("/api/v1/faqs", json={**invented, "status": "published"}, headers=admin)
    assert created.status == 422 and (await created.json())["figures"] == ["20"]
    wrong_clause = body_of(entry, answer="每千人口托位4.6个。", source="第8条")
    reply = await client.put(f"/api/v1/faqs/{entry.id}", json=wrong_clause, headers=admin)
    assert reply.status == 422 and (await reply.json())["figures"] == ["4.6"]
    assert elevator_entry(url).answer == entry.answer  # nothing saved


async def test_the_inbox_placeholder_cannot_be_published_or_saved(client: TestClient, url: str):
    with session_scope(url) as s:
        inbox.record_unanswered(s, text="托育机构怎么收费", topic="childcare")
    admin = await login(client, ADMIN)
    question = (await (await client.get("/api/v1/inbox", headers=admin)).json())["items"][0]
    draft = await client.post(f"/api/v1/inbox/{question['id']}/draft", headers=admin)
    faq_id = (await draft.json())["faq_id"]
    entry = await (await client.get(f"/api/v1/faqs/{faq_id}", headers=admin)).json()
    assert entry["answer"] == "（待填写答复）" and entry["status"] == "draft"
    publish = await client.post(f"/api/v1/faqs/{faq_id}/publish", json={"version": entry["version"]}, headers=admin)
    body = await publish.json()
    assert publish.status == 422 and body["error"] == "placeholder_answer" and "占位文字" in body["message"]
    save = await client.put(f"/api/v1/faqs/{faq_id}", json={**entry, "question": "托育怎么收费"}, headers=admin)
    assert save.status == 422 and (await save.json())["error"] == "placeholder_answer"
    stored = await (await client.get(f"/api/v1/faqs/{faq_id}", headers=admin)).json()
    assert stored["status"] == "draft"


# -- proposals and review ----------------------------------------------------------------------


async def test_an_editors_change_is_a_proposal_until_a_reviewer_approves_it(client: TestClient, url: str):
    entry = elevator_entry(url)
    before = residents_get(url)
    new_answer = "【经审核的新答复】" + entry.answer
    editor = await login(client, EDITOR)
    reply = await client.put(f"/api/v1/faqs/{entry.id}", json=body_of(entry, answer=new_answer), headers=editor)
    assert reply.status == 202
    proposal = (await reply.json())["proposal"]
    assert {"id", "faq_id", "proposed_by", "diff"} <= set(proposal)
    assert proposal["faq_id"] == entry.id and proposal["proposed_by"] == EDITOR[0] and proposal["status"] == "open"
    assert "+答复：" + new_answer in proposal["diff"] and "-答复：" + entry.answer in proposal["diff"]
    assert residents_get(url) == before  # residents keep the published answer

    reviewer = await login(client, REVIEWER)
    queue = await (await client.get("/api/v1/proposals", params={"status": "open"}, headers=reviewer)).json()
    assert [p["id"] for p in queue["items"]] == [proposal["id"]]
    approved = await client.post(f"/api/v1/proposals/{proposal['id']}/approve", json={}, headers=reviewer)
    assert approved.status == 200, await approved.text()
    result = await approved.json()
    assert result["proposal"]["status"] == "approved" and result["entry"]["answer"] == new_answer
    assert residents_get(url) == new_answer  # live at once, no restart
    assert (await (await client.get("/api/v1/proposals?status=open", headers=reviewer)).json())["items"] == []

    history = (await (await client.get(f"/api/v1/faqs/{entry.id}/revisions", headers=reviewer)).json())["items"]
    assert history[0]["action"] == "approve" and history[0]["proposal_id"] == proposal["id"]
    assert history[0]["proposed_by"] == EDITOR[0] and EDITOR[0] in history[0]["action_name"]
    again = await client.post(f"/api/v1/proposals/{proposal['id']}/approve", headers=reviewer)
    assert again.status == 409 and (await again.json())["error"] == "proposal_closed"


async def test_a_rejection_tells_the_proposer_why_and_changes_nothing(client: TestClient, url: str):
    entry = elevator_entry(url)
    editor = await login(client, EDITOR)
    reply = await client.put(f"/api/v1/faqs/{entry.id}", json=body_of(entry, answer="太简短了。"), headers=editor)
    proposal_id = (await reply.json())["proposal"]["id"]
    reviewer = await login(client, REVIEWER)
    no_reason = await client.post(f"/api/v1/proposals/{proposal_id}/reject", json={"reason": " "}, headers=reviewer)
    assert no_reason.status == 422 and (await no_reason.json())["error"] == "reason_required"
    assert (
        await client.post(f"/api/v1/proposals/{proposal_id}/reject", json={"reason": "x"}, headers=editor)
    ).status == 403
    rejected = await client.post(
        f"/api/v1/proposals/{proposal_id}/reject", json={"reason": "请保留原文引用。"}, headers=reviewer
    )
    assert rejected.status == 200 and (await rejected.json())["proposal"]["status"] == "rejected"
    mine = await (await client.get("/api/v1/proposals", params={"proposed_by": EDITOR[0]}, headers=editor)).json()
    assert mine["items"][0]["reason"] == "请保留原文引用。" and mine["items"][0]["decided_by"] == REVIEWER[0]
    assert elevator_entry(url).answer == entry.answer


async def test_a_stale_approval_is_refused_when_the_reviewer_saw_an_older_version(client: TestClient, url: str):
    entry = elevator_entry(url)
    editor, reviewer = await login(client, EDITOR), await login(client, REVIEWER)
    reply = await client.put(f"/api/v1/faqs/{entry.id}", json=body_of(entry, answer="编辑的版本。"), headers=editor)
    proposal = (await reply.json())["proposal"]
    direct = await client.put(
        f"/api/v1/faqs/{entry.id}", json=body_of(entry, answer="审核员直接改的。"), headers=reviewer
    )
    assert direct.status == 200
    view = await (await client.get(f"/api/v1/proposals/{proposal['id']}", headers=reviewer)).json()
    assert view["stale"] is True and view["live"]["answer"] == "审核员直接改的。"
    stale = await client.post(
        f"/api/v1/proposals/{proposal['id']}/approve", json={"version": proposal["live_version"]}, headers=reviewer
    )
    assert stale.status == 409 and (await stale.json())["error"] == "version_conflict"


# -- four-eyes -----------------------------------------------------------------------------------


async def test_four_eyes_nobody_publishes_or_approves_their_own_change(
    client: TestClient, url: str, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("FOUR_EYES", "1")
    entry = elevator_entry(url)
    reviewer, reviewer2, admin = (
        await login(client, REVIEWER),
        await login(client, REVIEWER2),
        await login(client, ADMIN),
    )
    new_answer = "【四眼审核】" + entry.answer

    # a reviewer's (and an admin's) edit of a live answer is a proposal too
    for headers in (admin, reviewer):
        reply = await client.put(f"/api/v1/faqs/{entry.id}", json=body_of(entry, answer=new_answer), headers=headers)
        assert reply.status == 202
    proposal = (await reply.json())["proposal"]
    own = await client.post(f"/api/v1/proposals/{proposal['id']}/approve", headers=reviewer)
    body = await own.json()
    assert own.status == 403 and body["error"] == "four_eyes" and "四眼原则" in body["message"]
    assert residents_get(url) != new_answer
    other = await client.post(f"/api/v1/proposals/{proposal['id']}/approve", headers=reviewer2)
    assert other.status == 200 and residents_get(url) == new_answer

    # a new entry: not published by its author, even by an admin; published by a second person
    new = {"topic": "elevator", "question": "四眼原则测试？", "answer": "请咨询所在社区。", "source": "第9条"}
    assert (await client.post("/api/v1/faqs", json={**new, "status": "published"}, headers=admin)).status == 403
    draft = await (await client.post("/api/v1/faqs", json=new, headers=reviewer)).json()
    mine = await client.post(
        f"/api/v1/faqs/{draft['id']}/publish", json={"version": draft["version"]}, headers=reviewer
    )
    assert mine.status == 403 and (await mine.json())["error"] == "four_eyes"
    theirs = await client.post(
        f"/api/v1/faqs/{draft['id']}/publish", json={"version": draft["version"]}, headers=reviewer2
    )
    assert theirs.status == 200 and (await theirs.json())["status"] == "published"


async def test_without_four_eyes_a_reviewer_edits_a_live_answer_directly(client: TestClient, url: str):
    entry = elevator_entry(url)
    reply = await client.put(
        f"/api/v1/faqs/{entry.id}", json=body_of(entry, answer="审核员的修改。"), headers=await login(client, REVIEWER)
    )
    assert reply.status == 200 and (await reply.json())["answer"] == "审核员的修改。"
    assert residents_get(url) == "审核员的修改。"


async def test_restoring_a_version_is_recorded_as_such_and_proposed_by_an_editor(client: TestClient, url: str):
    entry = elevator_entry(url)
    admin = await login(client, ADMIN)
    changed = await (
        await client.put(f"/api/v1/faqs/{entry.id}", json=body_of(entry, answer="改过一次。"), headers=admin)
    ).json()
    history = (await (await client.get(f"/api/v1/faqs/{entry.id}/revisions", headers=admin)).json())["items"]
    original = history[-1]
    editor = await login(client, EDITOR)
    proposed = await client.post(
        f"/api/v1/faqs/{entry.id}/revisions/{original['id']}/restore",
        json={"version": changed["version"]},
        headers=editor,
    )
    assert proposed.status == 202 and (await proposed.json())["proposal"]["restores_version"] == original["version"]
    restored = await client.post(
        f"/api/v1/faqs/{entry.id}/revisions/{original['id']}/restore",
        json={"version": changed["version"]},
        headers=admin,
    )
    assert restored.status == 200 and (await restored.json())["answer"] == entry.answer
    latest = (await (await client.get(f"/api/v1/faqs/{entry.id}/revisions", headers=admin)).json())["items"][0]
    assert latest["action"] == "restore_version" and latest["restored_from"] == original["version"]
    assert latest["action_name"] == f"恢复为版本 {original['version']}"


# -- accounts ------------------------------------------------------------------------------------


async def test_admin_changes_roles_and_resets_passwords_and_the_user_must_set_a_new_one(client: TestClient):
    admin, editor = await login(client, ADMIN), await login(client, EDITOR)
    promoted = await client.patch(f"/api/v1/users/{EDITOR[0]}", json={"role": "reviewer"}, headers=admin)
    assert promoted.status == 200 and (await promoted.json())["role"] == "reviewer"
    assert (await client.patch(f"/api/v1/users/{EDITOR[0]}", json={"role": "boss"}, headers=admin)).status == 422
    assert (await client.patch(f"/api/v1/users/{REVIEWER[0]}", json={"role": "admin"}, headers=editor)).status == 403
    last = await client.patch(f"/api/v1/users/{ADMIN[0]}", json={"role": "editor"}, headers=admin)
    assert last.status == 403 and (await last.json())["error"] == "last_admin"

    reset = await client.patch(f"/api/v1/users/{EDITOR[0]}", json={"reset_password": True}, headers=admin)
    temporary = (await reset.json())["temporary_password"]
    assert reset.status == 200 and (await reset.json())["must_change_password"] is True
    assert (await client.get("/api/v1/faqs", headers=editor)).status == 401  # the old token ended
    assert (await client.post("/api/v1/login", json={"username": EDITOR[0], "password": EDITOR[1]})).status == 401
    reply = await client.post("/api/v1/login", json={"username": EDITOR[0], "password": temporary})
    assert (await reply.json())["must_change_password"] is True
    fresh = {"Authorization": f"Bearer {(await reply.json())['token']}"}
    blocked = await client.get("/api/v1/faqs", headers=fresh)
    assert blocked.status == 403 and (await blocked.json())["error"] == "password_change_required"
    weak = await client.post("/api/v1/me/password", json={"old": temporary, "new": "short"}, headers=fresh)
    assert weak.status == 422 and "密码太短" in (await weak.json())["message"]
    wrong = await client.post(
        "/api/v1/me/password", json={"old": "Wrong-0ld-pass", "new": "Brand-New-Pass9"}, headers=fresh
    )
    assert wrong.status == 403 and (await wrong.json())["error"] == "wrong_password"
    done = await client.post("/api/v1/me/password", json={"old": temporary, "new": "Brand-New-Pass9"}, headers=fresh)
    assert done.status == 200
    assert (await client.get("/api/v1/faqs", headers=fresh)).status == 200
    me = await (await client.get("/api/v1/me", headers=fresh)).json()
    assert (me["role"], me["must_change_password"]) == ("reviewer", False)
    assert (
        await client.post("/api/v1/login", json={"username": EDITOR[0], "password": "Brand-New-Pass9"})
    ).status == 200


async def test_everyone_changes_their_own_password_and_name_shown_in_history(client: TestClient, url: str):
    editor = await login(client, EDITOR)
    other_session = await login(client, EDITOR)
    changed = await client.post(
        "/api/v1/me/password", json={"old": EDITOR[1], "new": "Editor-New-Passw0rd"}, headers=editor
    )
    assert changed.status == 200
    assert (await client.get("/api/v1/faqs", headers=other_session)).status == 401  # other sessions end
    assert (await client.get("/api/v1/faqs", headers=editor)).status == 200  # this one goes on
    profile = await client.patch(
        f"/api/v1/users/{EDITOR[0]}", json={"display_name": "王芳", "department": "住房保障科"}, headers=editor
    )
    assert profile.status == 200 and (await profile.json())["display_name"] == "王芳"
    assert (
        await client.patch(f"/api/v1/users/{REVIEWER[0]}", json={"display_name": "x"}, headers=editor)
    ).status == 403

    entry = elevator_entry(url)
    reply = await client.put(f"/api/v1/faqs/{entry.id}", json=body_of(entry, answer="新的说法。"), headers=editor)
    assert (await reply.json())["proposal"]["proposed_by_name"] == "王芳（editor1 · 住房保障科）"
    users = await (await client.get("/api/v1/users", headers=await login(client, ADMIN))).json()
    assert {u["username"]: u["department"] for u in users["items"]}[EDITOR[0]] == "住房保障科"


# -- audit and feedback ----------------------------------------------------------------------------


async def test_audit_in_plain_chinese_with_filters(client: TestClient, url: str):
    entry = elevator_entry(url)
    admin, editor = await login(client, ADMIN), await login(client, EDITOR)
    await client.put(f"/api/v1/faqs/{entry.id}", json=body_of(entry, answer="编辑提议的答复。"), headers=editor)
    await client.put(f"/api/v1/faqs/{entry.id}", json=body_of(entry, answer="管理员改的答复。"), headers=admin)

    everything = (await (await client.get("/api/v1/audit", headers=admin)).json())["items"]
    publish_like = next(e for e in everything if e["action"] == "faq.update")
    assert publish_like["action_name"] == "修改条目" and publish_like["summary"] == f"版本 {entry.version + 1}"
    assert publish_like["faq_id"] == entry.id and publish_like["version"] == entry.version + 1
    logins = [e for e in everything if e["action"] == "login"]
    assert logins and all(e["action_name"] == "登录" for e in logins)

    by_entry = (await (await client.get("/api/v1/audit", params={"faq_id": entry.id}, headers=admin)).json())["items"]
    assert {e["action"] for e in by_entry} == {"faq.update", "proposal.create"}
    by_person = (await (await client.get("/api/v1/audit", params={"actor": EDITOR[0]}, headers=admin)).json())["items"]
    assert {e["action"] for e in by_person} == {"login", "proposal.create"}
    by_kind = (await (await client.get("/api/v1/audit", params={"action": "proposal"}, headers=admin)).json())["items"]
    assert [e["action_name"] for e in by_kind] == ["提交修改提议"]
    today = datetime.now(timezone(timedelta(hours=8))).date()
    tomorrow = (today + timedelta(days=1)).isoformat()
    assert (await (await client.get("/api/v1/audit", params={"since": tomorrow}, headers=admin)).json())["items"] == []
    assert len(
        (await (await client.get("/api/v1/audit", params={"until": today.isoformat()}, headers=admin)).json())["items"]
    ) == len(everything)
    bad = await client.get("/api/v1/audit", params={"since": "昨天"}, headers=admin)
    assert bad.status == 422 and "YYYY-MM-DD" in (await bad.json())["message"]


async def test_feedback_keeps_time_version_and_the_masked_question(client: TestClient, url: str):
    entry = elevator_entry(url)
    reply = await client.post(
        "/api/v1/feedback",
        json={"faq_id": entry.id, "rating": "down", "question": "我家老楼能装电梯吗？身份证330106199001011234"},
    )
    assert reply.status == 201
    assert (
        await client.post("/api/v1/feedback", json={"faq_id": entry.id, "rating": "up", "question": 5})
    ).status == 422
    summary = await (await client.get("/api/v1/feedback", headers=await login(client, EDITOR))).json()
    recent = summary["recent"][0]
    assert (recent["faq_id"], recent["faq_version"], recent["rating"], recent["rating_name"]) == (
        entry.id,
        entry.version,
        "down",
        "没帮助",
    )
    assert recent["question"].startswith("我家老楼能装电梯吗？") and "330106199001011234" not in recent["question"]
    assert datetime.fromisoformat(recent["at"]) > datetime.now(timezone.utc) - timedelta(minutes=5)
