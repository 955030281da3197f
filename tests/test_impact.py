"""Impact before publishing (issue 14), on SQLite and PostgreSQL: which known questions an edit
would answer differently, computed with the bot's own decision on a rolled-back knowledge base, and
the audited confirmation an edit needs when it takes another entry's own question."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from actions.steps import Turn, decide
from knowledge.answering import AnswerEngine
from knowledge.build import build
from knowledge.db import get_engine, get_sessionmaker, session_scope
from knowledge.inbox import record_unanswered
from knowledge.models import AuditEvent, FaqEntry
from knowledge.staff import create_user
from knowledge.text import simplified
from tests.test_admin_views import Page, open_page
from tests.test_admin_views import login as admin_login
from web.app import init_app

ADMIN = ("admin", "Strong-Pa55word!")
LIFT = "杭州老旧小区加装电梯有什么政策？"  # published, 第9条
STATION = "成长驿站是什么？有多少家？"  # another published entry's own question
TAKING = ["成长驿站是什么"]  # as the lift entry's only phrasing, it takes STATION


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path) -> AsyncIterator[str]:
    url = f"sqlite:///{tmp_path / 'kb.sqlite3'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    build(url=url)
    with session_scope(url) as s:
        create_user(s, username=ADMIN[0], password=ADMIN[1], role="admin", actor="test")
    yield url
    get_engine(url).dispose()


@pytest.fixture
async def client(url: str) -> AsyncIterator[TestClient]:
    async with TestClient(TestServer(init_app(url))) as test_client:
        yield test_client


async def token(client: TestClient) -> dict[str, str]:
    reply = await client.post("/api/v1/login", json={"username": ADMIN[0], "password": ADMIN[1]})
    return {"Authorization": f"Bearer {(await reply.json())['token']}"}


def entry(url: str, question: str) -> FaqEntry:
    with session_scope(url) as s:
        return s.scalar(select(FaqEntry).where(FaqEntry.question == question))


def body(found: FaqEntry, **changes: object) -> dict[str, object]:
    return {
        "topic": found.topic,
        "question": found.question,
        "alternatives": list(found.alternatives),
        "answer": found.answer,
        "source": "第9条",
        "version": found.version,
        **changes,
    }


def answered_by(url: str, text: str) -> int | None:
    first = decide(Turn(text=simplified(text)), AnswerEngine(get_sessionmaker(url)))[0]
    return first.answer.faq_id if first.cited and first.answer else None


async def test_impact_lists_the_question_an_edit_takes_from_another_entry_and_changes_nothing(
    client: TestClient, url: str
) -> None:
    lift, station = entry(url, LIFT), entry(url, STATION)
    with session_scope(url) as s:  # a resident asked it in these words once: inbox history
        record_unanswered(s, text="成长驿站是什么东西", topic="childcare")
    headers = await token(client)
    reply = await client.post(f"/api/v1/faqs/{lift.id}/impact", json=body(lift, alternatives=TAKING), headers=headers)
    assert reply.status == 200, await reply.text()
    result = await reply.json()
    changed = {c["question"]: c for c in result["changed"]}
    taken = changed[STATION]
    assert taken["takes_own_question"] and taken["owner_faq_id"] == station.id and taken["source"] == "entry"
    assert taken["before"]["faq_id"] == station.id and taken["after"]["faq_id"] == lift.id
    assert taken["before"]["answer"].startswith(station.answer) and taken["after"]["answer"].startswith(lift.answer)
    assert result["takes_own_questions"] == 1 and result["changed"][0]["question"] == STATION  # listed first
    lost = [c for c in result["changed"] if c["owner_faq_id"] == lift.id and c["source"] == "entry"]
    assert any(c["before"]["faq_id"] == lift.id != c["after"]["faq_id"] for c in lost)  # its dropped phrasings
    assert any(c["source"] == "eval" for c in result["changed"])  # the evaluation set's lift questions
    assert changed["成长驿站是什么东西"]["source"] == "inbox"

    now = entry(url, LIFT)  # nothing was saved, and residents get what they got
    assert (now.version, now.alternatives) == (lift.version, lift.alternatives)
    assert answered_by(url, STATION) == station.id

    same = await client.post(f"/api/v1/faqs/{lift.id}/impact", json=body(lift), headers=headers)
    assert (await same.json())["changed"] == []


async def test_a_new_wording_of_the_answer_lists_every_question_the_entry_answers(client: TestClient, url: str) -> None:
    lift = entry(url, LIFT)
    headers = await token(client)
    reworded = body(lift, answer=lift.answer + "具体请咨询所在社区。")
    result = await (await client.post(f"/api/v1/faqs/{lift.id}/impact", json=reworded, headers=headers)).json()
    changed = {c["question"]: c for c in result["changed"]}
    assert changed[LIFT]["before"]["faq_id"] == changed[LIFT]["after"]["faq_id"] == lift.id
    assert changed[LIFT]["after"]["answer"].startswith(lift.answer + "具体请咨询所在社区。")
    assert changed[LIFT]["before"]["answer"].startswith(lift.answer + "\n来源：")
    answered_now = [q for q in lift.alternatives if answered_by(url, q) == lift.id]
    assert answered_now and set(answered_now) <= set(changed)  # every phrasing it answers reads the new text
    assert not any(c["takes_own_question"] for c in result["changed"])


async def test_a_preview_after_a_save_compares_with_the_saved_answer(client: TestClient, url: str) -> None:
    # The live answers are kept between previews (knowledge/impact.py) only while nothing changes
    headers = await token(client)
    lift = entry(url, LIFT)
    first = body(lift, answer=lift.answer + "具体请咨询所在社区。")
    result = await (await client.post(f"/api/v1/faqs/{lift.id}/impact", json=first, headers=headers)).json()
    assert {c["question"]: c for c in result["changed"]}[LIFT]["before"]["answer"].startswith(lift.answer + "\n来源：")
    assert (await client.put(f"/api/v1/faqs/{lift.id}", json=first, headers=headers)).status == 200
    saved = entry(url, LIFT)
    second = body(saved, answer=saved.answer + "也可以问所在街道。")
    result = await (await client.post(f"/api/v1/faqs/{lift.id}/impact", json=second, headers=headers)).json()
    before = {c["question"]: c for c in result["changed"]}[LIFT]["before"]["answer"]
    assert before.startswith(lift.answer + "具体请咨询所在社区。\n来源：")


async def test_an_entry_saved_twice_in_a_row_is_saved_both_times(client: TestClient, url: str) -> None:
    # The second save's impact check read clause sentences the first check's rollback had expired: 500
    headers = await token(client)
    for n, note in enumerate(["具体请咨询所在社区。", "也可以问所在街道。"]):
        lift = entry(url, LIFT)
        saved = await client.put(f"/api/v1/faqs/{lift.id}", json=body(lift, answer=lift.answer + note), headers=headers)
        assert saved.status == 200, (n, await saved.text())
    assert entry(url, LIFT).answer.endswith("具体请咨询所在社区。也可以问所在街道。")
    # …and the check answers from clause sentences after the first: a year no sentence names
    result = await (
        await client.post(f"/api/v1/faqs/{lift.id}/impact", json=body(entry(url, LIFT)), headers=headers)
    ).json()
    assert "changed" in result


async def test_saving_an_edit_that_takes_another_entrys_question_needs_an_audited_confirmation(
    client: TestClient, url: str
) -> None:
    lift, station = entry(url, LIFT), entry(url, STATION)
    headers = await token(client)
    refused = await client.put(f"/api/v1/faqs/{lift.id}", json=body(lift, alternatives=TAKING), headers=headers)
    assert refused.status == 409
    error = await refused.json()
    assert error["error"] == "takes_other_questions" and STATION in error["message"]
    assert [c["question"] for c in error["changed"]] == [STATION]
    assert entry(url, LIFT).version == lift.version and answered_by(url, STATION) == station.id

    confirmed = body(lift, alternatives=TAKING, confirm_takeover=True)
    saved = await client.put(f"/api/v1/faqs/{lift.id}", json=confirmed, headers=headers)
    assert saved.status == 200, await saved.text()
    assert answered_by(url, STATION) == lift.id
    with session_scope(url) as s:
        event = s.scalar(select(AuditEvent).where(AuditEvent.action == "faq.takeover"))
        assert event.actor == ADMIN[0] and event.target == f"faq:{lift.id}" and STATION in event.detail


async def test_impact_refuses_bad_input_in_chinese(client: TestClient, url: str) -> None:
    lift = entry(url, LIFT)
    headers = await token(client)
    for path, payload, status, code in (
        (f"/api/v1/faqs/{lift.id}/impact", {"topic": "elevator"}, 422, "invalid_entry"),
        (f"/api/v1/faqs/{lift.id}/impact", body(lift, source="第99条"), 422, "unknown_source"),
        ("/api/v1/faqs/99999999/impact", body(lift), 404, "not_found"),
    ):
        reply = await client.post(path, json=payload, headers=headers)
        result = await reply.json()
        assert (reply.status, result["error"]) == (status, code) and re.search(r"[\u4e00-\u9fff]", result["message"])
    assert (await client.post(f"/api/v1/faqs/{lift.id}/impact", json=body(lift))).status == 401


async def test_the_edit_page_shows_the_impact_and_asks_before_taking_another_entrys_question(
    client: TestClient, url: str
) -> None:
    lift = entry(url, LIFT)
    await admin_login(client, *ADMIN)
    page, html = await open_page(client, f"/admin/faqs/{lift.id}")
    assert "查看影响" in html and 'name="confirm_takeover"' not in html
    form = {**page.form(f"/admin/faqs/{lift.id}"), "alternatives": "\n".join(TAKING)}

    shown = await client.post(f"/admin/faqs/{lift.id}/impact", data=form)
    html = await shown.text()
    assert shown.status == 200 and STATION in html and "其他条目自己的问题" in html
    assert Page(html).form(f"/admin/faqs/{lift.id}")["alternatives"] == "\n".join(TAKING)  # typed text kept
    assert entry(url, LIFT).version == lift.version

    refused = await client.post(f"/admin/faqs/{lift.id}", data={**form, "action": "save"})
    html = await refused.text()
    assert refused.status == 409 and 'name="confirm_takeover"' in html and STATION in html
    assert Page(html).form(f"/admin/faqs/{lift.id}")["alternatives"] == "\n".join(TAKING)
    saved = await client.post(f"/admin/faqs/{lift.id}", data={**form, "action": "save", "confirm_takeover": "1"})
    assert saved.status == 200 and saved.url.path == f"/admin/faqs/{lift.id}" and "已保存" in await saved.text()
    assert entry(url, LIFT).alternatives == TAKING
