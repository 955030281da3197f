"""What staff can do to the vocabulary: everyday words residents use -> the plan's terms.

Residents write "托娃所", "杭户", "公租房"; the plan says 托育, 落户, 保障性租赁住房. The search
replaces each variant by its canonical term in questions and in the knowledge base alike
(knowledge.text), so staff who see such a word in the unanswered questions add it here and the
very next question finds the entry: the answer engine notices the change through the
knowledge-base fingerprint and rebuilds its index, with no retraining and no restart.

Because a word is live at once for every resident, writing one needs the reviewer role (as a
change to a published FAQ entry does), and every change is version-checked and audited like an
FAQ change. The list is checked so that it cannot make the search worse:

- a variant and its canonical term are 1-20 (variant: 2-20) Chinese characters, letters or
  digits, stored as the search sees them (simplified, lower case, full-width folded);
- a variant is in the list once; a variant is never another word's canonical term and a
  canonical term never another word's variant, so nothing is replaced twice and no pair of
  words undoes the other (A -> B with B -> A);
- the canonical term must stand in a clause or in a published FAQ entry. Refused, not only
  warned about: a term that no document contains turns the resident's own word into one that
  matches nothing, so the mapping could only lose answers.

``knowledge/synonyms.yml`` seeds the list (knowledge.build); a deleted word is kept as a
tombstone (``deleted_at``) so the build does not bring it back.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import String, cast, delete, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from knowledge import queries
from knowledge.models import BUILD_USER, Clause, FaqEntry, StaffUser, VocabularyTerm, utcnow
from knowledge.staff import NUL, Conflict, Invalid, NotFound, as_utc, audit, require_role, search_terms
from knowledge.text import SEED_FILE, read_seed_file, simplified

MAX_WORD_CHARS = 20
MIN_VARIANT_CHARS = 2  # one character stands inside too many unrelated words ("房", "娃")
MAX_NOTE_CHARS = 200
WRITE_ROLE = "reviewer"  # a word is live for every resident at once, like a published answer
_WORD = re.compile(r"[\u4e00-\u9fffa-z0-9]+")
LABELS = {"variant": "常用说法", "canonical": "规范词", "note": "备注"}


class VocabularyConflict(Conflict):
    """The word changed since the version the staff member started from."""

    def __init__(self, current: dict[str, Any]) -> None:
        super().__init__(current)
        self.message = (
            f"该词条已被他人修改（当前版本 {current['version']}），您的修改没有保存。请查看最新内容后再修改。"
        )


_SURROGATE = re.compile("[\ud800-\udfff]")  # half a character (JSON "\\ud800"): no converter takes it


def clean_word(value: str) -> str:
    """A word as the search sees it: simplified characters, NFKC, lower case, no surrounding spaces."""
    return simplified(_SURROGATE.sub("", value)).strip().lower()


def word_problem(name: str, word: str) -> str | None:
    """Why ``word`` (already cleaned) cannot be a variant / canonical term, in Chinese, or None."""
    label = LABELS[name]
    if not word:
        return f"{label}不能为空。"
    if len(word) > MAX_WORD_CHARS:
        return f"{label}太长：最多{MAX_WORD_CHARS}个字。"
    if not _WORD.fullmatch(word):
        return f"{label}只能包含汉字、字母和数字（不能有空格或标点）。"
    if name == "variant" and len(word) < MIN_VARIANT_CHARS:
        return f"{label}至少{MIN_VARIANT_CHARS}个字：单个字会出现在许多不相关的词里。"
    return None


@dataclass(frozen=True)
class TermInput:
    variant: str
    canonical: str
    note: str = ""

    @classmethod
    def from_mapping(cls, data: Any) -> TermInput:
        """Validate what staff sent (shape and each word alone); Invalid lists every problem in Chinese."""
        if not isinstance(data, dict):
            raise Invalid("invalid_body", "请求内容必须是一个 JSON 对象。")
        errors: dict[str, str] = {}
        words: dict[str, str] = {}
        for name in ("variant", "canonical"):
            value = data.get(name)
            if not isinstance(value, str):
                errors[name] = f"{LABELS[name]}不能为空。"
                continue
            if NUL in value or _SURROGATE.search(value):
                errors[name] = f"{LABELS[name]}包含无效字符。"
                continue
            words[name] = clean_word(value)
            problem = word_problem(name, words[name])
            if problem:
                errors[name] = problem
        note = data.get("note")
        if note is None:
            note = ""
        if not isinstance(note, str):
            errors["note"] = "备注必须是文字。"
        elif len(note.strip()) > MAX_NOTE_CHARS:
            errors["note"] = f"备注太长：最多{MAX_NOTE_CHARS}个字符。"
        elif NUL in note or _SURROGATE.search(note):
            errors["note"] = "备注包含无效字符。"
        if not errors and words["variant"] == words["canonical"]:
            errors["canonical"] = "常用说法和规范词相同，不需要对应。"
        if errors:
            raise Invalid("invalid_term", "".join(errors.values()), details=errors)
        return cls(variant=words["variant"], canonical=words["canonical"], note=str(note).strip())


def term_dict(term: VocabularyTerm) -> dict[str, Any]:
    return {
        "id": term.id,
        "variant": term.variant,
        "canonical": term.canonical,
        "note": term.note,
        "version": term.version,
        "created_at": as_utc(term.created_at).isoformat(),
        "created_by": term.created_by,
        "updated_at": as_utc(term.updated_at).isoformat(),
        "updated_by": term.updated_by,
        "deleted": term.deleted_at is not None,
    }


def list_terms(session: Session, *, q: str | None = None, limit: int = 1000, offset: int = 0) -> list[VocabularyTerm]:
    """The live words, by canonical term then variant; ``q``: words each found in variant, term or note."""
    stmt = select(VocabularyTerm).where(queries.LIVE_VOCABULARY)
    for word in search_terms(q):
        like = f"%{clean_word(word)}%"
        stmt = stmt.where(
            or_(VocabularyTerm.variant.like(like), VocabularyTerm.canonical.like(like), VocabularyTerm.note.like(like))
        )
    stmt = stmt.order_by(VocabularyTerm.canonical, VocabularyTerm.variant)
    return list(session.scalars(stmt.limit(limit).offset(offset)))


def get_term(session: Session, *, term_id: int) -> VocabularyTerm:
    term = session.get(VocabularyTerm, term_id)
    if term is None or term.deleted_at is not None:
        raise NotFound("not_found", f"词表中没有编号为 {term_id} 的词条。")
    return term


def appears_in_knowledge_base(session: Session, word: str) -> bool:
    """Whether ``word`` stands in a clause or a published FAQ entry (what the search indexes)."""
    like = f"%{word}%"  # a cleaned word has no LIKE wildcards (_WORD)
    in_clause = select(Clause.id).where(or_(func.lower(Clause.text).like(like), func.lower(Clause.title).like(like)))
    if session.scalar(in_clause.limit(1)) is not None:
        return True
    texts = (FaqEntry.question, FaqEntry.answer, cast(FaqEntry.alternatives, String))
    in_entry = select(FaqEntry.id).where(queries.LIVE, or_(*(func.lower(t).like(like) for t in texts))).limit(1)
    return session.scalar(in_entry) is not None


def list_problems(pairs: dict[str, str], *, variant: str, canonical: str) -> dict[str, str]:
    """Why ``variant -> canonical`` cannot join the list ``pairs`` (variant -> canonical, without it)."""
    if pairs.get(canonical) == variant:
        return {
            "canonical": f"会形成循环：词表中已有“{canonical}”对应“{variant}”，两条会互相替换。请删除或修改那一条。"
        }
    errors: dict[str, str] = {}
    if variant in pairs:
        errors["variant"] = f"“{variant}”已在词表中（对应“{pairs[variant]}”），请修改那一条。"
    elif variant in pairs.values():
        others = sorted(v for v, c in pairs.items() if c == variant)
        listed = "、".join(f"“{v}”" for v in others[:5]) + ("等" if len(others) > 5 else "")
        errors["variant"] = f"“{variant}”已是规范词（{listed}对应它），不能再作为常用说法，否则会被替换两次。"
    if canonical in pairs:
        errors["canonical"] = (
            f"“{canonical}”本身是常用说法（对应“{pairs[canonical]}”），请直接对应到“{pairs[canonical]}”。"
        )
    return errors


def _live_pairs(session: Session, *, exclude_id: int | None = None) -> dict[str, str]:
    stmt = select(VocabularyTerm.variant, VocabularyTerm.canonical).where(queries.LIVE_VOCABULARY)
    if exclude_id is not None:
        stmt = stmt.where(VocabularyTerm.id != exclude_id)
    return dict(session.execute(stmt).tuples().all())


def _check(session: Session, data: TermInput, *, exclude_id: int | None = None) -> None:
    errors = list_problems(_live_pairs(session, exclude_id=exclude_id), variant=data.variant, canonical=data.canonical)
    if "canonical" not in errors and not appears_in_knowledge_base(session, data.canonical):
        errors["canonical"] = (
            f"规范词“{data.canonical}”没有出现在任何条款或已发布的问答条目中，对应过去后反而搜不到内容。"
            "请使用条款或答复里的原词。"
        )
    if errors:
        raise Invalid("invalid_term", "".join(errors.values()), details=errors)


def _check_version(term: VocabularyTerm, expected_version: Any) -> None:
    if not isinstance(expected_version, int) or isinstance(expected_version, bool):
        raise Invalid("version_required", "请提供修改所基于的版本号 version（整数）。")
    if expected_version != term.version:
        raise VocabularyConflict(term_dict(term))


def _tombstone(session: Session, variant: str, *, keep_id: int | None = None) -> VocabularyTerm | None:
    """A deleted row holding ``variant`` (the variant is unique), or None."""
    stmt = select(VocabularyTerm).where(VocabularyTerm.variant == variant, VocabularyTerm.deleted_at.is_not(None))
    row = session.scalar(stmt)
    if row is not None and row.id != keep_id:
        return row
    return None


def _audit(session: Session, term: VocabularyTerm, *, action: str, actor: str) -> None:
    try:
        session.flush()
    except IntegrityError:  # the same word, saved by someone else a moment ago
        message = f"“{term.variant}”刚刚已被他人加入词表，您的修改没有保存。请刷新后再看。"
        raise Invalid("invalid_term", message, details={"variant": message}) from None
    detail = f"{term.variant} → {term.canonical}（v{term.version}）"
    audit(session, actor=actor, action=f"vocabulary.{action}", target=f"vocabulary:{term.id}", detail=detail)


def create_term(session: Session, *, data: TermInput, user: StaffUser) -> VocabularyTerm:
    require_role(user, WRITE_ROLE)
    _check(session, data)
    now = utcnow()
    term = _tombstone(session, data.variant)
    if term is None:
        term = VocabularyTerm(variant=data.variant, created_by=user.username, created_at=now)
        session.add(term)
    else:  # the word was deleted once: it comes back as a new word of this staff member
        term.deleted_at, term.created_by, term.created_at = None, user.username, now
    term.canonical, term.note = data.canonical, data.note
    term.updated_by, term.updated_at = user.username, now
    _audit(session, term, action="create", actor=user.username)
    return term


def update_term(
    session: Session, *, term_id: int, data: TermInput, expected_version: Any, user: StaffUser
) -> VocabularyTerm:
    term = get_term(session, term_id=term_id)
    _check_version(term, expected_version)
    require_role(user, WRITE_ROLE)
    _check(session, data, exclude_id=term.id)
    if data.variant != term.variant:
        tombstone = _tombstone(session, data.variant, keep_id=term.id)
        if tombstone is not None:
            session.execute(delete(VocabularyTerm).where(VocabularyTerm.id == tombstone.id))
            session.expunge(tombstone)
    term.variant, term.canonical, term.note = data.variant, data.canonical, data.note
    term.updated_by, term.updated_at = user.username, utcnow()
    _audit(session, term, action="update", actor=user.username)
    return term


def delete_term(session: Session, *, term_id: int, expected_version: Any, user: StaffUser) -> VocabularyTerm:
    term = get_term(session, term_id=term_id)
    _check_version(term, expected_version)
    require_role(user, WRITE_ROLE)
    term.deleted_at = term.updated_at = utcnow()
    term.updated_by = user.username
    _audit(session, term, action="delete", actor=user.username)
    return term


# -- the seed file (knowledge.build) ----------------------------------------------------------


class SeedFileError(ValueError):
    """The seed file knowledge/synonyms.yml is malformed; the message says where, in Chinese."""


@dataclass
class SeedReport:
    inserted: int = 0
    updated: int = 0
    retired: int = 0  # seeded words no longer in the file, untouched by staff: deleted
    unchanged: int = 0
    kept_staff_edits: list[str] = field(default_factory=list)  # variants staff changed or deleted
    skipped: list[str] = field(default_factory=list)  # seeds that would clash with staff words
    absent_terms: list[str] = field(default_factory=list)  # canonical terms no document contains

    def summary(self) -> str:
        return (
            f"vocabulary: inserted={self.inserted} updated={self.updated} retired={self.retired} "
            f"unchanged={self.unchanged} kept_staff_edits={len(self.kept_staff_edits)} skipped={len(self.skipped)}"
        )


def load_seed(path: Path = SEED_FILE) -> dict[str, str]:
    """variant -> canonical of the seed file, cleaned and checked by the rules staff edits follow."""
    try:
        raw = read_seed_file(path)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise SeedFileError(f"{path.name} 无法读取（应为“规范词: [常用说法, …]”）：{exc}") from None
    pairs: dict[str, str] = {}
    for written_variant, written_canonical in raw:
        variant, canonical = clean_word(written_variant), clean_word(written_canonical)
        where = f"{path.name}：“{written_variant}” → “{written_canonical}”"
        problem = word_problem("variant", variant) or word_problem("canonical", canonical)
        if problem is None and variant == canonical:
            problem = "常用说法和规范词相同。"
        if problem is None and pairs.get(variant, canonical) != canonical:
            problem = f"常用说法“{variant}”同时对应“{pairs[variant]}”和“{canonical}”。"
        if problem:
            raise SeedFileError(f"{where}：{problem}")
        pairs[variant] = canonical  # the same pair twice (e.g. traditional and simplified) is one word
    for variant, canonical in pairs.items():
        others = {v: c for v, c in pairs.items() if v != variant}
        problems = list_problems(others, variant=variant, canonical=canonical)
        if problems:
            raise SeedFileError(f"{path.name}：“{variant}” → “{canonical}”：" + "".join(problems.values()))
    return pairs


def apply_seed(session: Session, pairs: dict[str, str]) -> SeedReport:
    """Bring the seeded words in line with the file, never touching a word staff have written or deleted.

    A word the build wrote and nobody changed since (``updated_by`` is the build) follows the file:
    added, changed, or deleted when the file no longer has it. A seed that would clash with a
    staff member's word (a duplicate, a loop, a chain) is skipped and reported.
    """
    report = SeedReport()
    rows = {t.variant: t for t in session.scalars(select(VocabularyTerm))}
    staff_words = {t.variant: t.canonical for t in rows.values() if t.deleted_at is None and t.updated_by != BUILD_USER}
    now = utcnow()
    for variant, canonical in pairs.items():
        row = rows.get(variant)
        if row is not None and row.updated_by != BUILD_USER:
            report.kept_staff_edits.append(variant)
            continue
        if row is not None and row.deleted_at is None and row.canonical == canonical:
            report.unchanged += 1
            continue
        if list_problems(staff_words, variant=variant, canonical=canonical):
            report.skipped.append(f"{variant}→{canonical}")
            continue
        if row is None:
            row = VocabularyTerm(variant=variant, note="", created_by=BUILD_USER, created_at=now)
            session.add(row)
            report.inserted += 1
        else:
            report.updated += 1
        row.canonical, row.deleted_at, row.updated_by, row.updated_at = canonical, None, BUILD_USER, now
    for variant, row in rows.items():
        if variant not in pairs and row.updated_by == BUILD_USER and row.deleted_at is None:
            row.deleted_at = row.updated_at = now
            report.retired += 1
    session.flush()
    report.absent_terms = sorted(c for c in set(pairs.values()) if not appears_in_knowledge_base(session, c))
    return report
