"""The fast ranking (issue 6) answers exactly as the plain BM25 it replaced. No timing here:
speed is measured by ``bench/ranking.py``.

- Every question of the ranking benchmark (the held-out NLU messages and seeded variations)
  gets, on the real knowledge base, the same answer, related questions and top-8 hits with
  the same scores as recorded with the pre-optimisation code (``tests/data/ranking_snapshot.json``;
  rewrite it with ``python -m bench.ranking --snapshot tests/data/ranking_snapshot.json`` only
  when a ranking change is intended).
- Pruning never loses a hit: on random documents the top hits equal those of scoring every
  document (a plain implementation written here).
- An index updated in place after staff edits ranks like one built from scratch.
"""

from __future__ import annotations

import json
import math
import random
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select, update

from knowledge.answering import AnswerEngine
from knowledge.build import build
from knowledge.db import get_engine, get_sessionmaker, session_scope
from knowledge.models import Clause, FaqEntry, utcnow
from knowledge.search import YEAR_MISMATCH_FACTOR, Bm25Index, SearchDoc, weighted_terms
from knowledge.staff import FaqInput, create_entry, create_user, delete_entry, set_status, update_entry
from knowledge.text import terms

SNAPSHOT = Path(__file__).parent / "data" / "ranking_snapshot.json"
SCORE_TOLERANCE = 2e-6  # the snapshot's scores are rounded to 6 decimals


def snapshot_queries() -> list[dict]:
    return json.loads(SNAPSHOT.read_text(encoding="utf-8"))["queries"]


def current_index(engine: AnswerEngine) -> Bm25Index:
    with engine.make_session() as session:
        return engine._current_index(session)


def test_snapshot_covers_the_benchmark_questions():
    queries = snapshot_queries()
    assert len(queries) == 500
    assert sum(q["clause"] is not None for q in queries) > 200  # most are answered: a real check of answers
    assert sum(q["topic"] is None for q in queries) > 30  # questions over every topic too


def test_every_benchmark_question_is_answered_as_before(engine: AnswerEngine):
    index = current_index(engine)
    different = []
    for expected in snapshot_queries():
        text, topic = expected["text"], expected["topic"]
        answer = engine.answer(text=text, topic=topic)
        got = {
            "faq_id": answer.faq_id,
            "clause": answer.clause_ref,
            "related": [faq_id for faq_id, _ in answer.related],
        }
        if got != {k: expected[k] for k in got}:
            different.append((text, got, expected))
            continue
        hits = index.search(text, topics=[topic] if topic else None, limit=8)
        if [h.ref for h in hits] != [ref for ref, _, _ in expected["hits"]] or any(
            abs(h.score - score) > SCORE_TOLERANCE or abs(h.coverage - coverage) > SCORE_TOLERANCE
            for h, (_, score, coverage) in zip(hits, expected["hits"], strict=True)
        ):
            different.append((text, [[h.ref, h.score, h.coverage] for h in hits], expected["hits"]))
    assert not different, different[:5]


# -- pruning is exact -------------------------------------------------------------------------------
def plain_bm25(docs: list[SearchDoc], vectors: list[Counter[str]], query: set[str], text: str, wanted, k1=1.2, b=0.75):
    """Score every document: {ref: score}, the textbook way (as knowledge/search.py did before issue 6)."""
    n = len(docs)
    df = Counter(term for vector in vectors for term in vector)
    lengths = [sum(vector.values()) for vector in vectors]
    avg = sum(lengths) / n
    asked = set(re.findall(r"20[1-3]\d", text))
    scores = {}
    for doc, vector, length in zip(docs, vectors, lengths, strict=True):
        if wanted is not None and not (doc.topics & wanted):
            continue
        score = 0.0
        for term in query & vector.keys():
            idf = math.log(1 + (n - df[term] + 0.5) / (df[term] + 0.5))
            tf = vector[term]
            score += idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * length / avg))
        if score:
            years = set(re.findall(r"20[1-3]\d", " ".join(t for t, _ in doc.fields)))
            scores[doc.ref] = score * (YEAR_MISMATCH_FACTOR if asked and years and not years & asked else 1.0)
    return scores


WORDS = ["加装电梯", "托位", "落户", "租赁住房", "老旧小区", "补贴", "申请", "条件", "萧山区", "余杭区", "2025", "2022"]


def random_corpus(rng: random.Random, size: int) -> list[SearchDoc]:
    docs = []
    for i in range(size):
        words = rng.sample(WORDS, rng.randint(1, 6))
        fields = (("".join(words[: rng.randint(1, len(words))]), 2.0), ("，".join(words), 1.0))
        docs.append(SearchDoc(f"faq:{i}", frozenset({rng.choice(["elevator", "rental", "plan"])}), fields))
    return docs


@pytest.mark.parametrize("seed", range(12))
def test_pruned_search_finds_the_same_top_hits_as_scoring_every_document(seed: int):
    rng = random.Random(seed)
    docs = random_corpus(rng, rng.choice([30, 200, 600]))
    vectors = [weighted_terms(doc) for doc in docs]
    index = Bm25Index(docs, vectors=vectors)
    for _ in range(25):
        text = "".join(rng.sample(WORDS, rng.randint(1, 5)))
        query = set(terms(text))
        for wanted in (None, frozenset({"elevator"}), frozenset({"rental", "plan"})):
            for limit in (1, 3, 8):
                plain = plain_bm25(docs, vectors, query, text, wanted)
                hits = index.search(text, topics=wanted, limit=limit)
                best = sorted(plain.values(), reverse=True)[:limit]
                assert [h.score for h in hits] == pytest.approx(best, rel=1e-12), (text, wanted, limit)
                for hit in hits:
                    assert hit.score == pytest.approx(plain[hit.ref], rel=1e-12)


# -- an index updated in place ----------------------------------------------------------------------
@pytest.fixture(params=["sqlite", "postgresql"])
def kb(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'kb.sqlite3'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    build(url=url)
    yield url
    get_engine(url).dispose()


def test_index_updated_after_staff_edits_ranks_like_a_new_one(kb: str):
    engine = AnswerEngine(get_sessionmaker(kb))
    queries = snapshot_queries()[::5]
    for q in queries:
        engine.answer(text=q["text"], topic=q["topic"])  # index built, contributions cached
    index = current_index(engine)
    with session_scope(kb) as session:
        user = create_user(session, username="ranking-test", password="Xihu-Lake-2026!", role="reviewer", actor="t")
        ids = list(session.scalars(select(FaqEntry.id).where(FaqEntry.status == "published").order_by(FaqEntry.id)))
        edited = session.get(FaqEntry, ids[3])
        data = FaqInput(
            topic=edited.topic,
            question=edited.question,
            alternatives=[*edited.alternatives, "加梯到底要多少钱"],
            answer=edited.answer + "（已更新）",
            source=session.get(Clause, edited.clause_id).ref,  # its own clause: its figures stand there
        )
        update_entry(session, entry_id=edited.id, data=data, expected_version=edited.version, user=user)
        withdrawn = session.get(FaqEntry, ids[10])
        set_status(session, entry_id=withdrawn.id, status="draft", expected_version=withdrawn.version, user=user)
        gone = session.get(FaqEntry, ids[40])
        delete_entry(session, entry_id=gone.id, expected_version=gone.version, user=user)
        new = FaqInput(
            topic="rental", question="蓝领公寓可以养宠物吗？", answer="（测试）以公寓规定为准。", source="第9条"
        )
        new_id = create_entry(session, data=new, user=user, publish=True).id
    updated = current_index(engine)
    assert updated is index  # updated in place, not rebuilt
    assert updated.get(f"faq:{ids[10]}") is None and updated.get(f"faq:{ids[40]}") is None
    assert updated.get(f"faq:{new_id}") is not None
    assert engine.answer(text="蓝领公寓养宠物", topic="rental").faq_id == new_id

    fresh = AnswerEngine(get_sessionmaker(kb))
    rebuilt = current_index(fresh)
    assert rebuilt is not updated and len(rebuilt) == len(updated)
    for q in [*queries, {"text": "加梯到底要多少钱", "topic": "elevator"}]:
        topics = [q["topic"]] if q["topic"] else None
        assert updated.search(q["text"], topics=topics, limit=8) == rebuilt.search(q["text"], topics=topics, limit=8)
        a, b = engine.answer(text=q["text"], topic=q["topic"]), fresh.answer(text=q["text"], topic=q["topic"])
        assert (a.faq_id, a.clause_ref, a.related) == (b.faq_id, b.clause_ref, b.related)


def test_a_change_without_a_new_version_rebuilds_and_a_late_fingerprint_does_not(fresh_kb_url: str):
    engine = AnswerEngine(get_sessionmaker(fresh_kb_url))
    index = current_index(engine)
    with session_scope(fresh_kb_url) as session:
        entry_id = session.scalars(select(FaqEntry.id).where(FaqEntry.status == "published")).first()
        entry = session.get(FaqEntry, entry_id)
        before = engine._fingerprint
        entry.answer += "（已更新）"
    assert current_index(engine) is index  # updated in place
    # The edit landed between reading the fingerprint and updating the index: nothing to rebuild.
    engine._fingerprint = before
    engine._changes_seen = None  # …so a commit came after SQLite's data_version was read (answering.SqliteCommits)
    assert current_index(engine) is index
    # A write that bypasses the version counter (raw SQL) is only seen by its time stamp: build anew.
    with session_scope(fresh_kb_url) as session:
        session.execute(
            update(FaqEntry)
            .where(FaqEntry.id == entry_id)
            .values(answer="（原始SQL修改）", updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )
    rebuilt = current_index(engine)
    assert rebuilt is not index
    assert engine.answer_entry(faq_id=entry_id).text == "（原始SQL修改）"
