"""The grouped inbox: questions residents ask in different words, grouped by meaning (issue 14).

How two questions are compared (``Matcher.similarity``), with the matching the answers use
(knowledge.answering, knowledge.search):

- **coverage**: the share of one question's informative weight that the other's search terms
  match (``knowledge.text.terms``: the vocabulary's everyday words mapped to the plan's terms,
  jieba words and character bigrams, weighted by the knowledge base's IDF, as the search weighs
  them); the larger of the two directions, so a short question inside a long story counts;
- **closest entries**: how much the two questions' top matches in the knowledge base agree
  (weighted Jaccard of their coverages), so "蓝领公寓怎么申请" and "工人宿舍在哪里报名" meet at the entry
  both come closest to even where their words differ;
- **what is asked**: two questions that ask for clearly different things about the same subject
  (what it costs / where to go / how long it takes …, ``FOCUS``) are not the same question.

A new question joins the open group whose members it is most similar to on average, if that is
at least ``GROUP_THRESHOLD``; otherwise it opens a group. Groups are formed when staff look
(``assign_new_questions``), not while a resident waits. A resolved group (attached, drafted,
dismissed) is never joined again: the same words asked later open a new group. The threshold and
weights were chosen on the dev half of tests/eval/inbox_pairs.yml; precision and recall on both
halves are in docs/inbox-grouping.md (``python -m scripts.inbox_grouping_eval``).

Actions on a group: ``attach`` (its phrasings become other phrasings of an entry, through the
publishing rules: saved, or a proposal), ``make_draft`` (a new draft citing the suggested
clause), ``dismiss``. Each is audited; every member question takes the group's outcome.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from knowledge import queries
from knowledge.answering import MIN_RELATED_COVERAGE, AnswerEngine
from knowledge.errors import Closed, Invalid, NotFound
from knowledge.grounding import PLACEHOLDER_ANSWER
from knowledge.inbox import KINDS
from knowledge.models import Clause, FaqEntry, InboxGroup, StaffUser, UnansweredQuestion, utcnow
from knowledge.proposals import Saved, save_entry
from knowledge.staff import LIMITS, NUL, FaqInput, as_utc, audit, create_entry, get_entry, is_id, search_terms
from knowledge.text import normalize, terms

GROUP_THRESHOLD = 0.2  # chosen on the dev pairs (docs/inbox-grouping.md)
HIT_WEIGHT = 0.5  # closest-entry agreement beside the word coverage
HITS_PER_QUESTION = 5
MEMBERS_COMPARED = 10  # a new question is compared with a group's most asked members
MAX_EXAMPLES = 10
MAX_NEW_PER_PASS = 2000
MAX_OPEN_GROUPS = 5000
STATUSES = {"open": "待处理", "attached": "已归入条目", "drafted": "已转为草稿", "dismissed": "已忽略"}
DEFAULT_CLAUSE = "主要目标"
# What a question asks for, from the question words people use. Two questions asking for different
# things ("要多少钱" / "去哪里办") are different questions even on the same subject.
FOCUS = {
    "cost": "多少钱|几多钱|费用|收费|价格|学费|房租|租金|出多少|摊多少|掏多少|花多少|贵|每月多少|一个月多少|一顿多少"
    "|出钱|掏钱",
    "subsidy": "补贴|补助|补偿|奖励|报销|能报",
    "where": "哪里|哪儿|哪个部门|哪个窗口|找谁|哪个电话|去哪|在哪|附近|哪家|什么地方",
    "how": "怎么申请|如何申请|怎么办理|流程|手续|步骤|怎么报名|要怎么|咋个|怎么买|怎么操作|怎么领|怎么提取|怎么弄",
    "duration": "多久|几天|几个月|多长时间|要等|多少天",
    "time": "什么时候|几点|何时|哪天",
    "condition": "条件|资格|资质|要求|满足|门槛",
    "materials": "材料|带什么|带啥|准备什么|准备啥",
    "who": "谁",
}
_FOCUS = {name: re.compile(pattern) for name, pattern in FOCUS.items()}
# Words only of asking (which FOCUS compares on its own), left out of the words compared for the subject.
_ASKING = re.compile("|".join(FOCUS.values()))
_PLACEHOLDER = re.compile(r"\[(?:身份证号|手机号|银行卡号|邮箱|QQ号|微信号)\]")


def focus(text: str) -> frozenset[str]:
    """What ``text`` asks for (``FOCUS`` names); empty when its question words say nothing."""
    return frozenset(name for name, pattern in _FOCUS.items() if pattern.search(text))


def without_placeholders(text: str) -> str:
    """The question without the masks that stand for personal data ("[手机号]")."""
    return re.sub(r"\s{2,}", " ", _PLACEHOLDER.sub(" ", text)).strip(" ，,。")


def _agreement(a: dict[str, float], b: dict[str, float]) -> float:
    """How much two questions' closest matches agree: the weighted Jaccard of their coverages, so a
    chance match (a word in common with one entry) counts little beside a question the entry covers."""
    shared = a.keys() & b.keys()
    if not shared:
        return 0.0
    larger = max(sum(a.values()), sum(b.values()))
    return sum(min(a[r], b[r]) for r in shared) / larger if larger else 0.0


class Matcher:
    """Compares questions with the answer engine's search terms, weights and matches.

    Caches each question's terms and matches until the knowledge base changes. Not thread-safe,
    like the engine it uses: callers hold the engine's lock.
    """

    def __init__(self, engine: AnswerEngine) -> None:
        self.engine = engine
        self._terms: dict[str, dict[str, float]] = {}
        self._hits: dict[str, list[tuple[str, float]]] = {}
        self._index: object | None = None
        self._idf: Any = None

    def _refresh(self) -> None:
        """Forget cached matches when the engine's index changed (a published edit, new vocabulary)."""
        with self.engine.make_session() as session:
            # The engine's current index (brought up to date by the engine itself): its IDF weighs the
            # words as the search does. AnswerEngine has no public accessor for it yet.
            index = self.engine._current_index(session)
        fingerprint = self.engine._fingerprint
        if index is not self._index or fingerprint != getattr(self, "_fingerprint", None):
            self._index, self._fingerprint = index, fingerprint
            self._terms.clear()
            self._hits.clear()
            unknown = index.unknown_idf

            def idf(term: str) -> float:
                value = index.idf(term)
                return unknown if value is None else value

            self._idf = idf

    def prepare(self) -> None:
        """Call once before a batch of comparisons."""
        self._refresh()

    def terms(self, text: str) -> dict[str, float]:
        """Search terms of ``text`` (masks left out) -> their weight."""
        found = self._terms.get(text)
        if found is None:
            if self._idf is None:
                self._refresh()
            subject = _ASKING.sub(" ", without_placeholders(text))
            found = {t: self._idf(t) for t in set(terms(subject))}
            self._terms[text] = found
        return found

    def hits(self, text: str) -> list[tuple[str, float]]:
        """The knowledge base's closest matches of ``text``: (ref, coverage), best first."""
        found = self._hits.get(text)
        if found is None:
            found = [
                (h.ref, h.coverage) for h in self.engine.hits(text=without_placeholders(text), limit=HITS_PER_QUESTION)
            ]
            self._hits[text] = found
        return found

    def similarity(self, a: str, b: str) -> float:
        """0…1: how surely ``a`` and ``b`` ask the same thing."""
        if normalize(a) == normalize(b):
            return 1.0
        fa, fb = focus(a), focus(b)
        if fa and fb and not fa & fb:
            return 0.0
        ta, tb = self.terms(a), self.terms(b)
        wa, wb = sum(ta.values()), sum(tb.values())
        if not wa or not wb:
            return 0.0
        shared = sum(w for t, w in ta.items() if t in tb)
        coverage = max(shared / wa, shared / wb)
        agreement = _agreement(dict(self.hits(a)), dict(self.hits(b)))
        return (coverage + HIT_WEIGHT * agreement) / (1 + HIT_WEIGHT)

    def same(self, a: str, b: str) -> bool:
        return self.similarity(a, b) >= GROUP_THRESHOLD


# -- forming groups ----------------------------------------------------------------------------


def _members(session: Session, group_ids: Iterable[int]) -> dict[int, list[UnansweredQuestion]]:
    """Each group's questions, most asked first."""
    ids = list(group_ids)
    found: dict[int, list[UnansweredQuestion]] = defaultdict(list)
    for chunk in range(0, len(ids), 500):
        stmt = (
            select(UnansweredQuestion)
            .where(UnansweredQuestion.group_id.in_(ids[chunk : chunk + 500]))
            .order_by(UnansweredQuestion.count.desc(), UnansweredQuestion.last_seen.desc(), UnansweredQuestion.id)
        )
        for row in session.scalars(stmt):
            found[row.group_id].append(row)  # type: ignore[index]
    return found


def assign_new_questions(session: Session, matcher: Matcher) -> int:
    """Put every open question that has no group yet into the group it asks the same as, or a new one.

    Returns how many were placed. Safe to run from two places at once: a question is placed only
    while it still has no group.
    """
    new = list(
        session.scalars(
            select(UnansweredQuestion)
            .where(UnansweredQuestion.status == "open", UnansweredQuestion.group_id.is_(None))
            .order_by(UnansweredQuestion.first_seen, UnansweredQuestion.id)
            .limit(MAX_NEW_PER_PASS)
        )
    )
    if not new:
        return 0
    matcher.prepare()
    open_ids = list(
        session.scalars(
            select(InboxGroup.id)
            .where(InboxGroup.status == "open")
            .order_by(InboxGroup.id.desc())
            .limit(MAX_OPEN_GROUPS)
        )
    )
    compared: dict[int, list[str]] = {
        gid: [m.text for m in rows[:MEMBERS_COMPARED]] for gid, rows in _members(session, open_ids).items()
    }
    # Candidate groups of a question: those sharing a search term or a closest match with it.
    by_term: dict[str, set[int]] = defaultdict(set)
    by_hit: dict[str, set[int]] = defaultdict(set)

    def index(gid: int, text: str) -> None:
        for term in matcher.terms(text):
            by_term[term].add(gid)
        for ref, _ in matcher.hits(text):
            by_hit[ref].add(gid)

    for gid, texts in compared.items():
        for text in texts:
            index(gid, text)
    placed = 0
    for row in new:
        candidates = set().union(
            *(by_term.get(t, ()) for t in matcher.terms(row.text)),
            *(by_hit.get(r, ()) for r, _ in matcher.hits(row.text)),
        )
        best, best_score = None, 0.0
        for gid in candidates:
            texts = compared[gid]
            score = sum(matcher.similarity(row.text, t) for t in texts) / len(texts)
            if score > best_score or (score == best_score and best is not None and gid < best):
                best, best_score = gid, score
        if best is None or best_score < GROUP_THRESHOLD:
            group = InboxGroup(status="open")
            session.add(group)
            session.flush()
            best = group.id
            compared[best] = []
        done = session.execute(
            update(UnansweredQuestion)
            .where(UnansweredQuestion.id == row.id, UnansweredQuestion.group_id.is_(None))
            .values(group_id=best)
            .execution_options(synchronize_session=False)
        )
        if done.rowcount:
            placed += 1
            if len(compared[best]) < MEMBERS_COMPARED:
                compared[best].append(row.text)
                index(best, row.text)
    session.expire_all()
    return placed


# -- reading groups ----------------------------------------------------------------------------


@dataclass
class GroupFilter:
    status: str = "open"  # a STATUSES key, or "all"
    q: str = ""  # words the group's questions (or the bot's replies) contain
    limit: int = 100
    offset: int = 0
    ids: tuple[int, ...] = ()  # only these groups


def check_status(status: str | None) -> str:
    status = status or "open"
    if status != "all" and status not in STATUSES:
        raise Invalid("invalid_status", f"status 必须是 {'、'.join([*STATUSES, 'all'])} 之一。")
    return status


def _group_rows(session: Session, where: GroupFilter) -> list[tuple[InboxGroup, int, int, datetime, datetime]]:
    """(group, times asked, phrasings, first seen, last seen), most asked first."""
    asked = func.sum(UnansweredQuestion.count)
    last = func.max(UnansweredQuestion.last_seen)
    stmt = (
        select(
            InboxGroup,
            asked,
            func.count(UnansweredQuestion.id),
            func.min(UnansweredQuestion.first_seen),
            last,
        )
        .join(UnansweredQuestion, UnansweredQuestion.group_id == InboxGroup.id)
        .group_by(InboxGroup.id)
    )
    if where.status != "all":
        stmt = stmt.where(InboxGroup.status == where.status)
    if where.ids:
        stmt = stmt.where(InboxGroup.id.in_(where.ids))
    for word in search_terms(where.q):
        like = f"%{word}%"
        matching = select(UnansweredQuestion.group_id).where(
            or_(UnansweredQuestion.text.like(like), UnansweredQuestion.reply.like(like))
        )
        stmt = stmt.where(InboxGroup.id.in_(matching))
    if where.status == "open":
        stmt = stmt.order_by(asked.desc(), last.desc(), InboxGroup.id)
    else:
        stmt = stmt.order_by(func.coalesce(InboxGroup.decided_at, last).desc(), InboxGroup.id.desc())
    stmt = stmt.limit(where.limit).offset(where.offset)
    return [tuple(row) for row in session.execute(stmt)]  # type: ignore[misc]


def closest_entries(session: Session, matcher: Matcher, texts: list[str], limit: int = 3) -> list[dict[str, Any]]:
    """The published entries these questions came closest to, with the average coverage."""
    scores: Counter[str] = Counter()
    for text in texts:
        for ref, coverage in matcher.hits(text):
            if ref.startswith("faq:"):
                scores[ref] += coverage / len(texts)
    found = []
    for ref, score in scores.most_common():
        entry = queries.published_entry(session, entry_id=int(ref[4:]))
        if entry is not None:
            found.append({"faq_id": entry.id, "question": entry.question, "score": round(score, 3)})
        if len(found) == limit:
            break
    return found


def suggested_clause(session: Session, matcher: Matcher, texts: list[str]) -> str:
    """The clause a draft from these questions should cite: that of their best match overall."""
    scores: Counter[str] = Counter()
    for text in texts:
        for ref, coverage in matcher.hits(text):
            scores[ref] += coverage
    for ref, _ in scores.most_common():
        if ref.startswith("passage:"):
            return ref.removeprefix("passage:").split("#", 1)[0]
        entry = session.get(FaqEntry, int(ref[4:]))
        if entry is not None:
            return session.scalar(select(Clause.ref).where(Clause.id == entry.clause_id)) or DEFAULT_CLAUSE
    return DEFAULT_CLAUSE


def _iso(moment: datetime | None) -> str | None:
    return as_utc(moment).isoformat() if moment else None


def example_view(row: UnansweredQuestion) -> dict[str, Any]:
    return {
        "id": row.id,
        "text": row.text,
        "count": row.count,
        "kind": row.kind,
        "kind_name": KINDS.get(row.kind, row.kind),
        "step": row.step,
        "reply": row.reply,
        "first_seen": _iso(row.first_seen),
        "last_seen": _iso(row.last_seen),
    }


def list_groups(session: Session, matcher: Matcher, where: GroupFilter | None = None) -> list[dict[str, Any]]:
    """Groups as the inbox shows them (``assign_new_questions`` first, for the newest questions)."""
    where = where or GroupFilter()
    rows = _group_rows(session, where)
    members = _members(session, [group.id for group, *_ in rows])
    matcher.prepare()
    views = []
    for group, asked, phrasings, first_seen, last_seen in rows:
        questions = members.get(group.id, [])
        texts = [q.text for q in questions[:3]]
        closest = closest_entries(session, matcher, texts)
        topics = Counter(q.topic for q in questions if q.topic)
        views.append(
            {
                "id": group.id,
                "status": group.status,
                "status_name": STATUSES.get(group.status, group.status),
                "count": int(asked or 0),
                "questions": int(phrasings),
                "first_seen": _iso(first_seen),
                "last_seen": _iso(last_seen),
                "kinds": dict(Counter(q.kind for q in questions)),
                "topic": topics.most_common(1)[0][0] if topics else None,
                "examples": [example_view(q) for q in questions[:MAX_EXAMPLES]],
                "closest": closest,
                "suggested_faq_id": closest[0]["faq_id"]
                if closest and closest[0]["score"] >= MIN_RELATED_COVERAGE
                else None,
                "suggested_clause": suggested_clause(session, matcher, texts),
                "faq_id": group.faq_id,
                "proposal_id": group.proposal_id,
                "decided_by": group.decided_by,
                "decided_at": _iso(group.decided_at),
            }
        )
    return views


def member_texts(session: Session, group_id: int) -> list[str]:
    """Every question of the group, most asked first (what attaching it would add)."""
    return [q.text for q in _members(session, [group_id]).get(group_id, [])]


def get_group(session: Session, group_id: int) -> InboxGroup:
    group = session.get(InboxGroup, group_id)
    if group is None:
        raise NotFound("group_not_found", f"没有编号为 {group_id} 的问题组。")
    return group


def group_view(session: Session, matcher: Matcher, group_id: int) -> dict[str, Any]:
    get_group(session, group_id)
    found = list_groups(session, matcher, GroupFilter(status="all", ids=(group_id,)))
    if not found:
        raise NotFound("group_not_found", f"没有编号为 {group_id} 的问题组。")
    return found[0]


# -- acting on groups --------------------------------------------------------------------------


def _open_group(session: Session, group_id: int) -> tuple[InboxGroup, list[UnansweredQuestion]]:
    group = get_group(session, group_id)
    if group.status != "open":
        where = f"（{STATUSES.get(group.status, group.status)}" + (
            f"，条目 #{group.faq_id}）" if group.faq_id else "）"
        )
        raise Closed("group_closed", f"问题组 #{group.id} 已经处理过了{where}，不能再次处理。")
    questions = _members(session, [group.id]).get(group.id, [])
    if not questions:
        raise NotFound("group_not_found", f"问题组 #{group.id} 里没有问题。")
    return group, questions


def _resolve(
    group: InboxGroup, questions: list[UnansweredQuestion], *, status: str, user: StaffUser, faq_id: int | None
) -> None:
    group.status, group.faq_id = status, faq_id
    group.decided_by, group.decided_at = user.username, utcnow()
    for question in questions:
        question.status, question.faq_id = status, faq_id


def _phrasing(text: str) -> str:
    return without_placeholders(text).replace(NUL, "").strip()


def new_phrasings(existing: Iterable[str], texts: Iterable[str]) -> list[str]:
    """The texts that would be new phrasings beside ``existing`` (an entry's question and phrasings):
    not already among them (compared after normalisation), not too long for a phrasing, each once."""
    known = {normalize(t) for t in existing}
    found = []
    for text in texts:
        phrasing = _phrasing(text)
        if phrasing and len(phrasing) <= LIMITS["alternative"] and normalize(phrasing) not in known:
            known.add(normalize(phrasing))
            found.append(phrasing)
    return found


def attach(
    session: Session,
    *,
    group_id: int,
    faq_id: Any,
    expected_version: Any,
    user: StaffUser,
    question_ids: list[int] | None = None,
) -> Saved:
    """Add the group's questions to entry ``faq_id`` as other phrasings, by the publishing rules:
    saved at once where ``user`` may change the entry, else a proposal (``Saved.proposal``).

    ``question_ids``: only these of the group's questions (default: all). A stale ``expected_version``
    is refused (409) like any save.
    """
    if not is_id(faq_id):
        raise Invalid("invalid_faq_id", "请提供要归入的条目编号 faq_id（正整数）。", details={"faq_id": "必填"})
    group, questions = _open_group(session, group_id)
    chosen = [q for q in questions if question_ids is None or q.id in question_ids]
    if not chosen:
        raise Invalid("no_questions", "请至少选择问题组中的一个问题。")
    entry = get_entry(session, entry_id=faq_id)
    if entry.deleted_at is not None:
        raise Invalid("deleted", f"条目 #{entry.id} 已删除，不能归入。")
    phrasings = new_phrasings([entry.question, *(entry.alternatives or [])], [q.text for q in chosen])
    if not phrasings:
        raise Invalid("nothing_to_attach", f"这些问法已经都在条目 #{entry.id} 里了（或太长，不适合作为问法）。")
    alternatives = [*(entry.alternatives or []), *phrasings]
    if len(alternatives) > LIMITS["alternatives"]:
        raise Invalid(
            "too_many_alternatives",
            f"条目 #{entry.id} 已有 {len(entry.alternatives or [])} 条其他问法，加上这 {len(phrasings)} 条会超过"
            f"{LIMITS['alternatives']} 条的上限：请只选部分问法，或先在编辑页整理该条目的问法。",
        )
    clause_ref = session.scalar(select(Clause.ref).where(Clause.id == entry.clause_id)) or ""
    data = FaqInput(
        topic=entry.topic, question=entry.question, answer=entry.answer, source=clause_ref, alternatives=alternatives
    )
    saved = save_entry(session, entry_id=entry.id, data=data, expected_version=expected_version, user=user)
    _resolve(group, chosen, status="attached", user=user, faq_id=entry.id)
    group.proposal_id = saved.proposal.id if saved.proposal is not None else None
    how = f"proposal {saved.proposal.id}" if saved.proposal is not None else f"v{saved.entry.version}"
    audit(
        session,
        actor=user.username,
        action="inbox.attach",
        target=f"inbox_group:{group.id}",
        detail=f"faq:{entry.id} {how} 新增问法 {len(phrasings)} 条",
    )
    return saved


def make_draft(session: Session, *, group_id: int, user: StaffUser, matcher: Matcher) -> FaqEntry:
    """A draft entry from the group: its most asked question, the others as phrasings, citing the
    clause its questions come closest to. The answer is the placeholder staff must replace."""
    group, questions = _open_group(session, group_id)
    texts = [q.text for q in questions]
    phrasings = [p for p in (_phrasing(t) for t in texts) if p]
    if not phrasings:
        raise Invalid("nothing_to_draft", "这个问题组里没有可用作问题的文字。")
    question = phrasings[0][: LIMITS["question"]]
    alternatives = new_phrasings([question], phrasings[1:])[: LIMITS["alternatives"]]
    topics = Counter(q.topic for q in questions if q.topic)
    matcher.prepare()
    data = FaqInput(
        topic=topics.most_common(1)[0][0] if topics else "plan",
        question=question,
        answer=PLACEHOLDER_ANSWER,
        source=suggested_clause(session, matcher, texts[:3]),
        alternatives=alternatives,
    )
    entry = create_entry(session, data=data, user=user, unfinished=True)
    session.flush()
    _resolve(group, questions, status="drafted", user=user, faq_id=entry.id)
    audit(
        session, actor=user.username, action="inbox.draft", target=f"inbox_group:{group.id}", detail=f"faq:{entry.id}"
    )
    return entry


def dismiss(session: Session, *, group_ids: list[int], user: StaffUser) -> int:
    """Dismiss open groups (one or many); a group already handled is refused (409), nothing changes."""
    if not group_ids:
        raise Invalid("no_groups", "请至少选择一个问题组。")
    if len(group_ids) > 500:
        raise Invalid("too_many_groups", "一次最多忽略500个问题组。")
    for group_id in dict.fromkeys(group_ids):
        group, questions = _open_group(session, group_id)
        _resolve(group, questions, status="dismissed", user=user, faq_id=None)
        audit(session, actor=user.username, action="inbox.dismiss_group", target=f"inbox_group:{group.id}")
    return len(set(group_ids))


# -- export ------------------------------------------------------------------------------------

CSV_COLUMNS = ("问题组", "状态", "居民的问题", "次数", "首次", "最近", "类别", "决定步骤", "机器人的答复", "条目")
_FORMULA_START = re.compile(r"^[=+\-@\t\r]")


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return "'" + text if _FORMULA_START.match(text) else text  # Excel must not run a resident's "=…"


def export_csv(session: Session, where: GroupFilter) -> bytes:
    """The groups' questions, one row each, as UTF-8 CSV with a BOM (Excel opens it as is)."""
    rows = _group_rows(session, where)
    members = _members(session, [group.id for group, *_ in rows])
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for group, *_ in rows:
        for q in members.get(group.id, []):
            writer.writerow(
                [
                    _cell(v)
                    for v in (
                        group.id,
                        STATUSES.get(group.status, group.status),
                        q.text,
                        q.count,
                        _iso(q.first_seen),
                        _iso(q.last_seen),
                        KINDS.get(q.kind, q.kind),
                        q.step,
                        q.reply,
                        group.faq_id,
                    )
                ]
            )
    return ("\ufeff" + out.getvalue()).encode("utf-8")
