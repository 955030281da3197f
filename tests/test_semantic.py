"""Meaning-based matching (knowledge/semantic.py) with the real bundled model and a real knowledge base."""

from __future__ import annotations

import pytest

from actions.steps import Turn, decide
from knowledge import semantic
from knowledge.answering import AnswerEngine
from knowledge.search import Hit
from knowledge.semantic import SemanticMatcher


def test_an_everyday_question_finds_the_plans_clause_by_meaning(engine: AnswerEngine):
    question = "我有个残疾的弟弟，平时没人照顾，政府能不能给安排个地方"
    best = engine.semantic_matches(text=question, limit=3)
    answer = engine.answer_hit(Hit(best[0].ref, 1.0, 1.0))
    assert answer is not None and answer.clause_ref == "第10条"  # 深化助残服务，加强精神残疾人托养


def test_the_answer_steps_use_meaning_only_when_words_match_weakly(engine: AnswerEngine):
    replies = decide(Turn(text="我们村子离镇上很远，没有公共汽车，以后能不能通上"), engine)
    assert replies[0].cited and replies[0].answer.clause_ref == "第7条"
    # a question well matched by words is decided by the word match, as before
    assert decide(Turn(text="加装电梯有什么政策"), engine)[0].step == "topic_answer"


@pytest.mark.parametrize("question", ["明天会不会下雪", "我的快递三天了还没到", "帮我推荐一部好看的电影"])
def test_what_the_plan_does_not_cover_stays_not_covered(engine: AnswerEngine, question):
    assert decide(Turn(text=question), engine)[0].step == "not_covered"


def test_embeddings_are_kept_in_a_file_so_a_restart_embeds_nothing(tmp_path, monkeypatch):
    first = SemanticMatcher(cache_dir=tmp_path)
    first.use([("faq:1", "托位有多少"), ("faq:2", "加装电梯怎么申请")])
    second = SemanticMatcher(cache_dir=tmp_path)
    embedded: list[str] = []
    model = second._engine()
    passage = model.passage
    monkeypatch.setattr(model, "passage", lambda texts: embedded.extend(texts) or passage(texts))
    second.use([("faq:1", "托位有多少"), ("faq:2", "加装电梯怎么申请"), ("faq:3", "蓝领公寓谁能住")])
    assert embedded == ["蓝领公寓谁能住"]  # only the new phrasing
    assert second.best("电梯加装的申请办法", limit=1)[0].ref == "faq:2"


def test_it_can_be_turned_off(engine: AnswerEngine, monkeypatch):
    monkeypatch.setenv("SEMANTIC_MATCHING", "0")
    assert not semantic.enabled()
    assert engine.semantic_matches(text="托位有多少") == []
