"""The dashboard's counts (issue 14) on SQLite and PostgreSQL: what the answer action records per
reply (counts only: no words, no sender), the sums of ``knowledge.stats`` over known events, and
``GET /api/v1/stats?days=N`` (a bad N is 400 with a Chinese message) and ``/admin/dashboard``.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, time, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import inspect, select

from actions.answer import ActionAnswer, answer_engine
from knowledge import stats
from knowledge.build import build
from knowledge.db import get_engine, session_scope
from knowledge.models import AnswerEvent, AnswerFeedback, AuditEvent, FaqEntry, Handoff, InboxGroup, UnansweredQuestion
from knowledge.review_dates import CHINA_TIME, today
from knowledge.staff import create_user
from web.app import init_app

ADMIN = ("admin-dash", "Dash-Adm1n-Passw0rd!")


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'kb.sqlite3'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    build(url=url)
    with session_scope(url) as s:
        create_user(s, username=ADMIN[0], password=ADMIN[1], role="admin", actor="test")
    monkeypatch.setenv("DATABASE_URL", url)  # the answer action's knowledge base
    answer_engine.cache_clear()
    yield url
    answer_engine.cache_clear()
    get_engine(url).dispose()


def user_event(text: str, intent: str, confidence: float = 0.9) -> dict[str, Any]:
    return {
        "event": "user",
        "text": text,
        "input_channel": "rest",
        "parse_data": {
            "text": text,
            "intent": {"name": intent, "confidence": confidence},
            "intent_ranking": [{"name": intent, "confidence": confidence}],
            "entities": [],
        },
    }


async def resident_says(text: str, intent: str, sender: str) -> list[dict[str, Any]]:
    event = user_event(text, intent)
    tracker = Tracker(
        sender_id=sender,
        slots={},
        latest_message=event["parse_data"],
        events=[event],
        paused=False,
        followup_action=None,
        active_loop={},
        latest_action_name="action_listen",
    )
    dispatcher = CollectingDispatcher()
    await ActionAnswer().run(dispatcher, tracker, {})
    return dispatcher.messages


async def test_the_answer_action_counts_each_reply_with_its_outcome_and_no_words(url: str) -> None:
    said = [
        ("杭州老旧小区加装电梯有什么政策？", "ask_elevator"),
        ("你好", "greet"),
        ("上海的积分落户怎么办理", "ask_hukou"),
        ("转人工", "out_of_scope"),
        ("我的手机13912345678，托位有多少", "ask_childcare"),
    ]
    steps = []
    for n, (text, intent) in enumerate(said):
        messages = await resident_says(text, intent, sender=f"web-{n:032d}")
        steps += [m["custom"]["step"] for m in messages if m.get("custom")]
    stats.flush()  # the counts are written by a background thread, off the answer's path
    with session_scope(url) as s:
        rows = s.scalars(select(AnswerEvent).order_by(AnswerEvent.id)).all()
        elevator_entry = s.scalar(select(FaqEntry.id).where(FaqEntry.question == said[0][0]))
    assert [r.step for r in rows] == steps  # one row per reply the resident got
    outcomes = [(r.outcome, r.topic) for r in rows]
    assert outcomes == [
        ("answered", "elevator"),
        ("other", None),
        ("declined", None),
        ("handed_over", None),
        ("answered", "childcare"),
    ]
    assert rows[0].faq_id == elevator_entry
    assert {r.day for r in rows} == {today().isoformat()}
    # counts only: the table has no column for words or senders
    columns = {c["name"] for c in inspect(get_engine(url)).get_columns("answer_events")}
    assert columns == {"id", "day", "at", "step", "outcome", "topic", "faq_id"}


def test_outcome_of_each_step() -> None:
    assert stats.outcome_of("topic_answer", cited=True) == "answered"
    assert stats.outcome_of("clicked_button", cited=True) == "answered"
    assert stats.outcome_of("not_covered", cited=False) == "not_covered"
    assert stats.outcome_of("refused", cited=False) == "declined"
    assert stats.outcome_of("foreign_language", cited=False) == "declined"
    assert stats.outcome_of("handed_over", cited=False) == "handed_over"
    assert stats.outcome_of("clarify", cited=False) == "clarified"
    assert stats.outcome_of("emergency", cited=False) == "other"


def noon(day_offset: int) -> datetime:
    """Noon in Hangzhou ``day_offset`` days from today."""
    return datetime.combine(today() + timedelta(days=day_offset), time(12), tzinfo=CHINA_TIME)


def seed(url: str) -> dict[str, int]:
    """Known events: today 3 answered (elevator) + 1 not covered, two days ago 2 declined, one 40 days
    ago (outside a 30-day window); feedback, hand-offs and a request while nobody was on duty."""
    with session_scope(url) as s:
        entry = s.scalar(select(FaqEntry).where(FaqEntry.topic == "elevator", FaqEntry.key.is_not(None)))
        other = s.scalar(select(FaqEntry).where(FaqEntry.topic == "hukou", FaqEntry.key.is_not(None)))

        def event(offset: int, outcome: str, topic: str | None = None) -> AnswerEvent:
            at = noon(offset)
            day = at.date().isoformat()
            return AnswerEvent(day=day, at=at, step="x", outcome=outcome, topic=topic, faq_id=None)

        s.add_all([event(0, "answered", "elevator") for _ in range(3)])
        s.add(event(0, "not_covered"))
        s.add_all([event(-2, "declined") for _ in range(2)])
        s.add(event(-40, "answered", "hukou"))
        s.add_all(
            [
                AnswerFeedback(faq_id=entry.id, rating=1, created_at=noon(0)),
                AnswerFeedback(faq_id=entry.id, rating=1, created_at=noon(-1)),
                AnswerFeedback(faq_id=entry.id, rating=-1, created_at=noon(-1)),
                AnswerFeedback(faq_id=other.id, rating=-1, created_at=noon(0)),
                AnswerFeedback(faq_id=other.id, rating=1, created_at=noon(-40)),  # outside the window
            ]
        )
        s.add_all(
            [
                Handoff(sender="a", status="closed", waiting_since=noon(0), claimed_at=noon(0) + timedelta(seconds=30)),
                Handoff(
                    sender="b", status="closed", waiting_since=noon(-1), claimed_at=noon(-1) + timedelta(seconds=90)
                ),
                Handoff(sender="c", status="closed", waiting_since=noon(-1), close_reason="timeout"),
            ]
        )
        s.add(AuditEvent(actor="system", action="handoff_no_staff", target="sender:d", at=noon(0)))
        return {"entry": entry.id, "other": other.id}


def test_the_sums_over_a_window_of_days(url: str) -> None:
    ids = seed(url)
    with session_scope(url) as s:
        found = stats.summary(s, days=30)
    assert found["days"] == 30 and len(found["by_day"]) == 30
    assert found["to"] == today().isoformat() and found["by_day"][-1]["date"] == found["to"]
    assert found["total"] == 6  # the one 40 days ago is outside
    assert found["by_day"][-1]["total"] == 4 and found["by_day"][-1]["outcomes"]["answered"] == 3
    assert found["by_day"][-3]["outcomes"]["declined"] == 2 and found["by_day"][-2]["total"] == 0
    assert found["outcomes"] == {
        "answered": 3,
        "clarified": 0,
        "not_covered": 1,
        "declined": 2,
        "handed_over": 0,
        "other": 0,
    }
    assert found["topics"]["elevator"] == 3 and found["topics"]["hukou"] == 0 and found["topics"]["none"] == 3
    feedback = found["feedback"]
    assert (feedback["up"], feedback["down"]) == (2, 2)
    assert [(e["faq_id"], e["up"], e["down"]) for e in feedback["entries"]] == [
        (ids["entry"], 2, 1),
        (ids["other"], 0, 1),
    ]
    handoffs = found["handoffs"]
    assert (handoffs["requested"], handoffs["claimed"], handoffs["timed_out"], handoffs["nobody_on_duty"]) == (
        4,
        2,
        1,
        1,
    )
    assert handoffs["waiting_seconds_median"] == 60 and handoffs["waiting_seconds_mean"] == 60
    assert handoffs["answered_by_person_share"] == 0.5
    assert handoffs["by_day"][-1] == {"date": today().isoformat(), "requested": 2, "claimed": 1}
    with session_scope(url) as s:
        wide = stats.summary(s, days=60)
    assert wide["total"] == 7 and wide["topics"]["hukou"] == 1 and wide["feedback"]["up"] == 3


def test_the_most_asked_open_inbox_groups_and_questions(url: str) -> None:
    with session_scope(url) as s:
        group, resolved = InboxGroup(status="open"), InboxGroup(status="dismissed")
        s.add_all([group, resolved])
        s.flush()

        def asked(text: str, count: int, group_id: int | None = None, status: str = "open") -> UnansweredQuestion:
            return UnansweredQuestion(text_key=text, text=text, count=count, group_id=group_id, status=status)

        s.add_all(
            [
                asked("护照怎么办", 3, group.id),
                asked("办护照去哪里", 2, group.id),
                asked("明天天气怎么样", 4),
                asked("社保怎么交", 9, resolved.id, status="dismissed"),
            ]
        )
    with session_scope(url) as s:
        top = stats.top_open_inbox(s)
    assert [(item["label"], item["count"]) for item in top] == [("护照怎么办（等2种问法）", 5), ("明天天气怎么样", 4)]


def test_bad_days_are_refused_in_chinese() -> None:
    assert stats.parse_days(None) == 30 and stats.parse_days("7") == 7 and stats.parse_days("366") == 366
    for bad in ("0", "367", "-1", "abc", "1.5", "３０", " ", "99999"):
        with pytest.raises(stats.StaffError) as refused:
            stats.parse_days(bad)
        assert refused.value.code == "invalid_days" and "1到366" in refused.value.message


@pytest.fixture
async def client(url: str) -> AsyncIterator[TestClient]:
    async with TestClient(TestServer(init_app(url))) as client:
        yield client


async def test_the_stats_api(client: TestClient, url: str) -> None:
    seed(url)
    assert (await client.get("/api/v1/stats")).status == 401
    login = await client.post("/api/v1/login", json={"username": ADMIN[0], "password": ADMIN[1]})
    headers = {"Authorization": f"Bearer {(await login.json())['token']}"}
    reply = await client.get("/api/v1/stats?days=7", headers=headers)
    assert reply.status == 200
    body = await reply.json()
    assert {"total", "by_day", "outcomes", "topics", "feedback"} <= set(body)
    assert body["total"] == 6 and len(body["by_day"]) == 7 and body["outcomes"]["declined"] == 2
    for bad in ("0", "abc", "367", "7.5"):
        reply = await client.get(f"/api/v1/stats?days={bad}", headers=headers)
        assert reply.status == 400, bad
        body = await reply.json()
        assert body["error"] == "invalid_days" and re.search(r"[\u4e00-\u9fff]", body["message"])


async def test_the_dashboard_page_shows_the_counts(client: TestClient, url: str) -> None:
    ids = seed(url)
    page = await (await client.get("/admin/login")).text()
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    data = {"csrf_token": token, "username": ADMIN[0], "password": ADMIN[1], "next": "/admin/dashboard"}
    reply = await client.post("/admin/login", data=data)
    page = await reply.text()
    assert reply.status == 200 and "<h1>数据看板</h1>" in page
    assert 'href="/admin/dashboard" aria-current="page"' in page  # in the navigation
    day = today().isoformat()
    assert f'<g class="column" data-date="{day}" data-total="4">' in page
    assert f'data-date="{day}" data-series="answered" data-value="3"' in page
    assert f'data-faq-id="{ids["entry"]}"' in page
    assert not re.findall(r'(?:src|href)="(?:https?:)?//', page)  # nothing from another host (no CDN)
    bad = await client.get("/admin/dashboard?days=0")
    assert bad.status == 400 and "1到366" in await bad.text()
