"""What the bot's replies said, in words, and whether the question belongs in the staff inbox.

Shared by the action server (actions/answer.py, which records inbox questions) and the staff
service's test box "问一句试试" (web/trying.py, which shows staff what the bot would answer), so
both describe a reply of ``actions.steps.decide`` the same way. Imports only ``actions.steps`` and
``knowledge``: the staff service may use it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from actions.steps import ANSWER_COVERAGE, Reply
from knowledge.answering import AnswerEngine
from knowledge.inbox import inbox_kind, worst_kind

# Steps whose cited answer may rest on a weak match (NLU's topic let it through, actions/steps.py).
MATCHING_STEPS = ("topic_answer", "story_answer")


def reply_text(reply: Reply, responses: Mapping[str, Any] | None) -> str:
    """What the resident reads: the cited answer with its source line, or the fixed reply's text
    (``responses``: domain.yml's, name -> variants; the name itself when they are not at hand)."""
    if reply.cited and reply.answer is not None:
        return reply.answer.message()
    if reply.response is not None:
        variants = (responses or {}).get(reply.response) or [{}]
        text = (variants[0] or {}).get("text") or reply.response
        try:
            return text.format(**reply.values) if reply.values else text
        except (KeyError, IndexError, ValueError):
            return text
    return reply.answer.text if reply.answer is not None else ""


def answered_weakly(engine: AnswerEngine, text: str, replies: list[Reply]) -> bool:
    """Whether a cited answer of the question steps rests on a match below a full answer's coverage."""
    if not text or not any(r.cited and r.step in MATCHING_STEPS for r in replies):
        return False
    hits = engine.hits(text=text, limit=1)
    return not hits or hits[0].coverage < ANSWER_COVERAGE


def inbox_outcome(
    engine: AnswerEngine, *, text: str, replies: list[Reply], intent: str | None
) -> tuple[str, str] | None:
    """(kind, deciding step) when the message goes to the staff inbox (knowledge.inbox.KINDS), else None."""
    weak = answered_weakly(engine, text, replies)
    kinds = [
        inbox_kind(r.step, cited=r.cited, exact=r.answer is None or r.answer.exact, weak=weak, intent=intent)
        for r in replies
    ]
    kind = worst_kind(kinds)
    if kind is None:
        return None
    return kind, next(r.step for r, k in zip(replies, kinds, strict=True) if k == kind)
