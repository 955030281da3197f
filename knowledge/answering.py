"""From a resident's words to a cited answer, or an honest "not covered yet".

The search index is cached and rebuilt only when the knowledge base's
fingerprint changes (checked on every request), and the answer itself is read
from the database each time, so a staff edit is live at once.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy.orm import Session, sessionmaker

from knowledge import queries
from knowledge.models import Clause
from knowledge.parse import REPORT_PREFIX, sentences
from knowledge.search import Bm25Index, Hit, SearchDoc, weighted_terms
from knowledge.text import terms

# A hit answers the question when it covers this share of the question's weight…
MIN_COVERAGE = 0.4
# …and a clause sentence must cover more, since it was not written as an answer.
MIN_PASSAGE_COVERAGE = 0.6
PASSAGE_DISCOUNT = 0.8
MIN_RELATED_COVERAGE = 0.2
# Within this share of the best score, the topic's general entry (the first of its
# curated file) wins: a bare "托位" should get the general answer, not a detail.
NEAR_TIE = 0.97
# A one-word fragment ("电梯", "落户杭州") asks in general: a wider band.
NEAR_TIE_SHORT = 0.75
SHORT_QUERY_WORDS = 1
# In a follow-up, the previous question counts this much beside the new words.
FOLLOW_UP_CONTEXT_WEIGHT = 0.5
# A stand-in answer only if the resident's words touch the topic at all.
MIN_OVERVIEW_COVERAGE = 0.05
OVERVIEW_PREFIX = "您问的具体情况，《行动计划》没有专门的条文。和您的问题最相关的内容是：\n"
MAX_RELATED = 3


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

    @property
    def found(self) -> bool:
        return self.source_line is not None

    def message(self) -> str:
        return f"{self.text}\n{self.source_line}" if self.source_line else self.text


def not_covered(topic: str | None = None) -> Answer:
    return Answer(
        text=(
            "抱歉，这个具体问题我在《行动计划》和知识库里没有找到依据，为了不给您不准确的信息，我先不作答。"
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


def _without_district(text: str, district: str | None) -> str:
    """The district ("余杭区", "余杭") is answered by a note, not searched for."""
    if not district:
        return text
    return text.replace(district, " ").replace(district[:-1], " ")


def _with_district_note(answer: Answer, district: str | None) -> Answer:
    """The plan is city-wide: say so for a resident topic asked about one district."""
    if district and answer.topic in ("elevator", "childcare", "hukou", "rental") and district not in answer.text:
        answer.text += (
            f"\n（《行动计划》是全市统一部署，没有单独列出{district}的安排；"
            f"具体办理请咨询{district}您所在的街道（乡镇）或社区。）"
        )
    return answer


class AnswerEngine:
    def __init__(self, make_session: sessionmaker[Session]) -> None:
        self.make_session = make_session
        self._fingerprint: tuple | None = None
        self._index: Bm25Index | None = None
        self._passages: dict[str, tuple[Clause, str]] = {}
        # Segmenting Chinese is the costly part of indexing: each document's terms are
        # kept, keyed by its content, so a change re-segments only what changed.
        self._vectors: dict[SearchDoc, Counter[str]] = {}
        self._general: dict[str, str] = {}  # topic -> ref of its general entry, set with the index

    # -- index ---------------------------------------------------------------
    def _current_index(self, session: Session) -> Bm25Index:
        fingerprint = queries.kb_fingerprint(session)
        if self._index is None or fingerprint != self._fingerprint:
            self._index = self._build_index(session)
            self._fingerprint = fingerprint
        return self._index

    def _build_index(self, session: Session) -> Bm25Index:
        entries = queries.published_entries(session)  # ordered by id
        docs = [
            SearchDoc(
                ref=f"faq:{e.id}",
                topics=frozenset({e.topic}),
                fields=(("\n".join([e.question, *e.alternatives]), 2.0), (e.answer, 1.0)),
            )
            for e in entries
        ]
        # Each topic's general entry: by convention the first of its curated file (lowest id).
        self._general = {}
        for e in entries:
            if e.key is not None:
                self._general.setdefault(e.topic, f"faq:{e.id}")
        passages = {}
        for clause in queries.all_clauses(session):
            for n, sentence in enumerate(sentences(clause.text)):
                if len(sentence) < 8:
                    continue
                ref = f"passage:{clause.ref}#{n}"
                passages[ref] = (clause, sentence)
                docs.append(
                    SearchDoc(ref=ref, topics=frozenset(clause.topics), fields=((sentence, 2.0), (clause.title, 1.0)))
                )
        self._passages = passages
        vectors = {doc: self._vectors.get(doc) or weighted_terms(doc) for doc in docs}
        self._vectors = vectors
        return Bm25Index(docs, vectors=[vectors[doc] for doc in docs])

    # -- answers -------------------------------------------------------------
    def answer(
        self, *, text: str, topic: str | None, district: str | None = None, min_coverage: float = MIN_COVERAGE
    ) -> Answer:
        """The best answer to ``text`` within ``topic`` (None: any topic)."""
        text = _without_district(text, district)
        with self.make_session() as session:
            index = self._current_index(session)
            hits = index.search(text, topics=[topic] if topic else None, limit=8)
            short = len([t for t in terms(text) if not t.startswith("~")]) <= SHORT_QUERY_WORDS
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
        return _with_district_note(answer, district)

    def answer_follow_up(self, *, previous: str, text: str, topic: str | None, district: str | None = None) -> Answer:
        """A follow-up ("那2022年底呢", "申请条件呢") on the previous question.

        Candidates are ranked by how much of the new words they cover, then by how much
        of the previous and new words together: the new words say what is asked now, the
        previous ones which thing it is asked about.
        """
        text = _without_district(text, district)
        combined = f"{previous} {text}"
        topics = [topic] if topic else None
        with self.make_session() as session:
            index = self._current_index(session)
            now = {h.ref: h for h in index.search(text, topics=topics, limit=20)}
            both = {h.ref: h for h in index.search(combined, topics=topics, limit=20)}

            def rank(ref: str) -> float:
                return (now[ref].coverage if ref in now else 0.0) + FOLLOW_UP_CONTEXT_WEIGHT * (
                    both[ref].coverage if ref in both else 0.0
                )

            candidates = [
                Hit(
                    ref,
                    score=rank(ref) + 1e-3 * (both[ref].score if ref in both else 0.0),
                    coverage=max(now[ref].coverage if ref in now else 0.0, both[ref].coverage if ref in both else 0.0),
                )
                for ref in {*now, *both}
            ]
            chosen = self._best(candidates, near_tie=0.995, general=self._general.get(topic or ""))
            if chosen is None:
                return not_covered(topic)
            best = chosen.ref
            answer = self._answer_for(session, Hit(best, 1.0, 1.0), topic=topic)
            if answer is None:
                return not_covered(topic)
            answer.related = self._related(session, list(both.values()), exclude=best, topic=answer.topic)
        return _with_district_note(answer, district)

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
                    entry = queries.published_entry(session, entry_id=int(hit.ref[4:]))
                    if entry is not None:
                        return entry.id, entry.question, hit.coverage
        return None

    @staticmethod
    def _best(
        hits: list[Hit], *, near_tie: float = NEAR_TIE, general: str | None = None, min_coverage: float = MIN_COVERAGE
    ) -> Hit | None:
        """The best good-enough hit; within ``near_tie`` of it, the topic's general entry wins."""

        def weight(hit: Hit) -> float:
            return hit.score * (PASSAGE_DISCOUNT if hit.ref.startswith("passage:") else 1.0)

        good = [
            h for h in hits if h.coverage >= (MIN_PASSAGE_COVERAGE if h.ref.startswith("passage:") else MIN_COVERAGE)
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
            entry = queries.published_entry(session, entry_id=int(hit.ref[4:]))
            if entry is None:
                return None
            return Answer(
                text=entry.answer,
                source_line=source_line(entry.clause),
                topic=entry.topic,
                faq_id=entry.id,
                clause_ref=entry.clause.ref,
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
        )

    @staticmethod
    def _related(session: Session, hits: list[Hit], *, exclude: str, topic: str | None) -> list[tuple[int, str]]:
        related: list[tuple[int, str]] = []
        for hit in hits:
            if hit.ref == exclude or not hit.ref.startswith("faq:") or hit.coverage < MIN_RELATED_COVERAGE:
                continue
            entry = queries.published_entry(session, entry_id=int(hit.ref[4:]))
            if entry is not None and (topic is None or entry.topic == topic):
                related.append((entry.id, entry.question))
            if len(related) == MAX_RELATED:
                break
        return related
