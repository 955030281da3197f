"""Review dates of FAQ entries (issue 14): when an answer should be checked again.

An entry may carry ``review_by``, an ISO date in China time. Until that day has passed nothing
changes. After it, residents still get the answer, followed by a short dated note that it may be
out of date (``out_of_date_note``, added where answers are composed in ``knowledge.answering``),
and the entry is listed on the dashboard, until a reviewer renews it (``renew``: confirmed on
this day, next review on a new date).

Entries seeded from ``knowledge/faq/*.yml`` get no review date: they state the plan's own targets
for its years (托位 4.6 个/千人口 by 2025), which stay true as statements of the plan. Staff set
one on an answer that describes something that can change.

Review dates are not content: setting or renewing one needs a reviewer, is audited
(``faq.review_by``, ``faq.renew``), and neither bumps the entry's version nor becomes a
revision or a proposal, so an editor's open edit form stays valid.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from knowledge.errors import Invalid, StaffError
from knowledge.models import FaqEntry, StaffUser, utcnow
from knowledge.roles import require_role
from knowledge.staff import as_utc, audit, get_entry

CHINA_TIME = timezone(timedelta(hours=8))  # no daylight saving in China
RENEWAL = timedelta(days=365)  # a renewal without a date: next review in a year
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
BAD_DATE = "核对日期格式不正确：请填写“年-月-日”形式的日期，如 2027-06-30；留空表示不设核对日期。"


def today(now: datetime | None = None) -> date:
    """Today's date in Hangzhou."""
    return as_utc(now or utcnow()).astimezone(CHINA_TIME).date()


def parse_review_by(value: Any) -> str | None:
    """A review date as sent (``"2027-06-30"``, a ``date``, or empty for none) -> ``"YYYY-MM-DD"`` or None.

    Invalid with a Chinese message for anything else (2027-02-30, "明年", a number).
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, date):
        value = value.isoformat()
    if not isinstance(value, str) or not _ISO_DATE.fullmatch(value.strip()):
        raise Invalid("invalid_review_by", BAD_DATE)
    try:
        parsed = date.fromisoformat(value.strip())
    except ValueError:
        raise Invalid("invalid_review_by", BAD_DATE) from None
    if not 2000 <= parsed.year <= 2100:
        raise Invalid("invalid_review_by", "核对日期应在2000年到2100年之间。")
    return parsed.isoformat()


def is_overdue(review_by: str | None, now: datetime | None = None) -> bool:
    """Whether the review date has passed (the day itself still counts as in time)."""
    return bool(review_by) and review_by < today(now).isoformat()


def chinese_date(moment: datetime | date) -> str:
    """2026年3月1日 (a moment is read in China time)."""
    day = as_utc(moment).astimezone(CHINA_TIME).date() if isinstance(moment, datetime) else moment
    return f"{day.year}年{day.month}月{day.day}日"


def out_of_date_note(entry: FaqEntry, now: datetime | None = None) -> str | None:
    """The note residents get after an answer past its review date, else None.

    It is dated with when the answer was last confirmed (renewed), or else last changed.
    """
    if not is_overdue(entry.review_by, now):
        return None
    checked = entry.reviewed_at or entry.updated_at
    return f"（本条信息核对于{chinese_date(checked)}，可能已有变化，请以官方最新发布为准。）"


def _not_in_the_past(review_by: str | None, now: datetime | None = None) -> None:
    if review_by is not None and is_overdue(review_by, now):
        raise Invalid("review_by_in_past", f"核对日期不能早于今天（{today(now).isoformat()}）。")


def _write(session: Session, entry: FaqEntry, **values: Any) -> FaqEntry:
    """Write review fields without bumping the version (a Core UPDATE: review dates are not content)."""
    session.execute(update(FaqEntry.__table__).where(FaqEntry.__table__.c.id == entry.id).values(**values))
    session.refresh(entry)
    return entry


def set_review_by(session: Session, *, entry_id: int, review_by: Any, user: StaffUser) -> FaqEntry:
    """Set (or with an empty value clear) an entry's review date; reviewers only, audited."""
    require_role(user, "reviewer")
    new = parse_review_by(review_by)
    entry = get_entry(session, entry_id=entry_id)
    if entry.deleted_at is not None:
        raise StaffError("deleted", "该条目已删除，请先恢复。")
    if new == entry.review_by:
        return entry
    _not_in_the_past(new)
    old = entry.review_by
    _write(session, entry, review_by=new)
    audit(
        session,
        actor=user.username,
        action="faq.review_by",
        target=f"faq:{entry.id}",
        detail=f"{old or '无'} -> {new or '无'}",
    )
    return entry


def renew(session: Session, *, entry_id: int, user: StaffUser, review_by: Any = None) -> FaqEntry:
    """A reviewer confirms the answer still holds today: the note goes away, next review on
    ``review_by`` (default: in a year). Audited."""
    require_role(user, "reviewer")
    new = parse_review_by(review_by) or (today() + RENEWAL).isoformat()
    _not_in_the_past(new)
    if new == today().isoformat():
        raise Invalid("review_by_today", "续期后的下一次核对日期应晚于今天。")
    entry = get_entry(session, entry_id=entry_id)
    if entry.deleted_at is not None:
        raise StaffError("deleted", "该条目已删除，请先恢复。")
    old = entry.review_by
    _write(session, entry, review_by=new, reviewed_at=utcnow())
    audit(session, actor=user.username, action="faq.renew", target=f"faq:{entry.id}", detail=f"{old or '无'} -> {new}")
    return entry


def overdue_entries(session: Session, *, now: datetime | None = None, limit: int = 200) -> list[dict[str, Any]]:
    """Published entries past their review date, the longest overdue first."""
    stmt = (
        select(FaqEntry)
        .where(
            FaqEntry.status == "published",
            FaqEntry.deleted_at.is_(None),
            FaqEntry.review_by.is_not(None),
            FaqEntry.review_by < today(now).isoformat(),
        )
        .order_by(FaqEntry.review_by, FaqEntry.id)
        .limit(limit)
    )
    return [
        {
            "id": e.id,
            "topic": e.topic,
            "question": e.question,
            "review_by": e.review_by,
            "days_overdue": (today(now) - date.fromisoformat(e.review_by)).days,
            "checked_on": as_utc(e.reviewed_at or e.updated_at).astimezone(CHINA_TIME).date().isoformat(),
        }
        for e in session.scalars(stmt)
    ]
