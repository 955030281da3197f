"""action_answer with real trackers and a real SQLite knowledge base."""

from __future__ import annotations

from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import select

from actions.answer import ActionAnswer, answer_engine
from knowledge.db import session_scope
from knowledge.models import UnansweredQuestion


@pytest.fixture(autouse=True)
def use_test_kb(kb_url: str, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("DATABASE_URL", kb_url)
    answer_engine.cache_clear()
    yield
    answer_engine.cache_clear()


def user(text: str, intent: str, confidence: float = 0.95, ranking=None, entities=None) -> dict[str, Any]:
    return {
        "event": "user",
        "text": text,
        "parse_data": {
            "text": text,
            "intent": {"name": intent, "confidence": confidence},
            "intent_ranking": ranking or [{"name": intent, "confidence": confidence}],
            "entities": entities or [],
        },
    }


def tracker(*turns: dict[str, Any], slots: dict[str, Any] | None = None) -> Tracker:
    return Tracker(
        sender_id="resident-1",
        slots=slots or {},
        latest_message=turns[-1]["parse_data"],
        events=list(turns),
        paused=False,
        followup_action=None,
        active_loop={},
        latest_action_name="action_listen",
    )


async def run(t: Tracker) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    dispatcher = CollectingDispatcher()
    events = await ActionAnswer().run(dispatcher, t, {})
    return dispatcher.messages, events


async def test_topic_question_gets_cited_answer_related_buttons_and_topic_slot():
    messages, events = await run(tracker(user("加梯", "ask_elevator")))
    assert len(messages) == 1  # one message, so one event in the tracker store
    text = messages[0]["text"]
    details = messages[0]["custom"]["answer"]  # for the web widget: rating and source
    assert details["clause"] == "第9条" and isinstance(details["faq_id"], int)
    assert text.endswith(details["source"])
    assert "能改尽改、愿改就改" in text or "加装电梯" in text
    assert text.splitlines()[-1].startswith("来源：《杭州争当") and text.endswith("第9条")
    assert 1 <= len(messages[0]["buttons"]) <= 3
    assert all(b["payload"].startswith('/choose_faq{"faq_id":"') for b in messages[0]["buttons"])
    assert events == [{"event": "slot", "timestamp": None, "name": "topic", "value": "elevator"}]


async def test_follow_up_keeps_the_previous_topic():
    first = user("到2025年每千人口有多少托位", "ask_childcare")
    follow = user("那2022年底呢", "follow_up")
    messages, _ = await run(tracker(first, follow, slots={"topic": "childcare"}))
    assert "3.5" in messages[0]["text"]
    assert "2022年进展报道" in messages[0]["text"]


async def test_follow_up_naming_a_district_keeps_topic_and_adds_district_note():
    first = user("加梯", "ask_elevator")
    entities = [{"entity": "district", "value": "余杭区", "start": 1, "end": 4}]
    follow = user("那余杭区呢", "follow_up", entities=entities)
    messages, _ = await run(tracker(first, follow, slots={"topic": "elevator"}))
    assert "第9条" in messages[0]["text"]
    assert "余杭区" in messages[0]["text"]


async def test_clicked_related_question_answers_that_entry():
    messages, _ = await run(tracker(user("加梯", "ask_elevator")))
    button = messages[0]["buttons"][0]
    faq_id = button["payload"].split('"faq_id":"')[1].rstrip('"}')
    click = user(button["payload"], "choose_faq", entities=[{"entity": "faq_id", "value": faq_id}])
    chosen, _ = await run(tracker(user("加梯", "ask_elevator"), click))
    assert "来源：" in chosen[0]["text"]


AMBIGUOUS = [
    {"name": "nlu_fallback", "confidence": 0.45},
    {"name": "ask_rental", "confidence": 0.41},
    {"name": "ask_hukou", "confidence": 0.38},
]


async def test_between_two_topics_that_both_have_answers_asks_which_one():
    messages, events = await run(tracker(user("公租房和积分落户", "nlu_fallback", 0.45, AMBIGUOUS)))
    assert messages[0]["text"].startswith("您是想问")
    assert len(messages[0]["buttons"]) == 2
    assert events == []


async def test_between_two_topics_where_only_one_has_an_answer_answers_it():
    messages, events = await run(tracker(user("公租房怎么申请", "nlu_fallback", 0.45, AMBIGUOUS)))
    assert "来源：" in messages[0]["text"]
    assert events[0]["value"] == "rental"


async def test_question_outside_the_knowledge_base_gets_honest_reply_without_citation():
    messages, events = await run(tracker(user("杭州明天会下雨吗", "ask_plan", 0.6)))
    assert "没有找到依据" in messages[0]["text"]
    assert "来源" not in messages[0]["text"]
    assert events == []


async def test_database_failure_gives_a_chinese_apology(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres@127.0.0.1:9/unreachable")  # nothing listens on :9
    answer_engine.cache_clear()
    messages, _ = await run(tracker(user("加梯", "ask_elevator")))
    assert "系统暂时出了点问题" in messages[0]["text"]


async def test_unanswered_question_lands_in_the_staff_inbox_with_personal_data_masked(fresh_kb_url, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", fresh_kb_url)
    answer_engine.cache_clear()
    question = "我手机13912345678，身份证11010519491231002X，想问杭州明天会下雨吗"
    for _ in range(2):
        await run(tracker(user(question, "ask_plan", 0.6)))
    with session_scope(fresh_kb_url) as s:
        rows = s.scalars(select(UnansweredQuestion)).all()
    assert len(rows) == 1 and rows[0].count == 2
    assert "13912345678" not in rows[0].text and "11010519491231002X" not in rows[0].text
    assert "[手机号]" in rows[0].text and "[身份证号]" in rows[0].text and "下雨" in rows[0].text


async def test_follow_up_asks_about_the_thing_the_previous_question_named():
    first = user("人才专项租赁住房", "ask_rental")
    follow = user("申请条件呢", "follow_up")
    messages, _ = await run(tracker(first, follow, slots={"topic": "rental"}))
    assert "人才专项租赁住房" in messages[0]["text"] and "申请" in messages[0]["text"]


async def test_short_message_nlu_cannot_place_is_a_follow_up_when_a_topic_is_in_context():
    ranking = [{"name": "nlu_fallback", "confidence": 0.45}, {"name": "greet", "confidence": 0.4}]
    first = user("到2025年每千人口有多少托位", "ask_childcare")
    follow = user("那2022年底呢", "nlu_fallback", 0.45, ranking)
    messages, _ = await run(tracker(first, follow, slots={"topic": "childcare"}))
    assert "3.5" in messages[0]["text"]


async def test_out_of_scope_gets_the_polite_decline():
    messages, events = await run(tracker(user("帮我查一下明天的天气", "out_of_scope")))
    assert messages[0]["response"] == "utter_out_of_scope" and events == []


async def test_out_of_scope_follow_up_that_clearly_matches_the_topic_in_context_is_answered():
    first = user("一楼不同意装电梯怎么办", "ask_elevator")
    follow = user("那电梯装好以后谁来维护保养", "out_of_scope", 0.7)
    messages, _ = await run(tracker(first, follow, slots={"topic": "elevator"}))
    assert "来源：" in messages[0]["text"] and "维" in messages[0]["text"]


async def test_a_question_in_english_gets_a_polite_request_to_ask_in_chinese():
    messages, events = await run(tracker(user("How do I apply for public rental housing?", "ask_rental", 0.9)))
    assert "请用中文" in messages[0]["text"] and "来源" not in messages[0]["text"] and events == []


def test_warm_up_builds_the_search_index_before_the_first_question():
    from actions.answer import warm_up

    warm_up()
    assert answer_engine()._index is not None
