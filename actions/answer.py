"""``action_answer``: every question about the plan goes through here.

Intent -> topic -> ranked knowledge-base answer with its source line, plus up
to three related questions as buttons. Ambiguous questions get "您是想问…";
questions the knowledge base does not cover get an honest reply.
"""

from __future__ import annotations

import logging
import os
import re
from functools import lru_cache
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.exc import SQLAlchemyError

from bot.guard import SORRY
from knowledge.answering import Answer, AnswerEngine, not_covered
from knowledge.db import get_sessionmaker, session_scope
from knowledge.inbox import record_unanswered
from knowledge.privacy import install_log_masking
from knowledge.topics import INTENT_TOPICS

log = logging.getLogger(__name__)

FALLBACK_INTENT = "nlu_fallback"
CJK = re.compile(r"[\u4e00-\u9fff]")
LATIN_WORD = re.compile(r"[A-Za-z]{2,}")
ENGLISH_REPLY = "目前我只能理解中文提问，请用中文再问一次。Sorry, I can only answer questions in Chinese."
RESIDENT_TOPICS = ("elevator", "childcare", "hukou", "rental")
# NLU this sure of a resident topic, but no entry matches the exact words (a long
# story, dialect): answer with what the plan commits to on that topic.
OVERVIEW_MIN_CONFIDENCE = 0.8
_OTHER_CITY_NAMES = (
    "北京 上海 天津 重庆 广州 深圳 南京 苏州 无锡 常州 宁波 温州 绍兴 嘉兴 湖州 金华 台州 丽水 衢州 舟山 "
    "成都 武汉 西安 长沙 郑州 合肥 厦门 福州 青岛 济南 大连 沈阳 哈尔滨 长春 昆明 贵阳 南昌 南宁 海口 "
    "石家庄 太原 兰州 乌鲁木齐 西宁 银川 呼和浩特 东莞 佛山 珠海 徐州 香港 澳门 台北"
)
OTHER_CITIES = tuple(_OTHER_CITY_NAMES.split())
# Two topic intents closer than this are "between topics": ask which one was meant.
CLARIFY_MARGIN = 0.25
# An answer from a topic other than the one NLU chose must cover this much of the question.
CROSS_TOPIC_COVERAGE = 0.6
# An "out of scope" message is answered in the topic in context only with a match this clear.
IN_CONTEXT_COVERAGE = 0.6
# A message this short that NLU cannot place, with a topic in context, is a follow-up ("在哪里有").
FOLLOW_UP_MAX_CHARS = 8
# One topic's best match covering at least twice as much of the question decides it.
DOMINANCE = 2.0


@lru_cache(maxsize=1)
def answer_engine() -> AnswerEngine:
    return AnswerEngine(get_sessionmaker())


def warm_up() -> None:
    """Load jieba and build the search index before the first resident asks (~1 s cold)."""
    try:
        answer_engine().answer(text="加装电梯", topic="elevator")
    except Exception:  # a missing database is reported by the first real question
        log.exception("warm-up failed")


install_log_masking()  # no log line of the action server keeps an ID or phone number (docs/SECURITY.md)

if os.environ.get("ACTIONS_WARM_UP") == "1":  # set by the Procfile for the running server only
    # Synchronously, before the server starts (and forks its workers, which inherit the index).
    warm_up()


def resident_words(tracker: Tracker) -> str:
    """The resident's latest own words (a clicked button sends a payload instead)."""
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            text = (event.get("text") or "").strip()
            if text and not text.startswith("/"):
                return text
    return ""


def previous_words(tracker: Tracker) -> str:
    """The resident's words one turn before the latest ones."""
    seen = 0
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            text = (event.get("text") or "").strip()
            if text and not text.startswith("/"):
                seen += 1
                if seen == 2:
                    return text
    return ""


def faq_button(faq_id: int, question: str) -> dict[str, str]:
    return {"title": question, "payload": f'/choose_faq{{"faq_id":"{faq_id}"}}'}


class ActionAnswer(Action):
    def name(self) -> str:
        return "action_answer"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        try:
            # On the event loop, one action at a time: the engine updates its index in place
            # (knowledge/answering.py). Concurrency comes from ACTION_SERVER_SANIC_WORKERS.
            answer = self._decide(dispatcher, tracker)
        except SQLAlchemyError:
            log.exception("knowledge base unavailable")
            dispatcher.utter_message(text=SORRY)
            return []
        if answer is None:  # a clarifying question or the out-of-scope reply was sent
            return []
        if not answer.found or not answer.exact:
            self._remember_unanswered(resident_words(tracker), answer.topic)
        # One message (one stored event); channels deliver the custom part after the text: rich
        # clients (the web widget) read what to rate, and the source on its own.
        details = {"faq_id": answer.faq_id, "clause": answer.clause_ref, "source": answer.source_line}
        dispatcher.utter_message(
            text=answer.message(),
            buttons=[faq_button(i, q) for i, q in answer.related],
            json_message={"answer": details} if answer.found else None,
        )
        return [SlotSet("topic", answer.topic)] if answer.found else []

    def _decide(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> Answer | None:
        engine = answer_engine()
        message = tracker.latest_message or {}
        intent = (message.get("intent") or {}).get("name")
        text = resident_words(tracker)
        district = next(tracker.get_latest_entity_values("district"), None)

        if text and not CJK.search(text) and len(LATIN_WORD.findall(text)) >= 3:
            return Answer(
                text="目前我只能理解中文提问，请用中文再问一次。Sorry, I can only answer questions in Chinese."
            )

        if intent == "choose_faq":
            faq_id = next(tracker.get_latest_entity_values("faq_id"), None)
            chosen = engine.answer_entry(faq_id=int(faq_id)) if str(faq_id).isdigit() else None
            return chosen or not_covered()

        topic_in_context = tracker.get_slot("topic")
        if intent == "out_of_scope":
            # "那装好以后坏了谁修" after an elevator answer can look out of scope to NLU:
            # answer only if the words alone clearly match an entry of the topic in context.
            if topic_in_context:
                rescued = engine.answer(text=text, topic=topic_in_context, min_coverage=IN_CONTEXT_COVERAGE)
                if rescued.found:
                    return rescued
            dispatcher.utter_message(response="utter_out_of_scope")
            return None
        confidence = (message.get("intent") or {}).get("confidence") or 0.0
        short_and_unsure = intent == FALLBACK_INTENT and len(text) <= FOLLOW_UP_MAX_CHARS
        if intent == "follow_up" or (short_and_unsure and topic_in_context):
            # "申请条件呢" asks about the thing the previous question named.
            return engine.answer_follow_up(
                previous=previous_words(tracker), text=text, topic=topic_in_context, district=district
            )

        if intent == FALLBACK_INTENT:
            ranking = [r for r in message.get("intent_ranking") or [] if r.get("name") != FALLBACK_INTENT]
            top = [r for r in ranking[:2] if r.get("name") in INTENT_TOPICS]
            if len(top) == 2 and top[0]["confidence"] - top[1]["confidence"] < CLARIFY_MARGIN:
                return self._between_topics(dispatcher, engine, text, [INTENT_TOPICS[r["name"]] for r in top])
            intent = top[0]["name"] if top and top[0] is ranking[0] else None

        topic = INTENT_TOPICS.get(intent or "")
        city = next((c for c in OTHER_CITIES if c in text), None)
        if city and topic in RESIDENT_TOPICS and "杭州" not in text:
            return Answer(
                text=f"我只能解读杭州市的《行动计划》，没有{city}的相关政策信息。"
                f"请向{city}当地的政务服务部门咨询，或拨打当地的12345政务服务便民热线。",
                topic=topic,
            )
        answer = engine.answer(text=text, topic=topic, district=district)
        if not answer.found and topic is not None:
            # NLU may have the topic wrong: another topic's entry must match clearly better.
            elsewhere = engine.answer(text=text, topic=None, district=district, min_coverage=CROSS_TOPIC_COVERAGE)
            if elsewhere.found:
                return elsewhere
            if topic in RESIDENT_TOPICS and confidence >= OVERVIEW_MIN_CONFIDENCE:
                return engine.overview(topic=topic, text=text) or answer
        return answer

    @staticmethod
    def _remember_unanswered(text: str, topic: str | None) -> None:
        """Into the staff inbox (personal data masked); never at the cost of the answer."""
        try:
            with session_scope() as session:
                record_unanswered(session, text=text, topic=topic)
        except SQLAlchemyError:
            log.exception("could not record an unanswered question")

    @staticmethod
    def _between_topics(
        dispatcher: CollectingDispatcher, engine: AnswerEngine, text: str, topics: list[str]
    ) -> Answer | None:
        """NLU is torn between two topics: ask which one, unless the knowledge base decides.

        Both topics have a related entry and neither clearly dominates -> "您是想问…" with
        both questions as buttons (returns None); otherwise answer from the stronger topic.
        """
        candidates = {t: engine.best_question(text=text, topic=t) for t in topics}
        related = {t: c for t, c in candidates.items() if c is not None}
        if len(related) == 2:
            (t1, c1), (_, c2) = sorted(related.items(), key=lambda item: -item[1][2])
            if c1[2] < DOMINANCE * c2[2]:
                dispatcher.utter_message(
                    text="您是想问下面哪一个问题？请点选，或换个说法再问一次。",
                    buttons=[faq_button(c1[0], c1[1]), faq_button(c2[0], c2[1])],
                )
                return None
            related = {t1: c1}
        for topic in related:
            answer = engine.answer(text=text, topic=topic)
            if answer.found:
                return answer
        return engine.answer(text=text, topic=None)
