"""The hand-off through the real answer action (issue 15): real trackers, a real SQLite knowledge base.

A resident asking for a person is connected when staff are on duty and given 12345 at once when
nobody is; while the hand-off is open, every next message goes to the desk instead of the bot;
after staff close it (or nobody claimed it in time) the bot answers again.
"""

from __future__ import annotations

from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import select

from actions.answer import ActionAnswer, answer_engine
from knowledge import handoff
from knowledge.build import build
from knowledge.db import session_scope
from knowledge.models import Handoff, HandoffMessage, StaffUser
from knowledge.staff import create_user

SENDER = "web-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"


@pytest.fixture(params=["sqlite", "postgresql"])
def kb(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The answer action's engine keeps who is handed over between messages (OpenHandoffs): on
    PostgreSQL a trigger's counter says when to read it again, on SQLite every commit does."""
    if request.param == "sqlite":
        url = request.getfixturevalue("fresh_kb_url")
    else:
        url = request.getfixturevalue("pg_url")
        build(url=url)
    monkeypatch.setenv("DATABASE_URL", url)
    answer_engine.cache_clear()
    with session_scope(url) as session:
        create_user(session, username="duty1", password="Duty-Passw0rd!x", role="reviewer", actor="test")
    yield url
    answer_engine.cache_clear()


def on_duty(url: str, on: bool = True) -> StaffUser:
    with session_scope(url) as session:
        user = session.scalars(select(StaffUser).where(StaffUser.username == "duty1")).one()
        handoff.set_duty(session, user=user, on=on)
        return user


def user_event(text: str, intent: str = "out_of_scope", confidence: float = 0.6) -> dict[str, Any]:
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


class Resident:
    """One resident's conversation: each message runs the real action on a tracker of all so far."""

    def __init__(self, sender: str = SENDER) -> None:
        self.sender, self.events = sender, []

    async def says(self, text: str, intent: str = "out_of_scope") -> list[dict[str, Any]]:
        self.events.append(user_event(text, intent))
        tracker = Tracker(
            sender_id=self.sender,
            slots={},
            latest_message=self.events[-1]["parse_data"],
            events=list(self.events),
            paused=False,
            followup_action=None,
            active_loop={},
            latest_action_name="action_listen",
        )
        dispatcher = CollectingDispatcher()
        await ActionAnswer().run(dispatcher, tracker, {})
        return dispatcher.messages


def transcript(url: str) -> list[tuple[str, str]]:
    with session_scope(url) as session:
        rows = session.scalars(select(HandoffMessage).order_by(HandoffMessage.id))
        return [(m.author, m.text) for m in rows]


async def test_nobody_on_duty_gives_12345_at_once(kb: str):
    replies = await Resident().says("转人工", "bot_challenge")
    assert [r["custom"]["step"] for r in replies] == ["handoff"]
    assert replies[0]["text"] == handoff.NOBODY_ON_DUTY and "12345" in replies[0]["text"]
    with session_scope(kb) as session:
        assert session.scalars(select(Handoff)).all() == []


async def test_messages_go_to_the_desk_while_handed_over_and_the_bot_resumes_after_close(kb: str):
    staff_member = on_duty(kb)
    resident = Resident()
    first = await resident.says("加装电梯邻居不同意怎么办", "ask_elevator")
    assert first[0]["custom"]["step"] != "handoff"

    asked = await resident.says("我要投诉，找个人")
    assert [r["custom"]["step"] for r in asked] == ["handoff"] and asked[0]["text"] == handoff.CONNECTING
    with session_scope(kb) as session:
        (opened,) = session.scalars(select(Handoff)).all()
        assert (opened.sender, opened.channel, opened.status) == (SENDER, "rest", "waiting")

    # A question the bot would answer goes to the desk instead, personal data masked
    waiting = await resident.says("加梯 我电话13912345678", "ask_elevator")
    assert [(r["custom"]["step"], r["text"]) for r in waiting] == [("handed_over", handoff.WAITING_ACK)]
    said = [text for author, text in transcript(kb) if author == "resident"]
    assert said[0] == "加装电梯邻居不同意怎么办" and "13912345678" not in said[-1] and said[-1].startswith("加梯")

    with session_scope(kb) as session:
        handoff.claim(session, handoff_id=opened.id, user=staff_member)
        handoff.reply(session, handoff_id=opened.id, user=staff_member, text="您好，我来帮您看看")
    active = await resident.says("谢谢，情况是这样的")
    assert [(r["custom"]["step"], r["text"]) for r in active] == [("handed_over", handoff.ACTIVE_ACK)]
    assert ("resident", "谢谢,情况是这样的") in transcript(kb)  # as the steps read it: NFKC-folded

    other = await Resident("web-bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb").says("加梯", "ask_elevator")
    assert other[0]["custom"]["step"] == "topic_answer"  # another resident is not affected

    with session_scope(kb) as session:
        handoff.close(session, handoff_id=opened.id, user=staff_member)
    after = await resident.says("加梯", "ask_elevator")
    assert after[0]["custom"]["step"] == "topic_answer" and after[0]["custom"]["answer"]["clause"] == "第9条"


async def test_unclaimed_hand_off_times_out_with_12345_and_the_bot_resumes(kb: str, monkeypatch):
    on_duty(kb)
    resident = Resident()
    assert (await resident.says("人工客服"))[0]["text"] == handoff.CONNECTING
    monkeypatch.setenv("HANDOFF_CLAIM_TIMEOUT", "0")
    told = await resident.says("还有人吗")
    assert [(r["custom"]["step"], r["text"]) for r in told] == [("handed_over", handoff.TIMED_OUT)]
    assert "12345" in told[0]["text"]
    again = await resident.says("加梯", "ask_elevator")
    assert again[0]["custom"]["step"] == "topic_answer"


async def test_a_question_about_the_assistant_is_not_a_hand_off(kb: str):
    on_duty(kb)
    replies = await Resident().says("你是真人吗", "bot_challenge")
    assert replies[0]["custom"]["step"] == "about_bot"
    with session_scope(kb) as session:
        assert session.scalars(select(Handoff)).all() == []
