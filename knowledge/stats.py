"""Counts for the staff dashboard and ``GET /api/v1/stats`` (issue 14): counts only, no personal data.

What the bot did is recorded by the action server as one ``answer_events`` row per reply
(``record_outcomes``): the China-time day, the step that decided (actions/steps.py), its outcome
and the topic and entry of a cited answer, never the resident's words or sender id. The outcomes:

- ``answered``: a cited answer (an entry or a clause sentence);
- ``clarified``: the bot asked which of several things was meant (a step named in CLARIFY_STEPS);
- ``not_covered``: the documents do not cover it, said honestly;
- ``declined``: out of scope (another city, another language, others' data, abuse);
- ``handed_over``: a request for a person, and messages forwarded to the staff desk;
- ``other``: greetings, thanks, questions about the assistant, emergencies (110/119/120).

``summary`` reads those rows and the tables other features keep (feedback, hand-offs, the inbox,
review dates) for a window of N days ending today (China time).
"""

from __future__ import annotations

import atexit
import logging
import os
import statistics
import threading
from collections import Counter
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from time import monotonic, sleep
from typing import Any, Protocol

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from knowledge.db import session_scope
from knowledge.errors import StaffError
from knowledge.models import (
    AnswerEvent,
    AnswerFeedback,
    AuditEvent,
    FaqEntry,
    Handoff,
    InboxGroup,
    UnansweredQuestion,
    utcnow,
)
from knowledge.review_dates import CHINA_TIME, overdue_entries, today
from knowledge.settings import database_url
from knowledge.staff import as_utc
from knowledge.topics import TOPICS

log = logging.getLogger(__name__)

OUTCOMES = {
    "answered": "已回答",
    "clarified": "追问澄清",
    "not_covered": "资料未覆盖",
    "declined": "婉拒（超出范围）",
    "handed_over": "转人工",
    "other": "其他（问候、紧急求助等）",
}
CLARIFY_STEPS = ("clarify", "did_you_mean")
STEP_OUTCOMES = {
    "not_covered": "not_covered",
    "refused": "declined",
    "other_city": "declined",
    "foreign_language": "declined",
    "handoff": "handed_over",
    "handed_over": "handed_over",
    **dict.fromkeys(CLARIFY_STEPS, "clarified"),
}
NO_TOPIC = "none"  # replies without a topic (not covered, greetings …)
MAX_DAYS = 366
DEFAULT_DAYS = 30
BAD_DAYS = f"days 必须是1到{MAX_DAYS}之间的整数（统计最近多少天），例如 days=30。"


class _Answer(Protocol):
    topic: str | None
    faq_id: int | None


class _Reply(Protocol):
    """What ``record_outcomes`` reads of a reply (actions.steps.Reply)."""

    step: str
    answer: _Answer | None

    @property
    def cited(self) -> bool: ...


def outcome_of(step: str, cited: bool) -> str:
    return "answered" if cited else STEP_OUTCOMES.get(step, "other")


# -- recording (action server) ------------------------------------------------------------------
def record_outcomes(replies: Iterable[_Reply], *, url: str | None = None) -> None:
    """Count the bot's replies to one message. The rows are written by a background thread in
    batches (``_Writer``), so a resident's answer never waits for them; errors are logged."""
    now = utcnow()
    day = today(now).isoformat()
    rows = [
        {
            "day": day,
            "at": now,
            "step": reply.step[:32],
            "outcome": outcome_of(reply.step, reply.cited),
            "topic": reply.answer.topic if reply.cited and reply.answer is not None else None,
            "faq_id": reply.answer.faq_id if reply.cited and reply.answer is not None else None,
        }
        for reply in replies
    ]
    if rows:
        _writer.put(url or database_url(), rows)


def flush(timeout: float = 10.0) -> None:
    """Wait until the counted replies so far are written (tests; the process's exit)."""
    _writer.flush(timeout)


class _Writer:
    """One daemon thread per process writing the queued rows every ``LINGER`` seconds, up to
    ``BATCH`` per transaction.

    A commit costs a few milliseconds (measured 4-5 ms p50 on SQLite and PostgreSQL on the dev machine);
    written on the answer's path it would be added to every answer. Committing each answer's rows
    as soon as they were queued, the thread still cost a quarter of the action server's CPU under
    load (py-spy, issue 16), and waking it for every answer an eighth: an answer now only appends
    to a list, and the thread wakes twice a second.
    Forked workers (several action-server workers) each start their own thread on first use; rows
    still queued when the process is killed are lost, which a count can afford.
    """

    BATCH = 500
    LINGER = 0.5  # seconds between writes

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._written = threading.Condition(self._lock)
        self._pid = 0
        self._pending: list[tuple[str, list[dict[str, Any]]]] = []
        self._writing = False

    def put(self, url: str, rows: list[dict[str, Any]]) -> None:
        with self._lock:
            if self._pid != os.getpid():  # first use in this process (or in a forked child)
                self._pid, self._pending, self._writing = os.getpid(), [], False
                threading.Thread(target=self._run, name="answer-events", daemon=True).start()
            self._pending.append((url, rows))

    def flush(self, timeout: float) -> None:
        deadline = monotonic() + timeout
        with self._lock:
            while (self._pending or self._writing) and (left := deadline - monotonic()) > 0:
                self._written.wait(left)

    def _run(self) -> None:
        while True:
            sleep(_Writer.LINGER)
            with self._lock:
                batch, self._pending = self._pending, []
                self._writing = bool(batch)
            if not batch:
                continue
            try:
                by_url: dict[str, list[dict[str, Any]]] = {}
                for url, rows in batch:
                    by_url.setdefault(url, []).extend(rows)
                for url, rows in by_url.items():
                    for start in range(0, len(rows), _Writer.BATCH):
                        chunk = rows[start : start + _Writer.BATCH]
                        try:
                            with session_scope(url) as session:
                                session.execute(insert(AnswerEvent), chunk)
                        except Exception:  # never let the thread die: the next batch may succeed
                            log.exception("could not count %d of the bot's replies", len(chunk))
            finally:
                with self._lock:
                    self._writing = False
                    self._written.notify_all()


_writer = _Writer()
atexit.register(flush, 2.0)


# -- reading (dashboard, API) --------------------------------------------------------------------
def parse_days(value: Any) -> int:
    """``?days=`` as sent: absent -> DEFAULT_DAYS; a whole number 1..MAX_DAYS; else a Chinese 400."""
    if value is None or value == "":
        return DEFAULT_DAYS
    text = value.strip() if isinstance(value, str) else ""
    if not (text.isascii() and text.isdigit() and len(text) <= 4) or not 1 <= int(text) <= MAX_DAYS:
        raise StaffError("invalid_days", BAD_DAYS)
    return int(text)


def window(days: int, now: datetime | None = None) -> list[date]:
    """The ``days`` China-time dates ending today, oldest first."""
    last = today(now)
    return [last - timedelta(days=n) for n in range(days - 1, -1, -1)]


def _start(first: date) -> datetime:
    """The moment the first day of the window began in Hangzhou."""
    return datetime.combine(first, time(0), tzinfo=CHINA_TIME)


def _china_day(moment: datetime) -> str:
    return as_utc(moment).astimezone(CHINA_TIME).date().isoformat()


def answer_counts(session: Session, days: list[date]) -> dict[str, Any]:
    """Replies per day and outcome, and per topic, within ``days``."""
    first = days[0].isoformat()
    per_day = {d.isoformat(): Counter() for d in days}
    rows = session.execute(
        select(AnswerEvent.day, AnswerEvent.outcome, func.count())
        .where(AnswerEvent.day >= first)
        .group_by(AnswerEvent.day, AnswerEvent.outcome)
    )
    for day, outcome, count in rows:
        if day in per_day:
            per_day[day][outcome if outcome in OUTCOMES else "other"] += count
    topics = dict.fromkeys([*TOPICS, NO_TOPIC], 0)
    for topic, count in session.execute(
        select(AnswerEvent.topic, func.count()).where(AnswerEvent.day >= first).group_by(AnswerEvent.topic)
    ):
        key = topic if topic in TOPICS else NO_TOPIC
        topics[key] += count
    by_day = [
        {"date": day, "total": sum(c.values()), "outcomes": {o: c.get(o, 0) for o in OUTCOMES}}
        for day, c in per_day.items()
    ]
    outcomes = {o: sum(d["outcomes"][o] for d in by_day) for o in OUTCOMES}
    return {"total": sum(outcomes.values()), "by_day": by_day, "outcomes": outcomes, "topics": topics}


def feedback_counts(session: Session, days: list[date], *, limit: int = 10) -> dict[str, Any]:
    """有帮助/没帮助 within ``days``: totals, and per entry the ``limit`` most rated."""
    since = _start(days[0])
    up = func.count().filter(AnswerFeedback.rating > 0)
    down = func.count().filter(AnswerFeedback.rating < 0)
    rows = session.execute(
        select(AnswerFeedback.faq_id, FaqEntry.question, up, down)
        .join(FaqEntry, FaqEntry.id == AnswerFeedback.faq_id)
        .where(AnswerFeedback.created_at >= since)
        .group_by(AnswerFeedback.faq_id, FaqEntry.question)
    ).all()
    entries = sorted(
        ({"faq_id": i, "question": q, "up": u, "down": d} for i, q, u, d in rows),
        key=lambda e: (-(e["up"] + e["down"]), -e["down"], e["faq_id"]),
    )
    return {"up": sum(e["up"] for e in entries), "down": sum(e["down"] for e in entries), "entries": entries[:limit]}


def handoff_counts(session: Session, days: list[date]) -> dict[str, Any]:
    """Hand-offs within ``days`` (issue 15): requested per day, claimed by a person, waiting time.

    ``requested`` counts hand-offs and the requests made while nobody was on duty (those got 12345
    at once and have no hand-off row, only an audit line); ``answered_by_person_share`` is the
    share of all requests a person claimed.
    """
    since = _start(days[0])
    per_day = {d.isoformat(): Counter() for d in days}
    waits: list[float] = []
    counts: Counter[str] = Counter()
    for waiting_since, claimed_at, status, reason in session.execute(
        select(Handoff.waiting_since, Handoff.claimed_at, Handoff.status, Handoff.close_reason).where(
            Handoff.waiting_since >= since
        )
    ):
        day = per_day.get(_china_day(waiting_since))
        counts["handoffs"] += 1
        if day is not None:
            day["requested"] += 1
        if claimed_at is not None:
            counts["claimed"] += 1
            waits.append((as_utc(claimed_at) - as_utc(waiting_since)).total_seconds())
            if day is not None:
                day["claimed"] += 1
        elif status == "waiting":
            counts["waiting"] += 1
        if reason == "timeout":
            counts["timed_out"] += 1
    for (at,) in session.execute(
        select(AuditEvent.at).where(AuditEvent.action == "handoff_no_staff", AuditEvent.at >= since)
    ):
        counts["nobody_on_duty"] += 1
        day = per_day.get(_china_day(at))
        if day is not None:
            day["requested"] += 1
    requested = counts["handoffs"] + counts["nobody_on_duty"]
    return {
        "requested": requested,
        "claimed": counts["claimed"],
        "waiting": counts["waiting"],
        "timed_out": counts["timed_out"],
        "nobody_on_duty": counts["nobody_on_duty"],
        "waiting_seconds_median": round(statistics.median(waits)) if waits else None,
        "waiting_seconds_mean": round(statistics.fmean(waits)) if waits else None,
        "answered_by_person_share": round(counts["claimed"] / requested, 3) if requested else None,
        "by_day": [{"date": d, "requested": c["requested"], "claimed": c["claimed"]} for d, c in per_day.items()],
    }


def top_open_inbox(session: Session, *, limit: int = 10) -> list[dict[str, Any]]:
    """The most-asked open inbox items for the dashboard, ``{"label", "count", "phrasings", "href"}``.

    Open groups of the grouped inbox (``inbox_groups``, formed by knowledge.inbox_groups when staff
    open the inbox), labelled with their most-asked question, and open questions not in a group yet;
    ``count`` is how many times residents asked. The questions' text is stored masked.
    """
    asked = func.sum(UnansweredQuestion.count)
    groups = session.execute(
        select(InboxGroup.id, asked, func.count(UnansweredQuestion.id))
        .join(UnansweredQuestion, UnansweredQuestion.group_id == InboxGroup.id)
        .where(InboxGroup.status == "open", UnansweredQuestion.status == "open")
        .group_by(InboxGroup.id)
        .order_by(asked.desc(), InboxGroup.id)
        .limit(limit)
    ).all()
    items = []
    for group_id, count, phrasings in groups:
        top = session.scalars(
            select(UnansweredQuestion.text)
            .where(UnansweredQuestion.group_id == group_id, UnansweredQuestion.status == "open")
            .order_by(UnansweredQuestion.count.desc(), UnansweredQuestion.id)
            .limit(1)
        ).first()
        label = top if phrasings == 1 else f"{top}（等{phrasings}种问法）"
        items.append({"label": label, "count": int(count), "phrasings": phrasings, "href": "/admin/inbox"})
    single = session.execute(
        select(UnansweredQuestion.text, UnansweredQuestion.count)
        .where(UnansweredQuestion.status == "open", UnansweredQuestion.group_id.is_(None))
        .order_by(UnansweredQuestion.count.desc(), UnansweredQuestion.id)
        .limit(limit)
    ).all()
    items += [{"label": text, "count": count, "phrasings": 1, "href": "/admin/inbox"} for text, count in single]
    return sorted(items, key=lambda item: -item["count"])[:limit]


def summary(session: Session, *, days: int, now: datetime | None = None) -> dict[str, Any]:
    """Everything ``GET /api/v1/stats?days=N`` answers (the dashboard shows the same)."""
    dates = window(days, now)
    return {
        "days": days,
        "from": dates[0].isoformat(),
        "to": dates[-1].isoformat(),
        **answer_counts(session, dates),
        "feedback": feedback_counts(session, dates),
        "handoffs": handoff_counts(session, dates),
        "overdue_entries": len(overdue_entries(session, now=now)),
    }
