"""What reaches the staff inbox (issue 14): questions the bot did not answer, declined as out of
scope, or answered only weakly, each with the deciding step and what the bot replied.

Through the real answer action (actions/answer.py) with NLU's parse given, on SQLite and
PostgreSQL; and once through the real stack (Rasa's own NLU), where 护照, 天气 and 社保 questions
must reach the inbox. Also the migration 0008 keeps the inbox rows written before it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import select, text

from actions.answer import ActionAnswer, answer_engine
from knowledge.build import build
from knowledge.db import get_engine, session_scope, upgrade_to_head
from knowledge.models import UnansweredQuestion
from knowledge.settings import PROJECT_ROOT
from tests.stack import Stack, said
from tests.test_actions import tracker, user

DOMAIN = yaml.safe_load((PROJECT_ROOT / "domain.yml").read_text(encoding="utf-8"))


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'kb.sqlite3'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    build(url=url)
    monkeypatch.setenv("DATABASE_URL", url)
    answer_engine.cache_clear()
    yield url
    answer_engine.cache_clear()
    get_engine(url).dispose()


async def ask(text: str, intent: str, confidence: float = 0.9) -> list[dict[str, Any]]:
    dispatcher = CollectingDispatcher()
    await ActionAnswer().run(dispatcher, tracker(user(text, intent, confidence)), DOMAIN)
    return dispatcher.messages


def inbox(url: str) -> dict[str, UnansweredQuestion]:
    with session_scope(url) as s:
        return {row.text: row for row in s.scalars(select(UnansweredQuestion))}


async def test_not_covered_declined_and_weak_answers_reach_the_inbox_with_the_reply(url: str) -> None:
    weather = await ask("明天天气怎么样", "out_of_scope", 0.97)
    assert weather[0]["custom"]["step"] == "not_covered"
    noise = await ask("加装电梯施工太吵了怎么办", "ask_elevator", 0.9)  # a weak match NLU lets through
    assert noise[0]["custom"]["step"] == "topic_answer" and "来源：" in noise[0]["text"]
    await ask("我手机13912345678，附近哪家火锅好吃", "nlu_fallback", 0.4)
    answered = await ask("蓝领公寓是什么", "ask_rental", 0.95)
    assert answered[0]["custom"]["step"] == "topic_answer"

    rows = inbox(url)
    assert set(rows) == {"明天天气怎么样", "加装电梯施工太吵了怎么办", "我手机[手机号]，附近哪家火锅好吃"}
    declined = rows["明天天气怎么样"]
    assert (declined.kind, declined.step) == ("declined", "not_covered")
    assert declined.reply == DOMAIN["responses"]["utter_not_covered"][0]["text"]  # the words, not the name
    weak = rows["加装电梯施工太吵了怎么办"]
    assert (weak.kind, weak.step) == ("weak", "topic_answer") and weak.reply == noise[0]["text"]
    unanswered = rows["我手机[手机号]，附近哪家火锅好吃"]
    assert unanswered.kind == "unanswered" and "13912345678" not in (unanswered.reply or "")

    await ask("明天天气怎么样", "out_of_scope", 0.97)  # asked again: counted on its open row
    assert inbox(url)["明天天气怎么样"].count == 2


async def test_the_same_words_after_their_group_was_handled_start_a_new_row(url: str) -> None:
    await ask("明天天气怎么样", "out_of_scope", 0.97)
    with session_scope(url) as s:
        s.scalar(select(UnansweredQuestion)).status = "dismissed"
    await ask("明天天气怎么样", "out_of_scope", 0.97)
    with session_scope(url) as s:
        rows = s.scalars(select(UnansweredQuestion).order_by(UnansweredQuestion.id)).all()
        assert [(r.status, r.count) for r in rows] == [("dismissed", 1), ("open", 1)]


def test_migration_0008_keeps_earlier_inbox_rows(tmp_path) -> None:
    from alembic import command
    from alembic.config import Config

    from knowledge.settings import KNOWLEDGE_DIR

    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    config = Config()
    config.set_main_option("script_location", str(KNOWLEDGE_DIR / "migrations"))
    config.attributes["engine"] = get_engine(url)
    command.upgrade(config, "0007")
    with get_engine(url).begin() as connection:
        connection.execute(
            text(
                "INSERT INTO unanswered_questions (text_key, text, count, first_seen, last_seen, status) "
                "VALUES ('k', '护照在哪里办', 3, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 'open')"
            )
        )
    upgrade_to_head(url)
    with session_scope(url) as s:
        row = s.scalar(select(UnansweredQuestion))
        assert (row.text, row.count, row.kind, row.group_id, row.reply) == ("护照在哪里办", 3, "unanswered", None, None)
        s.add(UnansweredQuestion(text_key="k", text="护照在哪里办", status="open"))  # the key is no longer unique
    get_engine(url).dispose()


def test_out_of_scope_questions_asked_through_the_real_bot_reach_the_inbox(stack: Stack) -> None:
    """Rasa's own NLU decides the intent: 护照, 天气 and 社保 questions must not get lost."""
    questions = ["护照在哪里办", "明天杭州天气怎么样", "帮我查一下我的社保交了几个月"]
    for n, question in enumerate(questions):
        assert said(stack.ask(f"inbox-oos-{n}", question)), question
    with session_scope(stack.kb_url) as s:
        found = {
            row.text: row for row in s.scalars(select(UnansweredQuestion).where(UnansweredQuestion.text.in_(questions)))
        }
    assert set(found) == set(questions)
    assert all(row.kind in ("declined", "unanswered", "weak") and row.reply for row in found.values())
