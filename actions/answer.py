"""``action_answer``: every question about the plan goes through here.

Intent -> topic -> ranked knowledge-base answer with its source line, plus up
to three related questions as buttons. Ambiguous questions get "您是想问…";
questions the knowledge base does not cover get an honest reply.
"""

from __future__ import annotations

import gc
import logging
import os
from functools import lru_cache
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.exc import SQLAlchemyError

from actions.replies import inbox_outcome, reply_text
from actions.steps import Reply, Turn, decide
from bot.guard import SORRY
from knowledge.answering import AnswerEngine
from knowledge.db import get_sessionmaker, session_scope
from knowledge.inbox import record_unanswered
from knowledge.privacy import install_log_masking
from knowledge.stats import record_outcomes
from knowledge.text import simplified

log = logging.getLogger(__name__)


@lru_cache(maxsize=1)
def answer_engine() -> AnswerEngine:
    return AnswerEngine(get_sessionmaker())


def warm_up() -> None:
    """Load jieba, build the search index and load the meaning model before the first resident asks
    (~2 s with knowledge/semantic.py's embeddings ready from ``make kb``)."""
    try:
        answer_engine().answer(text="加装电梯", topic="elevator")
        answer_engine().semantic_matches(text="加装电梯")  # loads the model and the phrasings' embeddings
        answer_engine().nearest_emergency_examples(text="着火了")  # and knowledge/emergency.py's examples
    except Exception:  # a missing database is reported by the first real question
        log.exception("warm-up failed")
    # The index, jieba's dictionary and the vocabulary live as long as the process: out of the garbage
    # collector's full runs, which walked their ~140,000 objects in 50-90 ms every few dozen messages
    # (issue 16; Rasa's side does the same for its model, bot/rasa_speedups.py).
    gc.freeze()


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


def previous_answer(tracker: Tracker) -> tuple[str, str]:
    """The text and search document ("faq:12", "passage:…") of the last cited answer before the
    resident's latest words: a follow-up may ask about a figure it already holds."""
    seen_user = False
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            if seen_user:
                break
            seen_user = True
        elif event.get("event") == "bot" and seen_user:
            answer = ((event.get("data") or {}).get("custom") or {}).get("answer") or {}
            if answer.get("ref"):  # the answer without its source line (the plan's title names years)
                return (event.get("text") or "").split("\n来源：")[0], answer["ref"]
    return "", ""


def earlier_refs(tracker: Tracker, turns: int = 2) -> tuple[str, ...]:
    """The search documents of the cited answers to the resident's last ``turns`` messages before the
    latest one, the latest first: "这两个数分别是哪年的" after "托位每千人几个" and "那2022年呢"."""
    refs: list[str] = []
    seen_user = 0
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            seen_user += 1
            if seen_user > turns:
                break
        elif event.get("event") == "bot" and seen_user:
            ref = (((event.get("data") or {}).get("custom") or {}).get("answer") or {}).get("ref")
            if ref and ref not in refs:
                refs.append(ref)
    return tuple(refs)


def faq_button(faq_id: int, question: str) -> dict[str, str]:
    return {"title": question, "payload": f'/choose_faq{{"faq_id":"{faq_id}"}}'}


class ActionAnswer(Action):
    def name(self) -> str:
        return "action_answer"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        engine = answer_engine()
        try:
            # On the event loop, one action at a time: the engine updates its index in place
            # (knowledge/answering.py). Concurrency comes from ACTION_SERVER_SANIC_WORKERS.
            with engine.one_message():  # one knowledge-base fingerprint read for the answer and the inbox check
                replies = decide(turn_of(tracker), engine)
                words = resident_words(tracker)
                for reply in replies:
                    send(dispatcher, reply)
                record_outcomes(replies)  # counts only (step, outcome, topic) for the dashboard
                self._remember_unanswered(words, tracker, replies, domain)
        except SQLAlchemyError:
            log.exception("knowledge base unavailable")
            dispatcher.utter_message(text=SORRY)
            return []
        topics = [r.answer.topic for r in replies if r.cited and r.answer is not None]
        return [SlotSet("topic", topics[-1])] if topics else []

    @staticmethod
    def _remember_unanswered(text: str, tracker: Tracker, replies: list[Reply], domain: dict[str, Any]) -> None:
        """Into the staff inbox (personal data masked) when the bot could not answer, declined, or
        answered only weakly, with what it replied (knowledge.inbox); never at the cost of the answer."""
        try:
            intent = ((tracker.latest_message or {}).get("intent") or {}).get("name")
            outcome = inbox_outcome(answer_engine(), text=simplified(text), replies=replies, intent=intent)
            if outcome is None or not text:
                return
            said = "\n\n".join(reply_text(r, domain.get("responses")) for r in replies)
            with session_scope() as session:
                record_unanswered(
                    session, text=text, topic=tracker.get_slot("topic"), kind=outcome[0], step=outcome[1], reply=said
                )
        except SQLAlchemyError:
            log.exception("could not record an unanswered question")


def turn_of(tracker: Tracker) -> Turn:
    message = tracker.latest_message or {}
    intent = message.get("intent") or {}
    latest = (message.get("text") or "").strip()
    payload = latest if latest.startswith("/") else ""  # a button: no words of the resident's own
    answer_text, answer_ref = previous_answer(tracker)
    return Turn(
        text="" if payload else simplified(resident_words(tracker)),
        payload=payload,
        intent=intent.get("name"),
        confidence=intent.get("confidence") or 0.0,
        topic_in_context=tracker.get_slot("topic"),
        previous=simplified(previous_words(tracker)),
        previous_answer=answer_text,
        previous_ref=answer_ref,
        earlier_refs=earlier_refs(tracker),
        district=next(tracker.get_latest_entity_values("district"), None),
        faq_id=next(tracker.get_latest_entity_values("faq_id"), None),
        sender=tracker.sender_id or "",
        channel=tracker.get_latest_input_channel() or "",
    )


def send(dispatcher: CollectingDispatcher, reply: Reply) -> None:
    """One message per reply (one stored event); the custom part tells rich clients (the widget,
    make eval) which step answered, what to rate and the source on its own."""
    answer = reply.answer if reply.cited else None
    custom: dict[str, Any] = {"step": reply.step, "answer": None}
    if answer is not None:
        custom["answer"] = {
            "faq_id": answer.faq_id,
            "clause": answer.clause_ref,
            "source": answer.source_line,
            "ref": answer.ref,
        }
        dispatcher.utter_message(
            text=answer.message(), buttons=[faq_button(i, q) for i, q in answer.related], json_message=custom
        )
    elif reply.response is not None:
        dispatcher.utter_message(response=reply.response, json_message=custom, **reply.values)
    elif reply.answer is not None:
        dispatcher.utter_message(text=reply.answer.text, json_message=custom)
