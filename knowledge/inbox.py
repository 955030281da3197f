"""Resident questions the bot could not answer well, for staff to turn into FAQ entries.

Three kinds reach the inbox (``KINDS``): questions the knowledge base does not cover, questions
the bot declined as outside its scope (NLU's ``out_of_scope``, another city's policy), and
questions answered only weakly (a match below the full-answer coverage, or a stand-in answer).
What the bot replied and which answer step decided are kept beside the question.

Personal data is masked before anything is stored. The same words asked again (after
normalisation) are counted on the open row; once that row's group is resolved (attached, drafted
or dismissed, knowledge.inbox_groups) the words start a new row, and so a new group.

``open_questions``/``dismiss``/``make_draft`` are the per-question actions of the first inbox
(``/api/v1/inbox``), kept for scripts written against it; staff work on groups.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

from sqlalchemy import select
from sqlalchemy.orm import Session

from knowledge.grounding import PLACEHOLDER_ANSWER
from knowledge.models import UnansweredQuestion, utcnow
from knowledge.privacy import mask_personal_data
from knowledge.staff import FaqInput, NotFound, StaffUser, audit, create_entry

MAX_STORED_CHARS = 500
MAX_REPLY_CHARS = 1000
KINDS = {"unanswered": "没有找到依据", "declined": "不在服务范围", "weak": "勉强作答"}
# Answer steps (actions/steps.py) that decline a question the resident meant seriously.
DECLINING_STEPS = ("other_city",)
OUT_OF_SCOPE_INTENTS = ("out_of_scope",)


def inbox_kind(
    step: str, *, cited: bool, exact: bool = True, weak: bool = False, intent: str | None = None
) -> str | None:
    """Which kind of inbox question a reply makes of the resident's message (None: answered well).

    ``weak``: the answer's match was below the coverage of a full answer; ``exact`` False: a
    stand-in answer (the topic's general entry for an unmatched question).
    """
    if step == "not_covered":
        return "declined" if intent in OUT_OF_SCOPE_INTENTS else "unanswered"
    if step in DECLINING_STEPS:
        return "declined"
    if cited and (weak or not exact):
        return "weak"
    return None


def worst_kind(kinds: list[str | None]) -> str | None:
    """The kind a message with several replies gets: a question left unanswered outweighs a weak answer."""
    for kind in ("unanswered", "declined", "weak"):
        if kind in kinds:
            return kind
    return None


def _key(text: str) -> str:
    folded = re.sub(r"[\s\W_]+", "", unicodedata.normalize("NFKC", text).lower())
    return hashlib.sha256(folded.encode()).hexdigest()


def record_unanswered(
    session: Session,
    *,
    text: str,
    topic: str | None,
    kind: str = "unanswered",
    step: str | None = None,
    reply: str | None = None,
) -> None:
    """Count the resident's question (masked) on its open row, or start one."""
    masked = mask_personal_data(text.strip())[:MAX_STORED_CHARS]
    if not masked:
        return
    kind = kind if kind in KINDS else "unanswered"
    reply = mask_personal_data(reply.strip())[:MAX_REPLY_CHARS] if reply else None
    key = _key(masked)
    row = session.scalar(
        select(UnansweredQuestion)
        .where(UnansweredQuestion.text_key == key, UnansweredQuestion.status == "open")
        .order_by(UnansweredQuestion.id.desc())
        .limit(1)
    )
    if row is None:
        session.add(UnansweredQuestion(text_key=key, text=masked, topic=topic, kind=kind, step=step, reply=reply))
    else:
        row.count += 1
        row.last_seen = utcnow()
        row.kind, row.step = kind, step or row.step
        row.reply = reply or row.reply
        row.topic = row.topic or topic


def open_questions(session: Session, *, limit: int = 200) -> list[UnansweredQuestion]:
    stmt = (
        select(UnansweredQuestion)
        .where(UnansweredQuestion.status == "open")
        .order_by(UnansweredQuestion.count.desc(), UnansweredQuestion.last_seen.desc())
        .limit(limit)
    )
    return list(session.scalars(stmt))


def _get(session: Session, question_id: int) -> UnansweredQuestion:
    row = session.get(UnansweredQuestion, question_id)
    if row is None:
        raise NotFound("not_found", "没有这条未解答问题。")
    return row


def dismiss(session: Session, *, question_id: int, user: StaffUser) -> None:
    row = _get(session, question_id)
    row.status = "dismissed"
    audit(session, actor=user.username, action="inbox.dismiss", target=f"unanswered:{row.id}")


def make_draft(session: Session, *, question_id: int, user: StaffUser, source: str = "主要目标") -> int:
    """A draft FAQ entry whose question is the resident's; staff write the answer.

    Its answer is a placeholder, which no save or publication accepts (knowledge.grounding):
    it cannot reach residents before someone has written the real answer.
    """
    row = _get(session, question_id)
    data = FaqInput(
        topic=row.topic or "plan",
        question=row.text[:300],
        answer=PLACEHOLDER_ANSWER,
        source=source,
    )
    entry = create_entry(session, data=data, user=user, unfinished=True)
    row.status, row.faq_id = "drafted", entry.id
    return entry.id
