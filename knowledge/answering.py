"""From a resident's words to a cited answer, or an honest "not covered yet".

The search index is cached and brought up to date when the knowledge base's
fingerprint changes (checked on every request): a staff edit re-indexes only the
entries whose version changed, a new source document or a change of the
vocabulary (everyday words -> the plan's terms, which every document's terms
depend on) rebuilds it. The answer itself is read from the database each time,
so a staff edit is live at once.
"""

from __future__ import annotations

import logging
import os
import re
import sqlite3
import weakref
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from time import monotonic
from typing import Any, NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from knowledge import emergency, hostile, queries, semantic
from knowledge.handoff import OpenHandoffs
from knowledge.models import Clause, FaqEntry
from knowledge.parse import REPORT_PREFIX, sentences
from knowledge.review_dates import out_of_date_note
from knowledge.search import Bm25Index, Hit, SearchDoc, weighted_terms
from knowledge.semantic import Match, SemanticMatcher
from knowledge.text import Pairs, set_vocabulary, terms
from knowledge.understanding import count_districts

log = logging.getLogger(__name__)

# A hit answers the question when it covers this share of the question's weight…
MIN_COVERAGE = 0.4
# …and a clause sentence must cover more, since it was not written as an answer.
MIN_PASSAGE_COVERAGE = 0.6
PASSAGE_DISCOUNT = 0.8
MIN_RELATED_COVERAGE = 0.2
# "还有呢": a clause sentence shorter than this is given with the one after it.
LEADING_SENTENCE_CHARS = 30
# Within this share of the best score, the topic's general entry (the first of its
# curated file) wins: a bare "托位" should get the general answer, not a detail.
NEAR_TIE = 0.97
# A one-word fragment ("电梯", "落户杭州") asks in general: a wider band.
NEAR_TIE_SHORT = 0.75
SHORT_QUERY_WORDS = 1
# In a follow-up, the previous question counts this much beside the new words.
FOLLOW_UP_CONTEXT_WEIGHT = 0.5
# …and a candidate from the clause of the previous answer this much (chosen on the dev split).
SAME_CLAUSE_BONUS = 0.3
# A stand-in answer only if the resident's words touch the topic at all.
MIN_OVERVIEW_COVERAGE = 0.05
OVERVIEW_PREFIX = "您问的具体情况，《行动计划》没有专门的条文。和您的问题最相关的内容是：\n"
MAX_RELATED = 3
# A knowledge-base change touching at most this many entries (or a quarter) re-indexes only them,
# found by comparing per-block sums of blocks of this many entry ids.
REFRESH_MAX_CHANGED = 1000
REFRESH_BLOCK = 1000
# A resident who repeats a name the documents put in quotes ("那个钱塘善潮又是啥", "六和塔工作体系") asks
# about the sentence that names it: a name of at least this many characters, in at most QUOTED_PASSAGES sentences.
QUOTED = re.compile(r"“([^“”]{1,20})”")
QUOTE_CHARS = 3
QUOTED_PASSAGES = 2
_NOT_QUOTABLE = re.compile(r"[^0-9A-Za-z\u4e00-\u9fff]")  # quotes, punctuation, spaces
# A figure a sentence gives (a count, an amount, a share), not a year: "6300多名工人", "3.5个", "8.5%".
_FIGURE = re.compile(r"\d+(\.\d+)?\s*(%|多|余|个|家|所|万|亿|名|人|元|件|项|套|条|座|公里|倍|位|岁|天)")


def source_line(clause: Clause) -> str:
    document = clause.document
    if clause.ref.startswith(REPORT_PREFIX):
        section = clause.ref.removeprefix(REPORT_PREFIX)
        return f"来源：2022年进展报道《{document.title}》“{section}”部分（数据来源：杭州市发展和改革委员会）"
    return f"来源：《{document.title}》{clause.ref}"


@dataclass
class Answer:
    text: str
    source_line: str | None = None
    topic: str | None = None
    faq_id: int | None = None
    clause_ref: str | None = None
    related: list[tuple[int, str]] = field(default_factory=list)  # (faq id, question)
    exact: bool = True  # False: the topic's general answer stood in for an unmatched question
    ref: str | None = None  # the search document answered from ("faq:12", "passage:第9条#3")

    @property
    def found(self) -> bool:
        return self.source_line is not None

    def message(self) -> str:
        return f"{self.text}\n{self.source_line}" if self.source_line else self.text


# An answer whose words are this much in the one shown already says nothing more.
SAME_WORDS = 0.7


def _says_the_same(text: str, shown: str) -> bool:
    words = {t for t in terms(text) if not t.startswith("~")}
    return len(words & set(terms(shown))) >= SAME_WORDS * max(len(words), 1)


def not_covered(topic: str | None = None) -> Answer:
    return Answer(
        text=(
            "抱歉，这个具体问题我在《行动计划》和2022年的进展报道里没有找到依据，为了不给您不准确的信息，我先不作答。"
            "您可以换个说法再问，或者问我老旧小区加装电梯、托育托位、积分落户、租赁住房，以及计划里的其他承诺"
            "（如收入、就业、养老、交通）。具体办事可以拨打12345政务服务便民热线。"
        ),
        topic=topic,
    )


def passage_text(clause: Clause, sentence: str) -> str:
    sentence = sentence.lstrip("—").strip()
    if clause.ref == "主要目标":
        return f"《行动计划》的主要目标是，到2025年：{sentence}"
    if clause.ref == "序言":
        return f"《行动计划》开篇提出：{sentence}"
    if clause.ref.startswith(REPORT_PREFIX):
        return f"2022年的进展报道提到：{sentence}"
    return f"《行动计划》{clause.ref}“{clause.title}”提出：{sentence}"


def without_district(text: str, district: str | None) -> str:
    """The district ("余杭区", "余杭") is answered by a note, not searched for."""
    if not district:
        return text
    return text.replace(district, " ").replace(district[:-1], " ")


def with_district_note(answer: Answer, district: str | None) -> Answer:
    """The plan is city-wide: say so for a resident topic asked about one district."""
    if district and answer.topic in ("elevator", "childcare", "hukou", "rental") and district not in answer.text:
        answer.text += (
            f"\n（《行动计划》是全市统一部署，没有单独列出{district}的安排；"
            f"具体办理请咨询{district}您所在的街道（乡镇）或社区。）"
        )
    return answer


def _with_review_note(entry: FaqEntry) -> str:
    """The entry's answer, and after its review date a dated note that it may be out of date."""
    note = out_of_date_note(entry)
    return f"{entry.answer}\n{note}" if note else entry.answer


def semantic_documents(index: Bm25Index) -> list[tuple[str, str]]:
    """What meaning-based matching compares a question with: each FAQ phrasing (question and other
    phrasings, one by one) and each clause sentence, named by the word index's document ref."""
    docs = []
    for doc in index.docs:
        first = doc.fields[0][0]
        lines = first.split("\n") if doc.ref.startswith("faq:") else [first]
        docs.extend((doc.ref, line.strip()) for line in lines if line.strip())
    return docs


def _weight(hit: Hit) -> float:
    return hit.score * (PASSAGE_DISCOUNT if hit.ref.startswith("passage:") else 1.0)


KB_COUNTER, HANDOFF_COUNTER = 1, 2  # rows of kb_version (migrations 0010 and 0011)


class Counters(NamedTuple):
    """What the change signal read: equal values mean nothing changed; None means unknown."""

    kb: int | None  # entries, vocabulary, documents
    handoffs: int | None  # hand-offs opened, claimed or closed


UNKNOWN = Counters(None, None)


class TermCounts(NamedTuple):
    """Search documents in the current index, and in how many of them each asked word occurs."""

    documents: int
    frequency: dict[str, int]


class SqliteCommits:
    """SQLite's ``PRAGMA data_version`` on a connection of its own, which never writes: the value
    changes whenever any other connection, of any process, has committed to the database file.

    The knowledge base's fingerprint (two aggregate statements) was 19 % of the action server's CPU
    under load (py-spy, issue 16); when nothing was committed since it was read, it cannot have
    changed. The same value serves as the hand-offs' counter: every commit moves it, a hand-off's
    among them. ``read()`` gives None for another database (PostgreSQL has PostgresVersion), an
    in-memory database or on any error: the fingerprint is then read for every message, as before.
    One connection per process (forked workers open their own); the engine using it serves one
    thread at a time.
    """

    def __init__(self, bind: Any) -> None:
        url = getattr(bind, "url", None)
        database = url.database if url is not None and url.get_backend_name() == "sqlite" else None
        self._path = database if database and database != ":memory:" else None
        self._pid = 0
        self._connection: sqlite3.Connection | None = None

    def read(self) -> Counters:
        if self._path is None:
            return UNKNOWN
        try:
            if self._connection is None or self._pid != os.getpid():
                self._connection = sqlite3.connect(self._path, check_same_thread=False)
                self._pid = os.getpid()
            version = int(self._connection.execute("PRAGMA data_version").fetchone()[0])
            return Counters(kb=version, handoffs=version)
        except sqlite3.Error:
            self._connection = None
            return UNKNOWN


class PostgresVersion:
    """PostgreSQL: the ``kb_version`` row, which triggers bump in the same transaction as any change
    to the entries, the vocabulary or the documents (migration 0010), read with one plain statement
    on a connection of its own (autocommit, so each read sees the latest commit).

    The fingerprint's two aggregate statements through the ORM were, after the other changes, still
    the largest item of the action server's CPU on PostgreSQL under load (py-spy, issue 16). Reading
    the counter before the fingerprint, as SqliteCommits' data_version is read, keeps a staff edit
    live from the next message: a commit after the counter was read is seen by the next message.
    The same statement reads row 2, which a trigger on ``handoffs`` bumps (migration 0011).
    A counter is None when its row or the connection is not there: the fingerprint (or who has an
    open hand-off) is then read for every message, as before (a failed connection is tried again
    after ``RETRY`` seconds).
    One connection per process: a forked worker opens its own and leaves the inherited one alone.
    """

    RETRY = 5.0
    COUNTERS = f"SELECT id, version FROM kb_version WHERE id IN ({KB_COUNTER}, {HANDOFF_COUNTER})"

    def __init__(self, bind: Any) -> None:
        url = getattr(bind, "url", None)
        postgres = url is not None and url.get_backend_name() == "postgresql"
        self._conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False) if postgres else None
        self._connection: Any = None
        self._pid = 0
        self._retry_at = 0.0
        self._inherited: list[Any] = []  # a parent's connection: closing it would end the parent's session
        self._closer: Any = None

    def read(self) -> Counters:
        if self._conninfo is None:
            return UNKNOWN
        import psycopg

        try:
            if self._connection is None or self._pid != os.getpid():
                if self._connection is not None:
                    self._closer.detach()
                    self._inherited.append(self._connection)
                    self._connection = None
                if monotonic() < self._retry_at:
                    return UNKNOWN
                self._connection = psycopg.connect(self._conninfo, autocommit=True, connect_timeout=3)
                self._pid = os.getpid()
                # closed when the engine is thrown away (tests, the bench), not left to the garbage collector
                self._closer = weakref.finalize(self, self._connection.close)
            rows = dict(self._connection.execute(self.COUNTERS).fetchall())
            return Counters(kb=rows.get(KB_COUNTER), handoffs=rows.get(HANDOFF_COUNTER))
        except psycopg.Error:
            if self._connection is not None:
                self._closer.detach()
                self._connection.close()
            self._connection = None
            self._retry_at = monotonic() + self.RETRY
            return UNKNOWN


def change_signal(bind: Any) -> SqliteCommits | PostgresVersion:
    """What tells the engine that the knowledge base may have changed since it last looked."""
    url = getattr(bind, "url", None)
    if url is not None and url.get_backend_name() == "postgresql":
        return PostgresVersion(bind)
    return SqliteCommits(bind)


class AnswerEngine:
    def __init__(self, make_session: sessionmaker[Session]) -> None:
        self.make_session = make_session
        self._fingerprint: tuple | None = None
        self._index: Bm25Index | None = None
        self._passages: dict[str, tuple[Clause, str]] = {}
        self._names: dict[str, set[str]] = {}  # a name the documents quote -> the passages quoting it
        # Segmenting Chinese is the costly part of indexing: each document's terms are
        # kept, keyed by its content, so a change re-segments only what changed.
        self._vectors: dict[SearchDoc, Counter[str]] = {}
        self._general: dict[str, str] = {}  # topic -> ref of its general entry, set with the index
        self._entry_versions: dict[int, int] = {}  # FAQ entry id -> version in the index
        self._entry_clauses: dict[int, int] = {}  # FAQ entry id -> its clause's id, with the index
        self._clause_names: dict[int, str] = {}  # clause id -> ref ("第9条"), with the index
        self._block_sums: dict[int, tuple[int, int, int]] = {}  # queries.live_sums of the index
        self._vocabulary: Pairs | None = None  # the database's vocabulary the index was built with
        self._pinned = False  # within one_message()
        self._generation = 0  # counts changes of the index (staff edits), for the semantic matcher
        self._semantic: SemanticMatcher | None = None
        self._semantic_generation = -1
        self._semantic_memo: dict[tuple[str, int], list[Match]] = {}
        self._danger: SemanticMatcher | None = None  # over knowledge/emergency.py's examples
        self._danger_generation = -1
        self._hits_memo: dict[tuple[str, str | None, int], list[Hit]] = {}
        # Published entries read since the fingerprint last changed (entry id -> entry, detached).
        self._entries: dict[int, FaqEntry | None] = {}
        # The fingerprint is read only after some connection committed something (SQLite) or the
        # knowledge base's change counter moved (PostgreSQL).
        self._changes = change_signal(getattr(make_session, "kw", {}).get("bind"))  # not for impact.py's sessions
        self._changes_seen: int | None = None
        self._handoffs_seen: int | None = None  # the hand-offs' counter, read with the knowledge base's
        self._open_handoffs = OpenHandoffs()
        # Updates change the index in place, so an engine serves one thread at a time: the action
        # server runs actions on its event loop and warms up before it serves; more workers are
        # more processes, each with its own engine.

    # -- index ---------------------------------------------------------------
    @contextmanager
    def one_message(self) -> Iterator[None]:
        """While one resident message is decided: the knowledge base's fingerprint is read once
        (not once per search) and a search asked again (the steps try one question several ways)
        is answered from memory. A staff edit is live from the next message. Nested, the outer
        one holds (the answer action checks the inbox's weak matches after deciding)."""
        if self._pinned:
            yield
            return
        with self.make_session() as session:
            self._current_index(session)
        self._pinned = True
        try:
            yield
        finally:
            self._pinned = False
            self._hits_memo.clear()
            self._semantic_memo.clear()

    def may_have_open_hand_off(self, sender: str) -> bool:
        """False only when ``sender`` certainly has no open hand-off (knowledge.handoff.OpenHandoffs):
        within one_message() by the counter read at its start, else by reading it now."""
        counter = self._handoffs_seen if self._pinned else self._changes.read().handoffs
        return self._open_handoffs.may_include(self.make_session, sender, counter)

    def _current_index(self, session: Session) -> Bm25Index:
        if self._pinned and self._index is not None:
            set_vocabulary(self._vocabulary)  # type: ignore[arg-type]
            return self._index
        counters = self._changes.read()  # before the fingerprint: a commit in between is seen next time
        self._handoffs_seen = counters.handoffs
        changes = counters.kb
        if self._index is not None and changes is not None and changes == self._changes_seen:
            set_vocabulary(self._vocabulary)  # type: ignore[arg-type]
            return self._index  # nothing was committed to the database since the fingerprint was read
        fingerprint = queries.kb_fingerprint(session)
        self._changes_seen = changes
        if self._index is None or fingerprint != self._fingerprint:
            self._entries.clear()
            same_sources = self._fingerprint is not None and fingerprint[-1] == self._fingerprint[-1]
            if self._vocabulary is None or self._fingerprint is None or fingerprint[-2] != self._fingerprint[-2]:
                # Every document's terms depend on the vocabulary: forget them all and build anew.
                self._vocabulary = set_vocabulary(queries.vocabulary_pairs(session))
                self._vectors.clear()
                self._index = None
            else:
                set_vocabulary(self._vocabulary)
            if self._index is None or not same_sources or not self._refresh_entries(session, fingerprint):
                self._index = self._build_index(session)
            self._fingerprint = fingerprint
            self._generation += 1
        else:
            # The vocabulary is the process's; another engine in it (tests, the bench) may have
            # installed its own. Our own list again costs an identity check.
            set_vocabulary(self._vocabulary)  # type: ignore[arg-type]
        return self._index

    @staticmethod
    def _faq_doc(entry: FaqEntry) -> SearchDoc:
        return SearchDoc(
            ref=f"faq:{entry.id}",
            topics=frozenset({entry.topic}),
            fields=(("\n".join([entry.question, *entry.alternatives]), 2.0), (entry.answer, 1.0)),
        )

    def _build_index(self, session: Session) -> Bm25Index:
        entries = queries.published_entries(session)  # ordered by id
        docs = [self._faq_doc(e) for e in entries]
        self._entry_versions = {e.id: e.version for e in entries}
        self._entry_clauses = {e.id: e.clause_id for e in entries}
        self._block_sums = self._sums(self._entry_versions.items())
        # Each topic's general entry: by convention the first of its curated file (lowest id).
        self._general = {}
        for e in entries:
            if e.key is not None:
                self._general.setdefault(e.topic, f"faq:{e.id}")
        passages = {}
        clauses = queries.all_clauses(session)
        self._clause_names = {clause.id: clause.ref for clause in clauses}
        for clause in clauses:
            for n, sentence in enumerate(sentences(clause.text)):
                if len(sentence) < 8:
                    continue
                ref = f"passage:{clause.ref}#{n}"
                passages[ref] = (clause, sentence)
                docs.append(
                    SearchDoc(ref=ref, topics=frozenset(clause.topics), fields=((sentence, 2.0), (clause.title, 1.0)))
                )
        self._passages = passages
        self._names = {}
        for ref, (_, sentence) in passages.items():
            for name in QUOTED.findall(sentence):
                plain = _NOT_QUOTABLE.sub("", name)
                if len(plain) >= QUOTE_CHARS:
                    self._names.setdefault(plain, set()).add(ref)
        vectors = {doc: self._vectors.get(doc) or weighted_terms(doc) for doc in docs}
        self._vectors = vectors
        return Bm25Index(docs, vectors=[vectors[doc] for doc in docs])

    def _refresh_entries(self, session: Session, fingerprint: tuple) -> bool:
        """Re-index only the FAQ entries whose version changed, were published or withdrawn.

        Blocks of entry ids whose (count, sum of versions, sum of ids) changed are looked at
        entry by entry. False when that is not the cheaper way (many changes) or when no version
        changed (a write that bypassed the version counter): build anew then.
        """
        assert self._index is not None
        sums = queries.live_sums(session, bucket_size=REFRESH_BLOCK)
        blocks = sorted(b for b in sums.keys() | self._block_sums.keys() if sums.get(b) != self._block_sums.get(b))
        if not blocks:
            # Up to date if the last update already indexed an edit that landed after its fingerprint
            # was read; otherwise some write bypassed the version counter.
            assert self._fingerprint is not None
            indexed = (len(self._entry_versions), sum(self._entry_versions.values()))
            now, before = (fingerprint[0], fingerprint[1] or 0), (self._fingerprint[0], self._fingerprint[1] or 0)
            return indexed == now != before
        versions = queries.live_versions(session, buckets=blocks, bucket_size=REFRESH_BLOCK)
        looked_at = set(blocks)
        changed = [entry_id for entry_id, version in versions.items() if self._entry_versions.get(entry_id) != version]
        removed = [i for i in self._entry_versions if i // REFRESH_BLOCK in looked_at and i not in versions]
        many = len(changed) > max(REFRESH_MAX_CHANGED, len(self._entry_versions) // 4)
        if many or self._index.slack > len(self._index):
            return False  # a mass change, or many slots left empty by earlier changes: build anew
        entries = [
            entry
            for chunk in range(0, len(changed), 500)
            for entry in session.scalars(
                select(FaqEntry).where(queries.LIVE, FaqEntry.id.in_(changed[chunk : chunk + 500]))
            )
        ]
        # What is indexed now; an entry withdrawn meanwhile is left out (the next check sees the change).
        for entry_id in [*removed, *changed]:
            self._entry_versions.pop(entry_id, None)
            self._entry_clauses.pop(entry_id, None)
        self._entry_versions.update((e.id, e.version) for e in entries)
        self._entry_clauses.update((e.id, e.clause_id) for e in entries)
        for b in blocks:
            self._block_sums.pop(b, None)
        self._block_sums.update(
            self._sums((i, v) for i, v in self._entry_versions.items() if i // REFRESH_BLOCK in looked_at)
        )
        docs = [self._faq_doc(e) for e in entries]
        stale = [f"faq:{entry_id}" for entry_id in [*removed, *changed]]
        for ref in stale:
            old = self._index.get(ref)
            if old is not None:
                self._vectors.pop(old, None)
        vectors = [self._vectors.get(doc) or weighted_terms(doc) for doc in docs]
        self._vectors.update(zip(docs, vectors, strict=True))
        self._index.update(remove=stale, add=docs, vectors=vectors)
        self._general = {topic: f"faq:{entry_id}" for topic, entry_id in queries.general_entry_ids(session).items()}
        return True

    @staticmethod
    def _sums(versions: Iterable[tuple[int, int]]) -> dict[int, tuple[int, int, int]]:
        """``queries.live_sums`` of what is indexed."""
        sums: dict[int, tuple[int, int, int]] = {}
        for entry_id, version in versions:
            n, total_version, total_id = sums.get(entry_id // REFRESH_BLOCK, (0, 0, 0))
            sums[entry_id // REFRESH_BLOCK] = (n + 1, total_version + version, total_id + entry_id)
        return sums

    # -- answers -------------------------------------------------------------
    def answer(
        self, *, text: str, topic: str | None, district: str | None = None, min_coverage: float = MIN_COVERAGE
    ) -> Answer:
        """The best answer to ``text`` within ``topic`` (None: any topic)."""
        text = without_district(text, district)
        with self.make_session() as session:
            index = self._current_index(session)
            query_terms = terms(text)
            hits = index.search(text, topics=[topic] if topic else None, limit=8, query_terms=query_terms)
            short = len([t for t in query_terms if not t.startswith("~")]) <= SHORT_QUERY_WORDS
            best = self._best(
                hits,
                near_tie=NEAR_TIE_SHORT if short else NEAR_TIE,
                general=self._general.get(topic or ""),
                min_coverage=min_coverage,
            )
            if best is None:
                return not_covered(topic)
            answer = self._answer_for(session, best, topic=topic)
            if answer is None:  # unpublished since the index was built
                return not_covered(topic)
            answer.related = self._related(session, hits, exclude=best.ref, topic=answer.topic)
        return with_district_note(answer, district)

    def answer_follow_up(
        self,
        *,
        previous: str,
        text: str,
        topic: str | None,
        district: str | None = None,
        previous_ref: str = "",
        names_nothing: bool = False,
    ) -> Answer:
        """A follow-up ("那2022年底呢", "申请条件呢") on the previous question.

        Candidates are ranked by how much of the new words they cover, then by how much
        of the previous and new words together: the new words say what is asked now, the
        previous ones which thing it is asked about. A candidate from the clause the previous
        answer cited (``previous_ref``) gets SAME_CLAUSE_BONUS: the resident goes on about
        the same commitment unless the new words point clearly elsewhere. ``names_nothing``: the new
        words name no thing of their own ("怎么申请啊"), so they rank only together with the previous.
        """
        text = without_district(text, district)
        combined = f"{previous} {text}"
        topics = [topic] if topic else None
        with self.make_session() as session:
            index = self._current_index(session)
            if names_nothing:  # what is asked about is the previous question's: it alone must be covered
                now = {}
                alone = {h.ref: h.coverage for h in index.search(previous, topics=topics, limit=20)}
            else:
                now = {h.ref: h for h in index.search(text, topics=topics, limit=20)}
                alone = {}
            both = {h.ref: h for h in index.search(combined, topics=topics, limit=20)}

            previous_clause = self._clause_refs([previous_ref]).get(previous_ref) if previous_ref else None
            clauses = self._clause_refs([*now, *both]) if previous_clause else {}

            def rank(ref: str) -> float:
                same = SAME_CLAUSE_BONUS if previous_clause and clauses.get(ref) == previous_clause else 0.0
                return (
                    (now[ref].coverage if ref in now else 0.0)
                    + FOLLOW_UP_CONTEXT_WEIGHT * (both[ref].coverage if ref in both else 0.0)
                    + same
                )

            candidates = [
                Hit(
                    ref,
                    score=rank(ref) + 1e-3 * (both[ref].score if ref in both else 0.0),
                    coverage=max(
                        now[ref].coverage if ref in now else alone.get(ref, 0.0),
                        both[ref].coverage if ref in both else 0.0,
                    ),
                )
                for ref in {*now, *both}
            ]
            passage_floor = MIN_PASSAGE_COVERAGE
            if previous_clause:  # a sentence of the clause just answered needs only an entry's coverage
                candidates = [
                    h
                    for h in candidates
                    if not h.ref.startswith("passage:")
                    or clauses.get(h.ref) == previous_clause
                    or h.coverage >= MIN_PASSAGE_COVERAGE
                ]
                passage_floor = MIN_COVERAGE
            chosen = self._best(
                candidates,
                near_tie=0.995,
                general=self._general.get(topic or ""),
                min_passage_coverage=passage_floor,
            )
            if chosen is None:
                return not_covered(topic)
            best = chosen.ref
            answer = self._answer_for(session, Hit(best, 1.0, 1.0), topic=topic)
            if answer is None:
                return not_covered(topic)
            answer.related = self._related(session, list(both.values()), exclude=best, topic=answer.topic)
        return with_district_note(answer, district)

    def more_on(self, *, previous_ref: str, previous: str, text: str) -> Answer:
        """ "具体点", "还有呢" after an answer: another sentence or entry of the clause it rested on,
        the one that best matches the new words ("具体点，家庭年收入10到50万的要占多少"), then the previous
        question and the new words together; not the same one again."""
        with self.make_session() as session:
            index = self._current_index(session)
            clause = self._clause_refs([previous_ref]).get(previous_ref)
            if clause is None:
                return not_covered()
            shown = self._answer_for(session, Hit(previous_ref, 1.0, 1.0))
            own = [h.ref for h in index.search(text, limit=100)]
            ranked = [*own, *(h.ref for h in index.search(f"{previous} {text}", limit=100))]
            # the clause's own sentences in order after the ranked ones: every one is "more"
            in_order = [ref for ref, (c, _) in self._passages.items() if c.ref == clause]
            candidates = [r for r in dict.fromkeys([*ranked, *in_order]) if r != previous_ref]
            clauses = self._clause_refs(candidates)
            for ref in candidates:
                if clauses.get(ref) != clause:
                    continue
                answer = self._answer_for(session, Hit(ref, 1.0, 1.0))
                if answer is not None and (shown is None or not _says_the_same(answer.text, shown.text)):
                    return self._with_next_sentence(answer)
        return not_covered()

    def _with_next_sentence(self, answer: Answer) -> Answer:
        """A short clause sentence that only leads on ("此外，邻里社区还想方设法帮助工人解决各种生活问题。")
        together with the sentence after it, which says what."""
        if answer.ref not in self._passages:
            return answer
        clause, sentence = self._passages[answer.ref]
        ref, _, n = answer.ref.rpartition("#")
        following = self._passages.get(f"{ref}#{int(n) + 1}") if n.isdigit() else None
        if len(sentence) >= LEADING_SENTENCE_CHARS or following is None or following[0].ref != clause.ref:
            return answer
        answer.text = passage_text(clause, sentence + following[1].lstrip("—").strip())
        return answer

    def _published(self, session: Session, entry_id: int) -> FaqEntry | None:
        """The published entry with its clause (None if it isn't), read once per change of the
        knowledge base: answers and related questions need no query of their own."""
        if entry_id not in self._entries:
            self._entries[entry_id] = queries.published_entry(session, entry_id=entry_id)
        return self._entries[entry_id]

    def term_counts(self, words: Iterable[str]) -> TermCounts:
        """How many search documents there are, and in how many of them each of ``words`` occurs:
        a word in few documents names one commitment ("一卡通"), one in many names nothing ("目标")."""
        with self.make_session() as session:
            index = self._current_index(session)
        return TermCounts(documents=len(index), frequency={w: index.document_frequency(w) for w in words})

    def clause_refs(self, refs: Iterable[str]) -> dict[str, str]:
        """The clause of each search document ("faq:12" -> "第9条")."""
        with self.make_session() as session:
            self._current_index(session)
        return self._clause_refs(refs)

    def _clause_refs(self, refs: Iterable[str]) -> dict[str, str]:
        """The clause ("第9条", "2022报告·民生保障") of each search document, as the index holds it."""
        found = {}
        for ref in refs:
            if ref in self._passages:
                found[ref] = self._passages[ref][0].ref
            elif ref.startswith("faq:") and ref[4:].isdigit():
                clause = self._clause_names.get(self._entry_clauses.get(int(ref[4:]), -1))
                if clause is not None:
                    found[ref] = clause
        return found

    def hits(self, *, text: str, topic: str | None = None, limit: int = 8) -> list[Hit]:
        """The ranked matches of ``text`` (entries and clause sentences), for a caller that decides
        itself whether one is good enough (actions/steps.py)."""
        key = (text, topic, limit)
        if self._pinned and key in self._hits_memo:
            return list(self._hits_memo[key])
        with self.make_session() as session:
            index = self._current_index(session)
            found = index.search(text, topics=[topic] if topic else None, limit=limit, query_terms=terms(text))
        if self._pinned:
            self._hits_memo[key] = list(found)
        return found

    def documents_for_meaning(self) -> list[tuple[str, str]]:
        """(ref, text) of every phrasing and clause sentence of the current index (semantic_documents)."""
        with self.make_session() as session:
            return semantic_documents(self._current_index(session))

    def semantic_matches(self, *, text: str, limit: int = 5) -> list[Match]:
        """The documents nearest to ``text`` in meaning (knowledge/semantic.py), best first; empty
        when meaning-based matching is off or its engine can't load (the word match still works)."""
        if not semantic.enabled():
            return []
        if self._pinned and (text, limit) in self._semantic_memo:
            return self._semantic_memo[(text, limit)]
        with self.make_session() as session:
            index = self._current_index(session)
        try:
            if self._semantic is None:
                self._semantic = SemanticMatcher()
            if self._semantic_generation != self._generation:
                self._semantic.use(semantic_documents(index))
                self._semantic_generation = self._generation
            found = self._semantic.best(text, limit=limit)
        except (ImportError, OSError):
            log.exception("meaning-based matching unavailable; answering from the word match only")
            os.environ["SEMANTIC_MATCHING"] = "0"
            return []
        if self._pinned:
            self._semantic_memo[(text, limit)] = found
        return found

    def hostile_by_meaning(self, *, text: str) -> bool:
        """Whether the hostile-message classifier (knowledge/hostile.py) declines ``text``; False when
        meaning-based matching is off or its engine can't load (the refusal patterns still work)."""
        if not semantic.enabled():
            return False
        try:
            if self._semantic is None:
                self._semantic = SemanticMatcher()
            return hostile.judge(text, self._semantic.query_vector)
        except (ImportError, OSError):
            log.exception("meaning-based matching unavailable; hostile messages by pattern only")
            os.environ["SEMANTIC_MATCHING"] = "0"
            return False

    def share_meaning_of(self, other: AnswerEngine) -> None:
        """Embed with ``other``'s model, embeddings and question cache: the impact preview's
        hypothetical engine asks the live engine's questions again (knowledge/impact.py). Only for
        engines used under one lock."""
        if other._semantic is None:
            other._semantic = SemanticMatcher()
        self._semantic = other._semantic.sibling()
        self._danger = None

    @property
    def generation(self) -> int:
        """Counts the changes of the knowledge base this engine has seen (staff edits)."""
        return self._generation

    def nearest_emergency_examples(self, *, text: str, leave_out_itself: bool = False) -> list[Match]:
        """The curated examples (knowledge/emergency.py) nearest to ``text`` in meaning, best first;
        empty when meaning-based matching is off or its engine can't load (the patterns still work).
        ``leave_out_itself``: an example is not its own neighbour (tests/test_emergency_calibration.py)."""
        if not semantic.enabled():
            return []
        try:
            if self._danger is None:
                if self._semantic is None:
                    self._semantic = SemanticMatcher()
                self._danger = self._semantic.sibling()  # the question is embedded once for both
            if self._danger_generation != self._generation:
                # the plan's own phrasings and sentences are examples of what is no emergency
                with self.make_session() as session:
                    plan = [(f"plan:{ref}", t) for ref, t in semantic_documents(self._current_index(session))]
                self._danger.use(emergency.examples().documents() + plan)
                self._danger_generation = self._generation
            if leave_out_itself:
                found = self._danger.best(text, limit=emergency.NEIGHBOURS + 1)
                return [m for m in found if m.text != text][: emergency.NEIGHBOURS]
            return self._danger.best(text, limit=emergency.NEIGHBOURS)
        except (ImportError, OSError):
            log.exception("meaning-based matching unavailable; emergencies by pattern only")
            os.environ["SEMANTIC_MATCHING"] = "0"
            return []

    def answer_hit(self, hit: Hit, *, related_to: list[Hit] | None = None) -> Answer | None:
        """The cited answer a hit stands for (None if unpublished since), with related entries."""
        with self.make_session() as session:
            self._current_index(session)  # the passages a hit may name (a fresh engine has none yet)
            answer = self._answer_for(session, hit)
            if answer is not None and related_to:
                answer.related = self._related(session, related_to, exclude=hit.ref, topic=answer.topic)
            return answer

    def quoted_passages(self, text: str) -> list[str]:
        """The clause sentences naming the longest thing ``text`` names that the documents name in
        quotes ("“钱塘善潮”", "“六和塔”工作体系"; QUOTE_CHARS characters or more, quotes and punctuation
        aside), if at most QUOTED_PASSAGES sentences name it."""
        with self.make_session() as session:
            self._current_index(session)
        plain = _NOT_QUOTABLE.sub("", text)
        named = [n for n, refs in self._names.items() if n in plain and len(refs) <= QUOTED_PASSAGES]
        return sorted(self._names[max(named, key=len)]) if named else []

    def speaks_of(self, term: str, *, with_any: Iterable[str]) -> bool:
        """Some search document uses ``term`` together with one of ``with_any`` (after the vocabulary):
        "预约" with 托位 in an entry on enrolling, but with 灵隐寺 nowhere."""
        with self.make_session() as session:
            index = self._current_index(session)
        return index.together(term, with_any)

    def holds_term(self, ref: str, term: str) -> bool:
        """The search document ``ref`` uses ``term`` (after the vocabulary)."""
        with self.make_session() as session:
            index = self._current_index(session)
        doc = index.get(ref)
        return doc is not None and term in (self._vectors.get(doc) or {})

    def passage_naming(self, name: str, *, previous_ref: str) -> Answer | None:
        """A sentence of the clause ``previous_ref`` rests on that names ``name`` (a district): the one
        that says most beyond the previous answer ("余杭是哪种" after the 一核九星 answer: the types)."""
        with self.make_session() as session:
            self._current_index(session)
            clause = self._clause_refs([previous_ref]).get(previous_ref)
            naming = [ref for ref, (c, sentence) in self._passages.items() if c.ref == clause and name in sentence]
            shown = self._answer_for(session, Hit(previous_ref, 1.0, 1.0))
            said = set(terms(shown.text)) if shown is not None else set()
            # the sentence most about that district (naming fewest others), then saying most that is new
            naming.sort(
                key=lambda ref: (
                    count_districts(self._passages[ref][1]),
                    -len({t for t in terms(self._passages[ref][1]) if t not in said}),
                )
            )
            for ref in naming:
                answer = self._answer_for(session, Hit(ref, 1.0, 1.0))
                if answer is not None and (shown is None or not _says_the_same(answer.text, shown.text)):
                    return answer
        return None

    def figure_passage(self, ref: str, *, words: list[str]) -> Answer | None:
        """For a clause sentence ``ref`` that gives no figure, the sentence of the same clause that gives
        one and says most of ``words`` (at least one): "邻里中心小区一共住了多少人" after the report's
        lead sentence on that compound, its sentence on the 6300 workers. Not for an entry: one without a
        figure says the plan gives none ("托位一个月收费多少")."""
        with self.make_session() as session:
            self._current_index(session)
            if ref not in self._passages or _FIGURE.search(self._passages[ref][1]):
                return None
            clause = self._passages[ref][0].ref
            said = {
                other: sum(w in sentence for w in words)
                for other, (c, sentence) in self._passages.items()
                if c.ref == clause and other != ref and _FIGURE.search(sentence)
            }
            best = max(said, key=lambda other: said[other], default=None)
            return self._answer_for(session, Hit(best, 1.0, 1.0)) if best and said[best] else None

    def passages_matching(self, patterns: list[str]) -> list[str]:
        """The clause sentences in which every regular expression of ``patterns`` finds something."""
        with self.make_session() as session:
            self._current_index(session)
        compiled = [re.compile(p) for p in patterns]
        return [ref for ref, (_, sentence) in self._passages.items() if all(c.search(sentence) for c in compiled)]

    def overview(self, *, topic: str, text: str = "") -> Answer | None:
        """A stand-in answer for a resident who clearly asks about ``topic`` (a long story,
        dialect) but whose exact question no entry matches, framed as "the plan has nothing
        on your exact case; the related commitment is …".

        The closest entry if it is clearly related, else the topic's general entry (the
        first of its curated file); None if the words share nothing with the topic.
        """
        with self.make_session() as session:
            index = self._current_index(session)
            hits = [h for h in index.search(text, topics=[topic], limit=8) if h.ref.startswith("faq:")]
            if not hits or hits[0].coverage < MIN_OVERVIEW_COVERAGE:
                return None  # a complaint or junk: no citation
            if hits[0].coverage >= MIN_RELATED_COVERAGE:
                chosen = hits[0].ref
            elif topic in self._general:
                chosen = self._general[topic]
            else:
                return None
            answer = self._answer_for(session, Hit(chosen, 1.0, 1.0))
            if answer is None:
                return None
            answer.text, answer.exact = OVERVIEW_PREFIX + answer.text, False
            answer.related = self._related(session, hits, exclude=chosen, topic=topic)
            return answer

    def topic_answer(self, *, topic: str) -> Answer | None:
        """The topic's general entry (the first of its curated file), with the topic's next entries
        as related questions: what a resident gets for tapping a topic button."""
        with self.make_session() as session:
            self._current_index(session)
            general = self._general.get(topic)
            if general is None:
                return None
            answer = self._answer_for(session, Hit(general, 1.0, 1.0))
            if answer is None:
                return None
            curated = [e for e in queries.published_entries(session) if e.topic == topic and e.key is not None]
            answer.related = [(e.id, e.question) for e in curated if f"faq:{e.id}" != general][:MAX_RELATED]
            return answer

    def answer_entry(self, *, faq_id: int) -> Answer | None:
        """The answer of one published entry (a button the resident clicked)."""
        with self.make_session() as session:
            answer = self._answer_for(session, Hit(f"faq:{faq_id}", 1.0, 1.0))
            if answer is not None:
                index = self._current_index(session)
                hits = index.search(answer.text, topics=[answer.topic] if answer.topic else None, limit=6)
                answer.related = self._related(session, hits, exclude=f"faq:{faq_id}", topic=answer.topic)
            return answer

    def best_question(self, *, text: str, topic: str) -> tuple[int, str, float] | None:
        """The FAQ entry within ``topic`` closest to ``text``: (id, question, coverage).

        For "您是想问…" buttons; None when nothing in the topic is even related.
        """
        with self.make_session() as session:
            for hit in self._current_index(session).search(text, topics=[topic], limit=8):
                if hit.ref.startswith("faq:") and hit.coverage >= MIN_RELATED_COVERAGE:
                    entry = self._published(session, int(hit.ref[4:]))
                    if entry is not None:
                        return entry.id, entry.question, hit.coverage
        return None

    def preferred(self, hits: list[Hit], *, text: str, topic: str | None = None) -> list[Hit]:
        """``hits`` in the order an answer prefers them, whatever their coverage: an entry written
        as an answer over a clause sentence of a similar score, and for a short question within a
        topic ("加梯") the topic's general entry when it is nearly as good as the best."""
        if not hits:
            return []
        short = len([t for t in terms(text) if not t.startswith("~")]) <= SHORT_QUERY_WORDS
        best = self._best(
            hits,
            near_tie=NEAR_TIE_SHORT if short else NEAR_TIE,
            general=self._general.get(topic or ""),
            min_coverage=0.0,
            min_passage_coverage=0.0,
        )
        assert best is not None
        return [best, *(h for h in sorted(hits, key=_weight, reverse=True) if h.ref != best.ref)]

    @staticmethod
    def _best(
        hits: list[Hit],
        *,
        near_tie: float = NEAR_TIE,
        general: str | None = None,
        min_coverage: float = MIN_COVERAGE,
        min_passage_coverage: float = MIN_PASSAGE_COVERAGE,
    ) -> Hit | None:
        """The best good-enough hit; within ``near_tie`` of it, the topic's general entry wins."""
        weight = _weight
        good = [
            h for h in hits if h.coverage >= (min_passage_coverage if h.ref.startswith("passage:") else min_coverage)
        ]
        if not good:
            return None
        best = max(good, key=weight)
        if general is not None:
            for hit in good:
                if hit.ref == general and weight(hit) >= near_tie * weight(best):
                    return hit
        return best

    def _answer_for(self, session: Session, hit: Hit, *, topic: str | None = None) -> Answer | None:
        if hit.ref.startswith("faq:"):
            entry = self._published(session, int(hit.ref[4:]))
            if entry is None:
                return None
            return Answer(
                text=_with_review_note(entry),
                source_line=source_line(entry.clause),
                topic=entry.topic,
                faq_id=entry.id,
                clause_ref=entry.clause.ref,
                ref=hit.ref,
            )
        clause, sentence = self._passages[hit.ref]
        if topic is None:  # a clause on exactly one resident topic belongs to it, else to the plan
            specific = [t for t in clause.topics if t != "plan"]
            topic = specific[0] if len(specific) == 1 else "plan"
        return Answer(
            text=passage_text(clause, sentence),
            source_line=source_line(clause),
            topic=topic,
            clause_ref=clause.ref,
            ref=hit.ref,
        )

    def _related(self, session: Session, hits: list[Hit], *, exclude: str, topic: str | None) -> list[tuple[int, str]]:
        related: list[tuple[int, str]] = []
        for hit in hits:
            if hit.ref == exclude or not hit.ref.startswith("faq:") or hit.coverage < MIN_RELATED_COVERAGE:
                continue
            entry = self._published(session, int(hit.ref[4:]))
            if entry is not None and (topic is None or entry.topic == topic):
                related.append((entry.id, entry.question))
            if len(related) == MAX_RELATED:
                break
        return related
