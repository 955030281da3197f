"""Residents' 有帮助/没帮助 on an answer, with the context staff need to act on it.

Each rating keeps when it came in, which version of the entry was answered (the entry's version
at that moment: answers are read live, so it is the version the resident had just read) and the
resident's question as the widget sent it, with ID, phone and card numbers masked before it is
stored (``knowledge.privacy``). Nothing else about the resident is kept.

The words are the widget's (有帮助 / 没帮助), so staff and residents speak of the same buttons.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from knowledge.errors import Invalid
from knowledge.models import AnswerFeedback, FaqEntry
from knowledge.privacy import mask_personal_data
from knowledge.staff import NUL, as_utc, is_id

RATING_NAMES = {"up": "有帮助", "down": "没帮助"}
MAX_QUESTION_CHARS = 500  # what is stored of a resident's question (the widget allows 500 characters)
MAX_QUESTION_INPUT = 4000  # a longer "question" is refused: no resident typed it


def record_feedback(session: Session, *, faq_id: Any, rating: Any, question: Any = None) -> bool:
    """Count a resident's rating of a published answer; True if it was counted.

    Any other id (a draft, a deleted entry, one that does not or cannot exist) is accepted and
    ignored, and the caller gives the same answer for all of them: feedback cannot be used to
    find out which ids exist, and a resident who rates an answer unpublished since then is
    thanked, not shown an error. Only a rating, id or question of the wrong type is refused.
    """
    if not isinstance(rating, str) or rating not in RATING_NAMES:  # a list or an object is not hashable
        raise Invalid("invalid_rating", "rating 必须是 up（有帮助）或 down（没帮助）。")
    if not isinstance(faq_id, int) or isinstance(faq_id, bool):
        raise Invalid("invalid_faq_id", "faq_id 必须是整数。")
    if question is not None and (not isinstance(question, str) or len(question) > MAX_QUESTION_INPUT):
        raise Invalid("invalid_question", f"question 必须是不超过{MAX_QUESTION_INPUT}个字符的文字。")
    if not is_id(faq_id):
        return False
    version = session.scalar(
        select(FaqEntry.version).where(
            FaqEntry.id == faq_id, FaqEntry.status == "published", FaqEntry.deleted_at.is_(None)
        )
    )
    if version is None:
        return False
    masked = mask_personal_data(question.replace(NUL, " ").strip())[:MAX_QUESTION_CHARS] if question else ""
    session.add(
        AnswerFeedback(faq_id=faq_id, rating=1 if rating == "up" else -1, faq_version=version, question=masked or None)
    )
    return True


def feedback_summary(session: Session) -> list[dict[str, Any]]:
    """Per published entry: 有帮助 and 没帮助 counts, the worst share of 没帮助 first (no drafts, nothing deleted)."""
    rows = session.execute(
        select(
            AnswerFeedback.faq_id,
            FaqEntry.question,
            func.count().filter(AnswerFeedback.rating > 0),
            func.count().filter(AnswerFeedback.rating < 0),
            func.max(AnswerFeedback.created_at),
        )
        .join(FaqEntry, FaqEntry.id == AnswerFeedback.faq_id)
        .where(FaqEntry.status == "published", FaqEntry.deleted_at.is_(None))
        .group_by(AnswerFeedback.faq_id, FaqEntry.question)
    ).all()
    summary = [
        {"faq_id": faq_id, "question": question, "up": up, "down": down, "last_at": as_utc(last).isoformat()}
        for faq_id, question, up, down, last in rows
    ]
    return sorted(summary, key=lambda r: (-(r["down"] / (r["up"] + r["down"])), -r["down"]))


def recent_feedback(session: Session, *, faq_id: int | None = None, limit: int = 200) -> list[dict[str, Any]]:
    """The latest ratings of published entries one by one, newest first: when, which entry and version,
    the masked question."""
    stmt = (
        select(AnswerFeedback, FaqEntry.question, FaqEntry.version)
        .join(FaqEntry, FaqEntry.id == AnswerFeedback.faq_id)
        .where(FaqEntry.status == "published", FaqEntry.deleted_at.is_(None))  # as in the summary
        .order_by(AnswerFeedback.id.desc())
        .limit(limit)
    )
    if faq_id is not None:
        stmt = stmt.where(AnswerFeedback.faq_id == faq_id)
    return [
        {
            "at": as_utc(row.created_at).isoformat(),
            "faq_id": row.faq_id,
            "entry_question": entry_question,
            "faq_version": row.faq_version,
            "current_version": current_version,
            "rating": "up" if row.rating > 0 else "down",
            "rating_name": RATING_NAMES["up" if row.rating > 0 else "down"],
            "question": row.question or "",
        }
        for row, entry_question, current_version in session.execute(stmt)
    ]
