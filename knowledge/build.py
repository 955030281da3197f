"""Build or refresh the knowledge base: ``python -m knowledge.build``.

1. apply the Alembic migrations;
2. parse ``knowledge/sources/`` into documents, clauses and targets (upserted by
   document code and clause ref, so FAQ entries keep pointing at the same rows);
3. load the curated FAQ files ``knowledge/faq/*.yml``; an entry whose answer states a figure
   its clause lacks, or is empty or a placeholder, fails the build before anything is written
   (``knowledge.grounding``, the same rule as for staff edits).

4. seed the vocabulary (everyday words -> the plan's terms) from ``knowledge/synonyms.yml``
   (``knowledge.vocabulary.apply_seed``); the file is checked by the rules staff edits follow.

Running it again changes nothing. An FAQ entry or a word of the vocabulary that staff have
edited or deleted (``updated_by`` is not the build) is never overwritten.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from knowledge import emergency, grounding, semantic, vocabulary
from knowledge.db import create_database_if_missing, get_sessionmaker, session_scope, upgrade_to_head
from knowledge.models import BUILD_USER, Clause, Document, FaqEntry, FaqRevision, Target, utcnow
from knowledge.parse import PLAN_TITLE, REPORT_TITLE, ParsedClause, parse_plan, parse_report
from knowledge.settings import FAQ_DIR, SOURCES_DIR
from knowledge.text import SEED_FILE
from knowledge.topics import TOPICS

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SourceDocument:
    code: str
    title: str
    file_name: str
    parse: object  # Callable[[str], list[ParsedClause]]


SOURCE_DOCUMENTS = (
    SourceDocument("plan", PLAN_TITLE, "plan_2021_2025.txt", parse_plan),
    SourceDocument("report2022", REPORT_TITLE, "report_2022.txt", parse_report),
)


class FaqFileError(ValueError):
    """A curated FAQ file is malformed; the message says where, in Chinese."""


@dataclass
class BuildReport:
    clauses: int = 0
    faq_inserted: int = 0
    faq_updated: int = 0
    faq_unchanged: int = 0
    faq_kept_staff_edits: list[str] = field(default_factory=list)
    vocabulary: vocabulary.SeedReport = field(default_factory=vocabulary.SeedReport)

    def summary(self) -> str:
        return (
            f"clauses={self.clauses} faq: inserted={self.faq_inserted} "
            f"updated={self.faq_updated} unchanged={self.faq_unchanged} "
            f"kept_staff_edits={len(self.faq_kept_staff_edits)} {self.vocabulary.summary()}"
        )


@dataclass(frozen=True)
class FaqSeed:
    key: str
    topic: str
    question: str
    alternatives: list[str]
    answer: str
    source: str
    origin: str  # file:entry-number, for error messages

    @property
    def digest(self) -> str:
        payload = [self.topic, self.question, self.alternatives, self.answer, self.source]
        return hashlib.sha256(json.dumps(payload, ensure_ascii=False).encode()).hexdigest()


def load_faq_seeds(faq_dir: Path = FAQ_DIR) -> list[FaqSeed]:
    seeds: list[FaqSeed] = []
    for path in sorted(faq_dir.glob("*.yml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        topic = data.get("topic")
        if topic not in TOPICS:
            raise FaqFileError(f"{path.name}：topic 必须是 {'、'.join(TOPICS)} 之一，现为 {topic!r}")
        for n, item in enumerate(data.get("entries") or [], start=1):
            where = f"{path.name} 第{n}条"
            missing = [k for k in ("key", "question", "answer", "source") if not item.get(k)]
            if missing:
                raise FaqFileError(f"{where}：缺少 {', '.join(missing)}")
            seeds.append(
                FaqSeed(
                    key=str(item["key"]),
                    topic=topic,
                    question=str(item["question"]).strip(),
                    alternatives=[str(a).strip() for a in item.get("alternatives") or []],
                    answer=str(item["answer"]).strip(),
                    source=str(item["source"]).strip(),
                    origin=where,
                )
            )
    keys = [s.key for s in seeds]
    duplicates = sorted({k for k in keys if keys.count(k) > 1})
    if duplicates:
        raise FaqFileError(f"FAQ 的 key 重复：{', '.join(duplicates)}")
    return seeds


def _upsert_document(session: Session, source: SourceDocument, sources_dir: Path) -> dict[str, Clause]:
    raw = (sources_dir / source.file_name).read_text(encoding="utf-8")
    digest = hashlib.sha256(raw.encode()).hexdigest()
    document = session.scalar(select(Document).where(Document.code == source.code))
    if document is None:
        document = Document(code=source.code)
        session.add(document)
    document.title, document.source_file, document.text = source.title, source.file_name, raw
    if document.sha256 == digest:
        existing = session.scalars(select(Clause).where(Clause.document_id == document.id))
        return {c.ref: c for c in existing}
    document.sha256 = digest
    session.flush()
    parsed: list[ParsedClause] = source.parse(raw)  # type: ignore[operator]
    by_ref = {c.ref: c for c in session.scalars(select(Clause).where(Clause.document_id == document.id))}
    for position, pc in enumerate(parsed):
        clause = by_ref.get(pc.ref) or Clause(document_id=document.id, ref=pc.ref)
        clause.number, clause.part, clause.title = pc.number, pc.part, pc.title
        clause.text, clause.topics, clause.position = pc.text, pc.topics, position
        session.add(clause)
        session.flush()
        session.query(Target).filter(Target.clause_id == clause.id).delete()
        for t in pc.targets:
            session.add(
                Target(
                    clause_id=clause.id,
                    indicator=t.indicator,
                    comparator=t.comparator,
                    value=t.value,
                    unit=t.unit,
                    year=t.year,
                    sentence=t.sentence,
                )
            )
        by_ref[pc.ref] = clause
    return by_ref


def _upsert_faq(session: Session, seeds: list[FaqSeed], clauses: dict[str, Clause], report: BuildReport) -> None:
    unknown = [f"{s.origin}（{s.source}）" for s in seeds if s.source not in clauses]
    if unknown:
        raise FaqFileError("找不到这些 FAQ 引用的条款：" + "；".join(unknown))
    ungrounded = []
    for seed in seeds:
        clause = clauses[seed.source]
        problem = grounding.check(
            question=seed.question, answer=seed.answer, clause_ref=clause.ref, clause_text=clause.text
        )
        if problem is not None:
            ungrounded.append(f"{seed.origin}（{seed.key}）：{problem.message}")
    if ungrounded:
        raise FaqFileError("这些 FAQ 条目不能发布给居民：\n" + "\n".join(ungrounded))
    existing = {e.key: e for e in session.scalars(select(FaqEntry).where(FaqEntry.key.is_not(None)))}
    for seed in seeds:
        entry = existing.get(seed.key)
        if entry is None:
            entry = FaqEntry(key=seed.key, status="published", updated_by=BUILD_USER)
            session.add(entry)
            report.faq_inserted += 1
        elif entry.updated_by != BUILD_USER:
            report.faq_kept_staff_edits.append(seed.key)
            continue
        elif entry.seed_digest == seed.digest:
            report.faq_unchanged += 1
            continue
        else:
            report.faq_updated += 1
        clause = clauses[seed.source]
        entry.topic, entry.question, entry.alternatives = seed.topic, seed.question, seed.alternatives
        entry.answer, entry.clause_id = seed.answer, clause.id
        entry.seed_digest, entry.updated_at = seed.digest, utcnow()
        session.flush()  # the revision records the new version
        session.add(
            FaqRevision(
                faq_id=entry.id,
                version=entry.version,
                action="build",
                snapshot={
                    "topic": entry.topic,
                    "question": entry.question,
                    "alternatives": list(entry.alternatives),
                    "answer": entry.answer,
                    "source": clause.ref,
                    "status": entry.status,
                    "deleted": False,
                    "version": entry.version,
                },
                actor=BUILD_USER,
            )
        )


def build(
    *,
    url: str | None = None,
    sources_dir: Path = SOURCES_DIR,
    faq_dir: Path = FAQ_DIR,
    synonyms_file: Path = SEED_FILE,
) -> BuildReport:
    """Build or refresh the knowledge base at ``url`` (default: ``DATABASE_URL``)."""
    seeds = load_faq_seeds(faq_dir)  # fail before touching the database
    words = vocabulary.load_seed(synonyms_file)
    upgrade_to_head(url)
    report = BuildReport()
    with session_scope(url) as session:
        clauses: dict[str, Clause] = {}
        for source in SOURCE_DOCUMENTS:
            clauses.update(_upsert_document(session, source, sources_dir))
        report.clauses = len(clauses)
        _upsert_faq(session, seeds, clauses, report)
        report.vocabulary = vocabulary.apply_seed(session, words)
    return report


def main() -> None:
    argparse.ArgumentParser(description="构建/更新知识库（幂等，不覆盖工作人员修改过的条目）").parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if create_database_if_missing():
        print("已创建 PostgreSQL 数据库。")
    try:
        report = build()
    except (FaqFileError, vocabulary.SeedFileError) as exc:
        raise SystemExit(f"知识库构建失败：{exc}") from None
    print("知识库构建完成：" + report.summary())
    if report.faq_kept_staff_edits:
        print("保留了工作人员修改过的条目：" + "、".join(report.faq_kept_staff_edits))
    words = report.vocabulary
    if words.kept_staff_edits:
        print("词表：保留了工作人员修改或删除过的词：" + "、".join(words.kept_staff_edits))
    if words.skipped:
        print("词表：这些种子词与工作人员添加的词冲突，没有写入：" + "、".join(words.skipped))
    if words.absent_terms:
        print("词表警告：这些规范词不在任何条款或已发布条目中，对应过去搜不到内容：" + "、".join(words.absent_terms))
    embedded = embed_for_meaning()
    if embedded is not None:
        print(f"语义匹配：{embedded} 条问法和条款句子的向量已就绪（{semantic.CACHE_DIR}）")


def embed_for_meaning() -> int | None:
    """Embed every phrasing and clause sentence for meaning-based matching (knowledge/semantic.py),
    so that the servers start with them ready (about a minute the first time, then from the file)."""
    if not semantic.enabled():
        return None
    from knowledge.answering import AnswerEngine

    docs = AnswerEngine(get_sessionmaker()).documents_for_meaning() + emergency.examples().documents()
    semantic.SemanticMatcher(threads=os.cpu_count() or 1).embed_documents([text for _, text in docs])
    return len(docs)


if __name__ == "__main__":
    main()
