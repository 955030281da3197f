"""SQLAlchemy 2 models of the knowledge base.

document ──< clause ──< target
                └────< faq_entry   (the answer a resident reads rests on one clause)
                          ├──< faq_revision   (its state after each change)
                          ├──< faq_proposal   (a change to a published entry, waiting for review)
                          └──< answer_feedback

vocabulary_term: an everyday word residents use -> the plan's term (the search's synonyms)
answer_event: one row per bot reply, outcome and topic only (the dashboard's counts)
kb_version: counters that PostgreSQL's triggers bump: row 1 on any change of the entries, the
            vocabulary or the documents (migration 0010), the answer engine's change signal; row 2
            on any change of the hand-offs (0011), so who is handed over is read only then
"""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

from sqlalchemy import JSON, DateTime, ForeignKey, Index, MetaData, Numeric, String, Text, false
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

FAQ_STATUSES = ("draft", "published")
BUILD_USER = "build"  # updated_by of entries written by the build step, not by staff


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Document(Base):
    """A source document: the action plan or the 2022 progress report."""

    __tablename__ = "documents"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    source_file: Mapped[str] = mapped_column(String(200))
    sha256: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)

    clauses: Mapped[list[Clause]] = relationship(back_populates="document", lazy="raise")


class Clause(Base):
    """One numbered clause (第9条), the goals (主要目标) or a section of the report."""

    __tablename__ = "clauses"

    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id"), index=True)
    ref: Mapped[str] = mapped_column(String(40), unique=True)  # 第9条 | 主要目标 | 2022报告·民生保障
    number: Mapped[int | None]
    part: Mapped[str] = mapped_column(String(120))
    title: Mapped[str] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text)
    topics: Mapped[list[str]] = mapped_column(JSON)
    position: Mapped[int]

    document: Mapped[Document] = relationship(back_populates="clauses", lazy="raise")
    targets: Mapped[list[Target]] = relationship(back_populates="clause", lazy="raise", cascade="all, delete-orphan")


class Target(Base):
    """A quantified commitment stated in a clause, e.g. 托位 4.6 个/千人口 by 2025."""

    __tablename__ = "targets"

    id: Mapped[int] = mapped_column(primary_key=True)
    clause_id: Mapped[int] = mapped_column(ForeignKey("clauses.id"), index=True)
    indicator: Mapped[str] = mapped_column(String(200))
    comparator: Mapped[str] = mapped_column(String(16))
    value: Mapped[Decimal] = mapped_column(Numeric(16, 4))
    unit: Mapped[str] = mapped_column(String(40))
    year: Mapped[int | None]
    sentence: Mapped[str] = mapped_column(Text)

    clause: Mapped[Clause] = relationship(back_populates="targets", lazy="raise")


class FaqEntry(Base):
    """A question residents ask and the answer they get, resting on one clause.

    ``version`` is SQLAlchemy's version counter: every write bumps it, and a
    write based on an older version fails instead of overwriting.
    """

    __tablename__ = "faq_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str | None] = mapped_column(String(80), unique=True)
    topic: Mapped[str] = mapped_column(String(16), index=True)
    question: Mapped[str] = mapped_column(String(300))
    alternatives: Mapped[list[str]] = mapped_column(JSON, default=list)
    answer: Mapped[str] = mapped_column(Text)
    clause_id: Mapped[int] = mapped_column(ForeignKey("clauses.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="draft", index=True)
    version: Mapped[int] = mapped_column(default=1)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(64))
    seed_digest: Mapped[str | None] = mapped_column(String(64))
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # soft delete
    # Optional review date (knowledge.review_dates): an ISO date "YYYY-MM-DD" in China time, kept as
    # text so backups and both databases hold it as written. Past it, residents get the answer with
    # a dated note until a reviewer renews it (reviewed_at: when someone last confirmed it).
    review_by: Mapped[str | None] = mapped_column(String(10), index=True)
    reviewed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    clause: Mapped[Clause] = relationship(lazy="raise")

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 (SQLAlchemy reads it once)
    # Covers the fingerprint the action server reads on every question (queries.kb_fingerprint):
    # the index alone answers it, without reading the rows (p50 at 20,000 entries 9.1 -> 4.0 ms, make bench).
    __table_args__ = (Index("ix_faq_entries_fingerprint", "status", "deleted_at", "version", "updated_at"),)


class VocabularyTerm(Base):
    """An everyday word or abbreviation residents use ("杭户") and the plan's term for it ("落户").

    Questions and knowledge-base texts alike are searched with the variant replaced by the
    canonical term (knowledge.text), and jieba keeps both whole. Staff edit the list live;
    ``knowledge/synonyms.yml`` only seeds it (knowledge.build). ``version`` works as for FAQ
    entries; a deleted row stays (``deleted_at``) so the build does not bring a seeded word back.
    """

    __tablename__ = "vocabulary_terms"

    id: Mapped[int] = mapped_column(primary_key=True)
    variant: Mapped[str] = mapped_column(String(40), unique=True)
    canonical: Mapped[str] = mapped_column(String(40))
    note: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_by: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(default=1)
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # soft delete

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 (SQLAlchemy reads it once)


class StaffUser(Base):
    """A member of staff who keeps the FAQ up to date. Roles: editor < reviewer < admin."""

    __tablename__ = "staff_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    disabled: Mapped[bool] = mapped_column(default=False)
    failed_logins: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # Shown beside the user name in history and the review queue; both optional.
    display_name: Mapped[str] = mapped_column(String(64), default="", server_default="")
    department: Mapped[str] = mapped_column(String(100), default="", server_default="")
    # Set when an admin resets the password: the user must choose a new one before anything else.
    must_change_password: Mapped[bool] = mapped_column(default=False, server_default=false())


class LoginFailure(Base):
    """Failed logins for one user name from one client address: the per-address back-off.

    Keyed by the name as typed (not the account), so an unknown name is counted and slowed down
    exactly like a real one and the answers tell nobody which accounts exist (knowledge.staff).
    """

    __tablename__ = "login_failures"

    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    address: Mapped[str] = mapped_column(String(64), primary_key=True)  # an IPv6 client: its /64
    failures: Mapped[int] = mapped_column(default=0)
    blocked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_failed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)


class StaffToken(Base):
    """An API bearer token or a browser session of a staff member (only its hash is stored)."""

    __tablename__ = "staff_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16))  # api | session
    user_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id"), index=True)
    csrf_token: Mapped[str | None] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    user: Mapped[StaffUser] = relationship(lazy="joined")


class FaqRevision(Base):
    """The state of an FAQ entry after each change: history, diff and restore."""

    __tablename__ = "faq_revisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    faq_id: Mapped[int] = mapped_column(ForeignKey("faq_entries.id"), index=True)
    version: Mapped[int]
    action: Mapped[str] = mapped_column(String(32))
    snapshot: Mapped[dict] = mapped_column(JSON)
    actor: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    restored_from: Mapped[int | None]  # "restore_version": the version whose content was restored
    proposal_id: Mapped[int | None] = mapped_column(ForeignKey("faq_proposals.id"))  # "approve": the proposal


class FaqProposal(Base):
    """A change to a published entry waiting for a reviewer (knowledge.proposals).

    Residents keep the published answer until a reviewer approves; ``proposed`` holds the
    whole new content (topic, question, alternatives, answer, source), ``base_version`` the
    entry version it was written against.
    """

    __tablename__ = "faq_proposals"

    id: Mapped[int] = mapped_column(primary_key=True)
    faq_id: Mapped[int] = mapped_column(ForeignKey("faq_entries.id"), index=True)
    base_version: Mapped[int]
    proposed: Mapped[dict] = mapped_column(JSON)
    restores_version: Mapped[int | None]  # a proposal to restore this earlier version
    proposed_by: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    status: Mapped[str] = mapped_column(String(16), default="open", index=True)  # open|approved|rejected|superseded
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reason: Mapped[str] = mapped_column(Text, default="")
    applied_version: Mapped[int | None]  # the entry version the approval created


class AuditEvent(Base):
    """Who did what when (logins, edits, publications, user changes, imports)."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(40))
    target: Mapped[str] = mapped_column(String(80), default="")
    detail: Mapped[str] = mapped_column(Text, default="")


class UnansweredQuestion(Base):
    """A resident question the bot could not answer (or declined, or answered weakly), personal
    data masked, counted. The same words asked again count on the open row; once its group is
    resolved they start a new row (knowledge.inbox)."""

    __tablename__ = "unanswered_questions"

    id: Mapped[int] = mapped_column(primary_key=True)
    text_key: Mapped[str] = mapped_column(String(64), index=True)
    text: Mapped[str] = mapped_column(Text)
    topic: Mapped[str | None] = mapped_column(String(16))
    count: Mapped[int] = mapped_column(default=1)
    first_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    status: Mapped[str] = mapped_column(String(16), default="open", index=True)  # open|dismissed|drafted|attached
    faq_id: Mapped[int | None] = mapped_column(ForeignKey("faq_entries.id"))
    # unanswered (not covered) | declined (out of scope) | weak (a stand-in or weak answer)
    kind: Mapped[str] = mapped_column(String(16), default="unanswered", server_default="unanswered")
    step: Mapped[str | None] = mapped_column(String(32))  # the answer step that decided (actions/steps.py)
    reply: Mapped[str | None] = mapped_column(Text)  # what the bot replied, the last time
    group_id: Mapped[int | None] = mapped_column(ForeignKey("inbox_groups.id"), index=True)


class InboxGroup(Base):
    """Inbox questions that ask the same thing (knowledge.inbox_groups), handled together.

    ``status``: open | attached (its phrasings added to entry ``faq_id``, or proposed as
    ``proposal_id``) | drafted (a new draft ``faq_id``) | dismissed. A group that is not open
    stays so: a new question in its words opens a new group.
    """

    __tablename__ = "inbox_groups"

    id: Mapped[int] = mapped_column(primary_key=True)
    status: Mapped[str] = mapped_column(String(16), default="open", index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    faq_id: Mapped[int | None] = mapped_column(ForeignKey("faq_entries.id"))
    proposal_id: Mapped[int | None] = mapped_column(ForeignKey("faq_proposals.id"))
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class AnswerFeedback(Base):
    """A resident's 有帮助 (+1) or 没帮助 (-1) on an answer, with its context.

    ``faq_version`` is the entry's version when the rating came in (the answer the resident
    read); ``question`` is what the resident had asked, personal data masked
    (``knowledge.privacy``) before it is stored. Nothing else about the resident is kept.
    """

    __tablename__ = "answer_feedback"

    id: Mapped[int] = mapped_column(primary_key=True)
    faq_id: Mapped[int] = mapped_column(ForeignKey("faq_entries.id"), index=True)
    rating: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    faq_version: Mapped[int | None]
    question: Mapped[str | None] = mapped_column(Text)


class DeskStaff(Base):
    """A staff member's place at the hand-off desk (knowledge.handoff): on duty or not.

    Admins and reviewers may work the desk by their role; ``desk_allowed`` gives an editor the
    permission too. ``on_duty`` decides whether a resident who asks for a person is connected
    (someone is on duty) or given 12345 at once (nobody is).
    """

    __tablename__ = "desk_staff"

    user_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id"), primary_key=True)
    desk_allowed: Mapped[bool] = mapped_column(default=False)
    on_duty: Mapped[bool] = mapped_column(default=False)
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Handoff(Base):
    """A resident's conversation handed to staff: waiting -> active (claimed) -> closed.

    While it is waiting or active, the bot forwards the resident's messages here instead of
    answering them. ``close_reason``: ``staff`` (closed at the desk) or ``timeout`` (nobody claimed
    it in time; the resident was given 12345).
    """

    __tablename__ = "handoffs"

    id: Mapped[int] = mapped_column(primary_key=True)
    sender: Mapped[str] = mapped_column(String(128))
    channel: Mapped[str] = mapped_column(String(32), default="rest")
    status: Mapped[str] = mapped_column(String(16), default="waiting", index=True)  # waiting|active|closed
    waiting_since: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_by: Mapped[str | None] = mapped_column(String(64))
    close_reason: Mapped[str | None] = mapped_column(String(16))

    __table_args__ = (Index("ix_handoffs_sender_status", "sender", "status"),)


class HandoffMessage(Base):
    """One line of a hand-off's transcript; its id is the widget's polling cursor.

    ``author``: resident | staff | system | bot. Text is stored masked (knowledge.privacy).
    """

    __tablename__ = "handoff_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    handoff_id: Mapped[int] = mapped_column(ForeignKey("handoffs.id"), index=True)
    author: Mapped[str] = mapped_column(String(16))
    staff_name: Mapped[str | None] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AnswerEvent(Base):
    """One reply of the bot, counted for the dashboard (knowledge.stats): no text, no sender.

    ``day`` is the China-time date of the reply ("2026-11-30"), so days are grouped alike on SQLite
    and PostgreSQL; ``outcome`` is answered | clarified | not_covered | declined | handed_over | other.
    """

    __tablename__ = "answer_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[str] = mapped_column(String(10), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    step: Mapped[str] = mapped_column(String(32))
    outcome: Mapped[str] = mapped_column(String(16))
    topic: Mapped[str | None] = mapped_column(String(16))
    faq_id: Mapped[int | None]  # the entry that answered (no foreign key: counts outlive entries)


class KbVersion(Base):
    """Row 1: on PostgreSQL, triggers bump ``version`` in the same transaction as any change to
    ``faq_entries``, ``vocabulary_terms`` or ``documents`` (migration 0010), so the answer engine
    reads this one value per message instead of the knowledge base's fingerprint
    (knowledge.answering.PostgresVersion). Row 2: the same for ``handoffs`` (migration 0011), read
    in the same statement (knowledge.handoff.OpenHandoffs). SQLite has no triggers for them:
    ``PRAGMA data_version`` serves there (knowledge.answering.SqliteCommits)."""

    __tablename__ = "kb_version"

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(default=0)
