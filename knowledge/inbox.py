"""Resident questions the bot could not answer, for staff to turn into FAQ entries.

Personal data is masked before anything is stored; the same question (after
normalisation) is counted, not stored twice.
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


def _key(text: str) -> str:
    folded = re.sub(r"[\s\W_]+", "", unicodedata.normalize("NFKC", text).lower())
    return hashlib.sha256(folded.encode()).hexdigest()


def record_unanswered(session: Session, *, text: str, topic: str | None) -> None:
    masked = mask_personal_data(text.strip())[:MAX_STORED_CHARS]
    if not masked:
        return
    key = _key(masked)
    row = session.scalar(select(UnansweredQuestion).where(UnansweredQuestion.text_key == key))
    if row is None:
        session.add(UnansweredQuestion(text_key=key, text=masked, topic=topic))
    else:
        row.count += 1
        row.last_seen = utcnow()
        if row.status == "dismissed":
            row.status = "open"  # asked again after dismissal: worth another look


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
