"""Plain data-access functions: a Session in, rows out, keyword-only arguments."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload

from knowledge.models import Clause, Document, FaqEntry, VocabularyTerm

# What residents can be answered from: published and not deleted.
LIVE = (FaqEntry.status == "published") & FaqEntry.deleted_at.is_(None)
LIVE_VOCABULARY = VocabularyTerm.deleted_at.is_(None)


def kb_fingerprint(session: Session) -> tuple:
    """Changes whenever a published entry, the vocabulary or a source document changes.

    (live entries, sum of their versions, latest change, vocabulary signature, document digests).
    The vocabulary's signature (rows, sum of versions, latest change; deleted words included, since
    a deletion is a write) rides along in the entries' statement as scalar subqueries: the table
    has hundreds of rows, and the fingerprint, read on every question, stays two statements.
    """
    vocabulary = [
        select(aggregate).scalar_subquery()
        for aggregate in (
            func.count(VocabularyTerm.id),
            func.sum(VocabularyTerm.version),
            func.max(VocabularyTerm.updated_at),
        )
    ]
    row = session.execute(
        select(func.count(FaqEntry.id), func.sum(FaqEntry.version), func.max(FaqEntry.updated_at), *vocabulary).where(
            LIVE
        )
    ).one()
    documents = tuple(session.scalars(select(Document.sha256).order_by(Document.id)))
    return (*row[:3], tuple(row[3:]), documents)


def vocabulary_pairs(session: Session) -> list[tuple[str, str]]:
    """(variant, canonical term) of every live word of the vocabulary (knowledge.vocabulary)."""
    stmt = select(VocabularyTerm.variant, VocabularyTerm.canonical).where(LIVE_VOCABULARY)
    return [(variant, canonical) for variant, canonical in session.execute(stmt)]


def live_sums(session: Session, *, bucket_size: int) -> dict[int, tuple[int, int, int]]:
    """Per block of ``bucket_size`` entry ids: (count, sum of versions, sum of ids) of the live entries.

    Every write bumps an entry's version, so a changed block tells which entries to look at.
    """
    bucket = (FaqEntry.id // bucket_size).label("bucket")
    stmt = select(bucket, func.count(), func.sum(FaqEntry.version), func.sum(FaqEntry.id)).where(LIVE).group_by(bucket)
    return {int(b): (int(n), int(versions), int(ids)) for b, n, versions, ids in session.execute(stmt)}


def live_versions(session: Session, *, buckets: list[int], bucket_size: int) -> dict[int, int]:
    """Entry id -> version of the live entries in those blocks of ids (see ``live_sums``)."""
    versions: dict[int, int] = {}
    for b in buckets:
        stmt = select(FaqEntry.id, FaqEntry.version).where(
            LIVE, FaqEntry.id >= b * bucket_size, FaqEntry.id < (b + 1) * bucket_size
        )
        versions.update(session.execute(stmt).tuples().all())
    return versions


def general_entry_ids(session: Session) -> dict[str, int]:
    """Topic -> its general entry: by convention the first of its curated file (lowest id with a key)."""
    stmt = select(FaqEntry.topic, func.min(FaqEntry.id)).where(LIVE, FaqEntry.key.is_not(None)).group_by(FaqEntry.topic)
    return {topic: int(entry_id) for topic, entry_id in session.execute(stmt)}


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
