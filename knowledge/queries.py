"""Plain data-access functions: a Session in, rows out, keyword-only arguments."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload

from knowledge.models import Clause, Document, FaqEntry

# What residents can be answered from: published and not deleted.
LIVE = (FaqEntry.status == "published") & FaqEntry.deleted_at.is_(None)


def kb_fingerprint(session: Session) -> tuple:
    """Changes whenever a published entry or a source document changes."""
    faq = session.execute(
        select(func.count(FaqEntry.id), func.sum(FaqEntry.version), func.max(FaqEntry.updated_at)).where(LIVE)
    ).one()
    documents = tuple(session.scalars(select(Document.sha256).order_by(Document.id)))
    return (*faq, documents)


def published_entries(session: Session, *, topic: str | None = None) -> list[FaqEntry]:
    stmt = select(FaqEntry).where(LIVE).order_by(FaqEntry.id)
    if topic:
        stmt = stmt.where(FaqEntry.topic == topic)
    return list(session.scalars(stmt))


def published_entry(session: Session, *, entry_id: int) -> FaqEntry | None:
    """The entry with its clause and document, or None if it is not published."""
    return session.scalar(
        select(FaqEntry)
        .options(joinedload(FaqEntry.clause).joinedload(Clause.document))
        .where(FaqEntry.id == entry_id, LIVE)
    )


def all_clauses(session: Session) -> list[Clause]:
    stmt = select(Clause).options(joinedload(Clause.document)).order_by(Clause.document_id, Clause.position)
    return list(session.scalars(stmt))


def clause_by_ref(session: Session, *, ref: str) -> Clause | None:
    return session.scalar(select(Clause).options(joinedload(Clause.document)).where(Clause.ref == ref))
